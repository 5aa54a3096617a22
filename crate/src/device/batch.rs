//! Packet vectors and batched I/O: every loop of the data plane moves up to [`BATCH`] packets
//! per step — a batch of datagrams on UDP, a burst of reads on the inner side — through
//! buffers allocated once per worker and reused. The UDP I/O is per platform:
//! `recvmmsg`/`sendmmsg` with UDP GSO/GRO and IP_PKTINFO on Linux (`batch_linux.rs`), loops of
//! non-blocking `recv_from`/`send_to` elsewhere (`batch_portable.rs`); both fill and drain
//! the same [`Batch`].

use super::tun::offload::{Coalesced, Sink};
use std::net::{IpAddr, SocketAddr};

#[cfg(target_os = "linux")]
#[path = "batch_linux.rs"]
mod io;
#[cfg(not(target_os = "linux"))]
#[path = "batch_portable.rs"]
mod io;

use io::Hdrs;
#[cfg(target_os = "linux")]
pub(crate) use io::UDP_GRO;
pub(crate) use io::{receive, send};

/// Packets per batch (wireguard-go's `IdealBatchSize` is 128; 64 keeps latency low on 2 cores).
pub(crate) const BATCH: usize = 64;
/// One slot: the largest IP packet, plus WireGuard's data overhead (32) and padding (16).
pub(crate) const SLOT: usize = 65536 + 64;

/// A vector of packet buffers with lengths and (for UDP) addresses. The backing memory is one
/// zero-initialised allocation, so untouched slot tails cost no resident memory.
pub(crate) struct Batch {
    data: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<Option<SocketAddr>>,
    /// The local address a datagram arrived at (received) or must leave from (to send).
    srcs: Vec<Option<IpAddr>>,
    /// Received with UDP GRO: the size of the datagrams the slot holds back to back (the
    /// last may be shorter); 0 = one datagram.
    segs: Vec<usize>,
    n: usize,
    /// The system calls' per-batch headers (`batch_linux.rs`; nothing elsewhere).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    hdrs: Box<Hdrs>,
    /// Per slot: TCP segments merged into it (TUN writes with offloads, `offload.rs`).
    gro: Vec<Coalesced>,
    /// The slot the next TCP segment may be appended to.
    gro_head: Option<usize>,
}

/// The size of the datagrams in a received slot of `len` bytes with GRO segment size `seg`
/// (0: one datagram).
fn segment_len(len: usize, seg: usize) -> usize {
    match seg {
        0 => len.max(1),
        s => s,
    }
}

impl Batch {
    pub(crate) fn new(capacity: usize) -> Batch {
        Batch {
            data: vec![0u8; capacity * SLOT],
            lens: vec![0; capacity],
            addrs: vec![None; capacity],
            srcs: vec![None; capacity],
            segs: vec![0; capacity],
            n: 0,
            hdrs: Hdrs::new(),
            gro: vec![Coalesced::default(); capacity],
            gro_head: None,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.lens.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    pub(crate) fn is_full(&self) -> bool {
        self.n == self.capacity()
    }

    pub(crate) fn clear(&mut self) {
        self.n = 0;
        self.gro_head = None;
    }

    /// The TCP segments merged into slot `i` (its GSO header when written to a TUN queue).
    pub(crate) fn coalesced(&self, i: usize) -> &Coalesced {
        &self.gro[i]
    }

    /// The whole buffer of slot `i`.
    pub(crate) fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.data[i * SLOT..(i + 1) * SLOT]
    }

    /// The packet in slot `i`.
    pub(crate) fn packet(&self, i: usize) -> &[u8] {
        &self.data[i * SLOT..i * SLOT + self.lens[i]]
    }

    pub(crate) fn addr(&self, i: usize) -> Option<SocketAddr> {
        self.addrs[i]
    }

    /// The local address datagram `i` arrived at.
    pub(crate) fn src(&self, i: usize) -> Option<IpAddr> {
        self.srcs[i]
    }

    /// The datagrams of received slot `i`: one, or (UDP GRO) several of equal size, the last
    /// possibly shorter — slices of the slot, no copies.
    pub(crate) fn datagrams(&self, i: usize) -> std::slice::Chunks<'_, u8> {
        self.packet(i).chunks(self.segment_size(i))
    }

    /// The datagrams of received slots `from..to` in order, writable (decrypted in place).
    pub(crate) fn datagrams_mut_in(&mut self, from: usize, to: usize) -> impl Iterator<Item = &mut [u8]> {
        let Batch { data, lens, segs, .. } = self;
        data[from * SLOT..to * SLOT]
            .chunks_mut(SLOT)
            .zip(lens[from..to].iter().zip(&segs[from..to]))
            .flat_map(|(slot, (&len, &seg))| slot[..len].chunks_mut(segment_len(len, seg)))
    }

    fn segment_size(&self, i: usize) -> usize {
        segment_len(self.lens[i], self.segs[i])
    }

    /// The committed packets in slots `from..to`, writable.
    pub(crate) fn packets_mut(&mut self, from: usize, to: usize) -> impl Iterator<Item = &mut [u8]> {
        self.data[from * SLOT..to * SLOT]
            .chunks_mut(SLOT)
            .zip(&self.lens[from..to])
            .map(|(slot, &len)| &mut slot[..len])
    }

    /// The next free slot (callers check `is_full` first).
    pub(crate) fn next_slot(&mut self) -> &mut [u8] {
        let n = self.n;
        self.slot_mut(n)
    }

    /// Commits `len` bytes written at the start of the next free slot.
    pub(crate) fn commit(&mut self, len: usize, addr: Option<SocketAddr>) {
        self.commit_from(len, addr, None);
    }

    /// Commits a datagram that must leave from local address `src` (sticky source).
    pub(crate) fn commit_from(&mut self, len: usize, addr: Option<SocketAddr>, src: Option<IpAddr>) {
        self.lens[self.n] = len;
        self.addrs[self.n] = addr;
        self.srcs[self.n] = src;
        self.segs[self.n] = 0;
        self.gro[self.n] = Coalesced::default();
        self.end_coalescing();
        self.n += 1;
    }

    /// Completes the packet segments were being appended to, if any (no more will be).
    /// [`super::tun::queue::write_tun`] calls it; until then that packet's headers are not valid.
    pub(crate) fn end_coalescing(&mut self) {
        if let Some(h) = self.gro_head.take() {
            let len = self.lens[h];
            self.gro[h].finish(&mut self.data[h * SLOT..h * SLOT + len]);
        }
    }

    /// Commits a plain IP packet written at the start of the next slot — or appends it to
    /// the previous packet when it is the next TCP segment of the same flow (GRO).
    pub(crate) fn commit_coalescing(&mut self, len: usize) {
        let n = self.n;
        if let Some(h) = self.gro_head {
            let (before, rest) = self.data.split_at_mut(n * SLOT);
            let mut head_len = self.lens[h];
            if self.gro[h].try_append(&mut before[h * SLOT..(h + 1) * SLOT], &mut head_len, &rest[..len]) {
                self.lens[h] = head_len;
                return;
            }
        }
        self.start_coalescing(len);
    }

    /// Copies a plain IP packet into the batch: appended to the previous packet when it is the
    /// next TCP segment of the same flow (GRO), else into the next free slot.
    pub(crate) fn push_coalescing(&mut self, packet: &[u8]) {
        if let Some(h) = self.gro_head {
            let mut head_len = self.lens[h];
            if self.gro[h].try_append(&mut self.data[h * SLOT..(h + 1) * SLOT], &mut head_len, packet) {
                self.lens[h] = head_len;
                return;
            }
        }
        self.next_slot()[..packet.len()].copy_from_slice(packet);
        self.start_coalescing(packet.len());
    }

    /// Commits the packet in the next slot as a new coalescing head.
    fn start_coalescing(&mut self, len: usize) {
        let n = self.n;
        let c = Coalesced::start(&self.data[n * SLOT..n * SLOT + len]);
        self.commit(len, None);
        self.gro[n] = c;
        self.gro_head = (!c.closed).then_some(n);
    }

    /// Copies a packet into the next free slot.
    pub(crate) fn push(&mut self, packet: &[u8], addr: Option<SocketAddr>) {
        self.push_from(packet, addr, None);
    }

    /// Copies a packet into the next free slot, to leave from local address `src`.
    pub(crate) fn push_from(&mut self, packet: &[u8], addr: Option<SocketAddr>, src: Option<IpAddr>) {
        self.next_slot()[..packet.len()].copy_from_slice(packet);
        self.commit_from(packet.len(), addr, src);
    }
}

impl Sink for Batch {
    fn next_buf(&mut self) -> Option<&mut [u8]> {
        if self.is_full() {
            return None;
        }
        // Leave room for padding and WireGuard overhead in the same slot.
        Some(&mut self.next_slot()[..SLOT - 64])
    }

    fn done(&mut self, len: usize) {
        self.commit(len, None);
    }
}

#[cfg(test)]
mod gro_tests {
    use super::*;
    use crate::device::tun::offload::tests::{checksums_ok, tcp_packet};
    use crate::device::tun::offload::VnetHdr;
    use rand_core::{OsRng, RngCore};

    /// Segments of one flow, coalesced in a batch, split back: the same packets.
    #[test]
    fn coalesce_then_split_round_trips_random_flows() {
        for round in 0..40 {
            let v6 = round % 2 == 1;
            let mss = 500 + (OsRng.next_u32() % 900) as usize;
            let count = 1 + (OsRng.next_u32() % 60) as usize;
            let last = 1 + (OsRng.next_u32() as usize % mss);
            let mut seq = OsRng.next_u32();
            let mut packets = Vec::new();
            for i in 0..count {
                let n = if i + 1 == count { last } else { mss };
                let mut payload = vec![0u8; n];
                OsRng.fill_bytes(&mut payload);
                let flags = if i + 1 == count && round % 3 == 0 { 0x18 } else { 0x10 };
                let mut p = tcp_packet(v6, seq, flags, &payload);
                if !v6 {
                    // Senders number TSO segments consecutively (the split does the same).
                    p[4..6].copy_from_slice(&(0x1234u16 + i as u16).to_be_bytes());
                    crate::device::tun::offload::tests::fix_checksums(&mut p);
                }
                packets.push(p);
                seq = seq.wrapping_add(n as u32);
            }
            // A packet of another kind in the middle ends the run.
            let cut = (OsRng.next_u32() as usize) % (count + 1);
            let mut batch = Batch::new(BATCH);
            for (i, p) in packets.iter().enumerate() {
                if i == cut && round % 4 == 0 {
                    batch.push(&[0x45, 0, 0, 20], None);
                }
                batch.next_slot()[..p.len()].copy_from_slice(p);
                batch.commit_coalescing(p.len());
            }
            batch.end_coalescing();
            let mut out: Vec<Vec<u8>> = Vec::new();
            for i in 0..batch.len() {
                let p = batch.packet(i).to_vec();
                if p.len() == 4 {
                    continue;
                }
                let hdr = batch.gro[i].header(&p);
                let mut p2 = p.clone();
                let mut segs = Batch::new(BATCH);
                assert_eq!(
                    crate::device::tun::offload::split(&hdr, &mut p2, 0, &mut segs),
                    Ok(None)
                );
                for k in 0..segs.len() {
                    out.push(segs.packet(k).to_vec());
                }
            }
            assert_eq!(out.len(), packets.len(), "round {round}");
            for (a, b) in out.iter().zip(&packets) {
                assert!(checksums_ok(a));
                assert_eq!(a, b, "round {round}");
            }
            if round % 4 != 0 && count > 1 {
                // One flow, nothing in between: fewer writes than segments.
                assert!(batch.len() < count, "round {round}: {} writes for {count}", batch.len());
            }
        }
    }

    /// A merged packet is completed when its run ends, as the kernel expects it: IP length,
    /// a valid IPv4 header checksum, and the pseudo-header sum in the TCP checksum field.
    #[test]
    fn a_merged_packet_is_completed_when_its_run_ends() {
        use crate::device::tun::checksum;
        for v6 in [false, true] {
            let ihl = if v6 { 40 } else { 20 };
            let mut batch = Batch::new(8);
            let mut seq = 7000;
            for i in 0..5u16 {
                let mut p = tcp_packet(v6, seq, 0x10, &[i as u8; 1000]);
                if !v6 {
                    p[4..6].copy_from_slice(&(0x40 + i).to_be_bytes());
                    crate::device::tun::offload::tests::fix_checksums(&mut p);
                }
                batch.push_coalescing(&p);
                seq += 1000;
            }
            // Another flow's segment ends the run and starts its own.
            let other = tcp_packet(v6, 1, 0x10, &[9u8; 10]);
            batch.push_coalescing(&other);
            assert_eq!(batch.len(), 2);
            assert_eq!(batch.packet(1), &other[..]);
            let mut p = batch.packet(0).to_vec();
            assert_eq!(p.len(), ihl + 20 + 5000);
            if v6 {
                assert_eq!(u16::from_be_bytes([p[4], p[5]]) as usize, p.len() - 40);
            } else {
                assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
                assert_eq!(checksum::fold(checksum::sum(&p[..20], 0)), 0xffff);
            }
            let (src, dst) = if v6 { (8..24, 24..40) } else { (12..16, 16..20) };
            let ps = checksum::pseudo_header(&p[src], &p[dst], 6, p.len() - ihl);
            assert_eq!(u16::from_be_bytes([p[ihl + 16], p[ihl + 17]]), checksum::fold(ps));
            // What the kernel does with NEEDS_CSUM gives a packet whose checksums verify.
            let c = checksum::checksum(&p[ihl..], 0);
            p[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
            assert!(checksums_ok(&p));
            assert_eq!(batch.gro[0].header(batch.packet(0)).gso_size, 1000);
        }
    }

    /// Segments that must not merge: a gap in the sequence, another flow, a SYN.
    #[test]
    fn unrelated_segments_stay_apart() {
        let a = tcp_packet(false, 1000, 0x10, &[1u8; 100]);
        let gap = tcp_packet(false, 1200, 0x10, &[2u8; 100]);
        let mut other = tcp_packet(false, 1300, 0x10, &[3u8; 100]);
        other[20] ^= 1;
        crate::device::tun::offload::tests::fix_checksums(&mut other);
        let syn = tcp_packet(false, 1400, 0x02, &[]);
        let mut batch = Batch::new(8);
        for p in [&a, &gap, &other, &syn] {
            batch.next_slot()[..p.len()].copy_from_slice(p);
            batch.commit_coalescing(p.len());
        }
        assert_eq!(batch.len(), 4);
        for (i, p) in [&a, &gap, &other, &syn].iter().enumerate() {
            assert_eq!(batch.packet(i), &p[..]);
            assert_eq!(batch.gro[i].header(batch.packet(i)), VnetHdr::default());
        }
    }
}
