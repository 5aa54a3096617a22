//! REKEY-AFTER-MESSAGES and REJECT-AFTER-MESSAGES in the vendored boringtun
//! (`crate/vendor/boringtun/WGKIT.md`): a session that sent more than 2^60 packets has the next
//! timer run start a handshake; one that used its last counter (2^64 - 2^13 - 2) sends no more,
//! on either send path, and its packets wait for the new session; a receiver refuses counters
//! from 2^64 - 2^13 - 1 on. The counters are set with the test-only
//! `Tunn::set_sending_counter_for_test` (feature `wgkit-test-hooks`, test builds only).

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};

const REKEY: u64 = Tunn::REKEY_AFTER_MESSAGES;
const REJECT: u64 = Tunn::REJECT_AFTER_MESSAGES;

fn secret(seed: u8) -> StaticSecret {
    StaticSecret::from([seed; 32])
}

/// `from` initiates, `to` responds, `from` confirms with a keepalive; true when each step
/// went through.
fn handshake(from: &mut Tunn, to: &mut Tunn) -> bool {
    let mut buf = vec![0u8; 2048];
    let init = match from.format_handshake_initiation(&mut buf, true) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    complete(from, to, &init)
}

/// The rest of a handshake whose initiation `from` already produced.
fn complete(from: &mut Tunn, to: &mut Tunn, init: &[u8]) -> bool {
    let (mut buf, mut reply) = (vec![0u8; 2048], vec![0u8; 2048]);
    let resp = match to.decapsulate(None, init, &mut reply) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    let keepalive = match from.decapsulate(None, &resp, &mut buf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return false,
    };
    matches!(to.decapsulate(None, &keepalive, &mut reply), TunnResult::Done)
}

fn pair() -> (Tunn, Tunn) {
    let (ska, skb) = (secret(1), secret(2));
    let (pka, pkb) = (PublicKey::from(&ska), PublicKey::from(&skb));
    let mut a = Tunn::new(ska, pkb, None, None, 0x100, None);
    let mut b = Tunn::new(skb, pka, None, None, 0x200, None);
    assert!(handshake(&mut a, &mut b));
    (a, b)
}

/// A minimal IPv4 packet from 10.0.0.1 (header only, its length field set).
fn ipv4() -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&20u16.to_be_bytes());
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p
}

/// A data packet to session `receiver` with `counter`, sealed with `key` as a sender would.
fn data_packet(key: &[u8; 32], receiver: u32, counter: u64, payload: &[u8]) -> Vec<u8> {
    let mut w = vec![0u8; 16];
    w[..4].copy_from_slice(&4u32.to_le_bytes());
    w[4..8].copy_from_slice(&receiver.to_le_bytes());
    w[8..16].copy_from_slice(&counter.to_le_bytes());
    let mut body = payload.to_vec();
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).unwrap());
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
        .unwrap();
    w.extend_from_slice(&body);
    w
}

/// Initiations closer than 2^24 ns carry the same timestamp (as the kernel's do), which the
/// responder refuses as a replay: a test that initiates again waits that long first.
fn past_timestamp_granularity() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

fn message_type(p: &[u8]) -> u32 {
    u32::from_le_bytes(p[..4].try_into().unwrap())
}

fn counter_of(p: &[u8]) -> u64 {
    u64::from_le_bytes(p[8..16].try_into().unwrap())
}

#[test]
fn the_limits_are_the_whitepapers() {
    assert_eq!(REKEY, 1 << 60);
    assert_eq!(REJECT as u128, (1u128 << 64) - (1 << 13) - 1);
}

#[test]
fn more_than_rekey_after_messages_sent_starts_a_handshake_on_the_next_timer_run() {
    for initiator in [true, false] {
        let (mut a, mut b) = pair();
        let (sender, other) = if initiator { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let mut buf = vec![0u8; 2048];
        assert!(sender.set_sending_counter_for_test(REKEY - 1));
        assert!(sender.reserve_data_send(20).is_some());
        // Exactly REKEY-AFTER-MESSAGES sent: not yet.
        assert!(matches!(sender.update_timers(&mut buf), TunnResult::Done));
        let send = sender.reserve_data_send(20).expect("the session still sends");
        assert_eq!(send.counter, REKEY);
        past_timestamp_granularity();
        let init = match sender.update_timers(&mut buf) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            _ => panic!("no handshake after REKEY-AFTER-MESSAGES (initiator: {initiator})"),
        };
        assert_eq!(message_type(&init), 1);
        // The old session keeps sending while the handshake is under way.
        assert!(sender.has_data_session());
        assert!(
            matches!(sender.update_timers(&mut buf), TunnResult::Done),
            "one initiation"
        );
        assert!(complete(sender, other, &init));
        // The new session counts from the start (its keepalive took 0), and no further
        // handshake is due.
        assert_eq!(sender.reserve_data_send(20).expect("new session").counter, 1);
        assert!(matches!(sender.update_timers(&mut buf), TunnResult::Done));
    }
}

#[test]
fn a_session_sends_nothing_past_reject_after_messages_and_its_packets_wait_for_the_next() {
    let (mut a, mut b) = pair();
    let (mut buf, mut out) = (vec![0u8; 2048], vec![0u8; 2048]);
    assert!(a.set_sending_counter_for_test(REJECT - 2));
    // The batch path: the last two counters, then none.
    assert_eq!(a.reserve_data_send(20).expect("counter").counter, REJECT - 2);
    let last = a.reserve_data_send(20).expect("the last counter");
    let (receiver, counter, key) = (last.receiver_index, last.counter, *last.key);
    assert_eq!(counter, REJECT - 1);
    assert!(a.reserve_data_send(20).is_none());
    assert!(!a.has_data_session());
    // The receiver takes the session's last packet.
    let w = data_packet(&key, receiver, counter, &ipv4());
    assert!(matches!(
        b.decapsulate(None, &w, &mut out),
        TunnResult::WriteToTunnelV4(..)
    ));
    // `encapsulate` queues the packet and starts a handshake instead of wrapping the counter.
    past_timestamp_granularity();
    let init = match a.encapsulate(&ipv4(), &mut buf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no initiation"),
    };
    assert_eq!(message_type(&init), 1);
    assert!(complete(&mut a, &mut b, &init));
    // The queued packet goes out on the new session (counter 1, after the keepalive's 0).
    let queued = match a.decapsulate(None, &[], &mut buf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("the queued packet was lost"),
    };
    assert_eq!((message_type(&queued), counter_of(&queued)), (4, 1));
    assert!(matches!(
        b.decapsulate(None, &queued, &mut out),
        TunnResult::WriteToTunnelV4(..)
    ));
    assert!(a.has_data_session());
}

#[test]
fn a_receiver_refuses_counters_from_reject_after_messages_on() {
    let (mut a, mut b) = pair();
    let mut out = vec![0u8; 2048];
    let send = a.reserve_data_send(20).expect("session");
    let (receiver, key) = (send.receiver_index, *send.key);
    for c in [REJECT, REJECT + 1, u64::MAX - 1, u64::MAX] {
        assert!(!b.data_counter_acceptable(receiver, c), "counter {c}");
        let w = data_packet(&key, receiver, c, &ipv4());
        assert!(
            matches!(b.decapsulate(None, &w, &mut out), TunnResult::Err(_)),
            "counter {c} decapsulated"
        );
        // The batch path's checks refuse it too, before and after authentication.
        let (mut live, mut ok) = ([false], [true]);
        b.data_counters_acceptable(receiver, &[c], &mut live);
        b.accept_data_counters(receiver, &[c], &mut ok);
        assert_eq!((live, ok), ([false], [false]), "counter {c} in a run");
        let mut plain = ipv4();
        assert!(matches!(b.accept_data(receiver, c, &mut plain), TunnResult::Err(_)));
    }
    // The last valid counter still passes, and the window then refuses what it passed.
    assert!(b.data_counter_acceptable(receiver, REJECT - 1));
    let w = data_packet(&key, receiver, REJECT - 1, &ipv4());
    assert!(matches!(
        b.decapsulate(None, &w, &mut out),
        TunnResult::WriteToTunnelV4(..)
    ));
    assert!(!b.data_counter_acceptable(receiver, REJECT - 1));
    assert!(!b.data_counter_acceptable(receiver, REJECT));
}
