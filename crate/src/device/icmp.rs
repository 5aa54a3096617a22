//! ICMP "destination unreachable" for packets the device cannot send (no peer for the
//! destination, no endpoint, no private key), written back into the TUN as the kernel's
//! WireGuard does (host unreachable for IPv4, address unreachable for IPv6), so that local
//! applications fail fast instead of timing out. The error's source address is the
//! unreachable destination itself. Rate-limited per worker.

use std::time::{Duration, Instant};

/// Errors per second per worker.
pub(crate) const ICMP_RATE: u32 = 100;
const V4_MAX_TOTAL: usize = 576;
const V6_MAX_TOTAL: usize = 1280;

fn sum_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds the error for `orig` into `out`; `None` when no error may be sent (ICMP errors,
/// fragments, multicast or broadcast, malformed packets).
pub(crate) fn unreachable(orig: &[u8], out: &mut [u8]) -> Option<usize> {
    match orig.first()? >> 4 {
        4 => v4(orig, out),
        6 => v6(orig, out),
        _ => None,
    }
}

fn v4(orig: &[u8], out: &mut [u8]) -> Option<usize> {
    if orig.len() < 20 {
        return None;
    }
    let ihl = ((orig[0] & 0xf) as usize) * 4;
    if ihl < 20 || orig.len() < ihl {
        return None;
    }
    let (src, dst) = (&orig[12..16], &orig[16..20]);
    let frag_off = u16::from_be_bytes([orig[6], orig[7]]) & 0x1fff;
    let multicast = |a: &[u8]| a[0] & 0xf0 == 0xe0;
    if frag_off != 0 || multicast(dst) || dst == [255; 4] || src == [0; 4] || multicast(src) {
        return None;
    }
    if orig[9] == 1 && orig.len() > ihl && matches!(orig[ihl], 3 | 4 | 5 | 11 | 12) {
        return None;
    }
    let quote = orig.len().min(V4_MAX_TOTAL - 28);
    let total = 28 + quote;
    if out.len() < total {
        return None;
    }
    out[..28].fill(0);
    out[0] = 0x45;
    out[1] = 0xc0;
    out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    out[8] = 64;
    out[9] = 1;
    out[12..16].copy_from_slice(dst);
    out[16..20].copy_from_slice(src);
    let c = fold(sum_words(0, &out[..20]));
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20] = 3; // destination unreachable
    out[21] = 1; // host unreachable
    out[28..total].copy_from_slice(&orig[..quote]);
    let c = fold(sum_words(0, &out[20..total]));
    out[22..24].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

fn v6(orig: &[u8], out: &mut [u8]) -> Option<usize> {
    if orig.len() < 40 {
        return None;
    }
    let (src, dst) = (&orig[8..24], &orig[24..40]);
    if dst[0] == 0xff || src[0] == 0xff || src == [0; 16] {
        return None;
    }
    if orig[6] == 58 && orig.len() > 40 && orig[40] < 128 {
        return None;
    }
    let quote = orig.len().min(V6_MAX_TOTAL - 48);
    let total = 48 + quote;
    let payload = (8 + quote) as u16;
    if out.len() < total {
        return None;
    }
    out[..48].fill(0);
    out[0] = 0x60;
    out[4..6].copy_from_slice(&payload.to_be_bytes());
    out[6] = 58;
    out[7] = 64;
    out[8..24].copy_from_slice(dst);
    out[24..40].copy_from_slice(src);
    out[40] = 1; // destination unreachable
    out[41] = 3; // address unreachable
    out[48..total].copy_from_slice(&orig[..quote]);
    let pseudo = sum_words(0, &out[8..40]) + payload as u32 + 58;
    let c = fold(sum_words(pseudo, &out[40..total]));
    out[42..44].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// A per-worker budget of [`ICMP_RATE`] errors per second.
pub(crate) struct IcmpLimiter {
    window: Instant,
    left: u32,
}

impl IcmpLimiter {
    pub(crate) fn new() -> IcmpLimiter {
        IcmpLimiter {
            window: Instant::now(),
            left: ICMP_RATE,
        }
    }

    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.left = ICMP_RATE;
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_packet(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 77, 0, 1]);
        p[16..20].copy_from_slice(&[10, 77, 0, 9]);
        p.extend_from_slice(payload);
        p
    }

    fn v6_packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 9;
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_host_unreachable_has_valid_checksums() {
        let orig = v4_packet(1, &[8, 0, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb, 0xcc]);
        let mut out = vec![0u8; 2048];
        let n = unreachable(&orig, &mut out).unwrap();
        let r = &out[..n];
        assert_eq!(n, 28 + orig.len());
        assert_eq!(fold(sum_words(0, &r[..20])), 0, "IP header checksum");
        assert_eq!(fold(sum_words(0, &r[20..])), 0, "ICMP checksum");
        assert_eq!((r[9], r[20], r[21]), (1, 3, 1));
        assert_eq!(&r[12..16], &[10, 77, 0, 9]);
        assert_eq!(&r[16..20], &[10, 77, 0, 1]);
        assert_eq!(&r[28..], &orig[..]);
        // Long packets are quoted up to 576 bytes in total.
        let big = v4_packet(17, &[7u8; 1400]);
        assert_eq!(unreachable(&big, &mut out), Some(576));
        assert_eq!(fold(sum_words(0, &out[20..576])), 0);
    }

    #[test]
    fn ipv6_address_unreachable_has_valid_checksum() {
        let orig = v6_packet(17, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut out = vec![0u8; 2048];
        let n = unreachable(&orig, &mut out).unwrap();
        let r = &out[..n];
        assert_eq!((r[6], r[40], r[41]), (58, 1, 3));
        assert_eq!(&r[8..24], &orig[24..40]);
        assert_eq!(&r[24..40], &orig[8..24]);
        let len = (n - 40) as u32;
        let pseudo = sum_words(0, &r[8..40]) + (len >> 16) + (len & 0xffff) + 58;
        assert_eq!(fold(sum_words(pseudo, &r[40..])), 0);
        let big = v6_packet(17, &[7u8; 1400]);
        assert_eq!(unreachable(&big, &mut out), Some(1280));
    }

    #[test]
    fn never_answers_errors_fragments_or_multicast() {
        let mut out = vec![0u8; 2048];
        assert!(unreachable(&v4_packet(1, &[3, 1, 0, 0, 0, 0, 0, 0]), &mut out).is_none());
        assert!(unreachable(&v4_packet(1, &[11, 0, 0, 0, 0, 0, 0, 0]), &mut out).is_none());
        let mut frag = v4_packet(17, &[0; 8]);
        frag[7] = 10;
        assert!(unreachable(&frag, &mut out).is_none());
        let mut mc = v4_packet(17, &[0; 8]);
        mc[16] = 239;
        assert!(unreachable(&mc, &mut out).is_none());
        assert!(unreachable(&v6_packet(58, &[1, 0, 0, 0, 0, 0, 0, 0]), &mut out).is_none());
        assert!(unreachable(&v6_packet(58, &[128, 0, 0, 0, 0, 0, 0, 0]), &mut out).is_some());
        let mut mc6 = v6_packet(17, &[0; 8]);
        mc6[24] = 0xff;
        assert!(unreachable(&mc6, &mut out).is_none());
        assert!(unreachable(&[0x45, 0, 0], &mut out).is_none());
        assert!(unreachable(&[], &mut out).is_none());
    }

    #[test]
    fn limiter_caps_per_second() {
        let mut l = IcmpLimiter::new();
        let now = Instant::now();
        let allowed = (0..1000).filter(|_| l.allow(now)).count();
        assert_eq!(allowed, ICMP_RATE as usize);
        assert!(l.allow(now + Duration::from_secs(1)));
    }
}
