//! wgkit: the sender's SACK scoreboard (RFC 2018 blocks from the receiver's ACKs, used as in
//! RFC 6675 but simplified): which octets above SND.UNA the receiver already holds, so that loss
//! recovery retransmits only the holes between them and counts SACKed octets out of the pipe.

use crate::wire::TcpSeqNumber;

/// Blocks kept; a burst loss rarely leaves more holes in one window than this. When full, the
/// highest block is forgotten, which only makes the sender think less is SACKed (safe).
const BLOCKS: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(super) struct Scoreboard {
    /// Disjoint, non-adjacent `[start, end)` ranges, sorted, all within `(SND.UNA, SND.MAX]`.
    blocks: [(TcpSeqNumber, TcpSeqNumber); BLOCKS],
    len: usize,
}

impl Scoreboard {
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn blocks(&self) -> &[(TcpSeqNumber, TcpSeqNumber)] {
        &self.blocks[..self.len]
    }

    /// Drops what `una` acknowledges, then adds the ACK's SACK blocks that lie within
    /// `(una, snd_max]` (others are stale, D-SACKs or bogus, and are ignored).
    pub(super) fn update(
        &mut self,
        una: TcpSeqNumber,
        snd_max: TcpSeqNumber,
        sack_ranges: &[Option<(u32, u32)>],
    ) {
        self.prune(una);
        for &(left, right) in sack_ranges.iter().flatten() {
            let start = TcpSeqNumber(left as i32).max(una);
            let end = TcpSeqNumber(right as i32).min(snd_max);
            if start < end {
                self.insert(start, end);
            }
        }
    }

    /// Forgets the octets below `una` (acknowledged cumulatively).
    pub(super) fn prune(&mut self, una: TcpSeqNumber) {
        let mut kept = 0;
        for i in 0..self.len {
            let (start, end) = self.blocks[i];
            if end > una {
                self.blocks[kept] = (start.max(una), end);
                kept += 1;
            }
        }
        self.len = kept;
    }

    fn insert(&mut self, mut start: TcpSeqNumber, mut end: TcpSeqNumber) {
        let mut merged = [(TcpSeqNumber::default(), TcpSeqNumber::default()); BLOCKS + 1];
        let mut n = 0;
        let mut placed = false;
        for &(s, e) in self.blocks() {
            if e < start {
                merged[n] = (s, e);
                n += 1;
            } else if s > end {
                if !placed {
                    merged[n] = (start, end);
                    n += 1;
                    placed = true;
                }
                merged[n] = (s, e);
                n += 1;
            } else {
                // Overlapping or adjacent: absorb it.
                start = start.min(s);
                end = end.max(e);
            }
        }
        if !placed {
            merged[n] = (start, end);
            n += 1;
        }
        self.len = n.min(BLOCKS);
        self.blocks[..self.len].copy_from_slice(&merged[..self.len]);
    }

    /// Octets above SND.UNA that the receiver holds.
    pub(super) fn sacked_bytes(&self) -> usize {
        self.blocks().iter().map(|&(s, e)| e - s).sum()
    }

    /// The first hole at or after `from` that lies below a SACKed block: `[start, end)`.
    pub(super) fn next_hole(
        &self,
        from: TcpSeqNumber,
        una: TcpSeqNumber,
    ) -> Option<(TcpSeqNumber, TcpSeqNumber)> {
        let mut pos = from.max(una);
        for &(s, e) in self.blocks() {
            if pos < s {
                return Some((pos, s));
            }
            pos = pos.max(e);
        }
        None
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn seq(n: i32) -> TcpSeqNumber {
        TcpSeqNumber(n)
    }

    fn board(una: i32, max: i32, ranges: &[(u32, u32)]) -> Scoreboard {
        let mut b = Scoreboard::default();
        let ranges: heapless::Vec<Option<(u32, u32)>, 16> =
            ranges.iter().map(|&r| Some(r)).collect();
        b.update(seq(una), seq(max), &ranges);
        b
    }

    #[test]
    fn test_blocks_merge_and_sort() {
        let b = board(100, 1000, &[(500, 600), (200, 300), (300, 350), (580, 700)]);
        assert_eq!(b.blocks(), &[(seq(200), seq(350)), (seq(500), seq(700))]);
        assert_eq!(b.sacked_bytes(), 350);
    }

    #[test]
    fn test_blocks_outside_the_window_are_ignored_or_clamped() {
        // Below SND.UNA (a D-SACK), beyond SND.MAX, reversed, and one straddling SND.MAX.
        let b = board(
            100,
            1000,
            &[(10, 90), (2000, 3000), (400, 300), (900, 1200)],
        );
        assert_eq!(b.blocks(), &[(seq(900), seq(1000))]);
        // Numbers near the wrap of the sequence space do not panic.
        let b = board(-10, 20, &[(u32::MAX - 5, 5), (u32::MAX, u32::MAX - 1)]);
        assert_eq!(b.blocks(), &[(seq(-6), seq(5))]);
    }

    #[test]
    fn test_holes_lie_below_sacked_blocks() {
        let b = board(100, 1000, &[(200, 300), (400, 500)]);
        assert_eq!(b.next_hole(seq(100), seq(100)), Some((seq(100), seq(200))));
        assert_eq!(b.next_hole(seq(150), seq(100)), Some((seq(150), seq(200))));
        assert_eq!(b.next_hole(seq(200), seq(100)), Some((seq(300), seq(400))));
        // Above the highest SACKed octet nothing is known lost.
        assert_eq!(b.next_hole(seq(450), seq(100)), None);
    }

    #[test]
    fn test_prune_drops_acknowledged_octets() {
        let mut b = board(100, 1000, &[(200, 300), (400, 500)]);
        b.prune(seq(250));
        assert_eq!(b.blocks(), &[(seq(250), seq(300)), (seq(400), seq(500))]);
        b.update(seq(500), seq(1000), &[None, None, None]);
        assert!(b.is_empty());
    }

    #[test]
    fn test_full_board_forgets_the_highest_block() {
        let ranges: heapless::Vec<(u32, u32), 16> =
            (0..10).map(|i| (100 + i * 20, 110 + i * 20)).collect();
        let b = board(0, 1000, &ranges);
        assert_eq!(b.len, BLOCKS);
        assert_eq!(b.blocks()[BLOCKS - 1], (seq(240), seq(250)));
    }
}
