//! TUN offloads (`IFF_VNET_HDR` + `TUNSETOFFLOAD`): every packet read from or written to the
//! TUN carries a 10-byte `virtio_net_hdr`. With TSO on, the kernel hands us TCP
//! super-packets of up to 64 KiB (one read instead of ~45) that we split here into MTU-sized
//! segments with their own IP/TCP headers and checksums before encryption; with
//! `TUN_F_CSUM` it may leave a checksum for us to complete (`NEEDS_CSUM`). Writes carry an
//! all-zero header (no GSO, checksum complete).

use super::checksum;

/// `sizeof(struct virtio_net_hdr)`.
pub(crate) const VNET_HDR_LEN: usize = 10;

pub(crate) const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
pub(crate) const GSO_NONE: u8 = 0;
pub(crate) const GSO_TCPV4: u8 = 1;
pub(crate) const GSO_TCPV6: u8 = 4;
pub(crate) const GSO_UDP_L4: u8 = 5;

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TCP_FLAG_FIN: u8 = 0x01;
const TCP_FLAG_PSH: u8 = 0x08;

/// `struct virtio_net_hdr` (fields little-endian, as on every Linux host we run on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    pub(crate) flags: u8,
    pub(crate) gso_type: u8,
    pub(crate) hdr_len: u16,
    pub(crate) gso_size: u16,
    pub(crate) csum_start: u16,
    pub(crate) csum_offset: u16,
}

impl VnetHdr {
    pub(crate) fn decode(b: &[u8]) -> VnetHdr {
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        }
    }

    pub(crate) fn encode(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// Why a packet from the TUN could not be split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    Malformed,
}

/// Addresses of an IP packet (4 or 16 bytes each) and its IP header length.
fn ip_parts(p: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    match p.first()? >> 4 {
        4 if p.len() >= 20 => {
            let ihl = ((p[0] & 0x0f) as usize) * 4;
            (ihl >= 20 && p.len() >= ihl).then(|| (&p[12..16], &p[16..20], ihl))
        }
        6 if p.len() >= 40 => Some((&p[8..24], &p[24..40], 40)),
        _ => None,
    }
}

/// Completes a partial checksum (`NEEDS_CSUM`): the field at `start + offset` holds the
/// pseudo-header sum; the checksum covers everything from `start`.
fn complete_checksum(p: &mut [u8], start: usize, offset: usize) -> Result<(), SplitError> {
    let at = start + offset;
    if at + 2 > p.len() {
        return Err(SplitError::Malformed);
    }
    let c = checksum::checksum(&p[start..], 0);
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Where split packets go: a vector of buffers filled front to back.
pub(crate) trait Sink {
    /// The next free buffer, `None` when full.
    fn next_buf(&mut self) -> Option<&mut [u8]>;
    /// Commits `len` bytes written to the buffer `next_buf` returned.
    fn done(&mut self, len: usize);
}

/// Splits one packet read from the TUN (`hdr` + `pkt`) into plain IP packets in `out`,
/// starting at segment `first`. Returns the index of the first segment that did not fit
/// (`None` when the packet is finished).
pub(crate) fn split(
    hdr: &VnetHdr,
    pkt: &mut [u8],
    first: usize,
    out: &mut impl Sink,
) -> Result<Option<usize>, SplitError> {
    if hdr.gso_type == GSO_NONE {
        if hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
            complete_checksum(pkt, hdr.csum_start as usize, hdr.csum_offset as usize)?;
        }
        let Some(dst) = out.next_buf() else { return Ok(Some(0)) };
        if dst.len() < pkt.len() {
            return Err(SplitError::Malformed);
        }
        dst[..pkt.len()].copy_from_slice(pkt);
        out.done(pkt.len());
        return Ok(None);
    }
    let (src, dstaddr, ihl) = ip_parts(pkt).ok_or(SplitError::Malformed)?;
    let v4 = pkt[0] >> 4 == 4;
    let (proto, l4_len) = match hdr.gso_type {
        GSO_TCPV4 | GSO_TCPV6 => {
            let at = hdr.csum_start as usize;
            if at + 20 > pkt.len() {
                return Err(SplitError::Malformed);
            }
            (PROTO_TCP, ((pkt[at + 12] >> 4) as usize) * 4)
        }
        GSO_UDP_L4 => (PROTO_UDP, 8),
        _ => return Err(SplitError::Malformed),
    };
    let l4 = hdr.csum_start as usize;
    let hlen = l4 + l4_len;
    let mss = hdr.gso_size as usize;
    let family_ok = match hdr.gso_type {
        GSO_TCPV4 => v4,
        GSO_TCPV6 => !v4,
        _ => true,
    };
    // A TCP header is at least 20 bytes (data offset 5): a smaller one would put the flags and
    // checksum fields written below past the segment's headers.
    let min_l4 = if proto == PROTO_TCP { 20 } else { 8 };
    if l4 < ihl || l4_len < min_l4 || hlen > pkt.len() || mss == 0 || !family_ok {
        return Err(SplitError::Malformed);
    }
    // The sums that are the same for every segment: the pseudo-header's addresses and
    // protocol, and the IPv4 header without its length, identification and checksum fields.
    let addresses = checksum::pseudo_header(src, dstaddr, proto, 0);
    let ipv4_fixed = if v4 {
        checksum::sum(&pkt[..2], checksum::sum(&pkt[6..10], checksum::sum(&pkt[12..ihl], 0)))
    } else {
        0
    };
    let payload = pkt.len() - hlen;
    let segments = payload.div_ceil(mss).max(1);
    let seq0 = (proto == PROTO_TCP).then(|| u32::from_be_bytes(pkt[l4 + 4..l4 + 8].try_into().expect("4")));
    let id0 = if v4 { u16::from_be_bytes([pkt[4], pkt[5]]) } else { 0 };
    for i in first..segments {
        let Some(dst) = out.next_buf() else { return Ok(Some(i)) };
        let start = hlen + i * mss;
        let end = (start + mss).min(pkt.len());
        let len = hlen + (end - start);
        if dst.len() < len {
            return Err(SplitError::Malformed);
        }
        dst[..hlen].copy_from_slice(&pkt[..hlen]);
        dst[hlen..len].copy_from_slice(&pkt[start..end]);
        let seg = &mut dst[..len];
        if v4 {
            let id = id0.wrapping_add(i as u16);
            seg[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            seg[4..6].copy_from_slice(&id.to_be_bytes());
            let c = !checksum::fold(ipv4_fixed + len as u64 + id as u64);
            seg[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            seg[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        }
        let csum_at = match seq0 {
            Some(seq0) => {
                let seq = seq0.wrapping_add((i * mss) as u32);
                seg[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                if i + 1 < segments {
                    seg[l4 + 13] &= !(TCP_FLAG_FIN | TCP_FLAG_PSH);
                }
                l4 + 16
            }
            None => {
                seg[l4 + 4..l4 + 6].copy_from_slice(&((len - l4) as u16).to_be_bytes());
                l4 + 6
            }
        };
        seg[csum_at..csum_at + 2].fill(0);
        let mut c = checksum::checksum(&seg[l4..], addresses + (len - l4) as u64);
        if proto == PROTO_UDP && c == 0 {
            c = 0xffff;
        }
        seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        out.done(len);
    }
    Ok(None)
}

/// Coalescing state of one packet in a batch about to be written to the TUN: TCP segments
/// of one flow that arrive back to back are appended to the first (GRO), and the result is
/// written once with a GSO header; the kernel sees one big packet instead of dozens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Coalesced {
    /// Payload bytes of each segment (the first one's), 0 = not a coalescing head.
    pub(crate) gso_size: u16,
    /// Segments merged so far.
    pub(crate) count: u16,
    /// No more segments may be appended (a short or PSH segment ended it).
    pub(crate) closed: bool,
}

/// The most a coalesced packet may hold (IPv4 total length / IPv6 payload length).
const MAX_COALESCED: usize = 65535;

/// TCP offsets of an IPv4 (no options, not fragmented) or IPv6 (no extension headers) TCP
/// packet: (IP header length, TCP header length, payload length).
fn tcp_parts(p: &[u8]) -> Option<(usize, usize, usize)> {
    let ihl = match p.first()? >> 4 {
        4 if p.len() >= 40 && p[0] == 0x45 && p[9] == PROTO_TCP => {
            // MF or a fragment offset: leave it alone.
            if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 || u16::from_be_bytes([p[2], p[3]]) as usize != p.len() {
                return None;
            }
            20
        }
        6 if p.len() >= 60 && p[6] == PROTO_TCP => {
            if u16::from_be_bytes([p[4], p[5]]) as usize + 40 != p.len() {
                return None;
            }
            40
        }
        _ => return None,
    };
    let thl = ((p[ihl + 12] >> 4) as usize) * 4;
    (thl >= 20 && ihl + thl <= p.len()).then(|| (ihl, thl, p.len() - ihl - thl))
}

const TCP_FLAG_ACK: u8 = 0x10;

impl Coalesced {
    /// Starts a head for `pkt` if it is a TCP segment that later ones may join.
    pub(crate) fn start(pkt: &[u8]) -> Coalesced {
        match tcp_parts(pkt) {
            Some((ihl, _, payload)) if payload > 0 && pkt[ihl + 13] == TCP_FLAG_ACK && payload <= u16::MAX as usize => {
                Coalesced {
                    gso_size: payload as u16,
                    count: 1,
                    closed: false,
                }
            }
            _ => Coalesced {
                closed: true,
                ..Default::default()
            },
        }
    }

    /// Appends `pkt` to the head packet `head[..*head_len]` (whose buffer has room up to
    /// its end) when it is the next segment of the same flow; true when merged. The head's
    /// headers are not valid again until [`Coalesced::finish`].
    pub(crate) fn try_append(&mut self, head: &mut [u8], head_len: &mut usize, pkt: &[u8]) -> bool {
        if self.closed || self.count == 0 {
            return false;
        }
        let Some((ihl, thl, payload)) = tcp_parts(pkt) else {
            return false;
        };
        let h = &head[..*head_len];
        let gso = self.gso_size as usize;
        let hlen = ihl + thl;
        let flags = pkt[ihl + 13];
        if payload == 0
            || payload > gso
            || (flags != TCP_FLAG_ACK && flags != TCP_FLAG_ACK | TCP_FLAG_PSH)
            || h[0] != pkt[0]
            || *head_len + payload > head.len()
            || *head_len - ihl + payload > MAX_COALESCED - if ihl == 20 { 20 } else { 0 }
        {
            return false;
        }
        // Same IP fields (addresses, TOS/traffic class, TTL/hop limit, DF), same ports, ack,
        // window and options; the sequence number continues where the head ends.
        let same_ip = if ihl == 20 {
            h[1] == pkt[1] && h[6] == pkt[6] && h[8] == pkt[8] && h[12..20] == pkt[12..20]
        } else {
            h[..4] == pkt[..4] && h[7] == pkt[7] && h[8..40] == pkt[8..40]
        };
        let (ht, pt) = (&h[ihl..ihl + thl], &pkt[ihl..ihl + thl]);
        if !same_ip || (h[ihl + 12] >> 4) as usize * 4 != thl || ht[..4] != pt[..4] || ht[8..12] != pt[8..12] {
            return false;
        }
        if ht[14..16] != pt[14..16] || ht[20..] != pt[20..] {
            return false;
        }
        let head_payload = *head_len - hlen;
        let seq = u32::from_be_bytes(ht[4..8].try_into().expect("4"));
        if u32::from_be_bytes(pt[4..8].try_into().expect("4")) != seq.wrapping_add(head_payload as u32) {
            return false;
        }
        head[*head_len..*head_len + payload].copy_from_slice(&pkt[hlen..]);
        *head_len += payload;
        self.count += 1;
        if payload < gso || flags & TCP_FLAG_PSH != 0 {
            self.closed = true;
            head[ihl + 13] |= flags & TCP_FLAG_PSH;
        }
        // The length and checksum fields are fixed once, by `finish`, when the run ends.
        true
    }

    /// Completes a merged packet `head` (exactly its bytes) once nothing more will be
    /// appended, as the kernel's `tcp_gro_complete` does: the IP length fields, the IPv4
    /// header checksum, and the pseudo-header sum in the TCP checksum field (the kernel
    /// completes that checksum: `NEEDS_CSUM`). A packet that merged nothing is left as it is.
    pub(crate) fn finish(&self, head: &mut [u8]) {
        if self.count < 2 {
            return;
        }
        let total = head.len();
        let ihl = if head[0] >> 4 == 4 { 20 } else { 40 };
        if ihl == 20 {
            head[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            head[10..12].fill(0);
            let c = checksum::ipv4_header(&head[..20]);
            head[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            head[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
        let (src, dst) = if ihl == 20 { (12..16, 16..20) } else { (8..24, 24..40) };
        let ps = checksum::pseudo_header(&head[src], &head[dst], PROTO_TCP, total - ihl);
        head[ihl + 16..ihl + 18].copy_from_slice(&checksum::fold(ps).to_be_bytes());
    }

    /// The `virtio_net_hdr` to write `pkt` with: GSO for a merged packet, none otherwise.
    pub(crate) fn header(&self, pkt: &[u8]) -> VnetHdr {
        if self.count < 2 {
            return VnetHdr::default();
        }
        let ihl = if pkt[0] >> 4 == 4 { 20 } else { 40 };
        let thl = ((pkt[ihl + 12] >> 4) as usize) * 4;
        VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: if ihl == 20 { GSO_TCPV4 } else { GSO_TCPV6 },
            hdr_len: (ihl + thl) as u16,
            gso_size: self.gso_size,
            csum_start: ihl as u16,
            csum_offset: 16,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TCP/IPv4 or IPv6 packet with correct checksums.
    pub(crate) fn tcp_packet(v6: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let ihl = if v6 { 40 } else { 20 };
        let len = ihl + 20 + payload.len();
        let mut p = vec![0u8; len];
        if v6 {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            p[6] = PROTO_TCP;
            p[7] = 64;
            p[8..24].copy_from_slice(&"fd77::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
            p[24..40].copy_from_slice(&"fd77::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        } else {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            p[6] = 0x40;
            p[8] = 64;
            p[9] = PROTO_TCP;
            p[12..16].copy_from_slice(&[10, 77, 0, 1]);
            p[16..20].copy_from_slice(&[10, 77, 0, 2]);
        }
        let t = ihl;
        p[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        p[t + 2..t + 4].copy_from_slice(&5201u16.to_be_bytes());
        p[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        p[t + 8..t + 12].copy_from_slice(&77u32.to_be_bytes());
        p[t + 12] = 5 << 4;
        p[t + 13] = flags;
        p[t + 14..t + 16].copy_from_slice(&65000u16.to_be_bytes());
        p[t + 20..].copy_from_slice(payload);
        fix_checksums(&mut p);
        p
    }

    /// Recomputes the IP and TCP/UDP checksums of a packet.
    pub(crate) fn fix_checksums(p: &mut [u8]) {
        let (src, dst, ihl) = ip_parts(p).unwrap();
        let (src, dst) = (src.to_vec(), dst.to_vec());
        let proto = if p[0] >> 4 == 4 { p[9] } else { p[6] };
        if p[0] >> 4 == 4 {
            p[10..12].fill(0);
            let c = checksum::ipv4_header(&p[..ihl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let at = ihl + if proto == PROTO_TCP { 16 } else { 6 };
        p[at..at + 2].fill(0);
        let c = checksum::checksum(&p[ihl..], checksum::pseudo_header(&src, &dst, proto, p.len() - ihl));
        p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// Both checksums of a packet verify.
    pub(crate) fn checksums_ok(p: &[u8]) -> bool {
        let (src, dst, ihl) = ip_parts(p).unwrap();
        let proto = if p[0] >> 4 == 4 { p[9] } else { p[6] };
        let ip_ok = p[0] >> 4 == 6 || checksum::fold(checksum::sum(&p[..ihl], 0)) == 0xffff;
        let l4 = checksum::fold(checksum::sum(
            &p[ihl..],
            checksum::pseudo_header(src, dst, proto, p.len() - ihl),
        ));
        ip_ok && l4 == 0xffff
    }

    /// A sink with room for `room` packets.
    struct VecSink {
        room: usize,
        buf: Vec<u8>,
        got: Vec<Vec<u8>>,
    }

    impl Sink for VecSink {
        fn next_buf(&mut self) -> Option<&mut [u8]> {
            (self.got.len() < self.room).then_some(&mut self.buf[..])
        }
        fn done(&mut self, len: usize) {
            self.got.push(self.buf[..len].to_vec());
        }
    }

    fn run_split(hdr: &VnetHdr, pkt: &mut [u8], room: usize) -> Vec<Vec<u8>> {
        let mut bufs: Vec<Vec<u8>> = Vec::new();
        let mut next = 0;
        loop {
            let mut sink = VecSink {
                room,
                buf: vec![0u8; 2048],
                got: Vec::new(),
            };
            let r = split(hdr, pkt, next, &mut sink).unwrap();
            bufs.extend(sink.got);
            match r {
                Some(n) => next = n,
                None => return bufs,
            }
        }
    }

    #[test]
    fn tso_split_gives_valid_segments_with_the_original_bytes() {
        for v6 in [false, true] {
            for (payload_len, mss, room) in [
                (64000usize, 1380usize, 64),
                (5000, 1000, 2),
                (1380, 1380, 1),
                (1, 536, 3),
            ] {
                let payload: Vec<u8> = (0..payload_len).map(|i| (i * 31 + 7) as u8).collect();
                let mut sup = tcp_packet(v6, 0xfffff000, TCP_FLAG_PSH | TCP_FLAG_FIN | 0x10, &payload);
                let ihl = if v6 { 40 } else { 20 };
                let hdr = VnetHdr {
                    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
                    gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                    hdr_len: (ihl + 20) as u16,
                    gso_size: mss as u16,
                    csum_start: ihl as u16,
                    csum_offset: 16,
                };
                let segs = run_split(&hdr, &mut sup, room);
                assert_eq!(segs.len(), payload_len.div_ceil(mss));
                let mut joined = Vec::new();
                for (i, s) in segs.iter().enumerate() {
                    assert!(checksums_ok(s), "segment {i} v6={v6}");
                    assert!(s.len() <= ihl + 20 + mss);
                    let seq = u32::from_be_bytes(s[ihl + 4..ihl + 8].try_into().unwrap());
                    assert_eq!(seq, 0xfffff000u32.wrapping_add((i * mss) as u32));
                    let last = i + 1 == segs.len();
                    assert_eq!(s[ihl + 13] & (TCP_FLAG_FIN | TCP_FLAG_PSH) != 0, last);
                    if !v6 {
                        assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x1234 + i as u16);
                    }
                    joined.extend_from_slice(&s[ihl + 20..]);
                }
                assert_eq!(joined, payload);
            }
        }
    }

    /// A UDP GSO packet (`TUN_F_USO4/6`): datagrams of `gso_size` bytes of payload, each
    /// with its own length and checksum, the same bytes in order.
    #[test]
    fn uso_split_gives_valid_datagrams() {
        for v6 in [false, true] {
            let payload: Vec<u8> = (0..5000usize).map(|i| (i * 13 + 1) as u8).collect();
            let mut sup = tcp_packet(v6, 0, 0, &[0u8; 12]);
            let ihl = if v6 { 40 } else { 20 };
            sup.truncate(ihl + 8);
            sup.extend_from_slice(&payload);
            if v6 {
                sup[6] = PROTO_UDP;
                let n = (sup.len() - 40) as u16;
                sup[4..6].copy_from_slice(&n.to_be_bytes());
            } else {
                sup[9] = PROTO_UDP;
                let n = sup.len() as u16;
                sup[2..4].copy_from_slice(&n.to_be_bytes());
            }
            let hdr = VnetHdr {
                flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
                gso_type: GSO_UDP_L4,
                hdr_len: (ihl + 8) as u16,
                gso_size: 1200,
                csum_start: ihl as u16,
                csum_offset: 6,
            };
            let segs = run_split(&hdr, &mut sup, 3);
            assert_eq!(segs.len(), 5);
            let mut joined = Vec::new();
            for s in &segs {
                assert!(checksums_ok(s), "v6={v6}");
                assert_eq!(u16::from_be_bytes([s[ihl + 4], s[ihl + 5]]) as usize, s.len() - ihl);
                joined.extend_from_slice(&s[ihl + 8..]);
            }
            assert_eq!(joined, payload);
        }
    }

    #[test]
    fn needs_csum_is_completed_for_single_packets() {
        let good = tcp_packet(false, 1, 0x18, b"hello world, checksum me");
        let mut partial = good.clone();
        // What the kernel leaves: the pseudo-header sum, not complemented.
        let ps = checksum::pseudo_header(&good[12..16], &good[16..20], PROTO_TCP, good.len() - 20);
        partial[36..38].copy_from_slice(&checksum::fold(ps).to_be_bytes());
        let hdr = VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..Default::default()
        };
        let out = run_split(&hdr, &mut partial, 1);
        assert_eq!(out, vec![good]);
    }

    #[test]
    fn malformed_gso_packets_are_rejected() {
        let mut p = tcp_packet(false, 1, 0x10, &[0u8; 100]);
        let hdr = VnetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 0,
            csum_start: 20,
            ..Default::default()
        };
        assert_eq!(
            split(
                &hdr,
                &mut p,
                0,
                &mut VecSink {
                    room: 0,
                    buf: vec![],
                    got: vec![]
                }
            ),
            Err(SplitError::Malformed)
        );
        let hdr = VnetHdr {
            gso_type: GSO_TCPV6,
            gso_size: 50,
            csum_start: 20,
            ..Default::default()
        };
        assert_eq!(
            split(
                &hdr,
                &mut p,
                0,
                &mut VecSink {
                    room: 0,
                    buf: vec![],
                    got: vec![]
                }
            ),
            Err(SplitError::Malformed)
        );
        let mut short = vec![0x45u8; 10];
        let hdr = VnetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 50,
            csum_start: 20,
            ..Default::default()
        };
        assert_eq!(
            split(
                &hdr,
                &mut short,
                0,
                &mut VecSink {
                    room: 0,
                    buf: vec![],
                    got: vec![]
                }
            ),
            Err(SplitError::Malformed)
        );
    }

    /// Found by the `gso_split` fuzz target: a TSO header over a packet whose "TCP" data
    /// offset is 3 (12 bytes) and a 1-byte gso_size made the split write the TCP flags past
    /// a 33-byte segment (index out of bounds). A TCP header under 20 bytes is malformed.
    #[test]
    fn tso_with_a_tcp_header_under_20_bytes_is_rejected() {
        let mut p = vec![
            0x45, 0, 0, 44, 0xb0, 0x3d, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4, UDP
            0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, // "UDP" header
            61, 129, 176, 61, 61, 255, 255, 255, 255, 255, 255, 255, 255, 69, 79, 236, // payload
        ];
        let hdr = VnetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 28,
            gso_size: 1,
            csum_start: 20,
            csum_offset: 6,
        };
        let mut sink = VecSink {
            room: 64,
            buf: vec![0u8; 2048],
            got: vec![],
        };
        assert_eq!(split(&hdr, &mut p, 0, &mut sink), Err(SplitError::Malformed));
        assert!(sink.got.is_empty());
        // Data offsets 0 to 4, whatever the segment size: refused, never a panic.
        for offset in 0..5u8 {
            for mss in [1u16, 2, 7, 100] {
                let mut q = tcp_packet(false, 1, 0x10, &[0u8; 40]);
                q[32] = offset << 4;
                let hdr = VnetHdr {
                    gso_type: GSO_TCPV4,
                    gso_size: mss,
                    csum_start: 20,
                    csum_offset: 16,
                    ..Default::default()
                };
                let mut sink = VecSink {
                    room: 64,
                    buf: vec![0u8; 2048],
                    got: vec![],
                };
                assert_eq!(
                    split(&hdr, &mut q, 0, &mut sink),
                    Err(SplitError::Malformed),
                    "offset {offset}"
                );
            }
        }
    }

    #[test]
    fn header_round_trip() {
        let h = VnetHdr {
            flags: 1,
            gso_type: GSO_TCPV6,
            hdr_len: 60,
            gso_size: 1380,
            csum_start: 40,
            csum_offset: 16,
        };
        let mut b = [0u8; VNET_HDR_LEN];
        h.encode(&mut b);
        assert_eq!(VnetHdr::decode(&b), h);
    }
}
