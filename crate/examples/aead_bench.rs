//! Throughput of `wgkit::aead` against ring (one `LessSafeKey` call per packet), one core.
//!
//! Prints plaintext GB/s for seal and open at plaintext sizes 1424, 512 and 64 bytes and batches
//! of 1, 16, 45 and 64 packets with consecutive counters. Run in release mode:
//! `cargo run --release --example aead_bench -p wgkit` (`WGKIT_AEAD=ring` makes wgkit use ring).

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wgkit::aead;

const TAG: usize = 16;
const RUN: Duration = Duration::from_millis(150);

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Runs `f` (which processes `bytes_per_call` plaintext bytes) repeatedly for RUN; GB/s.
fn measure(bytes_per_call: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < RUN {
        for _ in 0..16 {
            f();
        }
        calls += 16;
    }
    (calls as f64 * bytes_per_call as f64) / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let key_bytes = [0x42u8; 32];
    let key = aead::Key::new(&key_bytes);
    let ring_key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key_bytes).unwrap());
    println!("wgkit::aead implementation: {}", aead::implementation());
    println!(
        "{:>6} {:>6} | {:>10} {:>10} {:>6} | {:>10} {:>10} {:>6}",
        "size", "batch", "ring seal", "wgkit seal", "x", "ring open", "wgkit open", "x"
    );
    for size in [1424usize, 512, 64] {
        for batch in [1usize, 16, 45, 64] {
            let counters: Vec<u64> = (1000..1000 + batch as u64).collect();
            let mut store: Vec<Vec<u8>> = (0..batch).map(|i| vec![i as u8; size + TAG]).collect();
            let bytes = size * batch;

            let ring_seal = measure(bytes, || {
                for (b, &c) in store.iter_mut().zip(&counters) {
                    let (data, room) = b.split_at_mut(size);
                    let tag = ring_key
                        .seal_in_place_separate_tag(nonce(c), Aad::empty(), data)
                        .unwrap();
                    room.copy_from_slice(tag.as_ref());
                }
                black_box(&mut store);
            });
            let wg_seal = measure(bytes, || {
                let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| b.as_mut_slice()).collect();
                aead::seal(&key, &counters, &mut bufs);
                black_box(&mut bufs);
            });

            // Open needs valid packets: seal once, then restore the ciphertext before each call;
            // the copy's own time is measured and taken out of both sides.
            let mut sealed = store.clone();
            {
                let mut bufs: Vec<&mut [u8]> = sealed.iter_mut().map(|b| b.as_mut_slice()).collect();
                aead::seal(&key, &counters, &mut bufs);
            }
            let mut work = sealed.clone();
            let ring_open = measure(bytes, || {
                for ((w, s), &c) in work.iter_mut().zip(&sealed).zip(&counters) {
                    w.copy_from_slice(s);
                    assert!(ring_key.open_in_place(nonce(c), Aad::empty(), w).is_ok());
                }
                black_box(&mut work);
            });
            // The restore copy alone, subtracted from both open timings below.
            let copy = measure(bytes, || {
                for (w, s) in work.iter_mut().zip(&sealed) {
                    w.copy_from_slice(s);
                }
                black_box(&mut work);
            });
            let net = |gbps: f64| 1.0 / (1.0 / gbps - 1.0 / copy);
            let ring_open = net(ring_open);
            let mut ok = vec![false; batch];
            let wg_open = net(measure(bytes, || {
                for (w, s) in work.iter_mut().zip(&sealed) {
                    w.copy_from_slice(s);
                }
                let mut bufs: Vec<&mut [u8]> = work.iter_mut().map(|b| b.as_mut_slice()).collect();
                aead::open(&key, &counters, &mut bufs, &mut ok);
                assert!(ok.iter().all(|&o| o));
                black_box(&mut bufs);
            }));
            println!(
                "{size:>6} {batch:>6} | {ring_seal:>10.2} {wg_seal:>10.2} {:>6.2} | {ring_open:>10.2} {wg_open:>10.2} {:>6.2}",
                wg_seal / ring_seal,
                wg_open / ring_open
            );
        }
    }
    println!("(GB/s of plaintext, one core; open excludes the time of restoring the ciphertext)");
}
