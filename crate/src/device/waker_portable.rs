//! Every platform but Linux: a waker is an atomic flag plus the pollers (`poller_portable.rs`)
//! that wait on it, each woken with `polling::Poller::notify` when the flag goes up. A poller
//! looks at the flags of its wakers before it blocks and after it wakes, so a wake-up between
//! the two is never lost (a notify before a wait makes that wait return at once).

use crate::error::Result;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A level-triggered wake-up flag (see `waker.rs`). Clones share one flag.
#[derive(Clone, Default)]
pub(crate) struct Waker(Arc<State>);

#[derive(Default)]
struct State {
    set: AtomicBool,
    pollers: Mutex<Vec<Arc<polling::Poller>>>,
}

impl Waker {
    pub(crate) fn new() -> Result<Waker> {
        Ok(Waker::default())
    }

    /// Sets the flag: whoever waits on it wakes. Never blocks on I/O.
    pub(crate) fn wake(&self) {
        if !self.0.set.swap(true, Ordering::SeqCst) {
            for p in self.0.pollers.lock().iter() {
                // A failed notify leaves the poller to its next timeout; nothing else to do.
                let _ = p.notify();
            }
        }
    }

    /// Clears the flag.
    pub(crate) fn reset(&self) {
        self.0.set.store(false, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub(crate) fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// From now on `poller` is notified when the flag goes up (at once if it is up).
    pub(crate) fn attach(&self, poller: &Arc<polling::Poller>) {
        self.0.pollers.lock().push(poller.clone());
        if self.is_set() {
            let _ = poller.notify();
        }
    }

    pub(crate) fn detach(&self, poller: &Arc<polling::Poller>) {
        self.0.pollers.lock().retain(|p| !Arc::ptr_eq(p, poller));
    }

    pub(crate) fn same(&self, other: &Waker) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("set", &self.is_set()).finish()
    }
}
