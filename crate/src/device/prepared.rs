//! The costly work of a change, done before the commit takes the state's write lock, on every
//! core: tunnels for the peers a change adds (allocations and hashes; their static-static
//! Diffie-Hellman waits for their first handshake, in the vendored boringtun), and, when it
//! sets a new private key, each kept peer's static-static secret with that key (or its first
//! tunnel, when the device had no key). A secret costs a Diffie-Hellman (about 40 µs here):
//! done under the lock, 10,000 peers would hold up the data path for half a second.
//!
//! The plan is a guess the commit checks: it takes a prepared tunnel only when the peer, its
//! preshared key and its index are what it would have built itself, and a prepared secret only
//! for the identity it was computed with, so a change that adds, removes and re-adds a key
//! still ends exactly as if nothing had been prepared.

use super::peer::{allocate_index, Identity};
use super::State;
use crate::keys::Key;
use crate::model::{DeviceConfig, PeerConfig};
use boringtun::noise::Tunn;
use boringtun::x25519::{PublicKey, SharedSecret};
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};

/// The preshared key `pc` asks for: `None` to leave it as it is, `Some(None)` to remove it (a
/// zero key), `Some(Some(k))` to set it. The plan and the staging in `config.rs` read it alike.
pub(crate) fn psk_change(pc: &PeerConfig) -> Option<Option<Key>> {
    pc.preshared_key.as_ref().map(|k| (!k.is_zero()).then(|| k.clone()))
}

/// Below this many Diffie-Hellmans the threads cost more than they save.
const PARALLEL_FROM: usize = 32;
/// At most this many threads compute them.
const MAX_THREADS: usize = 8;

/// One tunnel to build: the peer's key, its preshared key, the index it will have.
struct Job {
    peer: Key,
    psk: Option<Key>,
    index: u32,
}

/// Tunnels and secrets computed ahead of a commit, and the identity of a private key the
/// change sets.
#[derive(Default)]
pub(crate) struct Prepared {
    /// The identity for the change's new private key (the tunnels below share its limiter).
    identity: Option<(Key, Identity)>,
    /// The public key of the identity the tunnels and secrets were computed with.
    built_with: Option<[u8; 32]>,
    tunnels: HashMap<[u8; 32], (u32, Option<Key>, Tunn)>,
    /// For the peers whose tunnels a new private key keeps: the static-static secret with it.
    shared: HashMap<[u8; 32], SharedSecret>,
}

impl Prepared {
    /// Plans from the state (read briefly; the caller holds the apply lock, so no other change
    /// can land before its commit) and builds the tunnels, unlocked, on up to `cores` threads.
    pub(crate) fn build(state: &RwLock<State>, config: &DeviceConfig, cores: usize) -> Prepared {
        let (Plan { identity, jobs, rekeys }, ident) = {
            let st = state.read();
            let plan = plan(&st, config);
            let ident = plan.identity.as_ref().map(|(_, i)| i.clone()).or_else(|| st.identity());
            (plan, ident)
        };
        let Some(ident) = ident else {
            return Prepared::default();
        };
        let built = par_map(&jobs, cores, |j| ident.tunn(&j.peer, j.psk.as_ref(), j.index));
        let shared = par_map(&rekeys, cores, |k| {
            ident.secret.diffie_hellman(&PublicKey::from(*k.as_bytes()))
        });
        Prepared {
            built_with: Some(*ident.public.as_bytes()),
            identity,
            tunnels: jobs
                .into_iter()
                .zip(built)
                .map(|(j, t)| (*j.peer.as_bytes(), (j.index, j.psk, t)))
                .collect(),
            shared: rekeys.iter().map(|k| *k.as_bytes()).zip(shared).collect(),
        }
    }

    /// How many prepared secrets no commit has taken.
    #[cfg(test)]
    pub(crate) fn unused_secrets(&self) -> usize {
        self.shared.len()
    }

    /// How many prepared tunnels no commit has taken.
    #[cfg(test)]
    pub(crate) fn unused(&self) -> usize {
        self.tunnels.len()
    }

    /// The identity prepared for `key`, if the change sets that private key.
    pub(crate) fn identity_for(&mut self, key: &Key) -> Option<Identity> {
        match self.identity.take() {
            Some((k, i)) if &k == key => Some(i),
            other => {
                self.identity = other;
                None
            }
        }
    }

    /// The static-static secret of `ident` and `peer`, if it was prepared with that identity.
    pub(crate) fn shared_for(&mut self, ident: &Identity, peer: &Key) -> Option<SharedSecret> {
        if self.built_with != Some(*ident.public.as_bytes()) {
            return None;
        }
        self.shared.remove(peer.as_bytes())
    }

    /// The tunnel prepared for `peer` with `psk`, built with `ident`, at `index` when the peer
    /// already has one, else at its prepared index unless `taken` says that is in use.
    pub(crate) fn take(
        &mut self,
        ident: &Identity,
        peer: &Key,
        psk: Option<&Key>,
        index: Option<u32>,
        taken: impl Fn(u32) -> bool,
    ) -> Option<(u32, Tunn)> {
        if self.built_with != Some(*ident.public.as_bytes()) {
            return None;
        }
        let (i, p, _) = self.tunnels.get(peer.as_bytes())?;
        let fits = p.as_ref() == psk && index.map_or(!taken(*i), |want| want == *i);
        if !fits {
            return None;
        }
        self.tunnels.remove(peer.as_bytes()).map(|(i, _, t)| (i, t))
    }
}

/// What the commit will compute: see [`plan`].
#[derive(Default)]
struct Plan {
    /// The identity of a private key the change sets.
    identity: Option<(Key, Identity)>,
    /// Tunnels to build.
    jobs: Vec<Job>,
    /// Peers whose tunnels the new private key keeps: each needs its static-static secret.
    rekeys: Vec<Key>,
}

/// The tunnels the commit will build (first mention of each peer in the change only; with a
/// new private key, also the existing peers that have no tunnel yet), the peers a new private
/// key gives a new static-static secret, and the identity of that key.
fn plan(st: &State, config: &DeviceConfig) -> Plan {
    let identity = match &config.private_key {
        Some(k) if k.is_zero() => return Plan::default(),
        Some(k) if st.private_key.as_ref() != Some(k) => Some((k.clone(), Identity::new(k))),
        _ if st.private_key.is_none() => return Plan::default(),
        _ => None,
    };
    let own = identity
        .as_ref()
        .map(|(_, i)| *i.public.as_bytes())
        .or_else(|| st.public_key.as_ref().map(|k| *k.as_bytes()));
    let mut seen = HashSet::new();
    let mut indices = HashSet::new();
    let mut jobs = Vec::new();
    for pc in &config.peers {
        let key = *pc.public_key.as_bytes();
        if pc.remove || Some(key) == own || !seen.insert(key) {
            continue;
        }
        let existing = (!config.replace_peers).then(|| st.by_key.get(&key)).flatten();
        let index = match existing {
            None if pc.update_only => continue,
            None => allocate_index(|i| st.by_index.contains_key(&i) || indices.contains(&i)),
            // An existing peer keeps its tunnel (a new preshared key is set in it).
            Some(_) => continue,
        };
        let psk = psk_change(pc).flatten();
        indices.insert(index);
        jobs.push(Job {
            peer: pc.public_key.clone(),
            psk,
            index,
        });
    }
    // A new private key, set before the change's peers (`set_private_key`), rekeys every peer
    // the device has (unless the change replaces them all).
    let mut rekeys = Vec::new();
    if identity.is_some() && !config.replace_peers {
        let jobbed: HashSet<[u8; 32]> = jobs.iter().map(|j| *j.peer.as_bytes()).collect();
        for p in &st.peers {
            let key = p.public_key.as_bytes();
            if Some(*key) == own {
                continue;
            }
            let ps = p.state.lock();
            if ps.tunn.is_some() {
                rekeys.push(p.public_key.clone());
            } else if !jobbed.contains(key) {
                jobs.push(Job {
                    peer: p.public_key.clone(),
                    psk: ps.preshared_key.clone(),
                    index: p.index,
                });
            }
        }
    }
    Plan { identity, jobs, rekeys }
}

/// `f` over `items`, in order, on several threads when there are many.
fn par_map<T: Sync, R: Send>(items: &[T], cores: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let f = &f;
    let threads = cores.min(MAX_THREADS).min(items.len() / (PARALLEL_FROM / 2)).max(1);
    if items.len() < PARALLEL_FROM || threads < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        // A thread that cannot be started (a process at its thread limit) is no error.
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let spawned = std::thread::Builder::new()
                    .name("wgkit-keys".into())
                    .spawn_scoped(s, move || part.iter().map(f).collect::<Vec<_>>());
                (part, spawned.ok())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| match h.map(|h| h.join()) {
                Some(Ok(done)) => done,
                // Not started, or it panicked: the part is done on this thread.
                _ => part.iter().map(f).collect(),
            })
            .collect()
    })
}
