//! Equivalence with ring, byte for byte, for every path: the public dispatch, the ring path, and
//! the AVX-512 path forced for every group size (when the CPU has it).

use super::*;

type SealFn = fn(&Key, &[u64], &mut [&mut [u8]]);
type OpenFn = fn(&Key, &[u64], &mut [&mut [u8]], &mut [bool]);

/// splitmix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn key(&mut self) -> [u8; 32] {
        self.bytes(32).try_into().unwrap()
    }
}

/// ring, used directly as the oracle: ciphertext || tag.
fn oracle_seal(key: &[u8; 32], counter: u64, plaintext: &[u8]) -> Vec<u8> {
    let k = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).unwrap());
    let mut out = plaintext.to_vec();
    k.seal_in_place_append_tag(nonce(counter), Aad::empty(), &mut out)
        .unwrap();
    out
}

fn as_muts(v: &mut [Vec<u8>]) -> Vec<&mut [u8]> {
    v.iter_mut().map(|b| b.as_mut_slice()).collect()
}

const SPECIAL_LENS: [usize; 11] = [0, 1, 15, 16, 17, 63, 64, 65, 1424, 1440, 1600];
const EXTREME_COUNTERS: [u64; 6] = [0, 1, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX - 1, u64::MAX];

fn random_batch(rng: &mut Rng) -> (Vec<u64>, Vec<Vec<u8>>) {
    // Batches of any size up to 70, small ones more often (the suite runs unoptimised in debug).
    let n = if rng.below(4) == 0 {
        rng.below(71)
    } else {
        rng.below(20)
    };
    let counters: Vec<u64> = match rng.below(3) {
        0 => (0..n).map(|_| rng.next()).collect(),
        1 => {
            let base = rng.next();
            (0..n as u64).map(|i| base.wrapping_add(i)).collect()
        }
        _ => (0..n)
            .map(|_| EXTREME_COUNTERS[rng.below(EXTREME_COUNTERS.len())])
            .collect(),
    };
    // Length styles: a burst of equal packets (possibly with one short last one), or a mix.
    let lens: Vec<usize> = match rng.below(5) {
        0 => {
            let len = if rng.below(2) == 0 { 1424 } else { rng.below(1601) };
            let mut v = vec![len; n];
            if let Some(last) = v.last_mut() {
                *last = rng.below(len + 1);
            }
            v
        }
        1 | 2 => (0..n).map(|_| SPECIAL_LENS[rng.below(SPECIAL_LENS.len())]).collect(),
        _ => (0..n)
            .map(|_| {
                if rng.below(4) == 0 {
                    rng.below(1601)
                } else {
                    rng.below(200)
                }
            })
            .collect(),
    };
    let bufs = lens
        .iter()
        .map(|&len| {
            let mut b = rng.bytes(len);
            b.extend_from_slice(&[0u8; TAG_LEN]);
            b
        })
        .collect();
    (counters, bufs)
}

/// One randomised case: seal equals ring, open round-trips, and corrupted packets (flipped bit
/// in ciphertext or tag, wrong counter, buffer under 16 bytes) fail without touching the others;
/// a wrong key fails every packet.
fn check_case(rng: &mut Rng, seal: SealFn, open: OpenFn) {
    let key_bytes = rng.key();
    let key = Key::new(&key_bytes);
    let (counters, plain) = random_batch(rng);
    let mut sealed = plain.clone();
    seal(&key, &counters, &mut as_muts(&mut sealed));
    for i in 0..plain.len() {
        let want = oracle_seal(&key_bytes, counters[i], &plain[i][..plain[i].len() - TAG_LEN]);
        assert_eq!(
            sealed[i],
            want,
            "seal packet {i} of {}, len {}",
            plain.len(),
            plain[i].len() - TAG_LEN
        );
    }

    let mut opened = sealed.clone();
    let mut ok = vec![false; opened.len()];
    open(&key, &counters, &mut as_muts(&mut opened), &mut ok);
    for i in 0..plain.len() {
        assert!(ok[i], "open packet {i}");
        assert_eq!(
            opened[i][..opened[i].len() - TAG_LEN],
            plain[i][..plain[i].len() - TAG_LEN]
        );
    }

    let mut bad = sealed.clone();
    let mut bad_counters = counters.clone();
    let mut corrupt = vec![false; bad.len()];
    for i in 0..bad.len() {
        match rng.below(6) {
            0 => {
                let bit = rng.below(bad[i].len() * 8);
                bad[i][bit / 8] ^= 1 << (bit % 8);
            }
            1 => {
                // Flip a tag bit in particular.
                let len = bad[i].len();
                let bit = rng.below(TAG_LEN * 8);
                bad[i][len - TAG_LEN + bit / 8] ^= 1 << (bit % 8);
            }
            2 => bad_counters[i] ^= 1 << rng.below(64),
            3 => {
                let len = rng.below(TAG_LEN);
                bad[i] = rng.bytes(len);
            }
            _ => continue,
        }
        corrupt[i] = true;
    }
    let mut ok = vec![true; bad.len()];
    open(&key, &bad_counters, &mut as_muts(&mut bad), &mut ok);
    for i in 0..bad.len() {
        assert_eq!(ok[i], !corrupt[i], "corrupted={} packet {i}", corrupt[i]);
        if !corrupt[i] {
            assert_eq!(bad[i][..bad[i].len() - TAG_LEN], plain[i][..plain[i].len() - TAG_LEN]);
        }
    }

    if rng.below(8) == 0 {
        let mut wrong = sealed.clone();
        let mut ok = vec![true; wrong.len()];
        let mut other = key_bytes;
        other[rng.below(32)] ^= 1 << rng.below(8);
        open(&Key::new(&other), &counters, &mut as_muts(&mut wrong), &mut ok);
        assert!(ok.iter().all(|&o| !o), "wrong key accepted");
    }
}

fn suite(seed: u64, cases: usize, seal: SealFn, open: OpenFn) {
    let mut rng = Rng(seed);
    for _ in 0..cases {
        check_case(&mut rng, seal, open);
    }
}

/// Debug builds run the vector code unoptimised; keep the suite to a few seconds there.
const CASES: usize = if cfg!(debug_assertions) { 2000 } else { 10000 };

#[test]
fn public_api_matches_ring() {
    // Same vector code as `avx512_path_matches_ring`, plus the small-batch thresholds.
    suite(1, CASES / 3, super::seal, super::open);
}

#[test]
fn ring_path_matches_ring() {
    suite(2, CASES, seal_ring, open_ring);
}

#[cfg(target_arch = "x86_64")]
fn have_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw")
}

#[cfg(target_arch = "x86_64")]
fn have_ifma() -> bool {
    have_avx512() && std::arch::is_x86_feature_detected!("avx512ifma")
}

/// The AVX-512 path with IFMA Poly1305 for every batch and group size (no ring fallback for
/// small groups).
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_ifma_path_matches_ring() {
    if !have_ifma() {
        eprintln!("skipped: CPU lacks avx512f/avx512bw/avx512ifma");
        return;
    }
    fn seal_simd(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]]) {
        assert!(have_ifma());
        // SAFETY: CPU features checked just above.
        unsafe { batch_avx512::seal(&key.0, &key.ring_key(), counters, bufs, |_| 1, true) }
    }
    fn open_simd(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
        assert!(have_ifma());
        // SAFETY: CPU features checked just above.
        unsafe { batch_avx512::open(&key.0, &key.ring_key(), counters, bufs, ok, |_| 1, true) }
    }
    suite(3, CASES, seal_simd, open_simd);
}

/// The AVX-512 path with radix-2^26 Poly1305 (CPUs without IFMA).
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_mul_path_matches_ring() {
    if !have_avx512() {
        eprintln!("skipped: CPU lacks avx512f/avx512bw");
        return;
    }
    fn seal_simd(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]]) {
        assert!(have_avx512());
        // SAFETY: CPU features checked just above.
        unsafe { batch_avx512::seal(&key.0, &key.ring_key(), counters, bufs, |_| 1, false) }
    }
    fn open_simd(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
        assert!(have_avx512());
        // SAFETY: CPU features checked just above.
        unsafe { batch_avx512::open(&key.0, &key.ring_key(), counters, bufs, ok, |_| 1, false) }
    }
    suite(4, CASES / 2, seal_simd, open_simd);
}

/// An AEAD vector with empty AAD: RFC 8439 §2.4.2's key, nonce (WireGuard-shaped: 4 zero bytes,
/// le64(0x4a00_0000)) and plaintext. The AEAD encrypts from block counter 1 like §2.4.2, so the
/// ciphertext is the RFC's; the tag is ring's. Every batch position of every path must match.
#[test]
fn aead_vector_against_ring() {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let rfc_ct_start = [
        0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69, 0x81,
    ];
    let rfc_ct_end = [
        0x5a, 0xf9, 0x0b, 0xbf, 0x74, 0xa3, 0x5b, 0xe6, 0xb4, 0x0b, 0x8e, 0xed, 0xf2, 0x78, 0x5e, 0x42, 0x87, 0x4d,
    ];
    let counter = 0x4a00_0000u64;
    let want = oracle_seal(&key, counter, pt);
    assert_eq!(want[..16], rfc_ct_start);
    assert_eq!(want[pt.len() - 18..pt.len()], rfc_ct_end);
    let paths: Vec<SealFn> = vec![super::seal, seal_ring];
    for seal in paths {
        for n in [1usize, 4, 16, 20, 45] {
            let mut bufs: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let mut b = pt.to_vec();
                    b.extend_from_slice(&[0; TAG_LEN]);
                    b
                })
                .collect();
            let counters = vec![counter; n];
            seal(&Key::new(&key), &counters, &mut as_muts(&mut bufs));
            for b in &bufs {
                assert_eq!(b, &want);
            }
        }
    }
}

#[test]
fn short_buffers_and_empty_batches() {
    let key = Key::new(&[7; 32]);
    seal(&key, &[], &mut []);
    let mut ok: [bool; 0] = [];
    open(&key, &[], &mut [], &mut ok);
    for n in [1usize, 5, 17] {
        let mut bufs: Vec<Vec<u8>> = (0..n).map(|i| vec![0u8; i % 16]).collect();
        let mut ok = vec![true; n];
        let counters = vec![0; n];
        open(&key, &counters, &mut as_muts(&mut bufs), &mut ok);
        assert!(ok.iter().all(|&o| !o));
    }
}

#[test]
fn key_debug_is_redacted() {
    assert_eq!(format!("{:?}", Key::new(&[1; 32])), "aead::Key(..)");
}
