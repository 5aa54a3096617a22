//! Applying a `DeviceConfig` (validate everything, do the fallible OS work, then commit the
//! in-memory change under the table's write lock, which cannot fail) and reporting a
//! `model::Device`.

use super::events::timespec;
use super::peer::{allocate_index, Identity, Peer};
use super::prepared::Prepared;
use super::udp::Sockets;
use super::worker::Io;
use super::{Shared, State, HANDSHAKE_RATE_LIMIT};
use crate::error::{Error, Result};
use crate::keys::Key;
use crate::model::{self, AllowedIp, DeviceConfig, PeerConfig};
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::TunnResult;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Checks a change without touching the device.
pub(crate) fn validate(config: &DeviceConfig) -> Result<()> {
    for p in &config.peers {
        if let Some(v) = p.protocol_version {
            if v != 1 {
                return Err(Error::invalid_argument(format!(
                    "Unsupported protocol version {v} for peer {}",
                    p.public_key.to_base64()
                )));
            }
        }
        for c in &p.allowed_ips {
            AllowedIp::new(c.ip.addr, c.ip.cidr)?;
        }
    }
    Ok(())
}

/// IPv4-mapped IPv6 endpoints are IPv4 endpoints (the IPv6 sockets are `IPV6_V6ONLY`).
pub(crate) fn normalize_endpoint(ep: SocketAddr) -> SocketAddr {
    match ep {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), a.port()),
            None => ep,
        },
        v4 => v4,
    }
}

pub(crate) fn apply(shared: &Shared, config: DeviceConfig) -> Result<()> {
    validate(&config)?;
    let _serial = shared.apply_lock.lock();
    let (cur_port, cur_mark) = {
        let s = shared.state.read();
        (s.listen_port, s.fwmark)
    };
    let new_mark = config.fwmark.unwrap_or(cur_mark);
    // Fallible OS work first; nothing in memory has changed yet.
    let new_sockets = match config.listen_port {
        Some(p) if p == 0 || p != cur_port => {
            let n = shared.threads;
            Some(shared.netns.run(move || Sockets::bind(p, new_mark, n))?)
        }
        _ => None,
    };
    if new_sockets.is_none() && new_mark != cur_mark {
        shared.sockets.read().set_fwmark(new_mark, cur_mark)?;
    }
    // The costly part of adding peers, before the write lock and on every core.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut prepared = Prepared::build(&shared.state, &config, cores);
    // Commit: infallible from here on.
    let mut outgoing: Vec<(Vec<u8>, SocketAddr, Arc<Peer>)> = Vec::new();
    {
        let mut st = shared.state.write();
        commit(&mut st, config, &mut prepared, &mut outgoing);
        st.fwmark = new_mark;
        if let Some(s) = &new_sockets {
            st.listen_port = s.port;
        }
    }
    if let Some(s) = new_sockets {
        let old = std::mem::replace(&mut *shared.sockets.write(), Arc::new(s));
        shared.socket_gen.fetch_add(1, Ordering::SeqCst);
        shared.wake_workers();
        {
            // Under the timer's lock, so that it is either waiting or sees the new generation.
            let _held = shared.stop_cv.0.lock();
            shared.stop_cv.1.notify_all();
        }
        // Release the old port before returning: wait (briefly) until every thread has
        // switched to the new sockets.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while Arc::strong_count(&old) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    if !outgoing.is_empty() {
        let mut io = Io::new(shared, 0);
        for (packet, to, peer) in outgoing {
            // The batch holds `BATCH` datagrams: a change that starts more handshakes sends
            // them in several `sendmmsg`s.
            io.reserve(shared);
            io.out.push(&packet, Some(to));
            peer.add_tx(packet.len());
        }
        io.flush(shared);
    }
    Ok(())
}

/// The preshared key `pc` asks for: `None` to leave it as it is, `Some(None)` to remove it (a
/// zero key), `Some(Some(k))` to set it. The plan in `prepared.rs` reads it the same way.
pub(crate) fn psk_change(pc: &PeerConfig) -> Option<Option<Key>> {
    pc.preshared_key.as_ref().map(|k| (!k.is_zero()).then(|| k.clone()))
}

fn remove_peer(st: &mut State, key: &[u8; 32]) {
    if let Some(peer) = st.by_key.remove(key) {
        st.by_index.remove(&peer.index);
        st.allowed.remove_peer(peer.index);
        st.peers.retain(|p| !Arc::ptr_eq(p, &peer));
    }
}

fn set_private_key(st: &mut State, key: Key, prepared: &mut Prepared) {
    if key.is_zero() {
        if st.private_key.take().is_some() {
            st.public_key = None;
            st.statics = None;
            st.handshake_limiter = None;
            st.tunn_limiter = None;
            for p in &st.peers {
                p.state.lock().tunn = None;
            }
        }
        return;
    }
    if st.private_key.as_ref() == Some(&key) {
        return;
    }
    let ident = prepared.identity_for(&key).unwrap_or_else(|| Identity::new(&key));
    let public = Key::from_bytes(*ident.public.as_bytes());
    // As the kernel does: a peer with the device's own public key cannot exist.
    remove_peer(st, public.as_bytes());
    let pk = ident.public;
    st.handshake_limiter = Some(Arc::new(RateLimiter::new(&pk, HANDSHAKE_RATE_LIMIT)));
    st.statics = Some((ident.secret.clone(), pk));
    for p in &st.peers {
        let mut ps = p.state.lock();
        let limiter = Some(ident.limiter.clone());
        match ps.tunn.as_mut() {
            Some(t) => match prepared.shared_for(&ident, &p.public_key) {
                Some(shared) => t.set_static_private_precomputed(ident.secret.clone(), pk, shared, limiter),
                None => t.set_static_private(ident.secret.clone(), pk, limiter),
            },
            None => {
                let psk = ps.preshared_key.clone();
                let t = match prepared.take(&ident, &p.public_key, psk.as_ref(), Some(p.index), |_| false) {
                    Some((_, t)) => t,
                    None => ident.tunn(&p.public_key, psk.as_ref(), p.index),
                };
                ps.tunn = Some(t);
            }
        }
    }
    st.tunn_limiter = Some(ident.limiter);
    st.private_key = Some(key);
    st.public_key = Some(public);
}

fn commit(
    st: &mut State,
    config: DeviceConfig,
    prepared: &mut Prepared,
    outgoing: &mut Vec<(Vec<u8>, SocketAddr, Arc<Peer>)>,
) {
    // Peers the change replaces go before a new private key would rekey them.
    if config.replace_peers {
        st.peers.clear();
        st.by_key.clear();
        st.by_index.clear();
        st.allowed = super::AllowedIps::new();
    }
    if let Some(k) = config.private_key {
        set_private_key(st, k, prepared);
    }
    let ident = st.identity();
    for pc in config.peers {
        let key = *pc.public_key.as_bytes();
        if st.public_key.as_ref() == Some(&pc.public_key) {
            continue;
        }
        if pc.remove {
            remove_peer(st, &key);
            continue;
        }
        let peer = match st.by_key.get(&key) {
            Some(p) => p.clone(),
            None if pc.update_only => continue,
            None => {
                // Built with its preshared key at once (the branch below then sees no change).
                let psk = psk_change(&pc).flatten();
                let taken = |i| st.by_index.contains_key(&i);
                let (index, tunn) = match &ident {
                    Some(id) => match prepared.take(id, &pc.public_key, psk.as_ref(), None, taken) {
                        Some((index, t)) => (index, Some(t)),
                        None => {
                            let index = allocate_index(taken);
                            (index, Some(id.tunn(&pc.public_key, psk.as_ref(), index)))
                        }
                    },
                    None => (allocate_index(taken), None),
                };
                let p = Arc::new(Peer::new(pc.public_key.clone(), index, tunn));
                p.state.lock().preshared_key = psk;
                st.by_key.insert(key, p.clone());
                st.by_index.insert(index, p.clone());
                st.peers.push(p.clone());
                p
            }
        };
        let mut ps = peer.state.lock();
        if let Some(psk) = psk_change(&pc) {
            if psk != ps.preshared_key {
                ps.preshared_key = psk;
                // boringtun cannot change a Tunn's preshared key: this peer starts afresh.
                if let Some(id) = &ident {
                    let psk = ps.preshared_key.as_ref();
                    let t = match prepared.take(id, &peer.public_key, psk, Some(peer.index), |_| false) {
                        Some((_, t)) => t,
                        None => id.tunn(&peer.public_key, psk, peer.index),
                    };
                    ps.tunn = Some(t);
                }
            }
        }
        if let Some(ep) = pc.endpoint {
            ps.endpoint = Some(normalize_endpoint(ep));
            ps.endpoint_src = None;
        }
        if let Some(ka) = pc.persistent_keepalive_interval {
            let changed = ka != ps.keepalive;
            ps.keepalive = ka;
            // As the kernel does: turning keepalive on sends one at once (which starts a
            // handshake when there is no session).
            if changed && ka > 0 {
                if let (Some(ep), Some(t)) = (ps.endpoint, ps.tunn.as_mut()) {
                    let mut buf = vec![0u8; 256];
                    if let TunnResult::WriteToNetwork(p) = t.encapsulate(&[], &mut buf) {
                        let p = p.to_vec();
                        ps.sent(p[0], std::time::Instant::now());
                        outgoing.push((p, ep, peer.clone()));
                    }
                }
            }
        }
        drop(ps);
        if pc.replace_allowed_ips {
            st.allowed.remove_peer(peer.index);
        }
        for c in pc.allowed_ips {
            if c.remove {
                st.allowed.remove_if_owned(c.ip, peer.index);
            } else {
                st.allowed.insert(c.ip, peer.index);
            }
        }
    }
}

pub(crate) fn snapshot(shared: &Shared) -> model::Device {
    let st = shared.state.read();
    let peers = st
        .peers
        .iter()
        .map(|p| {
            let ps = p.state.lock();
            model::Peer {
                public_key: p.public_key.clone(),
                preshared_key: ps.preshared_key.clone(),
                endpoint: ps.endpoint,
                persistent_keepalive_interval: ps.keepalive,
                last_handshake: ps.last_handshake.map(timespec),
                rx_bytes: p.rx_bytes.load(Ordering::Relaxed),
                tx_bytes: p.tx_bytes.load(Ordering::Relaxed),
                allowed_ips: st.allowed.list(p.index).to_vec(),
                protocol_version: 1,
            }
        })
        .collect();
    model::Device {
        name: shared.name.clone(),
        ifindex: None,
        private_key: st.private_key.clone(),
        public_key: st.public_key.clone(),
        listen_port: st.listen_port,
        fwmark: st.fwmark,
        peers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AllowedIpChange, PeerConfig};

    fn key() -> Key {
        Key::generate_private().public_key()
    }

    #[test]
    fn validation_checks_every_peer_before_anything_happens() {
        let ok = PeerConfig::new(key());
        assert!(validate(&DeviceConfig {
            peers: vec![ok.clone()],
            ..Default::default()
        })
        .is_ok());
        let mut bad_version = PeerConfig::new(key());
        bad_version.protocol_version = Some(2);
        let e = validate(&DeviceConfig {
            peers: vec![ok.clone(), bad_version],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidArgument);
        let mut bad_cidr = PeerConfig::new(key());
        bad_cidr.allowed_ips.push(AllowedIpChange {
            ip: AllowedIp {
                addr: "fd00::".parse().unwrap(),
                cidr: 129,
            },
            remove: true,
        });
        assert!(validate(&DeviceConfig {
            peers: vec![ok, bad_cidr],
            ..Default::default()
        })
        .is_err());
        let mut v1 = PeerConfig::new(key());
        v1.protocol_version = Some(1);
        assert!(validate(&DeviceConfig {
            peers: vec![v1],
            ..Default::default()
        })
        .is_ok());
    }

    fn empty_state() -> parking_lot::RwLock<State> {
        parking_lot::RwLock::new(State {
            private_key: None,
            public_key: None,
            statics: None,
            handshake_limiter: None,
            tunn_limiter: None,
            listen_port: 0,
            fwmark: 0,
            peers: Vec::new(),
            by_key: std::collections::HashMap::new(),
            by_index: std::collections::HashMap::new(),
            allowed: super::super::AllowedIps::new(),
        })
    }

    /// A device state with a private key and `peers`.
    fn keyed_state(peers: Vec<PeerConfig>) -> parking_lot::RwLock<State> {
        let state = empty_state();
        let config = DeviceConfig {
            private_key: Some(Key::generate_private()),
            peers,
            ..Default::default()
        };
        apply_to(&state, config, 1);
        state
    }

    /// Applies `config` as `apply` does (prepare, then commit under the write lock); returns
    /// how many prepared tunnels the commit left unused.
    fn apply_to(state: &parking_lot::RwLock<State>, config: DeviceConfig, cores: usize) -> usize {
        let mut prepared = Prepared::build(state, &config, cores);
        commit(&mut state.write(), config, &mut prepared, &mut Vec::new());
        prepared.unused()
    }

    /// A handshake from `peer_private` (with `psk`) to the device's tunnel for that peer.
    fn handshake_works(state: &parking_lot::RwLock<State>, peer_private: &Key, psk: Option<&Key>) -> bool {
        let st = state.read();
        let device_public = st.public_key.clone().expect("device key");
        let peer = st.by_key.get(peer_private.public_key().as_bytes()).expect("peer");
        assert!(Arc::ptr_eq(st.by_index.get(&peer.index).expect("index"), peer));
        let mut ps = peer.state.lock();
        let device_side = ps.tunn.as_mut().expect("tunnel");
        let mut remote = Identity::new(peer_private).tunn(&device_public, psk, 7);
        let (mut b1, mut b2) = (vec![0u8; 2048], vec![0u8; 2048]);
        let init = match remote.format_handshake_initiation(&mut b1, false) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        let resp = match device_side.decapsulate(None, &init, &mut b2) {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            _ => return false,
        };
        matches!(remote.decapsulate(None, &resp, &mut b1), TunnResult::WriteToNetwork(_))
    }

    #[test]
    fn many_new_peers_get_tunnels_built_ahead_on_several_threads() {
        let state = empty_state();
        let (privates, psks, peers) = peers_with_psks(100);
        let config = DeviceConfig {
            private_key: Some(Key::generate_private()),
            peers,
            ..Default::default()
        };
        assert_eq!(apply_to(&state, config, 4), 0, "every prepared tunnel is used");
        let st = state.read();
        assert_eq!(st.peers.len(), 100);
        assert_eq!(st.by_index.len(), 100);
        for (k, psk) in privates.iter().zip(&psks) {
            let p = &st.by_key[k.public_key().as_bytes()];
            assert_eq!(&p.state.lock().preshared_key, psk);
        }
        drop(st);
        assert_handshakes(&state, &privates, &psks, &[0, 1, 2, 50, 99]);
    }

    #[test]
    fn a_key_added_removed_and_added_again_ends_as_without_preparation() {
        let state = keyed_state(Vec::new());
        let x = Key::generate_private();
        let psk = Key::generate_private();
        let mut with_psk = PeerConfig::new(x.public_key());
        with_psk.preshared_key = Some(psk.clone());
        let mut remove = PeerConfig::new(x.public_key());
        remove.remove = true;
        let config = DeviceConfig {
            peers: vec![PeerConfig::new(x.public_key()), remove, with_psk],
            ..Default::default()
        };
        // The first mention was prepared and used; the re-added peer was built on the spot.
        assert_eq!(apply_to(&state, config, 2), 0);
        assert_eq!(state.read().peers.len(), 1);
        assert_eq!(state.read().by_index.len(), 1);
        assert!(handshake_works(&state, &x, Some(&psk)));
        assert!(!handshake_works(&state, &x, None));
    }

    #[test]
    fn a_new_preshared_key_gets_a_tunnel_built_ahead_at_the_same_index() {
        let x = Key::generate_private();
        let state = keyed_state(vec![PeerConfig::new(x.public_key())]);
        let index = state.read().by_key[x.public_key().as_bytes()].index;
        let psk = Key::generate_private();
        let mut pc = PeerConfig::new(x.public_key());
        pc.preshared_key = Some(psk.clone());
        let config = DeviceConfig {
            peers: vec![pc.clone()],
            ..Default::default()
        };
        let mut prepared = Prepared::build(&state, &config, 1);
        assert_eq!(prepared.unused(), 1);
        commit(&mut state.write(), config, &mut prepared, &mut Vec::new());
        assert_eq!(prepared.unused(), 0);
        assert_eq!(state.read().by_key[x.public_key().as_bytes()].index, index);
        assert!(handshake_works(&state, &x, Some(&psk)));
        // The same key again changes nothing, so nothing is built.
        let again = DeviceConfig {
            peers: vec![pc],
            ..Default::default()
        };
        assert_eq!(Prepared::build(&state, &again, 1).unused(), 0);
    }

    #[test]
    fn a_prepared_tunnel_is_refused_when_its_index_or_identity_no_longer_fits() {
        let state = empty_state();
        let x = Key::generate_private().public_key();
        let config = DeviceConfig {
            private_key: Some(Key::generate_private()),
            peers: vec![PeerConfig::new(x.clone())],
            ..Default::default()
        };
        let mut prepared = Prepared::build(&state, &config, 1);
        let ident = prepared
            .identity_for(config.private_key.as_ref().unwrap())
            .expect("identity");
        // Another identity (say, the private key changed in between): not used.
        let other = Identity::new(&Key::generate_private());
        assert!(prepared.take(&other, &x, None, None, |_| false).is_none());
        // Its index taken, or another preshared key: not used either.
        assert!(prepared.take(&ident, &x, None, None, |_| true).is_none());
        assert!(prepared
            .take(&ident, &x, Some(&Key::generate_private()), None, |_| false)
            .is_none());
        assert!(prepared.take(&ident, &x, None, None, |_| false).is_some());
        assert_eq!(prepared.unused(), 0);
    }

    /// `n` peer keys, every third peer with a preshared key, and their configs.
    fn peers_with_psks(n: usize) -> (Vec<Key>, Vec<Option<Key>>, Vec<PeerConfig>) {
        let privates: Vec<Key> = (0..n).map(|_| Key::generate_private()).collect();
        let psks: Vec<Option<Key>> = (0..n).map(|i| (i % 3 == 0).then(Key::generate_private)).collect();
        let configs = privates
            .iter()
            .zip(&psks)
            .map(|(k, psk)| {
                let mut pc = PeerConfig::new(k.public_key());
                pc.preshared_key = psk.clone();
                pc
            })
            .collect();
        (privates, psks, configs)
    }

    /// Handshakes with the peers `which` of [`peers_with_psks`] work, each with its preshared
    /// key, and fail for peer 3 without it (its key is really in the tunnel).
    fn assert_handshakes(state: &parking_lot::RwLock<State>, privates: &[Key], psks: &[Option<Key>], which: &[usize]) {
        for &i in which {
            assert!(handshake_works(state, &privates[i], psks[i].as_ref()), "peer {i}");
        }
        assert!(psks[3].is_some());
        assert!(!handshake_works(state, &privates[3], None));
    }

    fn new_key() -> DeviceConfig {
        DeviceConfig {
            private_key: Some(Key::generate_private()),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_private_key_rekeys_every_peer_with_secrets_computed_ahead() {
        let (privates, psks, configs) = peers_with_psks(40);
        let state = keyed_state(configs);
        let indices: Vec<u32> = state.read().peers.iter().map(|p| p.index).collect();
        let config = new_key();
        let mut prepared = Prepared::build(&state, &config, 4);
        assert_eq!(prepared.unused_secrets(), 40);
        assert_eq!(prepared.unused(), 0, "no tunnel is rebuilt");
        commit(&mut state.write(), config, &mut prepared, &mut Vec::new());
        assert_eq!(prepared.unused_secrets(), 0, "every secret is used");
        let st = state.read();
        assert_eq!(st.peers.iter().map(|p| p.index).collect::<Vec<_>>(), indices);
        drop(st);
        // A wrong secret would fail these: the handshake proves the static-static DH.
        assert_handshakes(&state, &privates, &psks, &[0, 1, 2, 20, 39]);
    }

    #[test]
    fn peers_without_tunnels_get_them_built_ahead_when_the_device_gets_a_key() {
        let (privates, psks, configs) = peers_with_psks(40);
        let state = empty_state();
        let without_key = DeviceConfig {
            peers: configs,
            ..Default::default()
        };
        apply_to(&state, without_key, 1);
        assert!(state.read().peers.iter().all(|p| p.state.lock().tunn.is_none()));
        let config = new_key();
        let mut prepared = Prepared::build(&state, &config, 4);
        assert_eq!(prepared.unused(), 40);
        commit(&mut state.write(), config, &mut prepared, &mut Vec::new());
        assert_eq!(prepared.unused(), 0, "every prepared tunnel is used");
        assert_handshakes(&state, &privates, &psks, &[0, 1, 2, 20, 39]);
    }

    #[test]
    fn a_new_key_with_peers_replaced_prepares_nothing_for_the_old_ones() {
        let (_, _, configs) = peers_with_psks(40);
        let state = keyed_state(configs);
        let (privates, psks, configs) = peers_with_psks(4);
        let config = DeviceConfig {
            replace_peers: true,
            peers: configs,
            ..new_key()
        };
        let mut prepared = Prepared::build(&state, &config, 4);
        assert_eq!((prepared.unused(), prepared.unused_secrets()), (4, 0));
        commit(&mut state.write(), config, &mut prepared, &mut Vec::new());
        assert_eq!(prepared.unused(), 0);
        assert_eq!(state.read().peers.len(), 4);
        assert_eq!(state.read().by_index.len(), 4);
        assert_handshakes(&state, &privates, &psks, &[0, 1, 2]);
    }

    #[test]
    fn a_prepared_secret_is_refused_for_another_identity() {
        let x = Key::generate_private().public_key();
        let state = keyed_state(vec![PeerConfig::new(x.clone())]);
        let config = new_key();
        let mut prepared = Prepared::build(&state, &config, 1);
        let ident = prepared
            .identity_for(config.private_key.as_ref().unwrap())
            .expect("identity");
        let other = Identity::new(&Key::generate_private());
        assert!(prepared.shared_for(&other, &x).is_none());
        assert!(prepared
            .shared_for(&ident, &Key::generate_private().public_key())
            .is_none());
        assert!(prepared.shared_for(&ident, &x).is_some());
        assert_eq!(prepared.unused_secrets(), 0);
    }

    #[test]
    fn mapped_endpoints_become_ipv4() {
        let e: SocketAddr = "[::ffff:192.0.2.1]:51820".parse().unwrap();
        assert_eq!(normalize_endpoint(e), "192.0.2.1:51820".parse().unwrap());
        let e: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(normalize_endpoint(e), e);
    }
}
