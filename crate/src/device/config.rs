//! Applying a `DeviceConfig` (validate everything, do the fallible OS work, then commit the
//! in-memory change under the table's write lock, which cannot fail) and reporting a
//! `model::Device`.

use super::events::timespec;
use super::peer::{allocate_index, new_tunn, Peer};
use super::udp::Sockets;
use super::worker::Io;
use super::{Shared, State, HANDSHAKE_RATE_LIMIT};
use crate::error::{Error, Result};
use crate::keys::Key;
use crate::model::{self, AllowedIp, DeviceConfig};
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::TunnResult;
use boringtun::x25519::{PublicKey, StaticSecret};
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
    // Commit: infallible from here on.
    let mut outgoing: Vec<(Vec<u8>, SocketAddr, Arc<Peer>)> = Vec::new();
    {
        let mut st = shared.state.write();
        commit(&mut st, config, &mut outgoing);
        st.fwmark = new_mark;
        if let Some(s) = &new_sockets {
            st.listen_port = s.port;
        }
    }
    if let Some(s) = new_sockets {
        let old = std::mem::replace(&mut *shared.sockets.write(), Arc::new(s));
        shared.socket_gen.fetch_add(1, Ordering::SeqCst);
        shared.wake_workers();
        shared.stop_cv.1.notify_all();
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
            io.out.push(&packet, Some(to));
            peer.add_tx(packet.len());
        }
        io.flush(shared);
    }
    Ok(())
}

fn remove_peer(st: &mut State, key: &[u8; 32]) {
    if let Some(peer) = st.by_key.remove(key) {
        st.by_index.remove(&peer.index);
        st.allowed.remove_peer(peer.index);
        st.peers.retain(|p| !Arc::ptr_eq(p, &peer));
    }
}

fn set_private_key(st: &mut State, key: Key) {
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
    let public = key.public_key();
    // As the kernel does: a peer with the device's own public key cannot exist.
    remove_peer(st, public.as_bytes());
    let pk = PublicKey::from(*public.as_bytes());
    let tunn_limiter = Arc::new(RateLimiter::new(&pk, u64::MAX));
    st.handshake_limiter = Some(Arc::new(RateLimiter::new(&pk, HANDSHAKE_RATE_LIMIT)));
    st.statics = Some((StaticSecret::from(*key.as_bytes()), pk));
    for p in &st.peers {
        let mut ps = p.state.lock();
        match ps.tunn.as_mut() {
            Some(t) => t.set_static_private(StaticSecret::from(*key.as_bytes()), pk, Some(tunn_limiter.clone())),
            None => {
                let t = new_tunn(
                    &key,
                    &p.public_key,
                    ps.preshared_key.as_ref(),
                    p.index,
                    tunn_limiter.clone(),
                );
                ps.tunn = Some(t);
            }
        }
    }
    st.tunn_limiter = Some(tunn_limiter);
    st.private_key = Some(key);
    st.public_key = Some(public);
}

fn commit(st: &mut State, config: DeviceConfig, outgoing: &mut Vec<(Vec<u8>, SocketAddr, Arc<Peer>)>) {
    if let Some(k) = config.private_key {
        set_private_key(st, k);
    }
    if config.replace_peers {
        st.peers.clear();
        st.by_key.clear();
        st.by_index.clear();
        st.allowed = super::AllowedIps::new();
    }
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
                let index = allocate_index(|i| st.by_index.contains_key(&i));
                let tunn = match (&st.private_key, &st.tunn_limiter) {
                    (Some(k), Some(l)) => Some(new_tunn(k, &pc.public_key, None, index, l.clone())),
                    _ => None,
                };
                let p = Arc::new(Peer::new(pc.public_key.clone(), index, tunn));
                st.by_key.insert(key, p.clone());
                st.by_index.insert(index, p.clone());
                st.peers.push(p.clone());
                p
            }
        };
        let mut ps = peer.state.lock();
        if let Some(psk) = pc.preshared_key {
            let psk = (!psk.is_zero()).then_some(psk);
            if psk != ps.preshared_key {
                ps.preshared_key = psk;
                // boringtun cannot change a Tunn's preshared key: this peer starts afresh.
                if let (Some(k), Some(l)) = (&st.private_key, &st.tunn_limiter) {
                    ps.tunn = Some(new_tunn(
                        k,
                        &peer.public_key,
                        ps.preshared_key.as_ref(),
                        peer.index,
                        l.clone(),
                    ));
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

    #[test]
    fn mapped_endpoints_become_ipv4() {
        let e: SocketAddr = "[::ffff:192.0.2.1]:51820".parse().unwrap();
        assert_eq!(normalize_endpoint(e), "192.0.2.1:51820".parse().unwrap());
        let e: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(normalize_endpoint(e), e);
    }
}
