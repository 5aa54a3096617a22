//! One relayed connection: a host TCP socket (non-blocking) and a tunnel stream, moved between
//! by the relay thread that owns them (`relay.rs`) and never waited on. Bytes go from the
//! host socket into the tunnel stream's send buffer (read into the thread's scratch buffer, at
//! most the room the send buffer has: the read happens outside the stack's lock, and the
//! write then always fits), and straight from the receive buffer to the host socket
//! ([`TunnelStream::recv_into`]): nothing is held per connection, so a slow reader on either
//! side fills that side's socket buffer and the other side stops being read (backpressure with
//! bounded memory). The end of one direction becomes a
//! FIN on the other side while the other direction goes on; an error on either side ends both.
//!
//! The pair keeps a hint per side and direction ("may be readable/writable"): an attempt that
//! would block clears it, and the pair then asks to be told (the host socket through the
//! relay's poller, the tunnel stream through the netstack's waiters) before trying again.

use super::connections::Slot;
use super::counters::Listener;
use super::Context;
use crate::device::netstack::{Interest, Stop};
use crate::device::TcpStream as TunnelStream;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Bytes moved per direction in one turn of a pair: then the other pairs get theirs. Also
/// the size of each relay thread's scratch buffer.
pub(super) const TURN: usize = 256 << 10;
/// How long a finished pair waits for the tunnel to acknowledge its last bytes.
const DRAIN: Duration = Duration::from_secs(5);

/// What a pair asks of its relay thread after a turn.
pub(super) enum Next {
    /// Nothing to do until an event (or its deadline).
    Wait,
    /// It stopped at [`TURN`]: more may be waiting.
    Again,
    /// Over: remove it.
    Done,
}

/// What a pair can be told by its thread's poller or the netstack, when it is waiting for it.
pub(super) trait Waker {
    /// Arms the host socket for these readinesses (one-shot).
    fn host(&self, host: &TcpStream, readable: bool, writable: bool) -> io::Result<()>;
    /// Registers a one-shot waiter on the tunnel stream, unless it is ready now (true).
    fn tunnel(&self, tunnel: &TunnelStream, interest: Interest) -> io::Result<bool>;
}

enum Phase {
    /// Connecting to `port` at the current address (the tunnel stream), then the rest.
    Connecting {
        rest: Vec<IpAddr>,
        port: u16,
        deadline: Instant,
    },
    Relaying,
    /// Both ways ended: waiting for the tunnel to acknowledge what is queued.
    Draining {
        deadline: Instant,
    },
}

#[derive(Default, Clone, Copy)]
struct Armed {
    read: bool,
    write: bool,
    other: bool,
}

pub(super) struct Pair {
    host: TcpStream,
    tunnel: TunnelStream,
    slot: Slot,
    /// The host's peer, for log lines.
    peer: Option<SocketAddr>,
    /// What the host sent before the relay started (read past a proxy request's head), to
    /// go into the tunnel first.
    early: Vec<u8>,
    phase: Phase,
    up_open: bool,
    down_open: bool,
    host_readable: bool,
    host_writable: bool,
    tunnel_readable: bool,
    tunnel_writable: bool,
    /// Host readinesses armed (cleared by an event, all at once: one-shot).
    host_armed: (bool, bool),
    tunnel_armed: Armed,
}

impl Pair {
    fn new(slot: Slot, host: TcpStream, tunnel: TunnelStream, early: Vec<u8>, phase: Phase) -> io::Result<Pair> {
        host.set_nonblocking(true)?;
        let _ = host.set_nodelay(true);
        Ok(Pair {
            peer: host.peer_addr().ok(),
            host,
            tunnel,
            slot,
            early,
            phase,
            up_open: true,
            down_open: true,
            host_readable: true,
            host_writable: true,
            tunnel_readable: true,
            tunnel_writable: true,
            host_armed: (false, false),
            tunnel_armed: Armed::default(),
        })
    }

    /// A pair for an established tunnel stream.
    pub(super) fn established(slot: Slot, host: TcpStream, tunnel: TunnelStream, early: Vec<u8>) -> io::Result<Pair> {
        Pair::new(slot, host, tunnel, early, Phase::Relaying)
    }

    /// A pair that first connects to `port` at the first of `addrs` that answers, each
    /// within `timeout`. Fails at once if no address can even be tried.
    pub(super) fn connecting(
        ctx: &Context,
        slot: Slot,
        host: TcpStream,
        addrs: Vec<IpAddr>,
        port: u16,
    ) -> io::Result<Pair> {
        let mut rest = addrs;
        rest.reverse();
        let tunnel = match start_next(ctx, &mut rest, port) {
            Ok(t) => t,
            Err(e) => {
                slot.counters().failed.inc();
                return Err(e);
            }
        };
        let deadline = Instant::now() + ctx.options.connect_timeout;
        Pair::new(
            slot,
            host,
            tunnel,
            Vec::new(),
            Phase::Connecting { rest, port, deadline },
        )
    }

    pub(super) fn host_socket(&self) -> &TcpStream {
        &self.host
    }

    /// When the pair must be looked at even without an event.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Draining { deadline } => Some(deadline),
            Phase::Relaying => None,
        }
    }

    /// The host socket's poller event.
    pub(super) fn host_event(&mut self, readable: bool, writable: bool, hangup: bool) {
        self.host_armed = (false, false);
        self.host_readable |= readable || hangup;
        self.host_writable |= writable || hangup;
    }

    /// A tunnel waiter was called.
    pub(super) fn tunnel_event(&mut self, interest: Interest) {
        match interest {
            Interest::Read => {
                self.tunnel_armed.read = false;
                self.tunnel_readable = true;
            }
            Interest::Room => {
                self.tunnel_armed.write = false;
                self.tunnel_writable = true;
            }
            _ => self.tunnel_armed.other = false,
        }
    }

    /// One turn: moves what can be moved now, then arms what the pair waits for.
    pub(super) fn turn(&mut self, ctx: &Context, waker: &dyn Waker, scratch: &mut [u8]) -> Next {
        match self.step(ctx, waker, scratch) {
            Ok(next) => next,
            Err(e) => {
                self.fail(ctx, &e);
                Next::Done
            }
        }
    }

    fn step(&mut self, ctx: &Context, waker: &dyn Waker, scratch: &mut [u8]) -> io::Result<Next> {
        if let Phase::Connecting { .. } = self.phase {
            if !self.connect_step(ctx, waker)? {
                return Ok(Next::Wait);
            }
        }
        if let Phase::Draining { deadline } = self.phase {
            if Instant::now() >= deadline {
                return Ok(Next::Done);
            }
            if self.tunnel_armed.other {
                return Ok(Next::Wait);
            }
            return self.finished(waker);
        }
        // A few rounds at most: arming finds a side ready again only if it changed meanwhile.
        for _ in 0..4 {
            let again = self.move_bytes(scratch)?;
            if !self.up_open && !self.down_open {
                return self.finished(waker);
            }
            if again {
                return Ok(Next::Again);
            }
            if !self.arm(waker)? {
                return Ok(Next::Wait);
            }
        }
        Ok(Next::Again)
    }

    /// Moves bytes both ways; true if a direction stopped at [`TURN`].
    fn move_bytes(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        let counters = self.slot.counters();
        let mut again = false;
        if self.up_open && !self.early.is_empty() && self.tunnel_writable {
            let n = self.tunnel.try_write(&self.early)?;
            self.early.drain(..n);
            counters.to_tunnel.add(n as u64);
            if !self.early.is_empty() {
                self.tunnel_writable = false;
            } else {
                self.early = Vec::new();
            }
        }
        let mut moved = 0;
        // The send buffer's free room as last seen, less what went in since: it only grows
        // meanwhile (the stack frees what was acknowledged), so it is looked at again only
        // once used up.
        let mut room = 0;
        while self.up_open && self.early.is_empty() && self.host_readable && self.tunnel_writable {
            if moved >= TURN {
                again = true;
                break;
            }
            if room == 0 {
                room = self.tunnel.send_room()?;
                if room == 0 {
                    self.tunnel_writable = false;
                    break;
                }
            }
            let want = room.min(TURN - moved).min(scratch.len());
            match (&self.host).read(&mut scratch[..want]) {
                Ok(0) => {
                    self.tunnel.shutdown_write()?;
                    self.up_open = false;
                }
                Ok(n) => {
                    // Only this thread queues on the stream, and the stack only frees room:
                    // what was free is still free.
                    let w = self.tunnel.try_write(&scratch[..n])?;
                    counters.to_tunnel.add(w as u64);
                    if w < n {
                        return Err(io::Error::other("The tunnel stream took less than its free room"));
                    }
                    moved += n;
                    room -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.host_readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.down_open && self.tunnel_readable && self.host_writable {
            let host = &self.host;
            let (n, stop) = self.tunnel.recv_into(TURN, |data| (&*host).write(data));
            counters.from_tunnel.add(n as u64);
            match stop? {
                Stop::Limit => again = true,
                Stop::Stream => self.tunnel_readable = false,
                Stop::Other => self.host_writable = false,
                Stop::StreamEnd => {
                    let _ = self.host.shutdown(Shutdown::Write);
                    self.down_open = false;
                }
            }
        }
        Ok(again)
    }

    /// Asks to be told about each side a direction waits for; true if one is ready already.
    fn arm(&mut self, waker: &dyn Waker) -> io::Result<bool> {
        let up_source = self.up_open && self.early.is_empty();
        let want_host = (up_source && !self.host_readable, self.down_open && !self.host_writable);
        if (want_host.0 && !self.host_armed.0) || (want_host.1 && !self.host_armed.1) {
            let r = want_host.0 || self.host_armed.0;
            let w = want_host.1 || self.host_armed.1;
            waker.host(&self.host, r, w)?;
            self.host_armed = (r, w);
        }
        let mut ready = false;
        if self.up_open && !self.tunnel_writable && !self.tunnel_armed.write {
            // Woken for a good share of the buffer, not for each acknowledgement's few bytes.
            if waker.tunnel(&self.tunnel, Interest::Room)? {
                self.tunnel_writable = true;
                ready = true;
            } else {
                self.tunnel_armed.write = true;
            }
        }
        if self.down_open && !self.tunnel_readable && !self.tunnel_armed.read {
            if waker.tunnel(&self.tunnel, Interest::Read)? {
                self.tunnel_readable = true;
                ready = true;
            } else {
                self.tunnel_armed.read = true;
            }
        }
        Ok(ready)
    }

    /// Both ways ended: done once the tunnel took the last bytes (or after [`DRAIN`]).
    fn finished(&mut self, waker: &dyn Waker) -> io::Result<Next> {
        if waker.tunnel(&self.tunnel, Interest::Sent)? {
            return Ok(Next::Done);
        }
        self.tunnel_armed.other = true;
        if let Phase::Relaying = self.phase {
            self.phase = Phase::Draining {
                deadline: Instant::now() + DRAIN,
            };
        }
        Ok(Next::Wait)
    }

    /// The connect's progress; true once connected.
    fn connect_step(&mut self, ctx: &Context, waker: &dyn Waker) -> io::Result<bool> {
        let Phase::Connecting { rest, port, deadline } = &mut self.phase else {
            return Ok(true);
        };
        loop {
            let outcome = match self.tunnel.connected() {
                Ok(Some(())) => Ok(true),
                Ok(None) if Instant::now() >= *deadline => Err(crate::os_error::io_error(libc::ETIMEDOUT)),
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(true) => {
                    self.phase = Phase::Relaying;
                    return Ok(true);
                }
                Ok(false) => {
                    if self.tunnel_armed.other {
                        return Ok(false);
                    }
                    if waker.tunnel(&self.tunnel, Interest::Open)? {
                        continue;
                    }
                    self.tunnel_armed.other = true;
                    return Ok(false);
                }
                Err(e) => {
                    let _ = self.tunnel.abort();
                    if rest.is_empty() {
                        self.slot.counters().failed.inc();
                        return Err(e);
                    }
                    match start_next(ctx, rest, *port) {
                        Ok(t) => {
                            // The old stream's waiters go with it.
                            self.tunnel = t;
                            self.tunnel_armed = Armed::default();
                            *deadline = Instant::now() + ctx.options.connect_timeout;
                        }
                        Err(e) => {
                            self.slot.counters().failed.inc();
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Ends both sides at once after an error, and says why.
    fn fail(&mut self, ctx: &Context, e: &io::Error) {
        let _ = self.host.shutdown(Shutdown::Both);
        let _ = self.tunnel.abort();
        if !ctx.stopping() {
            ctx.log(&self.describe(e));
        }
    }

    /// Ends both sides at once (the proxy stops).
    pub(super) fn abort(&mut self) {
        let _ = self.host.shutdown(Shutdown::Both);
        let _ = self.tunnel.abort();
    }

    fn describe(&self, e: &io::Error) -> String {
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        match self.slot.listener {
            Listener::RemoteTcp => format!("remote-tcp: {} -> {peer}: {e}", self.tunnel.peer_addr()),
            l => format!("{} {peer}: {e}", l.name()),
        }
    }
}

/// Starts connecting to the next address of `rest` (taken from its end) that can be tried.
fn start_next(ctx: &Context, rest: &mut Vec<IpAddr>, port: u16) -> io::Result<TunnelStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "No address to connect to");
    while let Some(ip) = rest.pop() {
        match ctx.net.tcp_connect_start(SocketAddr::new(ip, port)) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
}
