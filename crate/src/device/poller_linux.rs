//! Linux: epoll, level-triggered, over raw descriptors (TUN queues, sockets, eventfds).

use super::MAX_EVENTS;
use crate::device::udp::Socket;
use crate::device::waker::Waker;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub(crate) struct Poller {
    ep: OwnedFd,
    events: [libc::epoll_event; MAX_EVENTS],
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: plain epoll_create1; failure checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            // SAFETY: fresh descriptor owned here.
            ep: unsafe { OwnedFd::from_raw_fd(ep) },
            // SAFETY: all-zero epoll_event is valid.
            events: unsafe { std::mem::zeroed() },
        })
    }

    /// Watches a descriptor for readability.
    pub(crate) fn add_fd(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is valid; fds are open.
        if unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn remove_fd(&mut self, fd: RawFd) {
        // SAFETY: removing a registration; errors (already gone) are irrelevant.
        unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    }

    pub(crate) fn add_waker(&mut self, waker: &Waker, token: u64) -> io::Result<()> {
        self.add_fd(waker.fd(), token)
    }

    pub(crate) fn remove_waker(&mut self, waker: &Waker) {
        self.remove_fd(waker.fd())
    }

    pub(crate) fn add_socket(&mut self, socket: &Socket, token: u64) -> io::Result<()> {
        self.add_fd(socket.as_raw_fd(), token)
    }

    pub(crate) fn remove_socket(&mut self, socket: &Socket) {
        self.remove_fd(socket.as_raw_fd())
    }

    /// Waits up to `timeout` (`None`: until something is ready) and writes the ready
    /// sources' tokens into `out`; returns how many (0 after a timeout or a signal).
    #[inline]
    pub(crate) fn wait(&mut self, out: &mut [u64; MAX_EVENTS], timeout: Option<Duration>) -> io::Result<usize> {
        let ms = match timeout {
            None => -1,
            Some(t) => t.as_millis().min(i32::MAX as u128) as i32,
        };
        // SAFETY: events has room for MAX_EVENTS entries.
        let n = unsafe { libc::epoll_wait(self.ep.as_raw_fd(), self.events.as_mut_ptr(), MAX_EVENTS as i32, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(0);
            }
            return Err(e);
        }
        for (o, ev) in out.iter_mut().zip(&self.events[..n as usize]) {
            *o = ev.u64;
        }
        Ok(n as usize)
    }
}
