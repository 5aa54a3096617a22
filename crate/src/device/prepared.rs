//! Tunnels for the peers a change adds (or gives a new preshared key), built before the commit
//! takes the state's write lock, on every core. Each `Tunn` costs a Diffie-Hellman (about
//! 40 µs here): built under the lock, 10,000 new peers would hold up the data path for half a
//! second.
//!
//! The plan is a guess the commit checks: it takes a prepared tunnel only when the peer, its
//! preshared key and its index are what it would have built itself, so a change that adds,
//! removes and re-adds a key still ends exactly as if nothing had been prepared.

use super::config::psk_change;
use super::peer::{allocate_index, Identity};
use super::State;
use crate::keys::Key;
use crate::model::DeviceConfig;
use boringtun::noise::Tunn;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};

/// Below this many tunnels the threads cost more than they save.
const PARALLEL_FROM: usize = 32;
/// At most this many threads build tunnels.
const MAX_THREADS: usize = 8;

/// One tunnel to build: the peer's key, its preshared key, the index it will have.
struct Job {
    peer: Key,
    psk: Option<Key>,
    index: u32,
}

/// Tunnels built ahead of a commit, and the identity of a private key the change sets.
#[derive(Default)]
pub(crate) struct Prepared {
    /// The identity for the change's new private key (the tunnels below share its limiter).
    identity: Option<(Key, Identity)>,
    /// The public key of the identity the tunnels were built with.
    built_with: Option<[u8; 32]>,
    tunnels: HashMap<[u8; 32], (u32, Option<Key>, Tunn)>,
}

impl Prepared {
    /// Plans from the state (read briefly; the caller holds the apply lock, so no other change
    /// can land before its commit) and builds the tunnels, unlocked, on up to `cores` threads.
    pub(crate) fn build(state: &RwLock<State>, config: &DeviceConfig, cores: usize) -> Prepared {
        let (identity, jobs, ident) = {
            let st = state.read();
            let (identity, jobs) = plan(&st, config);
            let ident = identity.as_ref().map(|(_, i)| i.clone()).or_else(|| st.identity());
            (identity, jobs, ident)
        };
        let Some(ident) = ident else {
            return Prepared::default();
        };
        let built = build_all(&ident, &jobs, cores);
        Prepared {
            built_with: Some(*ident.public.as_bytes()),
            identity,
            tunnels: jobs
                .into_iter()
                .zip(built)
                .map(|(j, t)| (*j.peer.as_bytes(), (j.index, j.psk, t)))
                .collect(),
        }
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

/// The tunnels the commit will build (first mention of each peer only), and the identity of a
/// private key the change sets.
fn plan(st: &State, config: &DeviceConfig) -> (Option<(Key, Identity)>, Vec<Job>) {
    let identity = match &config.private_key {
        Some(k) if k.is_zero() => return (None, Vec::new()),
        Some(k) if st.private_key.as_ref() != Some(k) => Some((k.clone(), Identity::new(k))),
        _ if st.private_key.is_none() => return (None, Vec::new()),
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
        let change = psk_change(pc);
        let existing = (!config.replace_peers).then(|| st.by_key.get(&key)).flatten();
        let index = match existing {
            None if pc.update_only => continue,
            None => allocate_index(|i| st.by_index.contains_key(&i) || indices.contains(&i)),
            Some(p) => match &change {
                // A tunnel only when the preshared key changes.
                Some(psk) if *psk != p.state.lock().preshared_key => p.index,
                _ => continue,
            },
        };
        let psk = change.flatten();
        indices.insert(index);
        jobs.push(Job {
            peer: pc.public_key.clone(),
            psk,
            index,
        });
    }
    (identity, jobs)
}

/// Builds the tunnels of `jobs` in order, on several threads when there are many.
fn build_all(ident: &Identity, jobs: &[Job], cores: usize) -> Vec<Tunn> {
    let build = |j: &Job| ident.tunn(&j.peer, j.psk.as_ref(), j.index);
    let threads = cores.min(MAX_THREADS).min(jobs.len() / (PARALLEL_FROM / 2)).max(1);
    if jobs.len() < PARALLEL_FROM || threads < 2 {
        return jobs.iter().map(build).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        // A thread that cannot be started (a process at its thread limit) is no error.
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let spawned = std::thread::Builder::new()
                    .name("wgkit-tunnels".into())
                    .spawn_scoped(s, move || part.iter().map(build).collect::<Vec<_>>());
                (part, spawned.ok())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| match h.map(|h| h.join()) {
                Some(Ok(built)) => built,
                // Not started, or it panicked: the part is built on this thread.
                _ => part.iter().map(build).collect(),
            })
            .collect()
    })
}
