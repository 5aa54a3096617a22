//! `Tunn::set_preshared_key` in the vendored boringtun (`crate/vendor/boringtun/WGKIT.md`): the
//! sessions stay, and the next handshake, from either side, mixes in the new key.

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};

fn secret(seed: u8) -> StaticSecret {
    StaticSecret::from([seed; 32])
}

/// `from` initiates, `to` responds, `from` confirms with a keepalive; true when each step
/// went through.
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
    let keepalive = match from.decapsulate(None, &resp, &mut buf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    matches!(to.decapsulate(None, &keepalive, &mut reply), TunnResult::Done)
}

/// One IPv4 packet from `from` delivered by `to`.
fn delivers(from: &mut Tunn, to: &mut Tunn) -> bool {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&20u16.to_be_bytes());
    let (mut buf, mut out) = (vec![0u8; 2048], vec![0u8; 2048]);
    let TunnResult::WriteToNetwork(w) = from.encapsulate(&p, &mut buf) else {
        return false;
    };
    // A data message, not an initiation of a tunnel that lost its session.
    w[0] == 4 && matches!(to.decapsulate(None, w, &mut out), TunnResult::WriteToTunnelV4(..))
}

/// Initiations closer than 2^24 ns carry the same timestamp (as the kernel's do), which the
/// responder refuses as a replay: a test that initiates again waits that long first.
fn past_timestamp_granularity() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

#[test]
fn a_new_preshared_key_keeps_the_sessions_and_the_next_handshake_needs_it_on_both_sides() {
    let (ska, skb) = (secret(1), secret(2));
    let (pka, pkb) = (PublicKey::from(&ska), PublicKey::from(&skb));
    let mut a = Tunn::new(ska, pkb, None, None, 0x100, None);
    let mut b = Tunn::new(skb, pka, None, None, 0x200, None);
    assert!(handshake(&mut a, &mut b));
    let psk = Some([7u8; 32]);
    a.set_preshared_key(psk);
    // The session goes on both ways.
    assert!(delivers(&mut a, &mut b) && delivers(&mut b, &mut a));
    // Only one side has the key: no handshake completes, from either side.
    past_timestamp_granularity();
    assert!(!handshake(&mut a, &mut b));
    past_timestamp_granularity();
    assert!(!handshake(&mut b, &mut a));
    // Both have it: handshakes from either side complete, and the new sessions carry data.
    b.set_preshared_key(psk);
    past_timestamp_granularity();
    assert!(handshake(&mut a, &mut b));
    assert!(delivers(&mut a, &mut b) && delivers(&mut b, &mut a));
    past_timestamp_granularity();
    assert!(handshake(&mut b, &mut a));
    assert!(delivers(&mut a, &mut b) && delivers(&mut b, &mut a));
    // And back to none.
    a.set_preshared_key(None);
    b.set_preshared_key(None);
    past_timestamp_granularity();
    assert!(handshake(&mut a, &mut b));
}
