//! Per-peer state around `boringtun::noise::Tunn`: endpoint (roaming follows the latest
//! authenticated packet), persistent keepalive, handshake bookkeeping for events, byte
//! counters, the 24-bit index, and plaintext padding.

use super::events::{timespec, DeviceEvent, EventSink, STALE_AFTER};
use crate::keys::Key;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::Tunn;
use boringtun::x25519::{PublicKey, StaticSecret};
use parking_lot::Mutex;
use rand_core::{OsRng, RngCore};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// WireGuard pads plaintext to a multiple of this (boringtun does not; we do before
/// `encapsulate`). The receiver trims to the IP header's length.
pub(crate) const PADDING_MULTIPLE: usize = 16;

/// The padded length of a `len`-byte packet on a device with MTU `mtu`, as the kernel computes
/// it: rounded up to 16, but never past the MTU (and never shorter than the packet).
#[inline]
pub(crate) fn padded_len(len: usize, mtu: usize) -> usize {
    let padded = (len + PADDING_MULTIPLE - 1) & !(PADDING_MULTIPLE - 1);
    padded.min(mtu.max(len))
}

/// A random 24-bit index from the OS CSPRNG that `taken` does not reject.
pub(crate) fn allocate_index(taken: impl Fn(u32) -> bool) -> u32 {
    loop {
        let idx = OsRng.next_u32() & 0x00ff_ffff;
        if !taken(idx) {
            return idx;
        }
    }
}

/// What every `Tunn` of a device is built from: its static key pair, derived once, and the
/// rate limiter the tunnels share.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) secret: StaticSecret,
    pub(crate) public: PublicKey,
    pub(crate) limiter: Arc<RateLimiter>,
}

impl Identity {
    /// The identity of a (non-zero) private key, with a new non-limiting rate limiter: the
    /// device limits handshakes itself, the tunnels only check mac1 with it.
    pub(crate) fn new(private_key: &Key) -> Identity {
        let secret = StaticSecret::from(*private_key.as_bytes());
        let public = PublicKey::from(&secret);
        Identity {
            limiter: Arc::new(RateLimiter::new(&public, u64::MAX)),
            secret,
            public,
        }
    }

    /// A tunnel to `peer` (its static-static Diffie-Hellman waits for its first handshake).
    pub(crate) fn tunn(&self, peer: &Key, psk: Option<&Key>, index: u32) -> Tunn {
        Tunn::new_with_static_public(
            self.secret.clone(),
            self.public,
            PublicKey::from(*peer.as_bytes()),
            psk.map(|k| *k.as_bytes()),
            // Persistent keepalive is ours (kernel semantics, changeable without a new Tunn).
            None,
            index,
            Some(self.limiter.clone()),
        )
    }
}

pub(crate) struct Peer {
    pub(crate) public_key: Key,
    pub(crate) index: u32,
    pub(crate) state: Mutex<PeerState>,
    pub(crate) rx_bytes: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
}

pub(crate) struct PeerState {
    /// `None` while the device has no private key.
    pub(crate) tunn: Option<Tunn>,
    pub(crate) preshared_key: Option<Key>,
    pub(crate) endpoint: Option<SocketAddr>,
    /// The local address the peer's packets last arrived at: ours leave from it (sticky
    /// source, as the kernel does), so replies come from the address the peer talks to.
    pub(crate) endpoint_src: Option<IpAddr>,
    /// Seconds, 0 = off.
    pub(crate) keepalive: u16,
    pub(crate) last_handshake: Option<SystemTime>,
    last_handshake_mono: Option<Instant>,
    /// Last authenticated packet sent or received (resets the persistent keepalive timer).
    pub(crate) last_traversal: Instant,
    /// We answered an initiation; the handshake completes with the first packet on it.
    pub(crate) awaiting_confirmation: bool,
    /// Initiations sent since the last completed handshake.
    pub(crate) attempts: u32,
    stale: bool,
}

impl Peer {
    pub(crate) fn new(public_key: Key, index: u32, tunn: Option<Tunn>) -> Peer {
        Peer {
            public_key,
            index,
            state: Mutex::new(PeerState {
                tunn,
                preshared_key: None,
                endpoint: None,
                endpoint_src: None,
                keepalive: 0,
                last_handshake: None,
                last_handshake_mono: None,
                last_traversal: Instant::now(),
                awaiting_confirmation: false,
                attempts: 0,
                stale: false,
            }),
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn add_tx(&self, n: usize) {
        self.tx_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn add_rx(&self, n: usize) {
        self.rx_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn emit(events: Option<&EventSink>, e: impl FnOnce() -> DeviceEvent) {
    if let Some(s) = events {
        s.emit(e());
    }
}

impl PeerState {
    /// An authenticated packet arrived from `src` at local address `local`: the endpoint
    /// follows it (roaming) and our packets will leave from `local`.
    #[inline]
    pub(crate) fn authenticated_from(
        &mut self,
        src: SocketAddr,
        local: Option<IpAddr>,
        now: Instant,
        pk: &Key,
        events: Option<&EventSink>,
    ) {
        self.last_traversal = now;
        self.endpoint_src = local;
        if self.endpoint != Some(src) {
            let old = self.endpoint.replace(src);
            emit(events, || DeviceEvent::EndpointChanged {
                public_key: pk.clone(),
                old,
                new: src,
            });
        }
    }

    /// A datagram of ours was sent to the peer; `kind` is its first byte (1 = initiation).
    #[inline]
    pub(crate) fn sent(&mut self, kind: u8, now: Instant) {
        self.last_traversal = now;
        if kind == 1 {
            self.attempts = self.attempts.saturating_add(1);
        }
    }

    pub(crate) fn handshake_completed(&mut self, initiator: bool, pk: &Key, events: Option<&EventSink>) {
        let now = SystemTime::now();
        self.last_handshake = Some(now);
        self.last_handshake_mono = Some(Instant::now());
        self.awaiting_confirmation = false;
        self.attempts = 0;
        if std::mem::take(&mut self.stale) {
            emit(events, || DeviceEvent::PeerActive { public_key: pk.clone() });
        }
        emit(events, || DeviceEvent::HandshakeCompleted {
            public_key: pk.clone(),
            at: timespec(now),
            initiator,
        });
    }

    /// boringtun gave up (`ConnectionExpired`): a failure if we were initiating.
    pub(crate) fn expired(&mut self, pk: &Key, events: Option<&EventSink>) {
        if self.attempts > 0 {
            let attempts = std::mem::take(&mut self.attempts);
            emit(events, || DeviceEvent::HandshakeFailed {
                public_key: pk.clone(),
                attempts,
            });
        }
    }

    /// Marks the peer stale once its last handshake is older than [`STALE_AFTER`].
    pub(crate) fn check_stale(&mut self, now: Instant, pk: &Key, events: Option<&EventSink>) {
        if self.stale {
            return;
        }
        if let (Some(mono), Some(wall)) = (self.last_handshake_mono, self.last_handshake) {
            if now.saturating_duration_since(mono) >= STALE_AFTER {
                self.stale = true;
                emit(events, || DeviceEvent::PeerStale {
                    public_key: pk.clone(),
                    last_handshake: timespec(wall),
                });
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn backdate_handshake(&mut self, by: std::time::Duration) {
        self.last_handshake_mono = self.last_handshake_mono.and_then(|t| t.checked_sub(by));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boringtun::noise::TunnResult;

    #[test]
    fn padding_rules() {
        assert_eq!(padded_len(0, 1420), 0);
        assert_eq!(padded_len(1, 1420), 16);
        assert_eq!(padded_len(16, 1420), 16);
        assert_eq!(padded_len(17, 1420), 32);
        assert_eq!(padded_len(1415, 1420), 1420);
        assert_eq!(padded_len(1420, 1420), 1420);
        assert_eq!(padded_len(1500, 1420), 1500);
    }

    #[test]
    fn indices_are_24_bit_and_avoid_taken() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let i = allocate_index(|x| seen.contains(&x));
            assert!(i < 1 << 24);
            assert!(seen.insert(i));
        }
        // Half of the space taken: only free indices come back.
        for _ in 0..100 {
            assert_eq!(allocate_index(|x| x % 2 == 0) % 2, 1);
        }
    }

    #[test]
    fn a_peer_costs_about_a_kilobyte_until_it_has_sessions() {
        // Tunn's eight session slots are boxed (vendored boringtun): inline they made every
        // peer 11.8 KB, 117 MiB for a device with 10,000 peers.
        assert!(std::mem::size_of::<Peer>() <= 1536, "{}", std::mem::size_of::<Peer>());
    }

    fn pair() -> (Tunn, Tunn) {
        let a = Key::generate_private();
        let b = Key::generate_private();
        let mut ta = Identity::new(&a).tunn(&b.public_key(), None, 1);
        let mut tb = Identity::new(&b).tunn(&a.public_key(), None, 2);
        let mut buf = vec![0u8; 2048];
        let mut buf2 = vec![0u8; 2048];
        let init = match ta.format_handshake_initiation(&mut buf, false) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        let resp = match tb.decapsulate(None, &init, &mut buf2) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        let ka = match ta.decapsulate(None, &resp, &mut buf) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(tb.decapsulate(None, &ka, &mut buf2), TunnResult::Done));
        (ta, tb)
    }

    fn ipv4_packet(payload: usize) -> Vec<u8> {
        let total = 20 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        for (i, b) in p[20..].iter_mut().enumerate() {
            *b = i as u8;
        }
        p
    }

    /// Padded plaintext is trimmed back to the IP length by boringtun's decapsulate, for IPv4
    /// and IPv6, and the ciphertext length reflects the padding.
    #[test]
    fn padding_is_trimmed_by_receiver() {
        let (mut ta, mut tb) = pair();
        for payload in [0usize, 1, 7, 13, 100, 1379] {
            for v6 in [false, true] {
                let mut pkt = if v6 {
                    let total = 40 + payload;
                    let mut p = vec![0u8; total];
                    p[0] = 0x60;
                    p[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
                    p[6] = 17;
                    p[7] = 64;
                    p[8] = 0xfd;
                    p[24] = 0xfd;
                    p
                } else {
                    ipv4_packet(payload)
                };
                let orig = pkt.clone();
                let len = pkt.len();
                let padded = padded_len(len, 1420);
                assert!(padded.is_multiple_of(16) || padded == 1420);
                assert!(padded >= len);
                pkt.resize(padded, 0);
                let mut out = vec![0u8; 2048];
                let ct = match ta.encapsulate(&pkt, &mut out) {
                    TunnResult::WriteToNetwork(p) => p.to_vec(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(ct.len(), padded + 32);
                let mut dst = vec![0u8; 2048];
                match tb.decapsulate(None, &ct, &mut dst) {
                    TunnResult::WriteToTunnelV4(p, _) | TunnResult::WriteToTunnelV6(p, _) => assert_eq!(p, &orig[..]),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn stale_and_active_events() {
        let (sink, rx) = super::super::events::event_channel(16);
        let pk = Key::generate_private().public_key();
        let peer = Peer::new(pk.clone(), 1, None);
        let mut ps = peer.state.lock();
        let now = Instant::now();
        ps.check_stale(now, &pk, Some(&sink));
        assert!(rx.try_recv().is_err(), "never handshaken peers are not stale");
        ps.sent(1, now);
        ps.sent(1, now);
        ps.handshake_completed(true, &pk, Some(&sink));
        assert!(matches!(
            rx.try_recv().unwrap(),
            DeviceEvent::HandshakeCompleted { initiator: true, .. }
        ));
        assert_eq!(ps.attempts, 0);
        ps.backdate_handshake(STALE_AFTER);
        ps.check_stale(Instant::now(), &pk, Some(&sink));
        assert!(matches!(rx.try_recv().unwrap(), DeviceEvent::PeerStale { .. }));
        ps.check_stale(Instant::now(), &pk, Some(&sink));
        assert!(rx.try_recv().is_err(), "stale is reported once");
        ps.handshake_completed(false, &pk, Some(&sink));
        assert!(matches!(rx.try_recv().unwrap(), DeviceEvent::PeerActive { .. }));
        assert!(matches!(
            rx.try_recv().unwrap(),
            DeviceEvent::HandshakeCompleted { initiator: false, .. }
        ));
        ps.sent(1, now);
        ps.expired(&pk, Some(&sink));
        assert!(matches!(
            rx.try_recv().unwrap(),
            DeviceEvent::HandshakeFailed { attempts: 1, .. }
        ));
        ps.expired(&pk, Some(&sink));
        assert!(rx.try_recv().is_err());
        let ep: SocketAddr = "192.0.2.1:1".parse().unwrap();
        ps.authenticated_from(ep, None, now, &pk, Some(&sink));
        ps.authenticated_from(ep, None, now, &pk, Some(&sink));
        assert!(matches!(
            rx.try_recv().unwrap(),
            DeviceEvent::EndpointChanged { old: None, .. }
        ));
        assert!(rx.try_recv().is_err());
    }
}
