//! TCP over the tunnel: streams (connect, read, write, half-close) and listeners, with the
//! blocking-with-deadline semantics of `std::net`. Buffers are bounded per connection: a slow
//! reader closes the window, a slow writer waits (backpressure end to end).

use super::stack::{Interest, Notify, Protocol, StackShared, StackState};
use parking_lot::MutexGuard;
use smoltcp::iface::{Interface, SocketHandle};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-connection buffers, each way (the receive buffer is the window: 4 MiB lets one
/// stream fill a fast tunnel at a few milliseconds of round trip). They are mapped, not
/// allocated: only the pages holding data are resident, and an idle socket's empty buffers
/// are given back (`socket_pages.rs`).
#[derive(Debug, Clone, Copy)]
pub struct TcpBuffers {
    pub receive: usize,
    pub send: usize,
}

impl Default for TcpBuffers {
    fn default() -> Self {
        TcpBuffers {
            receive: 4 << 20,
            send: 4 << 20,
        }
    }
}

/// A new socket with buffers `b`, set up by `setup` (listen, connect: false if it refused,
/// which is `EINVAL`) and added to the stack; a failure leaves nothing behind.
fn add_socket(
    st: &mut StackState,
    b: TcpBuffers,
    setup: impl FnOnce(&mut tcp::Socket<'static>, &mut Interface) -> bool,
) -> io::Result<SocketHandle> {
    let StackState {
        iface, sockets, pages, ..
    } = st;
    let added = pages.add_socket(sockets, b.receive, b.send, |s| {
        s.set_congestion_control(tcp::CongestionControl::Cubic);
        s.set_nagle_enabled(false);
        s.set_ack_delay(Some(smoltcp::time::Duration::from_millis(1)));
        // wgkit: Linux's floor of the retransmission timeout; smoltcp's default is RFC 6298's 1 s,
        // which a tail loss on a sub-millisecond tunnel pays in full.
        s.set_min_rto(smoltcp::time::Duration::from_millis(200));
        if setup(s, iface) {
            Ok(())
        } else {
            Err(())
        }
    })?;
    added.map_err(|()| errno(libc::EINVAL))
}

fn errno(e: i32) -> io::Error {
    crate::os_error::io_error(e)
}

fn endpoint(a: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(a.ip().into(), a.port())
}

fn socket_addr(e: IpEndpoint) -> SocketAddr {
    SocketAddr::new(e.addr.into(), e.port)
}

/// Why [`TcpStream::recv_into`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The limit was reached: there may be more to move.
    Limit,
    /// Nothing received now.
    Stream,
    /// The other side would block (no room to write).
    Other,
    /// The peer's FIN was read: the stream's data is all taken.
    StreamEnd,
}

/// A TCP connection through the tunnel.
pub struct TcpStream {
    stack: Arc<StackShared>,
    handle: SocketHandle,
    local: SocketAddr,
    remote: SocketAddr,
    /// The ephemeral port this side reserved (0: accepted, the listener's port).
    own_port: u16,
    /// The peer's FIN was read.
    eof: AtomicBool,
}

impl TcpStream {
    pub(crate) fn connect(
        stack: &Arc<StackShared>,
        remote: SocketAddr,
        buffers: TcpBuffers,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_start(stack, remote, buffers)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = stack.lock()?;
        let result = loop {
            match stream.connect_state(&st) {
                Some(r) => break r,
                None => {
                    if let Err(e) = stack.wait(&mut st, deadline) {
                        break Err(e);
                    }
                }
            }
        };
        // Unlocked before `stream` can be dropped (its drop takes the lock).
        drop(st);
        result.map(|()| stream)
    }

    /// Sends the SYN and returns at once; [`TcpStream::connected`] tells how it went, and
    /// [`Interest::Open`] waits for that.
    pub(crate) fn connect_start(
        stack: &Arc<StackShared>,
        remote: SocketAddr,
        buffers: TcpBuffers,
    ) -> io::Result<TcpStream> {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Cannot connect to {remote}"),
            ));
        }
        let mut st = stack.lock()?;
        let Some(src) = st.source_for(remote.ip()) else {
            return Err(errno(libc::ENETUNREACH));
        };
        let port = st.reserve_port(Protocol::Tcp, 0)?;
        let local = SocketAddr::new(src, port);
        let added = add_socket(&mut st, buffers, |s, iface| {
            s.connect(iface.context(), endpoint(remote), endpoint(local)).is_ok()
        });
        let handle = match added {
            Ok(h) => h,
            Err(e) => {
                st.release_port(Protocol::Tcp, port);
                return Err(e);
            }
        };
        drop(st);
        stack.kick();
        Ok(TcpStream {
            stack: stack.clone(),
            handle,
            local,
            remote,
            own_port: port,
            eof: AtomicBool::new(false),
        })
    }

    /// `None` while the handshake goes on; then connected, or refused.
    fn connect_state(&self, st: &StackState) -> Option<io::Result<()>> {
        match st.sockets.get::<tcp::Socket>(self.handle).state() {
            State::SynSent | State::SynReceived => None,
            State::Closed | State::TimeWait => Some(Err(errno(libc::ECONNREFUSED))),
            _ => Some(Ok(())),
        }
    }

    /// How a connection started with `connect_start` stands: `None` while connecting.
    pub fn connected(&self) -> io::Result<Option<()>> {
        let st = self.stack.lock()?;
        self.connect_state(&st).transpose()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.remote
    }

    fn with<R>(&self, f: impl FnOnce(&mut tcp::Socket<'static>) -> R) -> io::Result<R> {
        let mut st = self.stack.lock()?;
        let r = f(st.sockets.get_mut::<tcp::Socket>(self.handle));
        drop(st);
        self.stack.kick();
        Ok(r)
    }

    /// Reads what has arrived (at least one byte, waiting until `deadline` for it); `Ok(0)`
    /// at the end of the stream.
    pub fn read_until(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.stack.lock()?;
        loop {
            if let Some(n) = self.read_now(&mut st, buf)? {
                return Ok(n);
            }
            self.stack.wait(&mut st, deadline)?;
        }
    }

    /// Reads what has arrived without waiting: `None` when nothing has (and the stream goes
    /// on), `Some(0)` at its end.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut st = self.stack.lock()?;
        self.read_now(&mut st, buf)
    }

    fn read_now(&self, st: &mut MutexGuard<'_, StackState>, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let s = st.sockets.get_mut::<tcp::Socket>(self.handle);
        if s.can_recv() {
            let n = s.recv_slice(buf).map_err(|_| errno(libc::ECONNRESET))?;
            // The window opened: the stack's next poll tells the sender (which may be waiting
            // on a closed window, so that poll must not wait for a timer).
            if n > 0 {
                st.pages.received(self.handle);
                self.stack.kick();
            }
            return Ok(Some(n));
        }
        if !s.may_recv() {
            // A socket closed before its peer's FIN was seen was reset.
            return match s.state() {
                State::Closed if !self.eof.load(Ordering::Relaxed) => Err(errno(libc::ECONNRESET)),
                _ => {
                    self.eof.store(true, Ordering::Relaxed);
                    Ok(Some(0))
                }
            };
        }
        Ok(None)
    }

    /// Queues some of `buf` (waiting until `deadline` for room); returns how much.
    pub fn write_until(&self, buf: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.stack.lock()?;
        loop {
            let n = self.write_now(&mut st, buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.stack.wait(&mut st, deadline)?;
        }
    }

    /// Queues what fits of `buf` without waiting (0: no room now).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.stack.lock()?;
        self.write_now(&mut st, buf)
    }

    fn write_now(&self, st: &mut MutexGuard<'_, StackState>, buf: &[u8]) -> io::Result<usize> {
        let s = st.sockets.get_mut::<tcp::Socket>(self.handle);
        if !s.may_send() {
            return Err(match s.state() {
                State::Closed => errno(libc::ECONNRESET),
                _ => errno(libc::EPIPE),
            });
        }
        if !s.can_send() || buf.is_empty() {
            return Ok(0);
        }
        let n = s.send_slice(buf).map_err(|_| errno(libc::EPIPE))?;
        st.pages.sent(self.handle);
        self.stack.kick();
        Ok(n)
    }

    /// Free room in the send buffer now (what [`TcpStream::try_write`] would take); fails as
    /// a write would once the stream can no longer send.
    pub fn send_room(&self) -> io::Result<usize> {
        let st = self.stack.lock()?;
        let s = st.sockets.get::<tcp::Socket>(self.handle);
        if !s.may_send() {
            return Err(match s.state() {
                State::Closed => errno(libc::ECONNRESET),
                _ => errno(libc::EPIPE),
            });
        }
        Ok(s.send_capacity() - s.send_queue())
    }

    /// Hands received data to `write`, without waiting: `write` gets a contiguous piece of
    /// what arrived at a time and returns how much of it it took, until it would block or
    /// fails, nothing is left, the stream ended ([`Stop::StreamEnd`] once the peer's FIN is
    /// read), or `limit` bytes were taken. Returns the bytes taken and why it stopped. `write`
    /// runs with the stack locked: it must not block.
    pub fn recv_into(
        &self,
        limit: usize,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> (usize, io::Result<Stop>) {
        let mut st = match self.stack.lock() {
            Ok(st) => st,
            Err(e) => return (0, Err(e)),
        };
        let mut taken = 0;
        let stop = loop {
            let s = st.sockets.get_mut::<tcp::Socket>(self.handle);
            if taken >= limit {
                break Ok(Stop::Limit);
            }
            if !s.can_recv() {
                if s.may_recv() {
                    break Ok(Stop::Stream);
                }
                // A socket closed before its peer's FIN was seen was reset.
                if s.state() == State::Closed && !self.eof.load(Ordering::Relaxed) {
                    break Err(errno(libc::ECONNRESET));
                }
                self.eof.store(true, Ordering::Relaxed);
                break Ok(Stop::StreamEnd);
            }
            let want = limit - taken;
            let r = s.recv(|data| {
                let data = &data[..data.len().min(want)];
                match write(data) {
                    Ok(0) => (0, Err(io::Error::from(io::ErrorKind::WriteZero))),
                    Ok(n) => (n.min(data.len()), Ok(n)),
                    Err(e) => (0, Err(e)),
                }
            });
            match r {
                Err(_) => break Err(errno(libc::ECONNRESET)),
                Ok(Ok(n)) => taken += n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => break Ok(Stop::Other),
                Ok(Err(e)) => break Err(e),
            }
        };
        if taken > 0 {
            st.pages.received(self.handle);
            drop(st);
            // The window opened (see `read_now`).
            self.stack.kick();
        }
        (taken, stop)
    }

    /// Whether a read (or a write, a connect: as [`Interest`] says) would make progress now;
    /// if not, `notify` is registered as by [`TcpStream::when_ready`], in the same look (so no
    /// change between the two is missed, and the stack need not poll for it). `notify` is
    /// dropped uncalled when this answers true.
    pub fn ready_or_notify(&self, interest: Interest, notify: Notify) -> io::Result<bool> {
        let mut st = self.stack.lock()?;
        if st.is_ready(self.handle, interest) {
            return Ok(true);
        }
        st.wait_for(self.handle, interest, notify);
        Ok(false)
    }

    /// Calls `notify` once, from the stack's thread, when a read or a write would make
    /// progress (or fail) — or when the tunnel closes. Dropped uncalled if the stream is.
    pub fn when_ready(&self, interest: Interest, notify: Notify) -> io::Result<()> {
        self.stack.lock()?.wait_for(self.handle, interest, notify);
        self.stack.kick();
        Ok(())
    }

    /// Queues all of `buf`.
    pub fn write_all_until(&self, mut buf: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write_until(buf, deadline)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Waits until everything queued was acknowledged (or the deadline).
    pub fn flush_until(&self, deadline: Option<Instant>) -> io::Result<()> {
        let mut st = self.stack.lock()?;
        loop {
            let s = st.sockets.get::<tcp::Socket>(self.handle);
            if s.send_queue() == 0 || !s.is_active() {
                return Ok(());
            }
            self.stack.wait(&mut st, deadline)?;
        }
    }

    /// Half-close: sends FIN after what is queued; reading goes on.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.with(|s| s.close())
    }

    /// Ends the connection at once with a reset.
    pub fn abort(&self) -> io::Result<()> {
        self.with(|s| s.abort())
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.with(|s| s.set_nagle_enabled(!on))
    }

    pub fn set_keepalive(&self, interval: Option<Duration>) -> io::Result<()> {
        self.with(|s| s.set_keep_alive(interval.map(|d| smoltcp::time::Duration::from_micros(d.as_micros() as u64))))
    }

    /// Bytes queued to send and not yet acknowledged; bytes received and not yet read.
    pub fn queues(&self) -> io::Result<(usize, usize)> {
        self.with(|s| (s.send_queue(), s.recv_queue()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut st = self.stack.state.lock();
        let s = st.sockets.get_mut::<tcp::Socket>(self.handle);
        // Unread data means the application did not take it: reset, as a kernel does.
        if s.recv_queue() > 0 {
            s.abort();
        } else {
            s.close();
        }
        st.orphan(self.handle, Protocol::Tcp, self.own_port);
        drop(st);
        self.stack.kick();
    }
}

impl io::Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_until(buf, None)
    }
}

impl io::Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_until(buf, None)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A listening port on a tunnel address: a backlog of listening sockets, each of which
/// becomes one accepted connection and is replaced at once.
pub struct TcpListener {
    stack: Arc<StackShared>,
    local: SocketAddr,
    listen: IpListenEndpoint,
    buffers: TcpBuffers,
    backlog: Vec<SocketHandle>,
}

impl TcpListener {
    pub(crate) fn bind(
        stack: &Arc<StackShared>,
        local: SocketAddr,
        backlog: usize,
        buffers: TcpBuffers,
    ) -> io::Result<TcpListener> {
        let mut st = stack.lock()?;
        if !local.ip().is_unspecified() && !st.is_local(local.ip()) {
            return Err(errno(libc::EADDRNOTAVAIL));
        }
        let port = st.reserve_port(Protocol::Tcp, local.port())?;
        let listen = IpListenEndpoint {
            addr: (!local.ip().is_unspecified()).then(|| local.ip().into()),
            port,
        };
        let mut handles = Vec::new();
        for _ in 0..backlog.clamp(1, 1024) {
            match add_socket(&mut st, buffers, |s, _| s.listen(listen).is_ok()) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    let StackState { sockets, pages, .. } = &mut *st;
                    for h in handles {
                        pages.remove(sockets, h);
                    }
                    st.release_port(Protocol::Tcp, port);
                    return Err(e);
                }
            }
        }
        drop(st);
        Ok(TcpListener {
            stack: stack.clone(),
            local: SocketAddr::new(local.ip(), port),
            listen,
            buffers,
            backlog: handles,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection if one is waiting (never waits).
    pub fn try_accept(&mut self) -> io::Result<Option<TcpStream>> {
        match self.accept_until(Some(Instant::now())) {
            Ok(s) => Ok(Some(s)),
            Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Calls `notify` once, from the stack's thread, when a connection may be waiting (or the
    /// tunnel closes). Dropped uncalled if the listener is.
    pub fn when_acceptable(&self, notify: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        let mut st = self.stack.lock()?;
        let once = Arc::new(parking_lot::Mutex::new(Some(notify)));
        for &h in &self.backlog {
            let once = once.clone();
            st.wait_for(
                h,
                Interest::Open,
                Box::new(move || {
                    if let Some(n) = once.lock().take() {
                        n();
                    }
                }),
            );
        }
        drop(st);
        self.stack.kick();
        Ok(())
    }

    /// The next connection (waiting until `deadline`).
    pub fn accept_until(&mut self, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let mut st = self.stack.lock()?;
        loop {
            if let Some(i) = self.backlog.iter().position(|&h| {
                let s = st.sockets.get::<tcp::Socket>(h);
                !matches!(s.state(), State::Listen | State::SynReceived | State::Closed)
            }) {
                let handle = self.backlog[i];
                let listen = self.listen;
                self.backlog[i] = add_socket(&mut st, self.buffers, |s, _| s.listen(listen).is_ok())?;
                let s = st.sockets.get::<tcp::Socket>(handle);
                let (Some(l), Some(r)) = (s.local_endpoint(), s.remote_endpoint()) else {
                    st.orphan(handle, Protocol::Tcp, 0);
                    continue;
                };
                drop(st);
                return Ok(TcpStream {
                    stack: self.stack.clone(),
                    handle,
                    local: socket_addr(l),
                    remote: socket_addr(r),
                    own_port: 0,
                    eof: AtomicBool::new(false),
                });
            }
            // A listening socket that was reset mid-handshake goes back to listening.
            for &h in &self.backlog {
                let s = st.sockets.get_mut::<tcp::Socket>(h);
                if s.state() == State::Closed {
                    let _ = s.listen(self.listen);
                }
            }
            self.stack.wait(&mut st, deadline)?;
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut st: MutexGuard<'_, StackState> = self.stack.state.lock();
        for h in self.backlog.drain(..) {
            st.forget(h);
            let StackState { sockets, pages, .. } = &mut *st;
            pages.remove(sockets, h);
        }
        st.release_port(Protocol::Tcp, self.local.port());
        drop(st);
        self.stack.kick();
    }
}
