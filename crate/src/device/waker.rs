//! The device's one wake-up primitive: a level-triggered flag that a worker's poller
//! (`poller.rs`) waits on together with its sockets and its inner side. Three things use it:
//! each worker's own waker (socket changes, stop, the crypto pool's helper calls,
//! `Shared::wake_workers`), and the netstack link's "outbound packets ready" signal
//! (`netstack/link.rs`). `wake` sets it (from any thread, never blocking), `reset` clears it
//! (the waiter, before it looks for work), `is_set` reads it.
//!
//! One file per platform: an eventfd on Linux (`waker_linux.rs`), an atomic flag that
//! notifies the pollers attached to it elsewhere (`waker_portable.rs`).

#[cfg(target_os = "linux")]
#[path = "waker_linux.rs"]
mod platform;
#[cfg(not(target_os = "linux"))]
#[path = "waker_portable.rs"]
mod platform;

pub(crate) use platform::Waker;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_follows_wake_and_reset_and_clones_share_it() {
        let w = Waker::new().unwrap();
        let other = w.clone();
        assert!(!w.is_set());
        other.wake();
        other.wake();
        assert!(w.is_set());
        w.reset();
        assert!(!w.is_set() && !other.is_set());
    }
}
