//! The TUN offload split (TSO/USO super-packets into MTU-sized packets) against a simple
//! reference: any header and bytes either are refused or give segments that each carry the
//! super-packet's headers, one gso_size slice of its payload in order, consecutive TCP
//! sequence numbers / IPv4 ids, correct lengths and checksums (checked by a plain
//! ones'-complement sum written here).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wgkit::fuzzing::{gso_split, VNET_HDR_LEN};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Mostly a plausible header (so the split's real work is reached), sometimes raw bytes.
    raw_header: Option<[u8; VNET_HDR_LEN]>,
    needs_csum: bool,
    gso_type: u8,
    gso_size: u16,
    /// IPv6 instead of IPv4, UDP instead of TCP.
    v6: bool,
    udp: bool,
    tcp_header_words: u8,
    seq: u32,
    id: u16,
    flags: u8,
    payload: Vec<u8>,
    /// Any bytes for the packet instead of a well-formed one.
    raw_packet: Option<Vec<u8>>,
}

fn sum(data: &[u8], mut acc: u64) -> u64 {
    for c in data.chunks(2) {
        acc += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// A well-formed super-packet: IP header, TCP (with options) or UDP header, payload.
fn packet(i: &Input) -> (Vec<u8>, usize, usize) {
    let (ihl, l4_len) = (
        if i.v6 { 40 } else { 20 },
        if i.udp {
            8
        } else {
            20 + 4 * (i.tcp_header_words as usize % 11)
        },
    );
    let total = ihl + l4_len + i.payload.len();
    let mut p = vec![0u8; total];
    if i.v6 {
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        p[6] = if i.udp { 17 } else { 6 };
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&i.id.to_be_bytes());
        p[8] = 64;
        p[9] = if i.udp { 17 } else { 6 };
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    }
    p[ihl..ihl + 4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    if !i.udp {
        p[ihl + 4..ihl + 8].copy_from_slice(&i.seq.to_be_bytes());
        p[ihl + 12] = ((l4_len / 4) as u8) << 4;
        p[ihl + 13] = i.flags;
    }
    p[ihl + l4_len..].copy_from_slice(&i.payload);
    (p, ihl, l4_len)
}

fn pseudo(seg: &[u8], v6: bool, proto: u8, l4: usize) -> u64 {
    let addrs = if v6 { &seg[8..40] } else { &seg[12..20] };
    sum(addrs, proto as u64 + (seg.len() - l4) as u64)
}

fuzz_target!(|input: Input| {
    if input.payload.len() > 65000 {
        return;
    }
    let (well_formed, ihl, l4_len) = packet(&input);
    let mut pkt = input.raw_packet.clone().unwrap_or_else(|| well_formed.clone());
    let gso_type = [0u8, 1, 4, 5, 3][input.gso_type as usize % 5];
    let mut hdr = [0u8; VNET_HDR_LEN];
    hdr[0] = input.needs_csum as u8;
    hdr[1] = gso_type;
    hdr[2..4].copy_from_slice(&((ihl + l4_len) as u16).to_le_bytes());
    hdr[4..6].copy_from_slice(&input.gso_size.to_le_bytes());
    hdr[6..8].copy_from_slice(&(ihl as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&(if input.udp { 6u16 } else { 16 }).to_le_bytes());
    if let Some(raw) = input.raw_header {
        hdr = raw;
    }
    let original = pkt.clone();
    let Some(segments) = gso_split(&hdr, &mut pkt) else {
        return;
    };
    if input.raw_header.is_some() || input.raw_packet.is_some() {
        // Arbitrary input: no panic, bounded output.
        assert!(segments.iter().all(|s| s.len() <= 65535 + 64));
        return;
    }
    if gso_type == 0 {
        assert_eq!(segments.len(), 1);
        let mut expected = original.clone();
        if input.needs_csum {
            let at = ihl + if input.udp { 6 } else { 16 };
            // The field held the pseudo-header sum: the result is the checksum over all from l4.
            let c = !fold(sum(&original[ihl..], 0));
            expected[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
        assert_eq!(segments[0], expected);
        return;
    }
    // A header accepted for a packet of the other family or protocol is still split by the
    // header's word: check the reference only where header and packet agree.
    let tcp_type = gso_type == 1 || gso_type == 4;
    let agrees = match gso_type {
        1 => !input.v6 && !input.udp,
        4 => input.v6 && !input.udp,
        5 => input.udp,
        _ => false,
    };
    if !agrees {
        return;
    }
    let mss = input.gso_size as usize;
    assert!(mss > 0 && tcp_type != input.udp);
    let hlen = ihl + l4_len;
    let payload = &original[hlen..];
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(mss).collect()
    };
    assert_eq!(segments.len(), chunks.len(), "segment count");
    let proto = if input.udp { 17 } else { 6 };
    for (k, (seg, chunk)) in segments.iter().zip(&chunks).enumerate() {
        assert_eq!(seg.len(), hlen + chunk.len());
        assert_eq!(&seg[hlen..], *chunk, "payload of segment {k}");
        if input.v6 {
            assert_eq!(&seg[..4], &original[..4]);
            assert_eq!(u16::from_be_bytes([seg[4], seg[5]]) as usize, seg.len() - 40);
            assert_eq!(&seg[6..40], &original[6..40]);
        } else {
            assert_eq!(u16::from_be_bytes([seg[2], seg[3]]) as usize, seg.len());
            assert_eq!(u16::from_be_bytes([seg[4], seg[5]]), input.id.wrapping_add(k as u16));
            assert_eq!(fold(sum(&seg[..20], 0)), 0xffff, "IPv4 header checksum of segment {k}");
            assert_eq!(&seg[12..20], &original[12..20]);
        }
        let l4 = &seg[ihl..];
        assert_eq!(
            fold(sum(l4, pseudo(seg, input.v6, proto, ihl))),
            0xffff,
            "L4 checksum of segment {k}"
        );
        if input.udp {
            assert_eq!(u16::from_be_bytes([l4[4], l4[5]]) as usize, l4.len());
        } else {
            let seq = input.seq.wrapping_add((k * mss) as u32);
            assert_eq!(u32::from_be_bytes(l4[4..8].try_into().unwrap()), seq);
            let last = k + 1 == chunks.len();
            let flags = if last { input.flags } else { input.flags & !0x09 };
            assert_eq!(l4[13], flags, "flags of segment {k}");
            assert_eq!(&l4[20..l4_len], &original[ihl + 20..hlen], "TCP options");
        }
    }
});
