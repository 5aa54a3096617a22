//! The batched data-packet API of the vendored boringtun (`crate/vendor/boringtun/WGKIT.md`)
//! with `wgkit::aead`: packets sealed outside boringtun decrypt with boringtun's own
//! `decapsulate`, packets from `encapsulate` open with `accept_data`, and the replay window,
//! tags and session indexes are enforced exactly as `decapsulate` enforces them. Also the
//! precomputed rekeying, `set_static_private_precomputed`.

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use wgkit::aead;

fn secret(seed: u8) -> StaticSecret {
    StaticSecret::from([seed; 32])
}

/// Two tunnels with a completed handshake (a initiated, b responded, a confirmed with data).
fn pair() -> (Tunn, Tunn) {
    let (ska, skb) = (secret(1), secret(2));
    let (pka, pkb) = (PublicKey::from(&ska), PublicKey::from(&skb));
    let mut a = Tunn::new(ska, pkb, None, None, 0x100, None);
    let mut b = Tunn::new(skb, pka, None, None, 0x200, None);
    let mut buf = vec![0u8; 2048];
    let mut reply = vec![0u8; 2048];
    let init = match a.format_handshake_initiation(&mut buf, false) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no initiation"),
    };
    let resp = match b.decapsulate(None, &init, &mut reply) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no response"),
    };
    match a.decapsulate(None, &resp, &mut buf) {
        TunnResult::WriteToNetwork(p) => {
            // The keepalive that confirms the session to the responder.
            let keepalive = p.to_vec();
            assert!(matches!(b.decapsulate(None, &keepalive, &mut reply), TunnResult::Done));
        }
        other => panic!("initiator did not confirm: {}", matches!(other, TunnResult::Done)),
    }
    (a, b)
}

/// A minimal IPv4 packet of `len` bytes from 10.0.0.1 (length field set, rest patterned).
fn ipv4(len: usize, seed: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p
}

/// Seals `payloads` the way the device's outbound path does: header written by the caller,
/// all payloads of the run sealed at once.
fn seal_batch(t: &mut Tunn, payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut wires = Vec::new();
    let mut counters = Vec::new();
    let mut key = None;
    for p in payloads {
        let send = t.reserve_data_send(p.len()).expect("session");
        key.get_or_insert(*send.key);
        let mut w = vec![0u8; 16 + p.len() + 16];
        w[..4].copy_from_slice(&4u32.to_le_bytes());
        w[4..8].copy_from_slice(&send.receiver_index.to_le_bytes());
        w[8..16].copy_from_slice(&send.counter.to_le_bytes());
        w[16..16 + p.len()].copy_from_slice(p);
        counters.push(send.counter);
        wires.push(w);
    }
    let key = aead::Key::new(&key.expect("at least one packet"));
    let mut bufs: Vec<&mut [u8]> = wires.iter_mut().map(|w| &mut w[16..]).collect();
    aead::seal(&key, &counters, &mut bufs);
    wires
}

/// Opens `wires` (one run, all to one session) the way the device's inbound path does: the
/// replay check for the run, the tags at once, the replay window for the authenticated ones,
/// then each inner packet. Returns the delivered plaintexts (`None` for each dropped datagram).
fn open_batch(t: &mut Tunn, wires: &mut [Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let idx = u32::from_le_bytes(wires[0][4..8].try_into().unwrap());
    let key = aead::Key::new(t.data_receive_key(idx).expect("receiving session"));
    let counters: Vec<u64> = wires
        .iter()
        .map(|w| u64::from_le_bytes(w[8..16].try_into().unwrap()))
        .collect();
    let mut live = vec![false; wires.len()];
    t.data_counters_acceptable(idx, &counters, &mut live);
    let mut ok = vec![false; wires.len()];
    {
        let mut bufs: Vec<&mut [u8]> = wires.iter_mut().map(|w| &mut w[16..]).collect();
        aead::open(&key, &counters, &mut bufs, &mut ok);
    }
    for (l, ok) in live.iter_mut().zip(&ok) {
        *l &= *ok;
    }
    t.accept_data_counters(idx, &counters, &mut live);
    let mut out = Vec::new();
    for (w, &l) in wires.iter_mut().zip(&live) {
        if !l {
            out.push(None);
            continue;
        }
        let n = w.len();
        out.push(match t.accept_marked_data(&mut w[16..n - 16]) {
            TunnResult::WriteToTunnelV4(p, _) | TunnResult::WriteToTunnelV6(p, _) => Some(p.to_vec()),
            TunnResult::Done => Some(Vec::new()),
            _ => None,
        });
    }
    out
}

/// The same one packet at a time, with `data_counter_acceptable` and `accept_data`.
fn open_one_by_one(t: &mut Tunn, wires: &mut [Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    for w in wires.iter_mut() {
        let idx = u32::from_le_bytes(w[4..8].try_into().unwrap());
        let c = u64::from_le_bytes(w[8..16].try_into().unwrap());
        let key = aead::Key::new(t.data_receive_key(idx).expect("receiving session"));
        let mut ok = [false];
        if t.data_counter_acceptable(idx, c) {
            aead::open(&key, &[c], &mut [&mut w[16..]], &mut ok);
        }
        let n = w.len();
        out.push(match ok[0] {
            false => None,
            true => match t.accept_data(idx, c, &mut w[16..n - 16]) {
                TunnResult::WriteToTunnelV4(p, _) | TunnResult::WriteToTunnelV6(p, _) => Some(p.to_vec()),
                TunnResult::Done => Some(Vec::new()),
                _ => None,
            },
        });
    }
    out
}

#[test]
fn batch_sealed_packets_decapsulate_in_boringtun() {
    let (mut a, mut b) = pair();
    let payloads: Vec<Vec<u8>> = (0..20).map(|i| ipv4(64 + 16 * i, i as u8)).collect();
    let wires = seal_batch(&mut a, &payloads);
    let mut dst = vec![0u8; 2048];
    for (w, p) in wires.iter().zip(&payloads) {
        match b.decapsulate(None, w, &mut dst) {
            TunnResult::WriteToTunnelV4(got, src) => {
                assert_eq!(got, &p[..]);
                assert_eq!(src.octets(), [10, 0, 0, 1]);
            }
            _ => panic!("boringtun refused a batch-sealed packet"),
        }
    }
}

#[test]
fn encapsulated_packets_open_in_batches_and_replays_are_dropped() {
    let (mut a, mut b) = pair();
    let payloads: Vec<Vec<u8>> = (0..30).map(|i| ipv4(1424, i as u8)).collect();
    let mut dst = vec![0u8; 2048];
    let mut wires: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| match a.encapsulate(p, &mut dst) {
            TunnResult::WriteToNetwork(w) => w.to_vec(),
            _ => panic!("no session"),
        })
        .collect();
    let originals = wires.clone();
    let got = open_batch(&mut b, &mut wires);
    assert_eq!(got, payloads.iter().map(|p| Some(p.clone())).collect::<Vec<_>>());
    // The same datagrams again: every one is a replay.
    let mut again = originals.clone();
    assert!(open_batch(&mut b, &mut again).iter().all(Option::is_none));
    // A duplicate inside one batch is delivered once.
    let fresh = match a.encapsulate(&payloads[0], &mut dst) {
        TunnResult::WriteToNetwork(w) => w.to_vec(),
        _ => panic!("no session"),
    };
    let mut dup = vec![fresh.clone(), fresh];
    assert_eq!(open_batch(&mut b, &mut dup), vec![Some(payloads[0].clone()), None]);
}

#[test]
fn tampered_and_misaddressed_packets_are_dropped_alone() {
    let (mut a, mut b) = pair();
    let payloads: Vec<Vec<u8>> = (0..8).map(|i| ipv4(200, i as u8)).collect();
    let mut wires = seal_batch(&mut a, &payloads);
    wires[3][40] ^= 1; // ciphertext
    let n = wires[5].len();
    wires[5][n - 1] ^= 0x80; // tag
    let got = open_batch(&mut b, &mut wires);
    for (i, g) in got.iter().enumerate() {
        if i == 3 || i == 5 {
            assert!(g.is_none(), "tampered packet {i} delivered");
        } else {
            assert_eq!(g.as_deref(), Some(&payloads[i][..]));
        }
    }
    // No session under another index; the replay check refuses it too.
    assert!(b.data_receive_key(0xdead_beef).is_none());
    assert!(!b.data_counter_acceptable(0xdead_beef, 1_000));
    let mut buf = ipv4(100, 9);
    assert!(matches!(
        b.accept_data(0xdead_beef, 1_000, &mut buf),
        TunnResult::Err(_)
    ));
    let mut flags = [true, true];
    b.data_counters_acceptable(0xdead_beef, &[1_000, 1_001], &mut flags);
    assert_eq!(flags, [false, false]);
    let mut flags = [true, true];
    b.accept_data_counters(0xdead_beef, &[1_000, 1_001], &mut flags);
    assert_eq!(flags, [false, false]);
}

#[test]
fn keepalives_and_bad_inner_packets() {
    let (mut a, mut b) = pair();
    // An empty payload is a keepalive: accepted, nothing delivered.
    let mut wires = seal_batch(&mut a, &[Vec::new()]);
    assert_eq!(open_batch(&mut b, &mut wires), vec![Some(Vec::new())]);
    // An inner packet whose IPv4 length exceeds what was sent is invalid.
    let mut bad = ipv4(100, 1);
    bad[2..4].copy_from_slice(&200u16.to_be_bytes());
    let mut wires = seal_batch(&mut a, &[bad]);
    assert_eq!(open_batch(&mut b, &mut wires), vec![None]);
    // Not IP at all.
    let mut wires = seal_batch(&mut a, &[vec![0x10; 40]]);
    assert_eq!(open_batch(&mut b, &mut wires), vec![None]);
}

/// A handshake from `from` to `to`, completed when the initiator gets a response.
fn handshake(from: &mut Tunn, to: &mut Tunn) -> bool {
    let (mut buf, mut reply) = (vec![0u8; 2048], vec![0u8; 2048]);
    let init = match from.format_handshake_initiation(&mut buf, true) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    let resp = match to.decapsulate(None, &init, &mut reply) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    matches!(from.decapsulate(None, &resp, &mut buf), TunnResult::WriteToNetwork(_))
}

#[test]
fn a_precomputed_static_secret_rekeys_like_set_static_private() {
    let (mut a, mut b) = pair();
    let (new, pkb) = (secret(3), PublicKey::from(&secret(2)));
    let new_public = PublicKey::from(&new);
    let shared = new.diffie_hellman(&pkb);
    a.set_static_private_precomputed(new.clone(), new_public, shared, None);
    assert!(!a.has_data_session(), "sessions are cleared");
    // b still expects a's old key: refused until b knows the new one.
    assert!(!handshake(&mut a, &mut b));
    let mut b = Tunn::new(secret(2), new_public, None, None, 0x300, None);
    assert!(handshake(&mut a, &mut b));
    assert!(handshake(&mut b, &mut a));
    // A wrong secret (with another peer's key) fails the handshake.
    let mut c = Tunn::new(secret(1), pkb, None, None, 0x400, None);
    let wrong = new.diffie_hellman(&PublicKey::from(&secret(9)));
    c.set_static_private_precomputed(new, new_public, wrong, None);
    assert!(!handshake(&mut c, &mut b));
}

/// The receiving window holds 8,192 counters (boringtun 0.7.1 had 1,024), so a packet that
/// waited behind thousands of others on another socket (the latency lane, `device/lanes.rs`)
/// is still accepted; older ones and replays are not.
#[test]
fn the_receiving_window_accepts_packets_reordered_by_thousands() {
    let (mut a, mut b) = pair();
    let mut dst = vec![0u8; 2048];
    let payload = ipv4(64, 7);
    let wires: Vec<Vec<u8>> = (0..9000)
        .map(|_| match a.encapsulate(&payload, &mut dst) {
            TunnResult::WriteToNetwork(w) => w.to_vec(),
            _ => panic!("no session"),
        })
        .collect();
    let mut open = |w: &Vec<u8>| matches!(b.decapsulate(None, w, &mut dst), TunnResult::WriteToTunnelV4(..));
    assert!(open(&wires[8999]), "the newest packet first");
    // 8,000 behind: inside the window (boringtun 0.7.1 dropped anything 1,024 behind).
    assert!(open(&wires[999]));
    assert!(open(&wires[5000]));
    assert!(!open(&wires[999]), "a replay inside the window");
    // 8,500 behind: outside it.
    assert!(!open(&wires[499]));
    assert!(!open(&wires[0]));
}

/// A tiny deterministic generator (xorshift64*), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Runs through the run API deliver exactly what the replay window's rule says, whatever the
/// order: a counter once, and none more than 8,192 behind the newest. Reordered stretches,
/// duplicates inside a run and across runs, stale replays, tampered tags and runs of 1 to 64
/// datagrams, against a model of the rule and against the packet-at-a-time API.
#[test]
fn runs_deliver_what_the_window_allows_in_any_order() {
    let (mut a, mut b) = pair();
    let (mut a2, mut b2) = pair();
    let mut dst = vec![0u8; 2048];
    let total = 20_000u64;
    let payload = ipv4(60, 3);
    let mut seal = |t: &mut Tunn| -> Vec<Vec<u8>> {
        (0..total)
            .map(|_| match t.encapsulate(&payload, &mut dst) {
                TunnResult::WriteToNetwork(w) => w.to_vec(),
                _ => panic!("no session"),
            })
            .collect()
    };
    let (sent, sent2) = (seal(&mut a), seal(&mut a2));
    // The arrival order: counters mostly rising, with stretches reversed, repeats of recent
    // ones and of long-gone ones, and some tampered tags.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<(u64, bool)> = Vec::new();
    let mut next = 0u64;
    while next < total {
        let len = (1 + rng.below(200)).min(total - next);
        let mut stretch: Vec<u64> = (next..next + len).collect();
        if rng.below(4) == 0 {
            stretch.reverse();
        }
        for c in stretch {
            order.push((c, rng.below(50) == 0));
            match rng.below(20) {
                0 => order.push((c.saturating_sub(rng.below(64)), false)),
                1 => order.push((c.saturating_sub(rng.below(12_000)), false)),
                _ => {}
            }
        }
        next += len;
    }
    // The rule: a tag that verifies, a counter not yet delivered, and not more than 8,192
    // behind the newest delivered.
    let mut delivered = std::collections::HashSet::new();
    let mut newest_next = 0u64;
    let mut want = Vec::new();
    for &(c, tampered) in &order {
        let ok = !tampered && c + 8192 >= newest_next && !delivered.contains(&c);
        if ok {
            delivered.insert(c);
            newest_next = newest_next.max(c + 1);
        }
        want.push(ok);
    }
    let wires_for = |sent: &[Vec<u8>], at: &[(u64, bool)]| -> Vec<Vec<u8>> {
        at.iter()
            .map(|&(c, tampered)| {
                let mut w = sent[c as usize].clone();
                if tampered {
                    let n = w.len();
                    w[n - 3] ^= 4;
                }
                w
            })
            .collect()
    };
    let (mut got, mut got_single) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < order.len() {
        let end = (at + 1 + rng.below(64) as usize).min(order.len());
        let mut run = wires_for(&sent, &order[at..end]);
        got.extend(open_batch(&mut b, &mut run).iter().map(Option::is_some));
        let mut single = wires_for(&sent2, &order[at..end]);
        got_single.extend(open_one_by_one(&mut b2, &mut single).iter().map(Option::is_some));
        at = end;
    }
    assert!(
        want.iter().filter(|&&w| !w).count() > 1_000,
        "the order exercises refusals"
    );
    let first_diff = |got: &[bool]| got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(first_diff(&got), None, "runs against the rule");
    assert_eq!(first_diff(&got_single), None, "one by one against the rule");
}
