//! The TCP/IP stack's state and its thread. One smoltcp `Interface` with the tunnel's
//! addresses and one `SocketSet` sit behind a mutex: the thread polls them whenever packets
//! arrive, a socket's user acted, or a timer of the stack is due; users wait on `changed`,
//! notified after every poll.

use super::link::Link;
use super::phy::Phy;
use super::socket_pages::{SocketPages, TRIM_EVERY};
use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex, MutexGuard};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest the thread sleeps without a reason to wake (a safety net, not a timer).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Ephemeral ports, as Linux allocates them by default.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;
/// How long a closed socket whose owner is gone may linger (FIN handshakes, TIME-WAIT).
const ORPHAN_LINGER: Duration = Duration::from_secs(60);

pub(crate) struct StackShared {
    pub(crate) state: Mutex<StackState>,
    /// Notified after every poll of the stack.
    pub(crate) changed: Condvar,
    pub(crate) link: Arc<Link>,
    pub(crate) stop: AtomicBool,
    start: Instant,
}

pub(crate) struct StackState {
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    /// The TCP sockets' buffers (which `sockets` borrow: dropped after them, see `Drop`).
    pub(crate) pages: SocketPages,
    pub(crate) phy: Phy,
    addresses: Vec<IpAddr>,
    ports: [HashSet<u16>; 2],
    next_port: [u16; 2],
    /// Sockets whose owners let go: removed once closed, or after [`ORPHAN_LINGER`].
    orphans: Vec<(SocketHandle, Protocol, u16, Instant)>,
    /// One-shot callbacks for TCP sockets, called after the poll that made them ready.
    waiters: Vec<(SocketHandle, Interest, Notify)>,
}

/// Called (on the stack's thread, unlocked) when a socket became ready.
pub(crate) type Notify = Box<dyn FnOnce() + Send>;

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// TCP: data, the end of the stream, or an error.
    Read,
    /// TCP: room to send, or an error.
    Write,
    /// TCP: the handshake is over (connected, refused or reset); for a listening socket, a
    /// connection to accept.
    Open,
    /// UDP: a datagram.
    Datagram,
    /// ICMP echo socket (`icmp.rs`): a packet.
    Echo,
    /// TCP: everything queued was acknowledged (or the connection is over).
    Sent,
    /// TCP: room for a good share of the send buffer ([`ROOM_SHARE`] of it, at most
    /// [`ROOM_MAX`]), or an error: for a writer that refills the buffer in large pieces rather
    /// than after every acknowledgement.
    Room,
}

/// [`Interest::Room`]: the share of the send buffer that must be free.
pub(crate) const ROOM_SHARE: usize = 4;
/// [`Interest::Room`]: free bytes that are always enough.
pub(crate) const ROOM_MAX: usize = 256 << 10;

/// Which port space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Tcp = 0,
    Udp = 1,
}

impl StackShared {
    pub(crate) fn new(link: Arc<Link>, mtu: Arc<AtomicUsize>, addresses: &[(IpAddr, u8)]) -> Result<StackShared> {
        if addresses.is_empty() {
            return Err(Error::invalid_argument("A netstack tunnel needs at least one Address"));
        }
        let mut phy = Phy {
            link: link.clone(),
            mtu,
            dropped: 0,
        };
        let start = Instant::now();
        let mut seed = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from_le_bytes(seed);
        let mut iface = Interface::new(config, &mut phy, smoltcp::time::Instant::from_micros(0));
        let mut cidrs = Vec::new();
        for &(addr, prefix) in addresses {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if prefix > max {
                return Err(Error::invalid_argument(format!(
                    "Address {addr}/{prefix}: the prefix is out of range"
                )));
            }
            cidrs.push(IpCidr::new(IpAddress::from(addr), prefix));
        }
        let mut full = false;
        iface.update_ip_addrs(|a| {
            for c in &cidrs {
                full |= a.push(*c).is_err();
            }
        });
        if full {
            return Err(Error::invalid_argument("A netstack tunnel takes at most 8 addresses"));
        }
        // Everything not on a local subnet goes into the tunnel (the IP medium needs no
        // gateway: its address only has to exist).
        if let Some(v4) = addresses.iter().find_map(|(a, _)| match a {
            IpAddr::V4(v) => Some(*v),
            _ => None,
        }) {
            let _ = iface.routes_mut().add_default_ipv4_route(v4);
        }
        if let Some(v6) = addresses.iter().find_map(|(a, _)| match a {
            IpAddr::V6(v) => Some(*v),
            _ => None,
        }) {
            let _ = iface.routes_mut().add_default_ipv6_route(v6);
        }
        let mut r = [0u8; 4];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
        let span = (EPHEMERAL.end() - EPHEMERAL.start()) as u32 + 1;
        let first = EPHEMERAL.start() + (u32::from_le_bytes(r) % span) as u16;
        Ok(StackShared {
            state: Mutex::new(StackState {
                iface,
                sockets: SocketSet::new(Vec::new()),
                pages: SocketPages::default(),
                phy,
                addresses: addresses.iter().map(|a| a.0).collect(),
                ports: [HashSet::new(), HashSet::new()],
                next_port: [first, first],
                orphans: Vec::new(),
                waiters: Vec::new(),
            }),
            changed: Condvar::new(),
            link,
            stop: AtomicBool::new(false),
            start,
        })
    }

    fn now(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Locks the state for a socket operation; fails once the tunnel is closed.
    pub(crate) fn lock(&self) -> std::io::Result<MutexGuard<'_, StackState>> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(closed());
        }
        Ok(self.state.lock())
    }

    /// Asks the thread to poll soon (after a socket's user queued data or read some).
    pub(crate) fn kick(&self) {
        self.link.wake.notify();
    }

    /// Waits for the next poll, or until `deadline`; `Err(TimedOut)` past it.
    pub(crate) fn wait(&self, st: &mut MutexGuard<'_, StackState>, deadline: Option<Instant>) -> std::io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(closed());
        }
        match deadline {
            None => {
                self.changed.wait(st);
            }
            Some(d) => {
                if Instant::now() >= d || self.changed.wait_until(st, d).timed_out() {
                    return Err(crate::os_error::io_error(libc::ETIMEDOUT));
                }
            }
        }
        if self.stop.load(Ordering::Relaxed) {
            return Err(closed());
        }
        Ok(())
    }

    /// The stack's thread: poll, tell the waiting users, sleep until the next reason.
    pub(crate) fn run(&self) {
        let mut next_trim = Instant::now() + TRIM_EVERY;
        while !self.stop.load(Ordering::Relaxed) {
            let (delay, ready, trim_pending) = {
                let mut st = self.state.lock();
                let now = self.now();
                let StackState {
                    iface, sockets, phy, ..
                } = &mut *st;
                iface.poll(now, phy, sockets);
                st.reap_orphans();
                let ready = st.take_ready();
                let StackState {
                    iface, sockets, pages, ..
                } = &mut *st;
                if Instant::now() >= next_trim {
                    pages.trim(sockets);
                    next_trim = Instant::now() + TRIM_EVERY;
                }
                let delay = iface.poll_delay(now, sockets);
                self.changed.notify_all();
                (delay, ready, pages.pending())
            };
            for notify in ready {
                notify();
            }
            let mut wait = delay
                .map(|d| Duration::from_micros(d.total_micros()))
                .unwrap_or(IDLE_WAIT);
            if trim_pending {
                wait = wait.min(next_trim.saturating_duration_since(Instant::now()));
            } else {
                // Nothing to trim: the next period starts with the next use.
                next_trim = next_trim.max(Instant::now() + TRIM_EVERY);
            }
            if !wait.is_zero() {
                self.link.wake.wait(Some(wait.min(IDLE_WAIT)));
            }
        }
        // Wake every waiting user: the tunnel is closed.
        let waiters = std::mem::take(&mut self.state.lock().waiters);
        self.changed.notify_all();
        for (_, _, notify) in waiters {
            notify();
        }
    }

    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick();
        let _st = self.state.lock();
        self.changed.notify_all();
    }
}

pub(crate) fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "The tunnel is closed")
}

impl StackState {
    /// Whether `addr` is one of the tunnel's addresses.
    pub(crate) fn is_local(&self, addr: IpAddr) -> bool {
        self.addresses.contains(&addr)
    }

    /// The tunnel's source address for a destination (`None`: no address of that family).
    pub(crate) fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        self.iface.get_source_address(&IpAddress::from(dst)).map(IpAddr::from)
    }

    /// Reserves `port` (0: a free ephemeral one) in a port space.
    pub(crate) fn reserve_port(&mut self, proto: Protocol, port: u16) -> std::io::Result<u16> {
        let used = &mut self.ports[proto as usize];
        if port != 0 {
            if !used.insert(port) {
                return Err(crate::os_error::io_error(libc::EADDRINUSE));
            }
            return Ok(port);
        }
        let span = (EPHEMERAL.end() - EPHEMERAL.start()) as usize + 1;
        let next = &mut self.next_port[proto as usize];
        for _ in 0..span {
            let p = *next;
            *next = if p == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                p + 1
            };
            if used.insert(p) {
                return Ok(p);
            }
        }
        Err(crate::os_error::io_error(libc::EADDRNOTAVAIL))
    }

    pub(crate) fn release_port(&mut self, proto: Protocol, port: u16) {
        self.ports[proto as usize].remove(&port);
    }

    /// Hands a socket whose owner is gone to the stack, which removes it once closed (its
    /// waiters are dropped uncalled: nobody is left to tell).
    pub(crate) fn orphan(&mut self, handle: SocketHandle, proto: Protocol, port: u16) {
        self.waiters.retain(|w| w.0 != handle);
        self.orphans.push((handle, proto, port, Instant::now()));
    }

    /// Drops the waiters of a socket about to be removed.
    pub(crate) fn forget(&mut self, handle: SocketHandle) {
        self.waiters.retain(|w| w.0 != handle);
    }

    /// Registers a one-shot callback for a socket of a live stream, listener or UDP socket.
    pub(crate) fn wait_for(&mut self, handle: SocketHandle, interest: Interest, notify: Notify) {
        self.waiters.push((handle, interest, notify));
    }

    /// Whether a waiter of `interest` on socket `h` would be called now.
    pub(crate) fn is_ready(&self, h: SocketHandle, interest: Interest) -> bool {
        match interest {
            Interest::Datagram => self.sockets.get::<smoltcp::socket::udp::Socket>(h).can_recv(),
            Interest::Echo => self.sockets.get::<smoltcp::socket::icmp::Socket>(h).can_recv(),
            _ => {
                use smoltcp::socket::tcp::State;
                let s = self.sockets.get::<smoltcp::socket::tcp::Socket>(h);
                match interest {
                    Interest::Read => s.can_recv() || !s.may_recv(),
                    Interest::Write => s.can_send() || !s.may_send(),
                    Interest::Sent => s.send_queue() == 0 || !s.is_active(),
                    Interest::Room => {
                        let want = (s.send_capacity() / ROOM_SHARE).clamp(1, ROOM_MAX);
                        s.send_capacity() - s.send_queue() >= want || !s.may_send()
                    }
                    _ => !matches!(s.state(), State::SynSent | State::SynReceived | State::Listen),
                }
            }
        }
    }

    /// The waiters whose sockets are ready, taken out.
    fn take_ready(&mut self) -> Vec<Notify> {
        let mut ready = Vec::new();
        let mut i = 0;
        while i < self.waiters.len() {
            let (h, interest, _) = self.waiters[i];
            if self.is_ready(h, interest) {
                ready.push(self.waiters.swap_remove(i).2);
            } else {
                i += 1;
            }
        }
        ready
    }

    fn reap_orphans(&mut self) {
        if self.orphans.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.orphans.len() {
            let (h, proto, port, since) = self.orphans[i];
            let done = match proto {
                Protocol::Tcp => {
                    let s = self.sockets.get_mut::<smoltcp::socket::tcp::Socket>(h);
                    if now.duration_since(since) > ORPHAN_LINGER {
                        s.abort();
                    }
                    s.state() == smoltcp::socket::tcp::State::Closed
                }
                Protocol::Udp => true,
            };
            if done {
                self.pages.remove(&mut self.sockets, h);
                if port != 0 {
                    self.release_port(proto, port);
                }
                self.orphans.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
}

impl Drop for StackState {
    fn drop(&mut self) {
        // The TCP sockets borrow their buffers from `pages`: they go first.
        self.sockets = SocketSet::new(Vec::new());
    }
}
