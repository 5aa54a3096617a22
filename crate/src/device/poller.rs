//! A worker's wait: one call that sleeps until its UDP sockets, its inner side or its wakers
//! (`waker.rs`) have something, level-triggered (a worker moves one batch per ready source
//! per turn and comes back for the rest), and reports the tokens of the ready ones.
//!
//! One file per platform: epoll on Linux (`poller_linux.rs`, exactly the loop the device had
//! before it was portable: wakers and the netstack link are eventfds there); elsewhere the
//! `polling` crate (`poller_portable.rs`).
//!
//! Why `polling` and not `mio`: the worker relies on level-triggered readiness (it reads one
//! batch from a ready socket and lets the other sources have their turn before it reads the
//! rest), which `polling` gives on kqueue and on Windows (IOCP through its wepoll-style AFD
//! backend) with `PollMode::Level`; `mio` is edge-triggered only, so every source would have
//! to be drained to `WouldBlock` on each wake-up. `polling` also brings the waker the portable
//! [`super::waker::Waker`] needs (`Poller::notify`) and is a small dependency.

#[cfg(target_os = "linux")]
#[path = "poller_linux.rs"]
mod platform;
#[cfg(not(target_os = "linux"))]
#[path = "poller_portable.rs"]
mod platform;

pub(crate) use platform::Poller;

/// The most ready sources one wait reports.
pub(crate) const MAX_EVENTS: usize = 8;

#[cfg(test)]
mod tests {
    use super::super::udp::Sockets;
    use super::super::waker::Waker;
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wait_reports_ready_sockets_and_set_wakers_until_they_are_consumed() {
        let mut p = Poller::new().unwrap();
        let w = Waker::new().unwrap();
        let socks = Sockets::bind(0, 0, 1).unwrap();
        p.add_waker(&w, 1).unwrap();
        p.add_socket(socks.socket(0, false).unwrap(), 2).unwrap();
        let mut out = [0u64; MAX_EVENTS];
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 0);

        let waker = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let n = p.wait(&mut out, None).unwrap();
        t.join().unwrap();
        assert_eq!(&out[..n], &[1]);
        // Level-triggered: still set, still reported.
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 1);
        w.reset();
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 0);

        let to = std::net::SocketAddr::from(([127, 0, 0, 1], socks.port));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"ready", to).unwrap();
        let n = p.wait(&mut out, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(&out[..n], &[2]);
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 1, "still unread");
        p.remove_socket(socks.socket(0, false).unwrap());
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 0);
        p.remove_waker(&w);
        w.wake();
        assert_eq!(p.wait(&mut out, Some(Duration::ZERO)).unwrap(), 0);
    }
}
