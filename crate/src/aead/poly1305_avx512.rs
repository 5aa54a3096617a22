//! Poly1305 (RFC 8439) over up to 8 messages at once with AVX-512, in the AEAD framing
//! WireGuard uses: the MAC input of each lane is `ciphertext || zero pad to 16 || le64(0) ||
//! le64(ciphertext length)` (empty associated data).
//!
//! One 64-bit lane of a zmm per message. Two arithmetic back ends share the framing code: radix
//! 2^44 with IFMA (`vpmadd52luq/huq`, three limbs) where the CPU has avx512ifma, and radix 2^26
//! with `vpmuludq` (five limbs) on plain avx512f. Every 16-byte block of that framing is a full block (2^128 bit set),
//! so lanes differ only in their block count: a lane whose blocks are done keeps its state
//! through a masked move. The caller hands over 64 bytes of MAC input per lane at a time (zmm
//! registers, for the batch code straight from the ChaCha20 step), transposed here 8×8 qwords.

use std::arch::x86_64::*;

/// Number of messages handled by one call.
pub(crate) const LANES: usize = 8;

const MASK26: u64 = 0x3ff_ffff;

/// Transposes 8×8 qwords: in `x[l]` lane `k` is qword `k` of row `l`; out `y[k]` lane `l` is
/// qword `k` of row `l`.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose8(x: &[__m512i; 8]) -> [__m512i; 8] {
    let mut a = [_mm512_setzero_si512(); 8];
    for p in 0..4 {
        a[2 * p] = _mm512_unpacklo_epi64(x[2 * p], x[2 * p + 1]);
        a[2 * p + 1] = _mm512_unpackhi_epi64(x[2 * p], x[2 * p + 1]);
    }
    let mut y = [_mm512_setzero_si512(); 8];
    for p in 0..2 {
        let b0 = _mm512_shuffle_i64x2::<0x88>(a[p], a[2 + p]);
        let b1 = _mm512_shuffle_i64x2::<0xdd>(a[p], a[2 + p]);
        let c0 = _mm512_shuffle_i64x2::<0x88>(a[4 + p], a[6 + p]);
        let c1 = _mm512_shuffle_i64x2::<0xdd>(a[4 + p], a[6 + p]);
        y[p] = _mm512_shuffle_i64x2::<0x88>(b0, c0);
        y[2 + p] = _mm512_shuffle_i64x2::<0x88>(b1, c1);
        y[4 + p] = _mm512_shuffle_i64x2::<0xdd>(b0, c0);
        y[6 + p] = _mm512_shuffle_i64x2::<0xdd>(b1, c1);
    }
    y
}

/// Radix 2^26: h = (h + m) * r mod 2^130 - 5 (partially reduced), for the lanes in `active`.
/// `s[i] = 5 * r[i + 1]`.
#[target_feature(enable = "avx512f")]
#[inline]
fn block26(h: &mut [__m512i; 5], lo: __m512i, hi: __m512i, r: &[__m512i; 5], s: &[__m512i; 4], active: __mmask8) {
    let m26 = _mm512_set1_epi64(MASK26 as i64);
    let m0 = _mm512_and_si512(lo, m26);
    let m1 = _mm512_and_si512(_mm512_srli_epi64::<26>(lo), m26);
    let m2 = _mm512_and_si512(
        _mm512_or_si512(_mm512_srli_epi64::<52>(lo), _mm512_slli_epi64::<12>(hi)),
        m26,
    );
    let m3 = _mm512_and_si512(_mm512_srli_epi64::<14>(hi), m26);
    let m4 = _mm512_or_si512(_mm512_srli_epi64::<40>(hi), _mm512_set1_epi64(1 << 24));
    let h0 = _mm512_add_epi64(h[0], m0);
    let h1 = _mm512_add_epi64(h[1], m1);
    let h2 = _mm512_add_epi64(h[2], m2);
    let h3 = _mm512_add_epi64(h[3], m3);
    let h4 = _mm512_add_epi64(h[4], m4);
    let mul = _mm512_mul_epu32;
    let add = _mm512_add_epi64;
    // s[i] = 5 * r[i + 1]
    let d0 = add(
        add(add(mul(h0, r[0]), mul(h1, s[3])), add(mul(h2, s[2]), mul(h3, s[1]))),
        mul(h4, s[0]),
    );
    let d1 = add(
        add(add(mul(h0, r[1]), mul(h1, r[0])), add(mul(h2, s[3]), mul(h3, s[2]))),
        mul(h4, s[1]),
    );
    let d2 = add(
        add(add(mul(h0, r[2]), mul(h1, r[1])), add(mul(h2, r[0]), mul(h3, s[3]))),
        mul(h4, s[2]),
    );
    let d3 = add(
        add(add(mul(h0, r[3]), mul(h1, r[2])), add(mul(h2, r[1]), mul(h3, r[0]))),
        mul(h4, s[3]),
    );
    let d4 = add(
        add(add(mul(h0, r[4]), mul(h1, r[3])), add(mul(h2, r[2]), mul(h3, r[1]))),
        mul(h4, r[0]),
    );
    // Partial carry in two interleaved chains (limbs end below 2^26 + small).
    let c = _mm512_srli_epi64::<26>(d3);
    let d3 = _mm512_and_si512(d3, m26);
    let d4 = add(d4, c);
    let c = _mm512_srli_epi64::<26>(d0);
    let d0 = _mm512_and_si512(d0, m26);
    let d1 = add(d1, c);
    let c = _mm512_srli_epi64::<26>(d4);
    let d4 = _mm512_and_si512(d4, m26);
    let d0 = add(d0, add(c, _mm512_slli_epi64::<2>(c)));
    let c = _mm512_srli_epi64::<26>(d1);
    let d1 = _mm512_and_si512(d1, m26);
    let d2 = add(d2, c);
    let c = _mm512_srli_epi64::<26>(d2);
    let d2 = _mm512_and_si512(d2, m26);
    let d3 = add(d3, c);
    let c = _mm512_srli_epi64::<26>(d0);
    let d0 = _mm512_and_si512(d0, m26);
    let d1 = add(d1, c);
    let c = _mm512_srli_epi64::<26>(d3);
    let d3 = _mm512_and_si512(d3, m26);
    let d4 = add(d4, c);
    h[0] = _mm512_mask_mov_epi64(h[0], active, d0);
    h[1] = _mm512_mask_mov_epi64(h[1], active, d1);
    h[2] = _mm512_mask_mov_epi64(h[2], active, d2);
    h[3] = _mm512_mask_mov_epi64(h[3], active, d3);
    h[4] = _mm512_mask_mov_epi64(h[4], active, d4);
}

const MASK44: u64 = (1 << 44) - 1;
/// `absorb_chunk` goes by powers of r (IFMA) when some lane has this many blocks (a whole
/// chunk): at 64-byte packets the powers' three multiplications cost about what the Horner
/// steps save (1.91 against 1.86 GB/s from 16 blocks on), and they win above.
const HORNER_FROM_BLOCKS: u64 = 4;
const MASK42: u64 = (1 << 42) - 1;

/// A 16-byte block (`lo`, `hi`) as radix-2^44 limbs, with the 2^128 pad bit.
#[target_feature(enable = "avx512f")]
#[inline]
fn limbs44(lo: __m512i, hi: __m512i) -> [__m512i; 3] {
    let m44 = _mm512_set1_epi64(MASK44 as i64);
    [
        _mm512_and_si512(lo, m44),
        _mm512_and_si512(
            _mm512_or_si512(_mm512_srli_epi64::<44>(lo), _mm512_slli_epi64::<20>(hi)),
            m44,
        ),
        _mm512_or_si512(_mm512_srli_epi64::<24>(hi), _mm512_set1_epi64(1 << 40)),
    ]
}

/// A multiplier in radix 2^44: limbs `r[0..3]`, then `s[i] = 20 * r[i + 1]` in `r[3..5]`
/// (2^132 = 4 * 2^130 ≡ 20).
type Mul44 = [__m512i; 5];

/// `sum of a_j * p_j` over the pairs, unreduced: the six column sums of low and high product
/// halves (IFMA), in two accumulators each to halve the latency chains.
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn products44<const N: usize>(pairs: [(&[__m512i; 3], &Mul44); N]) -> [__m512i; 6] {
    let z = _mm512_setzero_si512();
    let lo52 = _mm512_madd52lo_epu64;
    let hi52 = _mm512_madd52hi_epu64;
    // d_k = sum of products at weight 2^(44k); low halves at 2^(44k), high halves at 2^(44k+52).
    let mut acc = [[z; 6]; 2];
    for (j, (a, p)) in pairs.iter().enumerate() {
        let d = &mut acc[j % 2];
        let (r, s) = (&p[..3], &p[3..]);
        d[0] = lo52(lo52(lo52(d[0], a[0], r[0]), a[1], s[1]), a[2], s[0]);
        d[1] = hi52(hi52(hi52(d[1], a[0], r[0]), a[1], s[1]), a[2], s[0]);
        d[2] = lo52(lo52(lo52(d[2], a[0], r[1]), a[1], r[0]), a[2], s[1]);
        d[3] = hi52(hi52(hi52(d[3], a[0], r[1]), a[1], r[0]), a[2], s[1]);
        d[4] = lo52(lo52(lo52(d[4], a[0], r[2]), a[1], r[1]), a[2], r[0]);
        d[5] = hi52(hi52(hi52(d[5], a[0], r[2]), a[1], r[1]), a[2], r[0]);
    }
    let mut d = [z; 6];
    for (k, v) in d.iter_mut().enumerate() {
        *v = _mm512_add_epi64(acc[0][k], acc[1][k]);
    }
    d
}

/// Carries the column sums of `products44` into three partially reduced limbs (below 2^44,
/// 2^44 + 2^15 and 2^42).
#[target_feature(enable = "avx512f")]
#[inline]
fn reduce44(d: [__m512i; 6]) -> [__m512i; 3] {
    let m44 = _mm512_set1_epi64(MASK44 as i64);
    let add = _mm512_add_epi64;
    let [d0l, d0h, d1l, d1h, d2l, d2h] = d;
    let t0 = d0l;
    let t1 = add(d1l, _mm512_slli_epi64::<8>(d0h));
    let t2 = add(d2l, _mm512_slli_epi64::<8>(d1h));
    let t3 = _mm512_slli_epi64::<8>(d2h); // weight 2^132
    let c = _mm512_srli_epi64::<44>(t0);
    let t0 = _mm512_and_si512(t0, m44);
    let t1 = add(t1, c);
    let c = _mm512_srli_epi64::<44>(t1);
    let t1 = _mm512_and_si512(t1, m44);
    let t2 = add(t2, c);
    // Bits of t2 from 42 up have weight 2^130 ≡ 5; t3 has weight 2^132 ≡ 20 = 5 * 4.
    let u = add(_mm512_srli_epi64::<42>(t2), _mm512_slli_epi64::<2>(t3));
    let t2 = _mm512_and_si512(t2, _mm512_set1_epi64(MASK42 as i64));
    let t0 = add(t0, add(u, _mm512_slli_epi64::<2>(u)));
    let c = _mm512_srli_epi64::<44>(t0);
    let t0 = _mm512_and_si512(t0, m44);
    let t1 = add(t1, c);
    [t0, t1, t2]
}

/// `r` with its `s` values.
#[target_feature(enable = "avx512f")]
#[inline]
fn mul44(r: [__m512i; 3]) -> Mul44 {
    let twenty = |v: __m512i| _mm512_slli_epi64::<2>(_mm512_add_epi64(v, _mm512_slli_epi64::<2>(v)));
    [r[0], r[1], r[2], twenty(r[1]), twenty(r[2])]
}

/// Radix 2^44 (limbs 44, 44, 42 bits) with IFMA: h = (h + m) * r mod 2^130 - 5, partially
/// reduced, for the lanes in `active`. `s[i] = 20 * r[i + 1]` (2^132 = 4 * 2^130 ≡ 20).
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn block44(h: &mut [__m512i; 5], lo: __m512i, hi: __m512i, r: &[__m512i; 5], s: &[__m512i; 4], active: __mmask8) {
    let m = limbs44(lo, hi);
    let a = [
        _mm512_add_epi64(h[0], m[0]),
        _mm512_add_epi64(h[1], m[1]),
        _mm512_add_epi64(h[2], m[2]),
    ];
    let p = [r[0], r[1], r[2], s[0], s[1]];
    let t = reduce44(products44([(&a, &p)]));
    for (hv, tv) in h.iter_mut().zip(t) {
        *hv = _mm512_mask_mov_epi64(*hv, active, tv);
    }
}

/// Four blocks at once (Horner by powers of r): h = (h + m0) r^4 + m1 r^3 + m2 r^2 + m3 r,
/// with one carry chain instead of four; `pw[e]` is r^(e + 1).
///
/// # Safety
/// avx512f and avx512ifma; `#[inline(always)]` (as a call it cost more than its work), so
/// compiled with the caller's features.
#[inline(always)]
unsafe fn chunk44(h: &mut [__m512i; 5], t: &[__m512i; 8], pw: &[Mul44; 4], active: __mmask8) {
    // SAFETY: target features per the contract.
    unsafe {
        let mut m = [[_mm512_setzero_si512(); 3]; 4];
        for (j, mj) in m.iter_mut().enumerate() {
            *mj = limbs44(t[2 * j], t[2 * j + 1]);
        }
        for l in 0..3 {
            m[0][l] = _mm512_add_epi64(m[0][l], h[l]);
        }
        let d = products44([(&m[0], &pw[3]), (&m[1], &pw[2]), (&m[2], &pw[1]), (&m[3], &pw[0])]);
        let t = reduce44(d);
        for (hv, tv) in h.iter_mut().zip(t) {
            *hv = _mm512_mask_mov_epi64(*hv, active, tv);
        }
    }
}

/// Full reduction of a radix-2^44 accumulator and `+ s`: the 16-byte tag.
fn finish44(mut h: [u64; 3], s: u128) -> [u8; 16] {
    let mut c = h[0] >> 44;
    h[0] &= MASK44;
    h[1] += c;
    c = h[1] >> 44;
    h[1] &= MASK44;
    h[2] += c;
    c = h[2] >> 42;
    h[2] &= MASK42;
    h[0] += c * 5;
    c = h[0] >> 44;
    h[0] &= MASK44;
    h[1] += c;
    c = h[1] >> 44;
    h[1] &= MASK44;
    h[2] += c;
    // h < 2^130 + small; g = h + 5 - 2^130, used when h + 5 reaches bit 130 (h >= p).
    let g0 = h[0] + 5;
    let g1 = h[1] + (g0 >> 44);
    let g2 = h[2] + (g1 >> 44);
    let use_g = (g2 >> 42).wrapping_neg();
    let g = [g0 & MASK44, g1 & MASK44, g2 & MASK42];
    for i in 0..3 {
        h[i] = (h[i] & !use_g) | (g[i] & use_g);
    }
    let v = (h[0] as u128) | (h[1] as u128) << 44 | (h[2] as u128) << 88;
    v.wrapping_add(s).to_le_bytes()
}

/// Full reduction of a radix-2^26 accumulator and `+ s`: the 16-byte tag.
fn finish26(mut h: [u64; 5], s: u128) -> [u8; 16] {
    let mut c;
    for i in 0..4 {
        c = h[i] >> 26;
        h[i] &= MASK26;
        h[i + 1] += c;
    }
    c = h[4] >> 26;
    h[4] &= MASK26;
    h[0] += c * 5;
    c = h[0] >> 26;
    h[0] &= MASK26;
    h[1] += c;
    // h < 2^130 + small; g = h + 5 - 2^130, used when non-negative.
    let mut g = [0u64; 5];
    c = 5;
    for i in 0..5 {
        g[i] = h[i] + c;
        c = g[i] >> 26;
        g[i] &= MASK26;
    }
    // c is bit 130 of h + 5: set exactly when h >= p.
    let use_g = c.wrapping_neg();
    for i in 0..5 {
        h[i] = (h[i] & !use_g) | (g[i] & use_g);
    }
    let v = (h[0] as u128) | (h[1] as u128) << 26 | (h[2] as u128) << 52 | (h[3] as u128) << 78 | (h[4] as u128) << 104;
    v.wrapping_add(s).to_le_bytes()
}

/// The Poly1305 states of 8 lanes. `IFMA` selects radix 2^44 (avx512ifma) over radix 2^26.
///
/// Every method must run on a CPU with avx512f, and avx512ifma when `IFMA`; the methods are
/// `#[inline(always)]` so that they are compiled with the target features of their caller.
pub(crate) struct Poly8<const IFMA: bool> {
    h: [__m512i; 5],
    r: [__m512i; 5],
    s: [__m512i; 4],
    /// r^1 .. r^4 with their `s` values, for `absorb_chunk`; computed (and used) only with
    /// IFMA and messages long enough to repay them (`horner`).
    powers: [Mul44; 4],
    horner: bool,
    nblocks: __m512i,
}

/// The length of a lane's MAC input in 16-byte blocks: padded ciphertext plus the length block.
pub(crate) fn aead_blocks(len: usize) -> u64 {
    (len.div_ceil(16) + 1) as u64
}

/// Writes the lane's length block (`le64(0) || le64(len)`) into `tail`, a zeroed buffer that
/// stands for the MAC input from byte `len / 64 * 64` on, minus the ciphertext bytes.
pub(crate) fn aead_tail(len: usize, tail: &mut [u8; 128]) {
    let pad = (len % 64).div_ceil(16) * 16;
    tail[pad + 8..pad + 16].copy_from_slice(&(len as u64).to_le_bytes());
}

impl<const IFMA: bool> Poly8<IFMA> {
    /// States for one-time keys `keys[l]` and MAC inputs of `nblocks[l]` blocks (0 for unused
    /// lanes).
    ///
    /// # Safety
    /// See the type.
    #[inline(always)]
    pub(crate) unsafe fn new(keys: &[[u8; 32]], nblocks: &[u64; LANES]) -> Self {
        let mut r = [[0u64; LANES]; 5];
        for (l, key) in keys.iter().enumerate().take(LANES) {
            let k = u128::from_le_bytes(key[..16].try_into().expect("16 bytes"));
            let k = k & 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffff;
            if IFMA {
                r[0][l] = k as u64 & MASK44;
                r[1][l] = (k >> 44) as u64 & MASK44;
                r[2][l] = (k >> 88) as u64;
            } else {
                for (i, limb) in r.iter_mut().enumerate() {
                    limb[l] = (k >> (26 * i)) as u64 & MASK26;
                }
            }
        }
        // SAFETY: 64-byte arrays, unaligned zmm loads; avx512f per the contract.
        unsafe {
            // Plain loops, not `array::from_fn`: a closure does not inherit this function's
            // target features, so the intrinsics in it became calls.
            let mut rv = [_mm512_setzero_si512(); 5];
            for (v, limb) in rv.iter_mut().zip(&r) {
                *v = _mm512_loadu_si512(limb.as_ptr().cast());
            }
            let mut sv = [_mm512_setzero_si512(); 4];
            for (s, &r) in sv.iter_mut().zip(&rv[1..]) {
                let five_r = _mm512_add_epi64(r, _mm512_slli_epi64::<2>(r));
                *s = if IFMA { _mm512_slli_epi64::<2>(five_r) } else { five_r };
            }
            let mut powers = [[_mm512_setzero_si512(); 5]; 4];
            let horner = IFMA && nblocks.iter().any(|&b| b >= HORNER_FROM_BLOCKS);
            if horner {
                powers[0] = mul44([rv[0], rv[1], rv[2]]);
                for e in 1..4 {
                    let prev = [powers[e - 1][0], powers[e - 1][1], powers[e - 1][2]];
                    powers[e] = mul44(reduce44(products44([(&prev, &powers[0])])));
                }
            }
            Poly8 {
                h: [_mm512_setzero_si512(); 5],
                r: rv,
                s: sv,
                powers,
                horner,
                nblocks: _mm512_loadu_si512(nblocks.as_ptr().cast()),
            }
        }
    }

    /// Absorbs bytes `64 * chunk .. 64 * chunk + 64` of each lane's MAC input, `rows[l]` for lane
    /// `l` (the blocks past a lane's end are ignored). Even chunks go through `absorb_chunk`,
    /// odd ones block by block, so that the tests check both and their mixing, as in the batch
    /// code.
    ///
    /// # Safety
    /// See the type.
    #[cfg(test)]
    #[inline(always)]
    pub(crate) unsafe fn absorb(&mut self, rows: &[__m512i; LANES], chunk: usize) {
        // SAFETY: per the contract.
        unsafe {
            if let Some(t) = self.prepare(rows, chunk) {
                if chunk.is_multiple_of(2) {
                    self.absorb_chunk(&t, chunk);
                } else {
                    for k in 0..4 {
                        self.absorb_block(&t, chunk, k);
                    }
                }
            }
        }
    }

    /// The first half of [`absorb`](Self::absorb): `rows` transposed into the four 16-byte
    /// blocks of chunk `chunk` (`t[2k]` and `t[2k + 1]` hold block `k`'s halves), or `None`
    /// when no lane has a block in that chunk.
    ///
    /// # Safety
    /// See the type.
    #[inline(always)]
    pub(crate) unsafe fn prepare(&self, rows: &[__m512i; LANES], chunk: usize) -> Option<[__m512i; 8]> {
        // SAFETY: avx512f per the contract.
        unsafe {
            let first = _mm512_set1_epi64((chunk * 4) as i64);
            if _mm512_cmplt_epu64_mask(first, self.nblocks) == 0 {
                return None;
            }
            Some(transpose8(rows))
        }
    }

    /// The second half: absorbs block `k` (0..4) of chunk `chunk` into the lanes that have it.
    /// The four blocks of a chunk go in order; the batch code spreads them between ChaCha20's
    /// rounds, so that this chain of multiplications runs beside the rounds.
    ///
    /// # Safety
    /// See the type.
    #[inline(always)]
    pub(crate) unsafe fn absorb_block(&mut self, t: &[__m512i; 8], chunk: usize, k: usize) {
        // SAFETY: avx512f (and avx512ifma when IFMA) per the contract.
        unsafe {
            let idx = _mm512_set1_epi64((chunk * 4 + k) as i64);
            let active = _mm512_cmplt_epu64_mask(idx, self.nblocks);
            if active == 0 {
                return;
            }
            if IFMA {
                block44(&mut self.h, t[2 * k], t[2 * k + 1], &self.r, &self.s, active);
            } else {
                block26(&mut self.h, t[2 * k], t[2 * k + 1], &self.r, &self.s, active);
            }
        }
    }

    /// All four blocks of chunk `chunk` (as `absorb_block` for k = 0..4 in order). With IFMA, when
    /// every lane that has blocks in the chunk has all four, in one Horner step by r^4 .. r^1:
    /// one carry chain instead of four, and about a third of the latency.
    ///
    /// # Safety
    /// See the type.
    #[inline(always)]
    pub(crate) unsafe fn absorb_chunk(&mut self, t: &[__m512i; 8], chunk: usize) {
        // SAFETY: avx512f (and avx512ifma when IFMA) per the contract.
        unsafe {
            if !self.horner {
                for k in 0..4 {
                    self.absorb_block(t, chunk, k);
                }
                return;
            }
            let first = _mm512_set1_epi64((chunk * 4) as i64);
            let active = _mm512_cmplt_epu64_mask(first, self.nblocks);
            if active == 0 {
                return;
            }
            // Every lane with blocks here has all four (or none): one Horner step. Otherwise (a
            // lane's last chunk) block by block.
            let last = _mm512_set1_epi64((chunk * 4 + 3) as i64);
            if _mm512_cmplt_epu64_mask(last, self.nblocks) == active {
                chunk44(&mut self.h, t, &self.powers, active);
            } else {
                for k in 0..4 {
                    self.absorb_block(t, chunk, k);
                }
            }
        }
    }

    /// The tags of lanes `0..tags.len()`, with `keys[l]` the same keys as in `new`.
    ///
    /// # Safety
    /// See the type.
    #[inline(always)]
    pub(crate) unsafe fn finish(&self, keys: &[[u8; 32]], tags: &mut [[u8; 16]]) {
        let mut limbs = [[0u64; LANES]; 5];
        for (dst, v) in limbs.iter_mut().zip(self.h) {
            // SAFETY: 64-byte array, one unaligned zmm store; avx512f per the contract.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), v) };
        }
        for (l, (tag, key)) in tags.iter_mut().zip(keys).enumerate() {
            let s = u128::from_le_bytes(key[16..].try_into().expect("16 bytes"));
            *tag = if IFMA {
                finish44(std::array::from_fn(|i| limbs[i][l]), s)
            } else {
                finish26(std::array::from_fn(|i| limbs[i][l]), s)
            };
        }
    }
}

/// The AEAD tags of up to 8 ciphertexts in memory (the batch code feeds `Poly8` from registers
/// instead); for the tests of the arithmetic.
///
/// # Safety
/// The CPU must support avx512f, and avx512ifma when `IFMA`.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn aead_tags_ifma(keys: &[[u8; 32]], msgs: &[&[u8]], tags: &mut [[u8; 16]]) {
    // SAFETY: forwarded contract.
    unsafe { aead_tags_impl::<true>(keys, msgs, tags) }
}

/// As `aead_tags_ifma`, radix 2^26.
#[cfg(test)]
#[target_feature(enable = "avx512f")]
unsafe fn aead_tags(keys: &[[u8; 32]], msgs: &[&[u8]], tags: &mut [[u8; 16]]) {
    // SAFETY: forwarded contract.
    unsafe { aead_tags_impl::<false>(keys, msgs, tags) }
}

#[cfg(test)]
#[inline(always)]
unsafe fn aead_tags_impl<const IFMA: bool>(keys: &[[u8; 32]], msgs: &[&[u8]], tags: &mut [[u8; 16]]) {
    let n = msgs.len();
    assert!(n <= LANES);
    let mut nblocks = [0u64; LANES];
    let mut tails = [[0u8; 128]; LANES];
    for l in 0..n {
        let len = msgs[l].len();
        nblocks[l] = aead_blocks(len);
        aead_tail(len, &mut tails[l]);
        let rem = len % 64;
        tails[l][..rem].copy_from_slice(&msgs[l][len - rem..]);
    }
    // SAFETY: CPU features per the contract.
    let mut poly = unsafe { Poly8::<IFMA>::new(keys, &nblocks) };
    for chunk in 0..nblocks.iter().max().unwrap().div_ceil(4) as usize {
        let rows: [__m512i; LANES] = std::array::from_fn(|l| {
            let mut row = [0u8; 64];
            if l < n {
                let full = msgs[l].len() / 64;
                if chunk < full {
                    row.copy_from_slice(&msgs[l][chunk * 64..chunk * 64 + 64]);
                } else if chunk - full < 2 {
                    row.copy_from_slice(&tails[l][(chunk - full) * 64..(chunk - full) * 64 + 64]);
                }
            }
            // SAFETY: 64-byte array, unaligned load.
            unsafe { _mm512_loadu_si512(row.as_ptr().cast()) }
        });
        // SAFETY: CPU features per the contract.
        unsafe { poly.absorb(&rows, chunk) };
    }
    // SAFETY: CPU features per the contract.
    unsafe { poly.finish(keys, &mut tags[..n]) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain Poly1305 over `msg` through the AEAD framing is not what RFC 8439 §2.5.2 tests, so
    /// this reference evaluates a raw message with the scalar code in `finish` (u128 limbs), and
    /// the vector path is checked against it on framed messages.
    fn poly1305_ref(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let r = u128::from_le_bytes(key[..16].try_into().unwrap()) & 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffff;
        let r: [u64; 5] = std::array::from_fn(|i| (r >> (26 * i)) as u64 & MASK26);
        let mut h = [0u64; 5];
        for chunk in msg.chunks(16) {
            let mut b = [0u8; 17];
            b[..chunk.len()].copy_from_slice(chunk);
            b[chunk.len()] = 1;
            let lo = u128::from_le_bytes(b[..16].try_into().unwrap());
            let m: [u64; 5] = std::array::from_fn(|i| (lo >> (26 * i)) as u64 & MASK26);
            let top = (b[16] as u64) << 24;
            for i in 0..5 {
                h[i] += m[i];
            }
            h[4] += top;
            let mut d = [0u128; 5];
            for i in 0..5 {
                for j in 0..5 {
                    let p = h[i] as u128 * r[j] as u128;
                    if i + j < 5 {
                        d[i + j] += p;
                    } else {
                        d[i + j - 5] += p * 5;
                    }
                }
            }
            let mut c = 0u128;
            for i in 0..5 {
                d[i] += c;
                c = d[i] >> 26;
                h[i] = (d[i] as u64) & MASK26;
            }
            h[0] += (c * 5) as u64;
        }
        finish26(h, u128::from_le_bytes(key[16..].try_into().unwrap()))
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8439 §2.5.2, through the scalar reference (which shares `finish` with the vector code).
    #[test]
    fn rfc8439_2_5_2() {
        let key: [u8; 32] =
            unhex("85 d6 be 78 57 55 6d 33 7f 44 52 fe 42 d5 06 a8 01 03 80 8a fb 0d b2 fd 4a bf f6 af 41 49 f5 1b")
                .try_into()
                .unwrap();
        let tag = poly1305_ref(&key, b"Cryptographic Forum Research Group");
        assert_eq!(tag[..], unhex("a8 06 1d c1 30 51 36 c6 c2 2b 8b af 0c 01 27 a9")[..]);
    }

    fn framed(ct: &[u8]) -> Vec<u8> {
        let mut m = ct.to_vec();
        m.resize(ct.len().div_ceil(16) * 16, 0);
        m.extend_from_slice(&0u64.to_le_bytes());
        m.extend_from_slice(&(ct.len() as u64).to_le_bytes());
        m
    }

    /// RFC 8439 §2.5.2 framed as an AEAD message: the vector tag must match the reference on the
    /// framing, and on random messages of every length 0..=300 in all lanes.
    #[test]
    fn vector_matches_reference() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut ifma_checked = 0;
        for base in (0..=300usize).step_by(7) {
            for n in 1..=LANES {
                let keys: Vec<[u8; 32]> = (0..n)
                    .map(|l| {
                        if l == 0 && base == 0 {
                            return [0xff; 32]; // extreme key: largest clamped r, s
                        }
                        std::array::from_fn(|_| next() as u8)
                    })
                    .collect();
                let msgs: Vec<Vec<u8>> = (0..n)
                    .map(|l| {
                        (0..(base + l * 5) % 301)
                            .map(|_| if base % 2 == 0 { 0xff } else { next() as u8 })
                            .collect()
                    })
                    .collect();
                let ptrs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
                let mut tags = vec![[0u8; 16]; n];
                // SAFETY: CPU checked; pointers are live Vecs of the given lengths.
                unsafe { aead_tags(&keys, &ptrs, &mut tags) };
                let mut tags44 = tags.clone();
                if is_x86_feature_detected!("avx512ifma") {
                    // SAFETY: as above, and IFMA checked.
                    unsafe { aead_tags_ifma(&keys, &ptrs, &mut tags44) };
                    ifma_checked += 1;
                }
                for l in 0..n {
                    let want = poly1305_ref(&keys[l], &framed(&msgs[l]));
                    assert_eq!(tags[l], want, "radix 2^26, len {} lane {l}", msgs[l].len());
                    assert_eq!(tags44[l], want, "radix 2^44, len {} lane {l}", msgs[l].len());
                }
            }
        }
        eprintln!("radix 2^44 (IFMA) checked in {ifma_checked} batches");
    }
}
