//! The proxy's live connections: a global limit (a connection past it is refused with a clear
//! error), and what `stop()` must close to wake the threads of connections not yet handed to
//! the relay threads (host sockets are shut down, tunnel streams aborted: a SOCKS5 or HTTP
//! handshake, a `--stdio` session). A [`Slot`] is one connection's place: taken before the
//! work starts, given back when its last owner (a thread, or a relayed pair) lets go of it.

use super::counters::{Counters, Listener};
use crate::device::TcpStream as TunnelStream;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Closers {
    host: Vec<std::net::TcpStream>,
    tunnel: Vec<Arc<TunnelStream>>,
}

impl Closers {
    fn close(&self) {
        for h in &self.host {
            let _ = h.shutdown(Shutdown::Both);
        }
        for t in &self.tunnel {
            let _ = t.abort();
        }
    }
}

struct Table {
    next: u64,
    stopping: bool,
    live: HashMap<u64, Closers>,
}

pub(crate) struct Connections {
    max: usize,
    table: Mutex<Table>,
    emptied: Condvar,
    counters: Arc<Counters>,
}

/// One connection's place under the limit.
pub(crate) struct Slot {
    conns: Arc<Connections>,
    id: u64,
    pub(crate) listener: Listener,
}

impl Connections {
    pub(crate) fn new(max: usize, counters: Arc<Counters>) -> Arc<Connections> {
        Arc::new(Connections {
            max,
            table: Mutex::new(Table {
                next: 0,
                stopping: false,
                live: HashMap::new(),
            }),
            emptied: Condvar::new(),
            counters,
        })
    }

    /// A place for one more connection, or the error to give its client.
    pub(crate) fn acquire(self: &Arc<Self>, listener: Listener) -> io::Result<Slot> {
        let mut t = self.table.lock();
        if t.stopping {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "The proxy is stopping"));
        }
        if t.live.len() >= self.max {
            drop(t);
            self.counters.get(listener).rejected.inc();
            return Err(io::Error::other(format!(
                "Connection limit reached: {} connections are open",
                self.max
            )));
        }
        let id = t.next;
        t.next += 1;
        t.live.insert(id, Closers::default());
        drop(t);
        let c = self.counters.get(listener);
        c.accepted.inc();
        c.active.add(1);
        Ok(Slot {
            conns: self.clone(),
            id,
            listener,
        })
    }

    pub(crate) fn active(&self) -> usize {
        self.table.lock().live.len()
    }

    /// Refuses new connections and closes the open ones.
    pub(crate) fn close_all(&self) {
        let mut t = self.table.lock();
        t.stopping = true;
        for c in t.live.values() {
            c.close();
        }
    }

    /// Waits until every slot was given back (or `timeout`); true if none is left.
    pub(crate) fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut t = self.table.lock();
        while !t.live.is_empty() {
            if self.emptied.wait_until(&mut t, deadline).timed_out() {
                return t.live.is_empty();
            }
        }
        true
    }
}

impl Slot {
    fn register(&self, f: impl FnOnce(&mut Closers)) -> io::Result<()> {
        let mut t = self.conns.table.lock();
        let stopping = t.stopping;
        let Some(c) = t.live.get_mut(&self.id) else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "The proxy is stopping"));
        };
        f(c);
        if stopping {
            c.close();
            return Err(io::Error::new(io::ErrorKind::NotConnected, "The proxy is stopping"));
        }
        Ok(())
    }

    /// `stop()` shuts this host socket down (a clone of it is kept).
    pub(crate) fn watch_host(&self, s: &std::net::TcpStream) -> io::Result<()> {
        let clone = s.try_clone()?;
        self.register(|c| c.host.push(clone))
    }

    /// `stop()` aborts this tunnel stream.
    pub(crate) fn watch_tunnel(&self, s: &Arc<TunnelStream>) -> io::Result<()> {
        let s = s.clone();
        self.register(|c| c.tunnel.push(s))
    }

    /// The connection's relay thread closes it from now on (`relay.rs`): `stop()` no longer
    /// needs to, and the clones kept for it are dropped.
    pub(crate) fn unwatch(&self) {
        if let Some(c) = self.conns.table.lock().live.get_mut(&self.id) {
            *c = Closers::default();
        }
    }

    pub(crate) fn counters(&self) -> &super::counters::ListenerCounters {
        self.conns.counters.get(self.listener)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.conns.table.lock();
        t.live.remove(&self.id);
        if t.live.is_empty() {
            self.conns.emptied.notify_all();
        }
        drop(t);
        self.conns.counters.get(self.listener).active.add(-1);
    }
}
