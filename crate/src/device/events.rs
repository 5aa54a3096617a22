//! Typed device events for the JS layer, delivered through a bounded queue that never blocks
//! the data path: when the queue is full the event is dropped and counted.
//!
//! Events carry public keys only, never private or preshared keys.

use crate::error::Error;
use crate::keys::Key;
use crate::model::Timespec;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A peer is *stale* when its last completed handshake is older than this: REJECT_AFTER_TIME
/// (180 s) × 3. By then boringtun has erased every session key of the peer, so no traffic can
/// pass until a new handshake completes; the peer becomes *active* again when one does.
pub const STALE_AFTER: Duration = Duration::from_secs(540);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A handshake completed: as initiator when the response arrived, as responder when the
    /// first packet of the new session arrived (as the kernel counts it).
    HandshakeCompleted {
        public_key: Key,
        at: Timespec,
        initiator: bool,
    },
    /// Handshake initiations to the peer went unanswered for REKEY_ATTEMPT_TIME (90 s) and
    /// boringtun gave up; `attempts` is the number of initiations sent.
    HandshakeFailed { public_key: Key, attempts: u32 },
    /// Roaming: an authenticated packet came from a new address.
    EndpointChanged {
        public_key: Key,
        old: Option<SocketAddr>,
        new: SocketAddr,
    },
    /// No handshake completed for [`STALE_AFTER`].
    PeerStale { public_key: Key, last_handshake: Timespec },
    /// A handshake completed for a peer that was stale.
    PeerActive { public_key: Key },
    /// A failure on a device thread (a TUN or socket error that is not transient).
    Error(Error),
}

/// The sending half of the event queue, given to `Device::create`.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: SyncSender<DeviceEvent>,
    dropped: Arc<AtomicU64>,
}

/// A bounded event queue: the sink goes to the device, the receiver to whoever forwards
/// events (the lead wires it to a napi thread-safe function).
pub fn event_channel(capacity: usize) -> (EventSink, Receiver<DeviceEvent>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    (
        EventSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

impl EventSink {
    /// Queues an event without blocking; a full or closed queue drops it and counts it.
    pub fn emit(&self, event: DeviceEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events dropped because the queue was full or nobody listened.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Wall-clock time as a `Timespec`.
pub fn timespec(t: SystemTime) -> Timespec {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timespec {
        sec: d.as_secs() as i64,
        nsec: d.subsec_nanos() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts() {
        let (sink, rx) = event_channel(2);
        for _ in 0..5 {
            sink.emit(DeviceEvent::PeerActive {
                public_key: Key::zero(),
            });
        }
        assert_eq!(sink.dropped(), 3);
        assert_eq!(rx.try_iter().count(), 2);
        drop(rx);
        sink.emit(DeviceEvent::PeerActive {
            public_key: Key::zero(),
        });
        assert_eq!(sink.dropped(), 4);
    }
}
