//! GRO on the receive path: decrypted packets pushed through the batch's coalescing, each
//! output split again with its own virtio header, give back the input packets: byte for
//! byte for packets that were not merged; for merged runs the same bytes except the fields
//! the split recomputes (IPv4 id and header checksum, TCP checksum), which the kernel would
//! recompute too. And a merged packet's checksum fields are those the kernel expects.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wgkit::fuzzing::{gro_coalesce, gso_split};

#[derive(Arbitrary, Debug)]
enum Packet {
    /// The next segment of flow `flow % 2` with `len` payload bytes.
    Segment { flow: u8, len: u16, psh: bool, gap: bool },
    /// Anything.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    v6: bool,
    seq: u32,
    packets: Vec<Packet>,
}

fn tcp(v6: bool, flow: u8, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let ihl = if v6 { 40 } else { 20 };
    let total = ihl + 20 + payload.len();
    let mut p = vec![0u8; total];
    if v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        p[6] = 6;
        p[7] = 64;
        p[23] = 1;
        p[39] = 2;
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    }
    p[ihl..ihl + 4].copy_from_slice(&[0x12, flow, 0x56, 0x78]);
    p[ihl + 4..ihl + 8].copy_from_slice(&seq.to_be_bytes());
    p[ihl + 12] = 0x50;
    p[ihl + 13] = flags;
    p[ihl + 20..].copy_from_slice(payload);
    p
}

/// The packet with the fields a split recomputes cleared (for comparing merged runs).
fn masked(p: &[u8]) -> Vec<u8> {
    let mut p = p.to_vec();
    if p.len() >= 40 && p[0] >> 4 == 4 {
        p[4..6].fill(0);
        p[10..12].fill(0);
        p[36..38].fill(0);
    } else if p.len() >= 60 {
        p[56..58].fill(0);
    }
    p
}

fuzz_target!(|input: Input| {
    let mut seqs = [input.seq, input.seq.wrapping_add(1 << 31)];
    let mut packets = Vec::new();
    for (i, p) in input.packets.iter().take(200).enumerate() {
        packets.push(match p {
            Packet::Segment { flow, len, psh, gap } => {
                let f = (flow % 2) as usize;
                let len = *len as usize % 1500;
                let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                let flags = if *psh { 0x18 } else { 0x10 };
                let seq = seqs[f].wrapping_add(*gap as u32);
                seqs[f] = seq.wrapping_add(len as u32);
                tcp(input.v6, f as u8, seq, flags, &payload)
            }
            Packet::Raw(bytes) => bytes.clone(),
        });
    }
    let refs: Vec<&[u8]> = packets.iter().map(|p| &p[..]).collect();
    let written = gro_coalesce(&refs);
    let mut back: Vec<(Vec<u8>, bool)> = Vec::new();
    for w in &written {
        if !w.gso {
            back.push((w.packet.clone(), false));
            continue;
        }
        let mut p = w.packet.clone();
        let segments = gso_split(&w.vnet_hdr, &mut p).expect("a merged packet splits");
        assert!(segments.len() >= 2, "a merged packet holds at least two segments");
        back.extend(segments.into_iter().map(|s| (s, true)));
    }
    assert_eq!(back.len(), packets.len(), "every packet comes back once");
    for (k, ((got, merged), want)) in back.iter().zip(&packets).enumerate() {
        if *merged {
            assert_eq!(masked(got), masked(want), "merged packet {k}");
        } else {
            assert_eq!(got, want, "packet {k}");
        }
    }
});
