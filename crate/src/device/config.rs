//! Applying a `DeviceConfig` and reporting a `model::Device`. A change flows one way:
//! validate -> prepare (`prepared.rs` computes the Diffie-Hellmans ahead, `stage` builds the
//! new peer table and the edits of kept peers aside, then the new sockets are bound) -> commit
//! (swap it in under the table's write lock: assignments only, which cannot fail).

use super::events::timespec;
use super::first_initiations;
use super::peer::{allocate_index, Identity, Peer, PeerState};
use super::prepared::{psk_change, Prepared};
use super::udp::Sockets;
use super::{AllowedIps, Shared, State, HANDSHAKE_RATE_LIMIT};
use crate::error::{Error, Result};
use crate::keys::Key;
use crate::model::{self, AllowedIp, DeviceConfig, PeerConfig};
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::Tunn;
use boringtun::x25519::{PublicKey, SharedSecret, StaticSecret};
use std::collections::HashMap;
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

/// Applies a change in one direction: validate, prepare everything fallible aside (the new
/// peer table, tunnels, indices, sockets), then swap it in under the state's write lock, which
/// cannot fail. Until the swap nothing the device uses has changed, so any error (or a panic)
/// before it leaves the device exactly as it was.
pub(crate) fn apply(shared: &Arc<Shared>, config: DeviceConfig) -> Result<()> {
    let large = config.peers.len() >= crate::heap_trim::TRIM_FROM_PEERS;
    let result = apply_change(shared, config);
    if large {
        // The parsed change and the replaced tables are gone (or, on an error, the staged
        // ones): give their memory back.
        crate::heap_trim::release_free_memory();
    }
    result
}

fn apply_change(shared: &Arc<Shared>, config: DeviceConfig) -> Result<()> {
    validate(&config)?;
    let _serial = shared.apply_lock.lock();
    let (cur_port, cur_mark) = {
        let s = shared.state.read();
        (s.listen_port, s.fwmark)
    };
    let new_mark = config.fwmark.unwrap_or(cur_mark);
    let listen_port = config.listen_port;
    // The costly part of adding peers, before the write lock and on every core.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut prepared = Prepared::build(&shared.state, &config, cores);
    // The state cannot change meanwhile: the apply lock keeps every other change out.
    #[cfg(test)]
    let _armed = fault::arm(&shared.name);
    let staged = stage(&shared.state.read(), config, &mut prepared)?;
    if staged.peers.len() > shared.max_peers {
        return Err(Error::from_errno(
            libc::E2BIG,
            format!(
                "Too many peers: the change would leave {} on the device, at most {} are allowed",
                staged.peers.len(),
                shared.max_peers
            ),
        ));
    }
    // Fallible OS work last: once it has succeeded, nothing can fail.
    let new_sockets = match listen_port {
        Some(p) if p == 0 || p != cur_port => {
            let n = shared.threads;
            Some(shared.netns.run(move || Sockets::bind(p, new_mark, n))?)
        }
        _ => None,
    };
    if new_sockets.is_none() && new_mark != cur_mark {
        shared.sockets.read().set_fwmark(new_mark, cur_mark)?;
    }
    let (replaced, keepalive_started) = {
        let mut st = shared.state.write();
        let replaced = commit(&mut st, staged);
        st.fwmark = new_mark;
        if let Some(s) = &new_sockets {
            st.listen_port = s.port;
        }
        replaced
    };
    // The old peer table goes away outside the lock.
    drop(replaced);
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
    // The change has landed; its first keepalives go out after its reply (paced when many).
    first_initiations::start(shared, keepalive_started);
    Ok(())
}

/// The device's key fields after a change that sets its private key.
struct KeyChange {
    private_key: Option<Key>,
    public_key: Option<Key>,
    statics: Option<(StaticSecret, PublicKey)>,
    handshake_limiter: Option<Arc<RateLimiter>>,
    tunn_limiter: Option<Arc<RateLimiter>>,
}

/// What a change does to a kept peer's tunnel.
enum TunnEdit {
    Keep,
    /// The device loses its private key.
    Clear,
    /// The device has a new private key: the tunnel keeps its index and takes the new key
    /// (with its static-static secret when prepared).
    Rekey(Identity, Option<SharedSecret>),
    /// A new tunnel (a new preshared key, or the peer's first one).
    Replace(Box<Tunn>),
}

/// A peer's new preshared key, in its tunnel too: the session stays, the next handshake uses it.
fn set_preshared_key(ps: &mut PeerState, psk: Option<Key>) {
    if let Some(t) = ps.tunn.as_mut() {
        t.set_preshared_key(psk.as_ref().map(|k| *k.as_bytes()));
    }
    ps.preshared_key = psk;
}

/// A change to a peer the device already has, made under its lock by the commit.
struct PeerEdit {
    peer: Arc<Peer>,
    tunn: TunnEdit,
    preshared_key: Option<Option<Key>>,
    endpoint: Option<SocketAddr>,
    keepalive: Option<u16>,
}

impl PeerEdit {
    fn apply(self) {
        let mut ps = self.peer.state.lock();
        match self.tunn {
            TunnEdit::Keep => {}
            TunnEdit::Clear => ps.tunn = None,
            TunnEdit::Rekey(ident, shared) => {
                if let Some(t) = ps.tunn.as_mut() {
                    let limiter = Some(ident.limiter.clone());
                    match shared {
                        Some(s) => t.set_static_private_precomputed(ident.secret, ident.public, s, limiter),
                        None => t.set_static_private(ident.secret, ident.public, limiter),
                    }
                }
            }
            TunnEdit::Replace(t) => ps.tunn = Some(*t),
        }
        if let Some(psk) = self.preshared_key {
            set_preshared_key(&mut ps, psk);
        }
        if let Some(ep) = self.endpoint {
            ps.endpoint = Some(ep);
            ps.endpoint_src = None;
        }
        if let Some(ka) = self.keepalive {
            ps.keepalive = ka;
        }
    }
}

/// A change prepared aside: the whole new peer table, and the edits of the peers it keeps.
pub(crate) struct Staged {
    keys: Option<KeyChange>,
    peers: Vec<Arc<Peer>>,
    by_key: HashMap<[u8; 32], Arc<Peer>>,
    by_index: HashMap<u32, Arc<Peer>>,
    allowed: AllowedIps<u32>,
    edits: Vec<PeerEdit>,
    /// Peers whose persistent keepalive the change turns on.
    keepalive_started: Vec<Arc<Peer>>,
}

/// The peer table a commit replaced, to be dropped outside the lock, and the peers that send
/// their first keepalive.
type Replaced = (
    (
        Vec<Arc<Peer>>,
        HashMap<[u8; 32], Arc<Peer>>,
        HashMap<u32, Arc<Peer>>,
        AllowedIps<u32>,
    ),
    Vec<Arc<Peer>>,
);

/// Builds `config`'s outcome from the state `st` without changing it: new peers are new
/// objects nobody sees yet, changes to kept peers are recorded as edits, the peer table and the
/// allowed IPs are copies.
struct Stage<'a> {
    st: &'a State,
    out: Staged,
    /// Position in `out.edits` of each kept peer's edit, by peer index.
    edit_at: HashMap<u32, usize>,
}

impl<'a> Stage<'a> {
    fn new(st: &'a State, replace_peers: bool) -> Stage<'a> {
        let (peers, by_key, by_index, allowed) = if replace_peers {
            Default::default()
        } else {
            (
                st.peers.clone(),
                st.by_key.clone(),
                st.by_index.clone(),
                st.allowed.clone(),
            )
        };
        Stage {
            st,
            out: Staged {
                keys: None,
                peers,
                by_key,
                by_index,
                allowed,
                edits: Vec::new(),
                keepalive_started: Vec::new(),
            },
            edit_at: HashMap::new(),
        }
    }

    /// Whether `peer` is in the device's current table (else the change made it).
    fn kept(&self, peer: &Arc<Peer>) -> bool {
        self.st.by_index.get(&peer.index).is_some_and(|p| Arc::ptr_eq(p, peer))
    }

    fn edit_of(&self, peer: &Arc<Peer>) -> Option<&PeerEdit> {
        let e = self.edit_at.get(&peer.index).map(|&i| &self.out.edits[i])?;
        Arc::ptr_eq(&e.peer, peer).then_some(e)
    }

    /// The edit of kept peer `peer`, made on first use.
    fn edit(&mut self, peer: &Arc<Peer>) -> &mut PeerEdit {
        let at = match self.edit_at.get(&peer.index) {
            Some(&i) => i,
            None => {
                self.out.edits.push(PeerEdit {
                    peer: peer.clone(),
                    tunn: TunnEdit::Keep,
                    preshared_key: None,
                    endpoint: None,
                    keepalive: None,
                });
                self.edit_at.insert(peer.index, self.out.edits.len() - 1);
                self.out.edits.len() - 1
            }
        };
        &mut self.out.edits[at]
    }

    fn preshared_key(&self, peer: &Arc<Peer>) -> Option<Key> {
        match self.edit_of(peer).and_then(|e| e.preshared_key.clone()) {
            Some(psk) => psk,
            None => peer.state.lock().preshared_key.clone(),
        }
    }

    fn has_tunn(&self, peer: &Arc<Peer>) -> bool {
        match self.edit_of(peer).map(|e| &e.tunn) {
            Some(TunnEdit::Clear) => false,
            Some(TunnEdit::Rekey(..) | TunnEdit::Replace(_)) => true,
            Some(TunnEdit::Keep) | None => peer.state.lock().tunn.is_some(),
        }
    }

    fn keepalive(&self, peer: &Arc<Peer>) -> u16 {
        match self.edit_of(peer).and_then(|e| e.keepalive) {
            Some(ka) => ka,
            None => peer.state.lock().keepalive,
        }
    }

    fn set_tunn(&mut self, peer: &Arc<Peer>, tunn: TunnEdit) {
        if self.kept(peer) {
            self.edit(peer).tunn = tunn;
        } else if let TunnEdit::Replace(t) = tunn {
            peer.state.lock().tunn = Some(*t);
        }
    }

    fn set_preshared_key(&mut self, peer: &Arc<Peer>, psk: Option<Key>) {
        if self.kept(peer) {
            self.edit(peer).preshared_key = Some(psk);
        } else {
            set_preshared_key(&mut peer.state.lock(), psk);
        }
    }

    fn set_endpoint(&mut self, peer: &Arc<Peer>, ep: SocketAddr) {
        if self.kept(peer) {
            self.edit(peer).endpoint = Some(ep);
        } else {
            peer.state.lock().endpoint = Some(ep);
        }
    }

    fn set_keepalive(&mut self, peer: &Arc<Peer>, ka: u16) {
        if self.kept(peer) {
            self.edit(peer).keepalive = Some(ka);
        } else {
            peer.state.lock().keepalive = ka;
        }
    }

    /// The device's private key and identity as the change leaves them so far.
    fn public_key(&self) -> Option<&Key> {
        match &self.out.keys {
            Some(k) => k.public_key.as_ref(),
            None => self.st.public_key.as_ref(),
        }
    }

    fn identity(&self) -> Option<Identity> {
        let Some(k) = &self.out.keys else {
            return self.st.identity();
        };
        match (&k.statics, &k.tunn_limiter) {
            (Some((secret, public)), Some(limiter)) => Some(Identity {
                secret: secret.clone(),
                public: *public,
                limiter: limiter.clone(),
            }),
            _ => None,
        }
    }

    fn remove_peer(&mut self, key: &[u8; 32]) {
        let t = &mut self.out;
        if let Some(peer) = t.by_key.remove(key) {
            t.by_index.remove(&peer.index);
            t.allowed.remove_peer(peer.index);
            t.peers.retain(|p| !Arc::ptr_eq(p, &peer));
        }
    }

    fn set_private_key(&mut self, key: Key, prepared: &mut Prepared) {
        if key.is_zero() {
            if self.st.private_key.is_some() {
                self.out.keys = Some(KeyChange {
                    private_key: None,
                    public_key: None,
                    statics: None,
                    handshake_limiter: None,
                    tunn_limiter: None,
                });
                for p in self.out.peers.clone() {
                    self.set_tunn(&p, TunnEdit::Clear);
                }
            }
            return;
        }
        if self.st.private_key.as_ref() == Some(&key) {
            return;
        }
        let ident = prepared.identity_for(&key).unwrap_or_else(|| Identity::new(&key));
        let public = Key::from_bytes(*ident.public.as_bytes());
        // As the kernel does: a peer with the device's own public key cannot exist.
        self.remove_peer(public.as_bytes());
        let pk = ident.public;
        for p in self.out.peers.clone() {
            let tunn = if self.has_tunn(&p) {
                TunnEdit::Rekey(ident.clone(), prepared.shared_for(&ident, &p.public_key))
            } else {
                let psk = self.preshared_key(&p);
                let t = match prepared.take(&ident, &p.public_key, psk.as_ref(), Some(p.index), |_| false) {
                    Some((_, t)) => t,
                    None => ident.tunn(&p.public_key, psk.as_ref(), p.index),
                };
                TunnEdit::Replace(Box::new(t))
            };
            self.set_tunn(&p, tunn);
        }
        self.out.keys = Some(KeyChange {
            private_key: Some(key),
            public_key: Some(public),
            statics: Some((ident.secret.clone(), pk)),
            handshake_limiter: Some(Arc::new(RateLimiter::new(&pk, HANDSHAKE_RATE_LIMIT))),
            tunn_limiter: Some(ident.limiter),
        });
    }

    /// A peer the device does not have yet, built with its preshared key at once.
    fn add_peer(&mut self, pc: &PeerConfig, ident: Option<&Identity>, prepared: &mut Prepared) -> Arc<Peer> {
        let psk = psk_change(pc).flatten();
        let t = &mut self.out;
        let taken = |i| t.by_index.contains_key(&i);
        let (index, tunn) = match ident {
            Some(id) => match prepared.take(id, &pc.public_key, psk.as_ref(), None, taken) {
                Some((index, tunn)) => (index, Some(tunn)),
                None => {
                    let index = allocate_index(taken);
                    (index, Some(id.tunn(&pc.public_key, psk.as_ref(), index)))
                }
            },
            None => (allocate_index(taken), None),
        };
        let p = Arc::new(Peer::new(pc.public_key.clone(), index, tunn));
        p.state.lock().preshared_key = psk;
        t.by_key.insert(*pc.public_key.as_bytes(), p.clone());
        t.by_index.insert(index, p.clone());
        t.peers.push(p.clone());
        p
    }
}

/// Test builds only: makes the staging of a change fail at one of its peers, with an error or
/// with a panic, to show that a change failing half-way leaves the device as it was. A fault is
/// set for this thread (`inject`), or for a device by name (`inject_for_device`: its next
/// change, on whichever thread applies it, e.g. a UAPI connection's).
#[cfg(test)]
pub(crate) mod fault {
    use crate::error::{Error, Result};
    use std::cell::Cell;

    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Fault {
        /// Fail with this errno.
        Error(i32),
        Panic,
    }

    thread_local! {
        /// How many more peers stage before the fault, and the fault.
        static AT: Cell<Option<(usize, Fault)>> = const { Cell::new(None) };
    }

    static BY_DEVICE: parking_lot::Mutex<Vec<(String, usize, Fault)>> = parking_lot::Mutex::new(Vec::new());

    /// Staging on this thread fails at peer `peer` (0-based) of the next change, until `clear`.
    pub(crate) fn inject(peer: usize, fault: Fault) {
        AT.with(|a| a.set(Some((peer, fault))));
    }

    /// The next change applied to device `name` fails at its peer `peer` (the UAPI tests,
    /// which need network namespaces: Linux).
    #[cfg(target_os = "linux")]
    pub(crate) fn inject_for_device(name: &str, peer: usize, fault: Fault) {
        BY_DEVICE.lock().push((name.to_string(), peer, fault));
    }

    /// Arms this thread with the fault set for device `name`, if any, until the guard drops.
    pub(crate) fn arm(name: &str) -> Armed {
        let mut faults = BY_DEVICE.lock();
        if let Some(i) = faults.iter().position(|(n, _, _)| n == name) {
            let (_, peer, fault) = faults.remove(i);
            inject(peer, fault);
        }
        Armed
    }

    /// Clears this thread's fault when dropped (also when the staging panicked).
    pub(crate) struct Armed;

    impl Drop for Armed {
        fn drop(&mut self) {
            clear();
        }
    }

    pub(crate) fn clear() {
        AT.with(|a| a.set(None));
    }

    /// Called before each peer of a change is staged.
    pub(crate) fn check() -> Result<()> {
        match AT.with(|a| a.get()) {
            Some((0, Fault::Error(errno))) => Err(Error::from_errno(errno, "injected fault")),
            Some((0, Fault::Panic)) => panic!("injected fault"),
            Some((n, f)) => {
                AT.with(|a| a.set(Some((n - 1, f))));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// Prepares `config` against the state `st` (which it only reads): see [`Stage`].
pub(crate) fn stage(st: &State, config: DeviceConfig, prepared: &mut Prepared) -> Result<Staged> {
    // Peers the change replaces go before a new private key would rekey them.
    let mut s = Stage::new(st, config.replace_peers);
    if let Some(k) = config.private_key {
        s.set_private_key(k, prepared);
    }
    let ident = s.identity();
    for pc in config.peers {
        #[cfg(test)]
        fault::check()?;
        let key = *pc.public_key.as_bytes();
        if s.public_key() == Some(&pc.public_key) {
            continue;
        }
        if pc.remove {
            s.remove_peer(&key);
            continue;
        }
        let peer = match s.out.by_key.get(&key) {
            Some(p) => p.clone(),
            None if pc.update_only => continue,
            None => s.add_peer(&pc, ident.as_ref(), prepared),
        };
        if let Some(psk) = psk_change(&pc) {
            if psk != s.preshared_key(&peer) {
                // As the kernel does: the session stays, the next handshake uses the new key.
                s.set_preshared_key(&peer, psk);
            }
        }
        if let Some(ep) = pc.endpoint {
            s.set_endpoint(&peer, normalize_endpoint(ep));
        }
        if let Some(ka) = pc.persistent_keepalive_interval {
            if ka != s.keepalive(&peer) && ka > 0 {
                s.out.keepalive_started.push(peer.clone());
            }
            s.set_keepalive(&peer, ka);
        }
        let allowed = &mut s.out.allowed;
        if pc.replace_allowed_ips {
            allowed.remove_peer(peer.index);
        }
        for c in pc.allowed_ips {
            if c.remove {
                allowed.remove_if_owned(c.ip, peer.index);
            } else {
                allowed.insert(c.ip, peer.index);
            }
        }
    }
    // Only peers still in the table with keepalive still on, each once.
    let mut seen = std::collections::HashSet::new();
    let started = std::mem::take(&mut s.out.keepalive_started);
    s.out.keepalive_started = started
        .into_iter()
        .filter(|p| {
            let present = s.out.by_index.get(&p.index).is_some_and(|q| Arc::ptr_eq(p, q));
            present && s.keepalive(p) > 0 && seen.insert(p.index)
        })
        .collect();
    Ok(s.out)
}

/// Swaps a staged change in: assignments only, nothing that can fail. Returns the replaced
/// peer table (to drop outside the lock) and the peers to send a first keepalive.
fn commit(st: &mut State, staged: Staged) -> Replaced {
    if let Some(k) = staged.keys {
        st.private_key = k.private_key;
        st.public_key = k.public_key;
        st.statics = k.statics;
        st.handshake_limiter = k.handshake_limiter;
        st.tunn_limiter = k.tunn_limiter;
    }
    let old = (
        std::mem::replace(&mut st.peers, staged.peers),
        std::mem::replace(&mut st.by_key, staged.by_key),
        std::mem::replace(&mut st.by_index, staged.by_index),
        std::mem::replace(&mut st.allowed, staged.allowed),
    );
    for e in staged.edits {
        e.apply();
    }
    (old, staged.keepalive_started)
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
    use boringtun::noise::Tunn;
    use boringtun::noise::TunnResult;

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
        commit_to(state, config, &mut prepared);
        prepared.unused()
    }

    /// Stages `config` with `prepared` and commits it.
    fn commit_to(state: &parking_lot::RwLock<State>, config: DeviceConfig, prepared: &mut Prepared) {
        let staged = stage(&state.read(), config, prepared).expect("staged");
        commit(&mut state.write(), staged);
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

    /// A minimal IPv4 packet from `src` (header only, its length field set).
    fn ipv4_from(src: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&20u16.to_be_bytes());
        p[12..16].copy_from_slice(&src);
        p
    }

    /// A session between the device and `peer_private` (with `psk`), the peer initiating and
    /// confirming with a keepalive; returns the peer's side.
    fn session_with(state: &parking_lot::RwLock<State>, peer_private: &Key, psk: Option<&Key>) -> Tunn {
        let st = state.read();
        let device_public = st.public_key.clone().expect("device key");
        let mut ps = st.by_key[peer_private.public_key().as_bytes()].state.lock();
        let device_side = ps.tunn.as_mut().expect("tunnel");
        let mut remote = Identity::new(peer_private).tunn(&device_public, psk, 9);
        let (mut b1, mut b2) = (vec![0u8; 2048], vec![0u8; 2048]);
        let TunnResult::WriteToNetwork(init) = remote.format_handshake_initiation(&mut b1, false) else {
            panic!("no initiation");
        };
        let TunnResult::WriteToNetwork(resp) = device_side.decapsulate(None, init, &mut b2) else {
            panic!("no response");
        };
        let TunnResult::WriteToNetwork(keepalive) = remote.decapsulate(None, resp, &mut b1) else {
            panic!("response refused");
        };
        assert!(matches!(
            device_side.decapsulate(None, keepalive, &mut b2),
            TunnResult::Done
        ));
        assert!(device_side.has_data_session());
        remote
    }

    /// One IPv4 packet each way between the device's tunnel for `peer` and `remote`.
    fn traffic_flows(state: &parking_lot::RwLock<State>, peer: &Key, remote: &mut Tunn) -> bool {
        let st = state.read();
        let mut ps = st.by_key[peer.as_bytes()].state.lock();
        let device_side = ps.tunn.as_mut().expect("tunnel");
        let (mut b1, mut b2) = (vec![0u8; 2048], vec![0u8; 2048]);
        let TunnResult::WriteToNetwork(out) = remote.encapsulate(&ipv4_from([10, 0, 0, 2]), &mut b1) else {
            return false;
        };
        if !matches!(
            device_side.decapsulate(None, out, &mut b2),
            TunnResult::WriteToTunnelV4(..)
        ) {
            return false;
        }
        let TunnResult::WriteToNetwork(back) = device_side.encapsulate(&ipv4_from([10, 0, 0, 1]), &mut b2) else {
            return false;
        };
        matches!(remote.decapsulate(None, back, &mut b1), TunnResult::WriteToTunnelV4(..))
    }

    /// Initiations closer than 2^24 ns carry the same timestamp (as the kernel's do), which the
    /// device refuses as a replay: tests that handshake again wait that long first.
    fn past_timestamp_granularity() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    #[test]
    fn a_new_preshared_key_keeps_the_session_and_the_next_handshake_uses_it() {
        let x = Key::generate_private();
        let state = keyed_state(vec![PeerConfig::new(x.public_key())]);
        let mut remote = session_with(&state, &x, None);
        assert!(traffic_flows(&state, &x.public_key(), &mut remote));
        let psk = Key::generate_private();
        let mut pc = PeerConfig::new(x.public_key());
        pc.preshared_key = Some(psk.clone());
        let config = DeviceConfig {
            peers: vec![pc.clone()],
            ..Default::default()
        };
        // Nothing is built: the peer keeps its tunnel, and with it the session.
        assert_eq!(apply_to(&state, config, 1), 0);
        assert_eq!(
            state.read().by_key[x.public_key().as_bytes()]
                .state
                .lock()
                .preshared_key,
            Some(psk.clone())
        );
        assert!(traffic_flows(&state, &x.public_key(), &mut remote));
        // The next handshake mixes in the new key: with it the peer completes, without it not.
        past_timestamp_granularity();
        assert!(handshake_works(&state, &x, Some(&psk)));
        past_timestamp_granularity();
        assert!(!handshake_works(&state, &x, None));
        // Removing the key (a zero key) goes back to none, again keeping the tunnel.
        let mut zero = PeerConfig::new(x.public_key());
        zero.preshared_key = Some(Key::from_bytes([0; 32]));
        let config = DeviceConfig {
            peers: vec![zero],
            ..Default::default()
        };
        assert_eq!(apply_to(&state, config, 1), 0);
        past_timestamp_granularity();
        assert!(handshake_works(&state, &x, None));
        past_timestamp_granularity();
        assert!(!handshake_works(&state, &x, Some(&psk)));
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
        commit_to(&state, config, &mut prepared);
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
        commit_to(&state, config, &mut prepared);
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
        commit_to(&state, config, &mut prepared);
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

    /// Everything a change can touch, as text: the keys, and each peer in order with its index,
    /// preshared key, endpoint, keepalive, whether it has a tunnel, and its allowed IPs.
    fn dump(state: &parking_lot::RwLock<State>) -> String {
        let st = state.read();
        let mut out = format!(
            "private={:?} public={:?} statics={} limiters={},{}\n",
            st.private_key.as_ref().map(|k| k.to_base64()),
            st.public_key.as_ref().map(|k| k.to_base64()),
            st.statics.is_some(),
            st.handshake_limiter.is_some(),
            st.tunn_limiter.is_some()
        );
        for p in &st.peers {
            let ps = p.state.lock();
            assert!(Arc::ptr_eq(&st.by_key[p.public_key.as_bytes()], p));
            assert!(Arc::ptr_eq(&st.by_index[&p.index], p));
            out += &format!(
                "{} #{} psk={:?} ep={:?} ka={} tunn={} ips={:?}\n",
                p.public_key.to_base64(),
                p.index,
                ps.preshared_key.as_ref().map(|k| k.to_base64()),
                ps.endpoint,
                ps.keepalive,
                ps.tunn.is_some(),
                st.allowed.list(p.index)
            );
        }
        assert_eq!((st.by_key.len(), st.by_index.len()), (st.peers.len(), st.peers.len()));
        out
    }

    /// A peer with an endpoint, keepalive and an allowed IP, all from `n`.
    fn full_peer(key: Key, n: u32) -> PeerConfig {
        let mut pc = PeerConfig::new(key);
        pc.endpoint = Some(SocketAddr::new(
            std::net::Ipv4Addr::from(0xc000_0200 + (n & 0xff)).into(),
            1000 + n as u16,
        ));
        pc.persistent_keepalive_interval = Some(10 + (n % 7) as u16);
        pc.allowed_ips.push(AllowedIpChange {
            ip: AllowedIp::new(std::net::Ipv4Addr::from(0x0a00_0000 + n).into(), 32).unwrap(),
            remove: false,
        });
        pc
    }

    /// A large change that touches everything: a new private key, new preshared keys,
    /// endpoints and keepalives for kept peers, one removed, 1000 new ones.
    fn large_change(kept: &[Key], psk: &Key) -> DeviceConfig {
        let mut peers = Vec::new();
        for (i, k) in kept.iter().enumerate() {
            let mut pc = full_peer(k.public_key(), 5000 + i as u32);
            pc.preshared_key = Some(psk.clone());
            pc.replace_allowed_ips = true;
            peers.push(pc);
        }
        let mut removed = PeerConfig::new(kept[1].public_key());
        removed.remove = true;
        peers.push(removed);
        peers.extend((0..1000).map(|n| full_peer(Key::generate_private().public_key(), n)));
        DeviceConfig {
            private_key: Some(Key::generate_private()),
            peers,
            ..Default::default()
        }
    }

    #[test]
    fn a_change_failing_half_way_leaves_the_state_exactly_as_it_was() {
        let kept: Vec<Key> = (0..40).map(|_| Key::generate_private()).collect();
        let old_psk = Key::generate_private();
        let state = keyed_state(
            kept.iter()
                .enumerate()
                .map(|(i, k)| {
                    let mut pc = full_peer(k.public_key(), i as u32);
                    pc.preshared_key = Some(old_psk.clone());
                    pc
                })
                .collect(),
        );
        let before = dump(&state);
        let new_psk = Key::generate_private();
        for (at, f) in [
            (20, fault::Fault::Error(libc::EIO)),
            (540, fault::Fault::Error(libc::ENOMEM)),
            (540, fault::Fault::Panic),
        ] {
            let config = large_change(&kept, &new_psk);
            let mut prepared = Prepared::build(&state, &config, 2);
            fault::inject(at, f);
            let st = state.read();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stage(&st, config, &mut prepared)));
            drop(st);
            fault::clear();
            match f {
                fault::Fault::Error(errno) => {
                    assert_eq!(result.ok().and_then(|r| r.err()).and_then(|e| e.errno), Some(errno))
                }
                fault::Fault::Panic => assert!(result.is_err()),
            }
            assert_eq!(dump(&state), before, "fault at peer {at}");
            // The kept tunnels still have the old private key and preshared key.
            assert!(handshake_works(&state, &kept[0], Some(&old_psk)));
            assert!(!handshake_works(&state, &kept[0], Some(&new_psk)));
        }
        // Without a fault, the same change lands whole.
        let config = large_change(&kept, &new_psk);
        let key = config.private_key.clone();
        apply_to(&state, config, 2);
        let st = state.read();
        assert_eq!(st.private_key, key);
        assert_eq!(st.peers.len(), 39 + 1000);
        assert!(!st.by_key.contains_key(kept[1].public_key().as_bytes()));
        let p0 = &st.by_key[kept[0].public_key().as_bytes()];
        let ps = p0.state.lock();
        assert_eq!(
            (ps.endpoint, ps.keepalive),
            (Some("192.0.2.136:6000".parse().unwrap()), 10 + (5000 % 7) as u16)
        );
        assert_eq!(ps.preshared_key.as_ref(), Some(&new_psk));
        drop(ps);
        assert_eq!(st.allowed.list(p0.index).len(), 1);
        drop(st);
        assert!(handshake_works(&state, &kept[0], Some(&new_psk)));
        assert!(handshake_works(&state, &kept[2], Some(&new_psk)));
    }

    #[test]
    fn a_kept_peer_changed_twice_in_one_change_ends_with_the_last() {
        let x = Key::generate_private();
        let state = keyed_state(vec![full_peer(x.public_key(), 1)]);
        let (a, b) = (Key::generate_private(), Key::generate_private());
        let mut first = full_peer(x.public_key(), 2);
        first.preshared_key = Some(a);
        let mut second = PeerConfig::new(x.public_key());
        second.preshared_key = Some(b.clone());
        second.persistent_keepalive_interval = Some(0);
        let config = DeviceConfig {
            peers: vec![first, second],
            ..Default::default()
        };
        let mut prepared = Prepared::build(&state, &config, 1);
        let staged = stage(&state.read(), config, &mut prepared).unwrap();
        assert!(staged.keepalive_started.is_empty(), "keepalive ends off");
        assert_eq!(staged.edits.len(), 1, "one edit per kept peer");
        commit(&mut state.write(), staged);
        let st = state.read();
        let ps = st.peers[0].state.lock();
        assert_eq!((ps.preshared_key.as_ref(), ps.keepalive), (Some(&b), 0));
        assert_eq!(ps.endpoint, Some("192.0.2.2:1002".parse().unwrap()));
        drop(ps);
        drop(st);
        assert!(handshake_works(&state, &x, Some(&b)));
    }

    #[test]
    fn keepalive_turned_on_is_listed_once_per_peer_still_there() {
        let (x, y) = (
            Key::generate_private().public_key(),
            Key::generate_private().public_key(),
        );
        let state = keyed_state(Vec::new());
        let mut gone = full_peer(y.clone(), 3);
        gone.persistent_keepalive_interval = Some(25);
        let mut removed = PeerConfig::new(y);
        removed.remove = true;
        let config = DeviceConfig {
            peers: vec![full_peer(x.clone(), 1), full_peer(x.clone(), 2), gone, removed],
            ..Default::default()
        };
        let mut prepared = Prepared::build(&state, &config, 1);
        let staged = stage(&state.read(), config, &mut prepared).unwrap();
        let started: Vec<&Key> = staged.keepalive_started.iter().map(|p| &p.public_key).collect();
        assert_eq!(started, vec![&x]);
    }

    #[test]
    fn mapped_endpoints_become_ipv4() {
        let e: SocketAddr = "[::ffff:192.0.2.1]:51820".parse().unwrap();
        assert_eq!(normalize_endpoint(e), "192.0.2.1:51820".parse().unwrap());
        let e: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(normalize_endpoint(e), e);
    }
}
