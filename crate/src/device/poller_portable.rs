//! Every platform but Linux: the `polling` crate (kqueue, IOCP) for the sockets, in level mode,
//! and the flags of the attached wakers (`waker_portable.rs`), which notify the poller.

use super::MAX_EVENTS;
use crate::device::udp::Socket;
use crate::device::waker::Waker;
use polling::{Event, Events, PollMode};
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Poller {
    poller: Arc<polling::Poller>,
    events: Events,
    wakers: Vec<(Waker, u64)>,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Ok(Poller {
            poller: Arc::new(polling::Poller::new()?),
            events: Events::new(),
            wakers: Vec::new(),
        })
    }

    pub(crate) fn add_waker(&mut self, waker: &Waker, token: u64) -> io::Result<()> {
        waker.attach(&self.poller);
        self.wakers.push((waker.clone(), token));
        Ok(())
    }

    pub(crate) fn remove_waker(&mut self, waker: &Waker) {
        waker.detach(&self.poller);
        self.wakers.retain(|(w, _)| !w.same(waker));
    }

    pub(crate) fn add_socket(&mut self, socket: &Socket, token: u64) -> io::Result<()> {
        let key = usize::try_from(token).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the worker removes the socket (`remove_socket`) before it lets it go: the
        // sockets are held by the worker's `Arc<Sockets>` until it has switched to new ones,
        // and when the worker's loop ends its poller is dropped (ending every registration)
        // before that `Arc` (`worker.rs` declares the poller after the worker).
        unsafe { self.poller.add_with_mode(socket, Event::readable(key), PollMode::Level) }
    }

    /// Watches a descriptor for readability (a macOS utun's control socket).
    #[cfg(target_os = "macos")]
    pub(crate) fn add_fd(&mut self, fd: std::os::fd::RawFd, token: u64) -> io::Result<()> {
        let key = usize::try_from(token).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the descriptor outlives the registration: the device closes its utun only
        // after its workers, and with them their pollers, have ended.
        unsafe { self.poller.add_with_mode(fd, Event::readable(key), PollMode::Level) }
    }

    #[cfg(target_os = "macos")]
    pub(crate) fn remove_fd(&mut self, fd: std::os::fd::RawFd) {
        // SAFETY: the descriptor is open (see `add_fd`); errors (not registered) are irrelevant.
        let _ = self.poller.delete(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
    }

    pub(crate) fn remove_socket(&mut self, socket: &Socket) {
        // Errors (not registered) are irrelevant.
        let _ = self.poller.delete(socket);
    }

    /// Waits up to `timeout` (`None`: until something is ready) and writes the ready
    /// sources' tokens into `out`; returns how many (0 after a timeout).
    pub(crate) fn wait(&mut self, out: &mut [u64; MAX_EVENTS], timeout: Option<Duration>) -> io::Result<usize> {
        // A waker set already (or set between this look and the wait: its notify makes the
        // wait return at once) ends the wait.
        let timeout = match self.wakers.iter().any(|(w, _)| w.is_set()) {
            true => Some(Duration::ZERO),
            false => timeout,
        };
        self.events.clear();
        match self.poller.wait(&mut self.events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let mut n = 0;
        let ready = self.events.iter().map(|ev| ev.key as u64);
        let woken = self.wakers.iter().filter(|(w, _)| w.is_set()).map(|(_, t)| *t);
        for token in ready.chain(woken) {
            if n == MAX_EVENTS {
                break;
            }
            out[n] = token;
            n += 1;
        }
        Ok(n)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        for (w, _) in &self.wakers {
            w.detach(&self.poller);
        }
    }
}
