//! The multi-buffer AEAD: groups a batch into 16-packet groups of similar length and runs
//! ChaCha20 over 16 lanes fused with two 8-lane Poly1305 states over each group.
//!
//! Per group: keystream block 0 of every lane gives the Poly1305 keys. Then one pass over the
//! packets, 64 bytes per lane per step: load, XOR the keystream, store, and feed the ciphertext
//! (the output when sealing, the input when opening) from registers to Poly1305.
//!
//! A 512-bit add, xor or rotate takes two cycles on Zen 5 while four can issue per cycle, so
//! one ChaCha20 state (four independent quarter rounds) leaves half the issue slots empty. The
//! blocks therefore go two at a time: block 0 with step 0's block 1, then steps 1 and 2, 3 and
//! 4, and so on, through `chacha::rounds2` (assembly: both states fill all 32 registers). The
//! two steps' MAC input is absorbed after the next pair's rounds, between the keystreams'
//! transposes and XORs, four blocks at once by powers of r (`Poly8::absorb_chunk`). A step
//! left over at the end runs alone, with the pending Poly1305 blocks spread between its double
//! rounds one at a time instead. On the EPYC VM (`examples/aead_bench.rs`, interleaved), 1424
//! bytes × 45 seal at 5.78 → 6.39 GB/s with pairs (4.47 with everything one step at a time and
//! Poly1305 after the rounds); 512 bytes 5.02 both ways; 64 bytes 1.97 → 1.92. A lane's last
//! partial chunk is byte-masked; its MAC input (ciphertext, zero padding, length block) is the
//! masked ciphertext ORed with a small stack buffer holding the length block. Open compares the
//! tags in constant time after the pass (a failed packet has been decrypted anyway; its contents
//! are unspecified). Groups smaller than `min_group` of their longest packet go to ring one
//! packet at a time.

use super::chacha20_avx512 as chacha;
use super::poly1305_avx512::{self as poly, Poly8};
use super::TAG_LEN;
use ring::aead::LessSafeKey;
use std::arch::x86_64::*;
use subtle::ConstantTimeEq;

const LANES: usize = chacha::LANES;

/// One packet of a batch: its data (without the 16 tag bytes) and where it came from.
#[derive(Clone, Copy)]
struct Lane {
    ptr: *mut u8,
    data_len: usize,
    counter: u64,
    index: usize,
}

/// The lanes of a batch (buffers of at least 16 bytes), longest first when lengths differ so
/// each 16-lane group wastes few keystream blocks.
fn lanes(counters: &[u64], bufs: &mut [&mut [u8]]) -> Vec<Lane> {
    // Sized once (a filtered `collect` would grow it step by step).
    let mut lanes = Vec::with_capacity(bufs.len());
    lanes.extend(
        bufs.iter_mut()
            .zip(counters)
            .enumerate()
            .filter(|(_, (b, _))| b.len() >= TAG_LEN)
            .map(|(index, (b, &counter))| Lane {
                ptr: b.as_mut_ptr(),
                data_len: b.len() - TAG_LEN,
                counter,
                index,
            }),
    );
    if !lanes
        .windows(2)
        .all(|w| w[0].data_len.div_ceil(64) >= w[1].data_len.div_ceil(64))
    {
        lanes.sort_by_key(|l| std::cmp::Reverse(l.data_len));
    }
    lanes
}

/// Encrypts (`SEAL`) or decrypts the data of up to 16 lanes in place and returns their tags
/// (over the ciphertext).
///
/// # Safety
/// avx512f and avx512bw, and avx512ifma when `IFMA`; each lane's pointer valid for reads and
/// writes of `data_len` bytes, lanes not overlapping. Inlined into the entry points below, which
/// carry the target features.
#[inline(always)]
unsafe fn group<const IFMA: bool, const SEAL: bool>(key: &[u32; 8], lanes: &[Lane]) -> [[u8; 16]; LANES] {
    let n = lanes.len();
    debug_assert!(n <= LANES);
    let mut counters = [0u64; LANES];
    let mut lens = [0usize; LANES];
    let mut nblocks = [0u64; LANES];
    let mut tails = [[0u8; 128]; LANES];
    for (j, l) in lanes.iter().enumerate() {
        counters[j] = l.counter;
        lens[j] = l.data_len;
        nblocks[j] = poly::aead_blocks(l.data_len);
        poly::aead_tail(l.data_len, &mut tails[j]);
    }
    let chacha_steps = lens.iter().max().unwrap_or(&0).div_ceil(64);
    let poly_steps = nblocks.iter().max().unwrap_or(&0).div_ceil(4) as usize;
    // SAFETY: target features per the contract; every pointer access below is inside a lane's
    // `data_len` bytes (full 64-byte chunks only while `len >= off + 64`, otherwise byte-masked
    // to the `len - off < 64` remaining bytes), and the tail loads read 64 of 128 stack bytes.
    unsafe {
        let (n14, n15) = chacha::nonce_words(&counters);
        // Block 0 (the Poly1305 keys) together with the first step's block 1.
        let (keys, first) = if chacha_steps > 0 {
            let mut x = chacha::initial_state(key, n14, n15, 0);
            let mut y = chacha::initial_state(key, n14, n15, 1);
            chacha::rounds2(&mut x, &mut y);
            let keys = chacha::key_bytes(&chacha::keystream(&x, &chacha::initial_state(key, n14, n15, 0)));
            (
                keys,
                Some(chacha::keystream(&y, &chacha::initial_state(key, n14, n15, 1))),
            )
        } else {
            (chacha::poly_keys(key, &counters), None)
        };
        let mut macs = [
            Poly8::<IFMA>::new(&keys[..8], nblocks[..8].try_into().expect("8")),
            Poly8::<IFMA>::new(&keys[8..], nblocks[8..].try_into().expect("8")),
        ];
        let zero = _mm512_setzero_si512();
        // Each step's MAC input is absorbed with the next step or pair (see the module doc):
        // the chunks of the previous one or two steps, prepared (transposed) after their XOR,
        // in step order (`pending[0]` first), `pending[c][i]` for Poly1305 state `i`.
        let mut pending: Pending = [[None, None], [None, None]];
        let mut pending_chunks = [0usize; 2];
        let steps = chacha_steps.max(poly_steps);
        let mut step = 0;
        if let Some(ks) = first {
            let rows = xor_step::<SEAL>(lanes, &lens, &tails, 0, &ks);
            pending[0] = prepare_pair(&macs, &rows, n, 0);
            step = 1;
        }
        while step < steps {
            if step + 1 < chacha_steps {
                // Two steps' keystream at once: twice the independent work per round.
                let mut x = chacha::initial_state(key, n14, n15, step as u32 + 1);
                let mut y = chacha::initial_state(key, n14, n15, step as u32 + 2);
                chacha::rounds2(&mut x, &mut y);
                // The pending chunks' Poly1305 between the keystreams' transposes and XORs.
                absorb_pending(&mut macs, &pending, &pending_chunks, 0, None);
                let ks = chacha::keystream(&x, &chacha::initial_state(key, n14, n15, step as u32 + 1));
                let rows = xor_step::<SEAL>(lanes, &lens, &tails, step, &ks);
                absorb_pending(&mut macs, &pending, &pending_chunks, 1, None);
                let first = prepare_pair(&macs, &rows, n, step);
                let ks = chacha::keystream(&y, &chacha::initial_state(key, n14, n15, step as u32 + 2));
                let rows = xor_step::<SEAL>(lanes, &lens, &tails, step + 1, &ks);
                pending = [first, prepare_pair(&macs, &rows, n, step + 1)];
                pending_chunks = [step, step + 1];
                step += 2;
            } else {
                let ks = if step < chacha_steps {
                    let init = chacha::initial_state(key, n14, n15, step as u32 + 1);
                    let mut x = init;
                    chacha::double_round(&mut x);
                    for gap in 0..8 {
                        // Both states advance in every gap, so each state's chain of
                        // multiplications has a whole double round to run beside.
                        absorb_pending(&mut macs, &pending, &pending_chunks, gap / 4, Some(gap % 4));
                        chacha::double_round(&mut x);
                    }
                    chacha::double_round(&mut x);
                    chacha::keystream(&x, &init)
                } else {
                    absorb_pending(&mut macs, &pending, &pending_chunks, 0, None);
                    absorb_pending(&mut macs, &pending, &pending_chunks, 1, None);
                    [zero; 16]
                };
                let rows = xor_step::<SEAL>(lanes, &lens, &tails, step, &ks);
                pending = [prepare_pair(&macs, &rows, n, step), [None, None]];
                pending_chunks = [step, step];
                step += 1;
            }
        }
        absorb_pending(&mut macs, &pending, &pending_chunks, 0, None);
        absorb_pending(&mut macs, &pending, &pending_chunks, 1, None);
        let mut tags = [[0u8; 16]; LANES];
        macs[0].finish(&keys[..8], &mut tags[..n.min(8)]);
        if n > 8 {
            macs[1].finish(&keys[8..], &mut tags[8..n]);
        }
        tags
    }
}

/// Up to two prepared chunks of MAC input, each for both Poly1305 states (`None` where a state
/// has no block in the chunk).
type Pending = [[Option<[__m512i; 8]>; 2]; 2];

/// XORs keystream `ks` into every lane's 64 bytes at step `step` (byte-masked past its end)
/// and returns each lane's MAC input for that step: the ciphertext, or past the lane's full
/// chunks the masked ciphertext ORed with its tail buffer (padding and length block).
///
/// # Safety
/// As `group`.
#[inline(always)]
unsafe fn xor_step<const SEAL: bool>(
    lanes: &[Lane],
    lens: &[usize; LANES],
    tails: &[[u8; 128]; LANES],
    step: usize,
    ks: &[__m512i; 16],
) -> [__m512i; LANES] {
    let off = step * 64;
    // SAFETY: as in `group`: full 64-byte accesses only while `len >= off + 64`, byte-masked
    // to the remaining `len - off < 64` bytes otherwise; tail loads read 64 of 128 stack bytes.
    unsafe {
        let zero = _mm512_setzero_si512();
        let mut rows = [zero; LANES];
        for (j, lane) in lanes.iter().enumerate() {
            let len = lens[j];
            let p = lane.ptr;
            if len >= off + 64 {
                let d = _mm512_loadu_si512(p.add(off).cast());
                let o = _mm512_xor_si512(d, ks[j]);
                _mm512_storeu_si512(p.add(off).cast(), o);
                rows[j] = if SEAL { o } else { d };
            } else {
                let t = step - len / 64;
                let mut row = if t < 2 {
                    _mm512_loadu_si512(tails[j][t * 64..].as_ptr().cast())
                } else {
                    zero
                };
                if len > off {
                    let mask: __mmask64 = (1u64 << (len - off)) - 1;
                    let d = _mm512_maskz_loadu_epi8(mask, p.add(off).cast());
                    let o = _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(d, ks[j]));
                    _mm512_mask_storeu_epi8(p.add(off).cast(), mask, o);
                    row = _mm512_or_si512(row, if SEAL { o } else { d });
                }
                rows[j] = row;
            }
        }
        rows
    }
}

/// The rows of chunk `chunk` prepared for both states (the second only with more than 8 lanes).
///
/// # Safety
/// As `Poly8`'s methods.
#[inline(always)]
unsafe fn prepare_pair<const IFMA: bool>(
    macs: &[Poly8<IFMA>; 2],
    rows: &[__m512i; LANES],
    n: usize,
    chunk: usize,
) -> [Option<[__m512i; 8]>; 2] {
    let (lo, hi) = rows.split_at(8);
    // SAFETY: forwarded contract.
    unsafe {
        [
            macs[0].prepare(lo.try_into().expect("8"), chunk),
            if n > 8 {
                macs[1].prepare(hi.try_into().expect("8"), chunk)
            } else {
                None
            },
        ]
    }
}

/// Pending chunk `slot` into each state that has blocks in it: block `k` of it for `Some(k)`
/// (the work of one gap between two double rounds; the four go in order), or the whole chunk.
///
/// # Safety
/// As `Poly8`'s methods.
#[inline(always)]
unsafe fn absorb_pending<const IFMA: bool>(
    macs: &mut [Poly8<IFMA>; 2],
    pending: &Pending,
    chunks: &[usize; 2],
    slot: usize,
    block: Option<usize>,
) {
    for (mac, t) in macs.iter_mut().zip(&pending[slot]) {
        if let Some(t) = t {
            // SAFETY: forwarded contract.
            unsafe {
                match block {
                    Some(k) => mac.absorb_block(t, chunks[slot], k),
                    None => mac.absorb_chunk(t, chunks[slot]),
                }
            }
        }
    }
}

macro_rules! group_entry {
    ($name:ident, $features:literal, $ifma:literal, $seal:literal) => {
        /// `group` compiled with its target features.
        ///
        /// # Safety
        /// As `group`.
        #[target_feature(enable = $features)]
        unsafe fn $name(key: &[u32; 8], lanes: &[Lane]) -> [[u8; 16]; LANES] {
            // SAFETY: forwarded contract.
            unsafe { group::<$ifma, $seal>(key, lanes) }
        }
    };
}
group_entry!(seal_group_ifma, "avx512f,avx512bw,avx512ifma", true, true);
group_entry!(open_group_ifma, "avx512f,avx512bw,avx512ifma", true, false);
group_entry!(seal_group_mul, "avx512f,avx512bw", false, true);
group_entry!(open_group_mul, "avx512f,avx512bw", false, false);

/// Seals `bufs` (all at least 16 bytes long).
///
/// # Safety
/// The CPU must support avx512f and avx512bw, and avx512ifma when `ifma`.
pub(super) unsafe fn seal(
    key: &[u8; 32],
    ring_key: &LessSafeKey,
    counters: &[u64],
    bufs: &mut [&mut [u8]],
    min_group: fn(usize) -> usize,
    ifma: bool,
) {
    let kw = chacha::key_words(key);
    let lanes = lanes(counters, bufs);
    for g in lanes.chunks(LANES) {
        if g.len() < min_group(g[0].data_len) {
            for l in g {
                // SAFETY: the lane is a whole buffer of the batch (data plus tag room), not
                // aliased by any live reference while we hold it.
                let buf = unsafe { std::slice::from_raw_parts_mut(l.ptr, l.data_len + TAG_LEN) };
                super::seal_ring_one(ring_key, l.counter, buf);
            }
            continue;
        }
        // SAFETY: CPU features per this function's contract; each lane is a distinct buffer of
        // the batch with `data_len + 16` bytes.
        unsafe {
            let tags = if ifma {
                seal_group_ifma(&kw, g)
            } else {
                seal_group_mul(&kw, g)
            };
            for (l, tag) in g.iter().zip(&tags) {
                std::ptr::copy_nonoverlapping(tag.as_ptr(), l.ptr.add(l.data_len), TAG_LEN);
            }
        }
    }
}

/// Opens `bufs`, setting `ok[i]` for every buffer (false for buffers under 16 bytes).
///
/// # Safety
/// The CPU must support avx512f and avx512bw, and avx512ifma when `ifma`.
pub(super) unsafe fn open(
    key: &[u8; 32],
    ring_key: &LessSafeKey,
    counters: &[u64],
    bufs: &mut [&mut [u8]],
    ok: &mut [bool],
    min_group: fn(usize) -> usize,
    ifma: bool,
) {
    ok.fill(false);
    let kw = chacha::key_words(key);
    let lanes = lanes(counters, bufs);
    for g in lanes.chunks(LANES) {
        if g.len() < min_group(g[0].data_len) {
            for l in g {
                // SAFETY: as in `seal`.
                let buf = unsafe { std::slice::from_raw_parts_mut(l.ptr, l.data_len + TAG_LEN) };
                ok[l.index] = super::open_ring_one(ring_key, l.counter, buf);
            }
            continue;
        }
        // SAFETY: as in `seal`; the tag bytes follow each lane's data and are only read.
        unsafe {
            let tags = if ifma {
                open_group_ifma(&kw, g)
            } else {
                open_group_mul(&kw, g)
            };
            for (l, tag) in g.iter().zip(&tags) {
                let got = std::ptr::read_unaligned(l.ptr.add(l.data_len) as *const [u8; TAG_LEN]);
                // One constant-time comparison of 128 bits (a byte slice's `ct_eq` makes
                // sixteen, each through an optimisation barrier that is a call).
                ok[l.index] = bool::from(u128::from_ne_bytes(got).ct_eq(&u128::from_ne_bytes(*tag)));
            }
        }
    }
}
