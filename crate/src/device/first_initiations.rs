//! The first keepalives of a change: as the kernel does, turning persistent keepalive on sends
//! one at once, which starts a handshake when there is no session. Each is a handshake
//! initiation (an ephemeral key and two Diffie-Hellmans, about 100 µs here, plus the
//! static-static one on a new tunnel's first handshake).
//!
//! They go out after the change has landed and its caller has its answer: a few inline, more
//! from one thread of their own in chunks with a pause between them (as the kernel hands them
//! to its handshake work queue), so that a change adding 100,000 such peers neither holds up
//! its reply for ten seconds of Diffie-Hellmans nor takes every core from the data path and the
//! UAPI while they are sent. A peer the device no longer has, or whose keepalive a later change
//! turned off, is skipped when its chunk comes.

use super::peer::Peer;
use super::worker::Io;
use super::Shared;
use crate::error::{Error, ErrorCode};
use boringtun::noise::TunnResult;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Up to this many first keepalives are sent before the change returns.
pub(crate) const INLINE_UP_TO: usize = 256;
/// The paced thread sends this many per chunk (about 13 ms of work)...
const CHUNK: usize = 128;
/// ...and then pauses this long.
const PAUSE: Duration = Duration::from_millis(2);

/// Sends the first keepalives of `peers` (listed once each by the change that turned their
/// keepalive on): inline when few, else paced on a thread of their own.
pub(crate) fn start(shared: &Arc<Shared>, peers: Vec<Arc<Peer>>) {
    if peers.is_empty() {
        return;
    }
    if peers.len() <= INLINE_UP_TO {
        return send_guarded(shared, &peers);
    }
    let peers = Arc::new(peers);
    let (weak, job) = (Arc::downgrade(shared), peers.clone());
    let spawned = std::thread::Builder::new()
        .name("wgkit-first-init".into())
        .spawn(move || paced(&weak, &job));
    if spawned.is_err() {
        // A process at its thread limit: sent here, before the change returns.
        send_guarded(shared, &peers);
    }
}

/// The chunks of `peers`, a pause after each, while the device lives.
fn paced(shared: &Weak<Shared>, peers: &[Arc<Peer>]) {
    for chunk in peers.chunks(CHUNK) {
        let Some(shared) = shared.upgrade() else { return };
        if shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        send_guarded(&shared, chunk);
        drop(shared);
        std::thread::sleep(PAUSE);
    }
}

/// The change has landed: a failure to send is no failure of the change (and no panic of the
/// thread sending).
fn send_guarded(shared: &Shared, peers: &[Arc<Peer>]) {
    let send = std::panic::AssertUnwindSafe(|| send(shared, peers));
    if std::panic::catch_unwind(send).is_err() {
        shared.report(Error::new(ErrorCode::System, "Unable to send the first keepalives"));
    }
}

/// One batch of first keepalives, to the peers of `peers` still on the device with keepalive on.
fn send(shared: &Shared, peers: &[Arc<Peer>]) {
    let present: Vec<&Arc<Peer>> = {
        let st = shared.state.read();
        peers
            .iter()
            .filter(|p| st.by_index.get(&p.index).is_some_and(|q| Arc::ptr_eq(p, q)))
            .collect()
    };
    let mut io = Io::new(shared, 0);
    let mut buf = vec![0u8; 256];
    for peer in present {
        let mut ps = peer.state.lock();
        if ps.keepalive == 0 {
            continue;
        }
        let Some(ep) = ps.endpoint else { continue };
        let Some(t) = ps.tunn.as_mut() else { continue };
        if let TunnResult::WriteToNetwork(p) = t.encapsulate(&[], &mut buf) {
            let packet = p.to_vec();
            ps.sent(packet[0], Instant::now());
            drop(ps);
            // The batch holds `BATCH` datagrams: more are sent in several `sendmmsg`s.
            io.reserve(shared);
            io.out.push(&packet, Some(ep));
            peer.add_tx(packet.len());
        }
    }
    io.flush(shared);
}
