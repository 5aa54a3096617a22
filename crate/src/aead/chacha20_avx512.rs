//! ChaCha20 (RFC 8439) for 16 packets at once with AVX-512.
//!
//! Vertical layout: zmm register `k` holds state word `k` of 16 lanes, one lane per packet. All
//! lanes share the key and the block counter of a step; words 13..15 are each lane's nonce in
//! WireGuard's form (`0 || le64(counter)`). After the rounds the 16×16 dwords are transposed so
//! that register `j` holds the 64-byte keystream block of lane `j`, which is XORed into that
//! packet's bytes with a plain (or, at the tail, byte-masked) load and store.

use std::arch::x86_64::*;

/// "expand 32-byte k" as little-endian words.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Number of packets handled by one call.
pub(crate) const LANES: usize = 16;

/// A 32-byte key as the eight little-endian state words 4..11.
pub(crate) fn key_words(key: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (word, bytes) in w.iter_mut().zip(key.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    w
}

macro_rules! quarter_round {
    ($x:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
        $x[$a] = _mm512_add_epi32($x[$a], $x[$b]);
        $x[$d] = _mm512_rol_epi32::<16>(_mm512_xor_si512($x[$d], $x[$a]));
        $x[$c] = _mm512_add_epi32($x[$c], $x[$d]);
        $x[$b] = _mm512_rol_epi32::<12>(_mm512_xor_si512($x[$b], $x[$c]));
        $x[$a] = _mm512_add_epi32($x[$a], $x[$b]);
        $x[$d] = _mm512_rol_epi32::<8>(_mm512_xor_si512($x[$d], $x[$a]));
        $x[$c] = _mm512_add_epi32($x[$c], $x[$d]);
        $x[$b] = _mm512_rol_epi32::<7>(_mm512_xor_si512($x[$b], $x[$c]));
    };
}

/// Per-lane nonce words 14 and 15 (word 13 is zero in WireGuard's nonce).
#[target_feature(enable = "avx512f")]
pub(crate) fn nonce_words(counters: &[u64; LANES]) -> (__m512i, __m512i) {
    let lo: [u32; LANES] = std::array::from_fn(|i| counters[i] as u32);
    let hi: [u32; LANES] = std::array::from_fn(|i| (counters[i] >> 32) as u32);
    // SAFETY: both arrays are 64 bytes, exactly one unaligned zmm load each.
    unsafe {
        (
            _mm512_loadu_si512(lo.as_ptr().cast()),
            _mm512_loadu_si512(hi.as_ptr().cast()),
        )
    }
}

/// Transposes 16×16 dwords: in `x[k]` lane `j` is word `k` of block `j`; out `y[j]` is block `j`.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose16(x: &[__m512i; 16]) -> [__m512i; 16] {
    let mut t = [_mm512_setzero_si512(); 16];
    for p in 0..8 {
        t[2 * p] = _mm512_unpacklo_epi32(x[2 * p], x[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_epi32(x[2 * p], x[2 * p + 1]);
    }
    // u[4g + c], 128-bit lane q: words 4g..4g+3 of block 4q + c.
    let mut u = [_mm512_setzero_si512(); 16];
    for g in 0..4 {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    let mut y = [_mm512_setzero_si512(); 16];
    for c in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x88>(u[c], u[4 + c]);
        let v1 = _mm512_shuffle_i32x4::<0xdd>(u[c], u[4 + c]);
        let w0 = _mm512_shuffle_i32x4::<0x88>(u[8 + c], u[12 + c]);
        let w1 = _mm512_shuffle_i32x4::<0xdd>(u[8 + c], u[12 + c]);
        y[c] = _mm512_shuffle_i32x4::<0x88>(v0, w0);
        y[4 + c] = _mm512_shuffle_i32x4::<0x88>(v1, w1);
        y[8 + c] = _mm512_shuffle_i32x4::<0xdd>(v0, w0);
        y[12 + c] = _mm512_shuffle_i32x4::<0xdd>(v1, w1);
    }
    y
}

/// Keystream block `block` of all 16 lanes; `out[j]` is lane `j`'s 64 bytes.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn blocks(key: &[u32; 8], n14: __m512i, n15: __m512i, block: u32) -> [__m512i; 16] {
    // SAFETY: avx512f is enabled here, and the pieces are inlined into this function.
    unsafe {
        let init = initial_state(key, n14, n15, block);
        let mut x = init;
        for _ in 0..10 {
            double_round(&mut x);
        }
        keystream(&x, &init)
    }
}

/// The 16 lanes' state for keystream block `block`, before the rounds. The pieces
/// `initial_state`, `double_round` and `keystream` make up [`blocks`]; the batch code calls
/// them itself to run Poly1305 between the rounds.
///
/// # Safety
/// The CPU must support avx512f; `#[inline(always)]`, so compiled with the caller's features.
#[inline(always)]
pub(crate) unsafe fn initial_state(key: &[u32; 8], n14: __m512i, n15: __m512i, block: u32) -> [__m512i; 16] {
    let words = [
        SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3], key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7], block,
        0,
    ];
    // SAFETY: avx512f per the contract.
    unsafe {
        let mut x = [_mm512_setzero_si512(); 16];
        for (v, w) in x.iter_mut().zip(words) {
            *v = _mm512_set1_epi32(w as i32);
        }
        x[14] = n14;
        x[15] = n15;
        x
    }
}

/// One column round and one diagonal round (ten make ChaCha20).
///
/// # Safety
/// As [`initial_state`].
#[inline(always)]
pub(crate) unsafe fn double_round(x: &mut [__m512i; 16]) {
    // SAFETY: avx512f per the contract.
    unsafe {
        quarter_round!(x, 0, 4, 8, 12);
        quarter_round!(x, 1, 5, 9, 13);
        quarter_round!(x, 2, 6, 10, 14);
        quarter_round!(x, 3, 7, 11, 15);
        quarter_round!(x, 0, 5, 10, 15);
        quarter_round!(x, 1, 6, 11, 12);
        quarter_round!(x, 2, 7, 8, 13);
        quarter_round!(x, 3, 4, 9, 14);
    }
}

macro_rules! vop {
    ($op:literal; $($d:literal $s:literal)*) => {
        concat!($($op, " zmm", $d, ", zmm", $d, ", zmm", $s, "\n",)*)
    };
}
macro_rules! vrol {
    ($n:literal; $($d:literal)*) => {
        concat!($("vprold zmm", $d, ", zmm", $d, ", ", $n, "\n",)*)
    };
}
/// A half round of eight independent quarter rounds (registers `a b c d` each), one step of all
/// eight at a time.
macro_rules! half_round {
    ($([$a:literal $b:literal $c:literal $d:literal])*) => {
        concat!(
            vop!("vpaddd"; $($a $b)*), vop!("vpxord"; $($d $a)*), vrol!(16; $($d)*),
            vop!("vpaddd"; $($c $d)*), vop!("vpxord"; $($b $c)*), vrol!(12; $($b)*),
            vop!("vpaddd"; $($a $b)*), vop!("vpxord"; $($d $a)*), vrol!(8; $($d)*),
            vop!("vpaddd"; $($c $d)*), vop!("vpxord"; $($b $c)*), vrol!(7; $($b)*),
        )
    };
}

/// The ten double rounds of two independent states, `x` in zmm0..15 and `y` in zmm16..31.
///
/// A 512-bit add, xor or rotate has a latency of two cycles on AMD's Zen 5 but up to four of
/// them issue per cycle, so one state's four independent quarter rounds per half round leave
/// half the issue slots empty; two states fill them. That needs all 32 registers, which the
/// compiler's allocator does not manage without spills, hence assembly.
///
/// # Safety
/// The CPU must support avx512f.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn rounds2(x: &mut [__m512i; 16], y: &mut [__m512i; 16]) {
    // SAFETY: register-only arithmetic on the operands (avx512f per the contract).
    unsafe {
        std::arch::asm!(
            ".rept 10",
            half_round!([0 4 8 12] [1 5 9 13] [2 6 10 14] [3 7 11 15]
                [16 20 24 28] [17 21 25 29] [18 22 26 30] [19 23 27 31]),
            half_round!([0 5 10 15] [1 6 11 12] [2 7 8 13] [3 4 9 14]
                [16 21 26 31] [17 22 27 28] [18 23 24 29] [19 20 25 30]),
            ".endr",
            inout("zmm0") x[0], inout("zmm1") x[1], inout("zmm2") x[2], inout("zmm3") x[3],
            inout("zmm4") x[4], inout("zmm5") x[5], inout("zmm6") x[6], inout("zmm7") x[7],
            inout("zmm8") x[8], inout("zmm9") x[9], inout("zmm10") x[10], inout("zmm11") x[11],
            inout("zmm12") x[12], inout("zmm13") x[13], inout("zmm14") x[14], inout("zmm15") x[15],
            inout("zmm16") y[0], inout("zmm17") y[1], inout("zmm18") y[2], inout("zmm19") y[3],
            inout("zmm20") y[4], inout("zmm21") y[5], inout("zmm22") y[6], inout("zmm23") y[7],
            inout("zmm24") y[8], inout("zmm25") y[9], inout("zmm26") y[10], inout("zmm27") y[11],
            inout("zmm28") y[12], inout("zmm29") y[13], inout("zmm30") y[14], inout("zmm31") y[15],
            options(pure, nomem, nostack, preserves_flags),
        );
    }
}

/// The keystream after the rounds: `x + init`, transposed so that `out[j]` is lane `j`'s block.
///
/// # Safety
/// As [`initial_state`].
#[inline(always)]
pub(crate) unsafe fn keystream(x: &[__m512i; 16], init: &[__m512i; 16]) -> [__m512i; 16] {
    let mut y = *x;
    // SAFETY: avx512f per the contract.
    unsafe {
        for (w, i) in y.iter_mut().zip(init) {
            *w = _mm512_add_epi32(*w, *i);
        }
        transpose16(&y)
    }
}

/// The Poly1305 one-time keys: the first 32 bytes of keystream block 0 of each lane.
///
/// # Safety
/// The CPU must support avx512f.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn poly_keys(key: &[u32; 8], counters: &[u64; LANES]) -> [[u8; 32]; LANES] {
    let (n14, n15) = nonce_words(counters);
    key_bytes(&blocks(key, n14, n15, 0))
}

/// The first 32 bytes of each lane's keystream block `ks[j]` (block 0: the Poly1305 keys).
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn key_bytes(ks: &[__m512i; 16]) -> [[u8; 32]; LANES] {
    let mut out = [[0u8; 32]; LANES];
    for (o, k) in out.iter_mut().zip(ks) {
        // SAFETY: `o` is 32 writable bytes, one unaligned ymm store.
        unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), _mm512_castsi512_si256(*k)) };
    }
    out
}

/// XORs the keystream starting at block `first_block` into `lens[j]` bytes at `ptrs[j]`, for
/// each lane `j` (lanes with length 0 are untouched, their pointer is not used). The batch code
/// does this fused with Poly1305 (`batch_avx512`); this plain form checks `blocks` in the tests.
///
/// # Safety
/// The CPU must support avx512f and avx512bw; each `ptrs[j]` with `lens[j] > 0` must be valid
/// for reads and writes of `lens[j]` bytes and not overlap another lane's bytes.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn xor_keystream(
    key: &[u32; 8],
    counters: &[u64; LANES],
    ptrs: &[*mut u8; LANES],
    lens: &[usize; LANES],
    first_block: u32,
) {
    let (n14, n15) = nonce_words(counters);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    for step in 0..max_len.div_ceil(64) {
        let ks = blocks(key, n14, n15, first_block.wrapping_add(step as u32));
        let off = step * 64;
        for j in 0..LANES {
            let len = lens[j];
            if len >= off + 64 {
                // SAFETY: bytes off..off+64 are inside lane j's buffer (caller contract).
                unsafe {
                    let p = ptrs[j].add(off);
                    let d = _mm512_loadu_si512(p.cast());
                    _mm512_storeu_si512(p.cast(), _mm512_xor_si512(d, ks[j]));
                }
            } else if len > off {
                let mask: __mmask64 = (1u64 << (len - off)) - 1;
                // SAFETY: `p` points inside lane j's buffer; the byte mask covers only the
                // len - off < 64 bytes that remain, and masked-off bytes are never accessed.
                unsafe {
                    let p = ptrs[j].add(off);
                    let d = _mm512_maskz_loadu_epi8(mask, p.cast());
                    _mm512_mask_storeu_epi8(p.cast(), mask, _mm512_xor_si512(d, ks[j]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_cpu() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The assembly's two states after ten double rounds equal ten `double_round`s of each,
    /// from random states (every word of every lane different).
    #[test]
    fn rounds2_matches_double_round() {
        if !have_cpu() {
            eprintln!("skipped: no avx512f/bw");
            return;
        }
        let mut seed = 0x0123_4567_89ab_cdefu64;
        let mut word = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 32) as u32
        };
        for _ in 0..50 {
            let words: Vec<u32> = (0..2 * 16 * LANES).map(|_| word()).collect();
            // SAFETY: CPU checked; each load reads 16 of the words.
            unsafe {
                let load = |k: usize| _mm512_loadu_si512(words[k * 16..].as_ptr().cast());
                let mut x: [__m512i; 16] = std::array::from_fn(load);
                let mut y: [__m512i; 16] = std::array::from_fn(|k| load(16 + k));
                let (mut wx, mut wy) = (x, y);
                for _ in 0..10 {
                    double_round(&mut wx);
                    double_round(&mut wy);
                }
                rounds2(&mut x, &mut y);
                let bytes =
                    |v: &[__m512i; 16]| -> Vec<[u8; 64]> { v.iter().map(|r| std::mem::transmute(*r)).collect() };
                assert_eq!(bytes(&x), bytes(&wx));
                assert_eq!(bytes(&y), bytes(&wy));
            }
        }
    }

    /// RFC 8439 §2.4.2. Its nonce 00:00:00:00:00:00:00:4a:00:00:00:00 is WireGuard-shaped:
    /// 4 zero bytes then le64(0x4a00_0000). The initial block counter is 1.
    #[test]
    fn rfc8439_2_4_2_in_every_lane() {
        if !have_cpu() {
            eprintln!("skipped: no avx512f/bw");
            return;
        }
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let expected = unhex(
            "6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81 e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b
             f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57 16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8
             07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e 52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36
             5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42 87 4d",
        );
        // Lane j gets the first 114 - j bytes, so masked tails of many lengths are exercised; the
        // other lanes' counters differ so a lane mix-up shows.
        let mut bufs: Vec<Vec<u8>> = (0..LANES).map(|j| plaintext[..plaintext.len() - j].to_vec()).collect();
        let mut counters = [0u64; LANES];
        for (j, c) in counters.iter_mut().enumerate() {
            *c = if j % 2 == 0 {
                0x4a00_0000
            } else {
                0x4a00_0000 + ((j as u64) << 40)
            };
        }
        let ptrs: [*mut u8; LANES] = std::array::from_fn(|_| std::ptr::null_mut());
        let mut ptrs = ptrs;
        let mut lens = [0usize; LANES];
        for (j, b) in bufs.iter_mut().enumerate() {
            ptrs[j] = b.as_mut_ptr();
            lens[j] = b.len();
        }
        // SAFETY: CPU checked above; each pointer is a distinct live Vec of the given length.
        unsafe { xor_keystream(&key_words(&key), &counters, &ptrs, &lens, 1) };
        for (j, b) in bufs.iter().enumerate() {
            if j % 2 == 0 {
                assert_eq!(b[..], expected[..b.len()], "lane {j}");
            } else {
                assert_ne!(b[..16], expected[..16], "lane {j} must use its own nonce");
            }
        }
    }

    /// RFC 8439 §2.6.2: Poly1305 key generation from ChaCha20 block 0.
    #[test]
    fn rfc8439_2_6_2_poly_key() {
        if !have_cpu() {
            return;
        }
        let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        // Nonce 00 00 00 00 00 01 02 03 04 05 06 07 = 0 || le64(0x0706050403020100).
        let counters = [0x0706_0504_0302_0100u64; LANES];
        // SAFETY: CPU checked above.
        let keys = unsafe { poly_keys(&key_words(&key), &counters) };
        let expected =
            unhex("8a d5 a0 8b 90 5f 81 cc 81 50 40 27 4a b2 94 71 a8 33 b6 37 e3 fd 0d a5 08 db b8 e2 fd d1 a6 46");
        for k in keys {
            assert_eq!(k[..], expected[..]);
        }
    }
}
