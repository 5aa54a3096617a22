//! Internet checksums (RFC 1071) for the offload paths: one's-complement sums over byte
//! slices and the TCP/UDP pseudo-headers of IPv4 and IPv6.

/// Adds the big-endian 16-bit words of `data` (an odd tail byte is padded with zero) to `sum`.
///
/// The bulk is summed as little-endian words, folded to 16 bits and byte-swapped: the
/// one's-complement sum is the same in either byte order up to that swap, and 2^16 ≡ 1 makes
/// 32-bit words sum like pairs of 16-bit ones (RFC 1071 §2). With AVX2 the whole 64-byte
/// blocks are summed 32 bytes at a time (the TCP checksum of every segment split for sending
/// goes through here).
#[inline]
pub(crate) fn sum(data: &[u8], acc: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above).
        let (le, done) = unsafe { sum_le_avx2(data) };
        // `done` is a multiple of 64: the rest starts on a word boundary.
        return sum_scalar(&data[done..], acc + fold(le).swap_bytes() as u64);
    }
    sum_scalar(data, acc)
}

/// [`sum`] without vector instructions beyond what the compiler picks for the target.
#[inline]
fn sum_scalar(data: &[u8], acc: u64) -> u64 {
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

/// The sum of the little-endian 16-bit words in the whole 64-byte blocks of `data`, and how
/// many bytes that covers. Each 32-bit lane adds the low and the high half of its word from
/// two loads per block, at most 4 × 0xffff per block, so a run of 2^14 blocks (1 MiB) cannot
/// overflow a lane; longer inputs are summed run by run.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_le_avx2(data: &[u8]) -> (u64, usize) {
    use std::arch::x86_64::*;
    const RUN: usize = 1 << 14;
    let blocks = data.len() / 64;
    let low = _mm256_set1_epi32(0xffff);
    let p = data.as_ptr();
    let mut total = 0u64;
    let mut i = 0;
    while i < blocks {
        let end = blocks.min(i + RUN);
        let (mut a, mut b) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while i < end {
            // SAFETY: block i lies inside `data` (i < blocks); unaligned loads.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(p.add(i * 64) as *const __m256i),
                    _mm256_loadu_si256(p.add(i * 64 + 32) as *const __m256i),
                )
            };
            a = _mm256_add_epi32(
                a,
                _mm256_add_epi32(_mm256_and_si256(x, low), _mm256_srli_epi32::<16>(x)),
            );
            b = _mm256_add_epi32(
                b,
                _mm256_add_epi32(_mm256_and_si256(y, low), _mm256_srli_epi32::<16>(y)),
            );
            i += 1;
        }
        let mut lanes = [0u32; 16];
        // SAFETY: `lanes` has room for two 32-byte stores.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, a);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(8) as *mut __m256i, b);
        }
        total += lanes.iter().map(|&l| l as u64).sum::<u64>();
    }
    (total, blocks * 64)
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

    /// The 16-bit-word definition of RFC 1071, one word at a time.
    fn narrow(data: &[u8]) -> u64 {
        data.chunks(2)
            .map(|c| ((c[0] as u64) << 8) | c.get(1).copied().unwrap_or(0) as u64)
            .sum::<u64>()
    }

    #[test]
    fn the_vector_sum_agrees_with_the_definition() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        for len in [64, 65, 127, 128, 129, 191, 1388, 1408, 1460, 2999, 3000] {
            for off in 0..4 {
                let d = &data[off..len.max(off)];
                assert_eq!(fold(sum(d, 7)), fold(narrow(d) + 7), "offset {off} len {len}");
                assert_eq!(fold(sum(d, 0)), fold(sum_scalar(d, 0)), "offset {off} len {len}");
            }
        }
        // All ones is the worst case for the 32-bit lanes, over more than one run of blocks
        // (2^14 blocks of 64 bytes): a lane that overflowed would lose a carry.
        let ones = vec![0xffu8; (1 << 20) * 2 + 77];
        assert_eq!(fold(sum(&ones, 0)), fold(narrow(&ones)));
        let mixed: Vec<u8> = (0..(1u32 << 21) + 130).map(|i| (i % 251) as u8 | 0x80).collect();
        assert_eq!(fold(sum(&mixed, 0)), fold(narrow(&mixed)));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_path_is_the_one_taken_where_the_cpu_has_it() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        // SAFETY: AVX2 checked above.
        let (le, done) = unsafe { sum_le_avx2(&data) };
        assert_eq!(done, 192);
        assert_eq!(fold(le).swap_bytes(), fold(sum_scalar(&data[..192], 0)));
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
