//! Internet checksums (RFC 1071) for the offload paths: one's-complement sums over byte
//! slices and the TCP/UDP pseudo-headers of IPv4 and IPv6.

/// Adds the big-endian 16-bit words of `data` (an odd tail byte is padded with zero) to `sum`.
///
/// The bulk is summed as little-endian 32-bit words (plain loads, which the compiler
/// vectorises), folded to 16 bits and byte-swapped: the one's-complement sum is the same in
/// either byte order up to that swap, and 2^16 ≡ 1 makes 32-bit words sum like pairs of 16-bit
/// ones (RFC 1071 §2).
#[inline]
pub(crate) fn sum(data: &[u8], acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    // At most 2^32 words of 2^32 - 1 each: no overflow below 16 GiB.
    let mut le = 0u64;
    for c in &mut chunks {
        le += u32::from_le_bytes(c.try_into().expect("4 bytes")) as u64;
    }
    let mut acc = acc + fold(le).swap_bytes() as u64;
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = rest.remainder() {
        acc += (*b as u64) << 8;
    }
    acc
}

/// Folds a sum to 16 bits (not complemented).
#[inline]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The final checksum of `data` on top of `acc`: folded and complemented.
#[inline]
pub(crate) fn checksum(data: &[u8], acc: u64) -> u16 {
    !fold(sum(data, acc))
}

/// The pseudo-header sum for `proto` with addresses `src`/`dst` (4 or 16 bytes each) and an
/// upper-layer length of `len`.
#[inline]
pub(crate) fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u64 {
    sum(src, sum(dst, proto as u64 + len as u64))
}

/// The IPv4 header checksum of `header` (its checksum field at 10..12 is skipped).
pub(crate) fn ipv4_header(header: &[u8]) -> u16 {
    !fold(sum(&header[..10], sum(&header[12..], 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)), 0xddf2);
        // Odd length: the last byte is the high half of a word.
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
    }

    #[test]
    fn ipv4_header_checksum_of_a_real_header() {
        // A captured header: checksum 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), 0xb861);
        // A correct header sums to 0xffff including its checksum.
        assert_eq!(fold(sum(&h, 0)), 0xffff);
    }

    #[test]
    fn wide_and_narrow_sums_agree() {
        let data: Vec<u8> = (0..1501u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for len in (0..=40).chain([63, 64, 65, 1000, 1001, 1379, 1380, 1500, 1501]) {
            let narrow = data[..len]
                .chunks(2)
                .map(|c| ((c[0] as u64) << 8) | c.get(1).copied().unwrap_or(0) as u64)
                .sum::<u64>();
            assert_eq!(fold(sum(&data[..len], 0)), fold(narrow), "len {len}");
            // With a carried-in sum, and for every byte offset of the slice.
            assert_eq!(fold(sum(&data[..len], 0x1_2345)), fold(narrow + 0x1_2345), "len {len}");
            let off = len % 5;
            let narrow_off = data[off..len.max(off)]
                .chunks(2)
                .map(|c| ((c[0] as u64) << 8) | c.get(1).copied().unwrap_or(0) as u64)
                .sum::<u64>();
            assert_eq!(
                fold(sum(&data[off..len.max(off)], 0)),
                fold(narrow_off),
                "offset {off} len {len}"
            );
        }
    }
}
