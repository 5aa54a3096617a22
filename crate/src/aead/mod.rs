//! WireGuard data-packet AEAD: ChaCha20-Poly1305 (RFC 8439) with a 32-byte key, nonce = 4 zero
//! bytes || counter as 8 little-endian bytes, empty associated data, over batches of packets.
//!
//! On x86_64 CPUs with AVX-512 (avx512f + avx512bw) batches go through a multi-buffer
//! implementation that encrypts 16 packets at once (`batch_avx512`); small batches and
//! everything else go to ring one packet at a time. `WGKIT_AEAD=ring` in the environment (read
//! once) forces ring, for A/B benchmarks.

#[cfg(target_arch = "x86_64")]
mod batch_avx512;
#[cfg(target_arch = "x86_64")]
mod chacha20_avx512;
#[cfg(target_arch = "x86_64")]
mod poly1305_avx512;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of the Poly1305 tag appended to each packet.
pub const TAG_LEN: usize = 16;

/// Batches with fewer packets than this go to ring (measured with `examples/aead_bench.rs`:
/// below it one partly filled 16-lane group is slower than ring per packet).
#[cfg(target_arch = "x86_64")]
const MIN_BATCH: usize = 4;
/// Within a batch, a 16-lane group (the last one, usually) with fewer packets than this goes to
/// ring too; `len` is the group's longest packet. A group costs nearly the same whatever its
/// number of packets, ring a packet at a time grows with the length. `examples/aead_bench.rs`
/// on the EPYC VM (Zen 5, IFMA), sealing 1424-byte packets: 4 lanes 1.69 GB/s, 5 lanes 2.13, 6
/// lanes 2.52, ring 2.24; at 512 bytes 4 lanes lose (1.47 against 1.70) and 5 win (1.88); at
/// 256 bytes 4 lanes win (1.24 against 1.15).
#[cfg(target_arch = "x86_64")]
fn min_group(len: usize) -> usize {
    match len {
        0..=384 => 4,
        385..=896 => 5,
        _ => 6,
    }
}

/// A ChaCha20-Poly1305 key. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    pub fn new(bytes: &[u8; 32]) -> Key {
        Key(*bytes)
    }

    fn ring_key(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.0).expect("ChaCha20-Poly1305 keys are 32 bytes"))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("aead::Key(..)")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Implementation {
    /// avx512f + avx512bw; `ifma`: avx512ifma too (Poly1305 in radix 2^44).
    #[cfg(target_arch = "x86_64")]
    Avx512 {
        ifma: bool,
    },
    Ring,
}

fn selected() -> Implementation {
    static SELECTED: std::sync::OnceLock<Implementation> = std::sync::OnceLock::new();
    *SELECTED.get_or_init(|| {
        if std::env::var_os("WGKIT_AEAD").is_some_and(|v| v == "ring") {
            return Implementation::Ring;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
            return Implementation::Avx512 {
                ifma: std::arch::is_x86_feature_detected!("avx512ifma"),
            };
        }
        Implementation::Ring
    })
}

/// Which implementation `seal` and `open` use on this CPU ("avx512" or "ring"), for logs and
/// benchmarks. With "avx512", batches under 4 packets still go to ring.
pub fn implementation() -> &'static str {
    match selected() {
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512 { .. } => "avx512",
        Implementation::Ring => "ring",
    }
}

/// Encrypts every buffer in place. For each i: `bufs[i]` = plaintext (len - 16 bytes) followed
/// by 16 bytes of room; afterwards `bufs[i]` = ciphertext || tag. `counters[i]` is that packet's
/// nonce counter.
///
/// # Panics
/// If `bufs.len() != counters.len()` or a buffer is shorter than 16 bytes.
pub fn seal(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]]) {
    assert_eq!(counters.len(), bufs.len(), "one counter per buffer");
    assert!(
        bufs.iter().all(|b| b.len() >= TAG_LEN),
        "every buffer needs 16 bytes of tag room"
    );
    #[cfg(target_arch = "x86_64")]
    if let Implementation::Avx512 { ifma } = selected() {
        if bufs.len() >= MIN_BATCH {
            // SAFETY: `selected` returns Avx512 only when avx512f and avx512bw are detected, with
            // `ifma` only when avx512ifma is.
            unsafe { batch_avx512::seal(&key.0, &key.ring_key(), counters, bufs, min_group, ifma) };
            return;
        }
    }
    seal_ring(key, counters, bufs);
}

/// Decrypts every buffer in place: `bufs[i]` = ciphertext || tag. `ok[i]` = tag valid
/// (constant-time compare). When `ok[i]` is false the buffer's contents are unspecified. A
/// buffer shorter than 16 bytes gets `ok[i] = false`.
///
/// # Panics
/// If `counters` or `ok` is not as long as `bufs`.
pub fn open(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
    assert_eq!(counters.len(), bufs.len(), "one counter per buffer");
    assert_eq!(ok.len(), bufs.len(), "one result per buffer");
    #[cfg(target_arch = "x86_64")]
    if let Implementation::Avx512 { ifma } = selected() {
        if bufs.len() >= MIN_BATCH {
            // SAFETY: `selected` returns Avx512 only when avx512f and avx512bw are detected, with
            // `ifma` only when avx512ifma is.
            unsafe { batch_avx512::open(&key.0, &key.ring_key(), counters, bufs, ok, min_group, ifma) };
            return;
        }
    }
    open_ring(key, counters, bufs, ok);
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fn seal_ring_one(key: &LessSafeKey, counter: u64, buf: &mut [u8]) {
    let (data, tag_room) = buf.split_at_mut(buf.len() - TAG_LEN);
    let tag = key
        .seal_in_place_separate_tag(nonce(counter), Aad::empty(), data)
        .expect("packet within ChaCha20-Poly1305 length limit");
    tag_room.copy_from_slice(tag.as_ref());
}

fn open_ring_one(key: &LessSafeKey, counter: u64, buf: &mut [u8]) -> bool {
    buf.len() >= TAG_LEN && key.open_in_place(nonce(counter), Aad::empty(), buf).is_ok()
}

/// The ring path of `seal`: one `LessSafeKey` call per packet.
fn seal_ring(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]]) {
    let k = key.ring_key();
    for (buf, &c) in bufs.iter_mut().zip(counters) {
        seal_ring_one(&k, c, buf);
    }
}

/// The ring path of `open`.
fn open_ring(key: &Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
    let k = key.ring_key();
    for ((buf, &c), ok) in bufs.iter_mut().zip(counters).zip(ok) {
        *ok = open_ring_one(&k, c, buf);
    }
}

#[cfg(test)]
mod tests;
