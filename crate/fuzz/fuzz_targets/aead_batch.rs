//! The batched ChaCha20-Poly1305 (AVX-512 when the CPU has it, ring otherwise) against
//! ring's one-packet API: random lengths and counters, corrupted tags and ciphertexts.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use wgkit::aead::{self, TAG_LEN};

#[derive(Arbitrary, Debug)]
struct Packet {
    counter: u64,
    /// Plaintext length, up to a little more than a jumbo datagram.
    len: u16,
    fill: u8,
    /// Flip one bit of the sealed packet at this position (modulo its length).
    corrupt: Option<u16>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 32],
    packets: Vec<Packet>,
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fuzz_target!(|input: Input| {
    let packets = &input.packets[..input.packets.len().min(80)];
    let key = aead::Key::new(&input.key);
    let reference = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &input.key).expect("32-byte key"));
    let counters: Vec<u64> = packets.iter().map(|p| p.counter).collect();
    let plain: Vec<Vec<u8>> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let len = p.len as usize % 9100;
            (0..len)
                .map(|j| (j as u8).wrapping_mul(31) ^ p.fill ^ i as u8)
                .collect()
        })
        .collect();

    // Seal: the same bytes as ring.
    let mut sealed: Vec<Vec<u8>> = plain
        .iter()
        .map(|p| {
            let mut b = p.clone();
            b.resize(p.len() + TAG_LEN, 0);
            b
        })
        .collect();
    {
        let mut bufs: Vec<&mut [u8]> = sealed.iter_mut().map(|b| &mut b[..]).collect();
        aead::seal(&key, &counters, &mut bufs);
    }
    for (i, p) in plain.iter().enumerate() {
        let mut expected = p.clone();
        reference
            .seal_in_place_append_tag(nonce(counters[i]), Aad::empty(), &mut expected)
            .expect("seal");
        assert_eq!(
            sealed[i],
            expected,
            "sealed packet {i} of {} ({} bytes)",
            plain.len(),
            p.len()
        );
    }

    // Open, some corrupted: valid exactly where ring says so, and then the plaintext.
    let mut opened = sealed.clone();
    for (b, p) in opened.iter_mut().zip(packets) {
        if let Some(at) = p.corrupt {
            let at = at as usize % b.len();
            b[at] ^= 1 << (p.fill % 8);
        }
    }
    let corrupted = opened.clone();
    let mut ok = vec![false; opened.len()];
    {
        let mut bufs: Vec<&mut [u8]> = opened.iter_mut().map(|b| &mut b[..]).collect();
        aead::open(&key, &counters, &mut bufs, &mut ok);
    }
    for i in 0..plain.len() {
        let mut r = corrupted[i].clone();
        let want = reference
            .open_in_place(nonce(counters[i]), Aad::empty(), &mut r)
            .map(|p| p.to_vec());
        assert_eq!(ok[i], want.is_ok(), "tag verdict of packet {i}");
        if let Ok(p) = want {
            assert_eq!(&opened[i][..p.len()], &p[..], "plaintext of packet {i}");
            assert_eq!(p, plain[i]);
        }
    }

    // Buffers shorter than a tag never open.
    let mut short: Vec<Vec<u8>> = packets.iter().map(|p| vec![p.fill; p.len as usize % TAG_LEN]).collect();
    let mut ok = vec![true; short.len()];
    let mut bufs: Vec<&mut [u8]> = short.iter_mut().map(|b| &mut b[..]).collect();
    aead::open(&key, &counters, &mut bufs, &mut ok);
    assert!(ok.iter().all(|v| !v), "a buffer shorter than the tag opened");
});
