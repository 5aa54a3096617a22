//! Linux: a waker is an eventfd, so epoll waits on it like on any descriptor (a worker's wait
//! costs no extra system call for it).

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// A level-triggered wake-up flag (see `waker.rs`). Clones share one eventfd.
#[derive(Clone, Debug)]
pub(crate) struct Waker(Arc<OwnedFd>);

impl Waker {
    pub(crate) fn new() -> Result<Waker> {
        // SAFETY: plain eventfd call; failure checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::from_io(&std::io::Error::last_os_error(), "eventfd"));
        }
        // SAFETY: fresh descriptor owned here.
        Ok(Waker(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Sets the flag: whoever waits on it wakes. Never blocks.
    #[inline]
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to an eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
    }

    /// Clears the flag.
    #[inline]
    pub(crate) fn reset(&self) {
        let mut v: u64 = 0;
        // SAFETY: reading 8 bytes from a non-blocking eventfd into v.
        unsafe { libc::read(self.0.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) };
    }

    /// Whether the flag is set (the Linux poller reads the eventfd itself; tests ask).
    #[cfg(test)]
    pub(crate) fn is_set(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    /// The eventfd, for epoll (`poller_linux.rs`).
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
