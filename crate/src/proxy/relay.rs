//! The relay threads: a small fixed set (one per core, at most [`MAX_THREADS`]) that move the
//! bytes of every established TCP connection of the proxy, each connection owned by one
//! thread (`relay_pair.rs`: a host socket and a tunnel stream). A thread waits in a poller
//! (epoll, kqueue or IOCP through the `polling` crate) for its host sockets' readiness, and is
//! woken through the same poller by the netstack's waiters for its tunnel streams' readiness
//! and by new connections handed to it. No thread blocks on a connection, and no buffer is
//! held per connection (each thread has one scratch buffer of [`TURN`] bytes): an idle
//! connection costs its two sockets.

use super::connections::Slot;
use super::relay_pair::{Next, Pair, Waker, TURN};
use super::Context;
use crate::device::netstack::Interest;
use crate::device::TcpStream as TunnelStream;
use parking_lot::Mutex;
use polling::{Event, Events, Poller};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Relay threads at most (one per core below that).
const MAX_THREADS: usize = 4;

/// What other threads hand to a relay thread.
#[derive(Default)]
struct Inbox {
    pairs: Vec<Pair>,
    /// Tunnel waiters called: (pair, what became ready).
    ready: Vec<(usize, Interest)>,
    stopping: bool,
}

/// A relay thread's side that others reach.
struct Shared {
    poller: Poller,
    inbox: Mutex<Inbox>,
    /// The poller was notified and the thread has not looked at the inbox since.
    notified: AtomicBool,
}

impl Shared {
    fn wake(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            let _ = self.poller.notify();
        }
    }

    fn tunnel_ready(&self, key: usize, interest: Interest) {
        self.inbox.lock().ready.push((key, interest));
        self.wake();
    }
}

/// The proxy's relay threads.
pub(crate) struct Relays {
    threads: Vec<Arc<Shared>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
}

impl Relays {
    /// Starts the threads (their count: the cores, at most [`MAX_THREADS`]).
    pub(crate) fn start(ctx: &Arc<Context>) -> io::Result<Relays> {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_THREADS);
        let mut relays = Relays {
            threads: Vec::new(),
            handles: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        };
        for _ in 0..n {
            let shared = Arc::new(Shared {
                poller: Poller::new()?,
                inbox: Mutex::new(Inbox::default()),
                notified: AtomicBool::new(false),
            });
            let (c, s) = (ctx.clone(), shared.clone());
            let started = ctx.spawn("relay", move || run(&c, &s));
            match started {
                Ok(j) => {
                    relays.threads.push(shared);
                    relays.handles.lock().push(j.handle);
                }
                Err(e) => {
                    relays.stop();
                    return Err(e);
                }
            }
        }
        Ok(relays)
    }

    fn hand(&self, pair: Pair) -> io::Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let shared = &self.threads[i];
        let mut inbox = shared.inbox.lock();
        if inbox.stopping {
            drop(inbox);
            let mut pair = pair;
            pair.abort();
            return Err(io::Error::new(io::ErrorKind::NotConnected, "The proxy is stopping"));
        }
        inbox.pairs.push(pair);
        drop(inbox);
        shared.wake();
        Ok(())
    }

    /// Relays `host` <-> `tunnel` (connected) from now on; `early` is what the host already
    /// sent (read past a proxy request's head) and goes into the tunnel first. The slot is
    /// given back when the connection ends.
    pub(crate) fn relay(&self, slot: Slot, host: TcpStream, tunnel: TunnelStream, early: Vec<u8>) -> io::Result<()> {
        slot.unwatch();
        self.hand(Pair::established(slot, host, tunnel, early)?)
    }

    /// Connects through the tunnel to `port` at the first of `addrs` that answers (each
    /// within the connect timeout), then relays it with `host`; if none does, `host` is
    /// closed and the failure logged. Fails at once if no address could even be tried.
    pub(crate) fn connect_and_relay(
        &self,
        ctx: &Context,
        slot: Slot,
        host: TcpStream,
        addrs: Vec<IpAddr>,
        port: u16,
    ) -> io::Result<()> {
        slot.unwatch();
        self.hand(Pair::connecting(ctx, slot, host, addrs, port)?)
    }

    /// Ends every relayed connection (both sides closed at once) and waits for the threads.
    /// Connections handed over after this are refused. Idempotent.
    pub(crate) fn stop(&self) {
        for s in &self.threads {
            s.inbox.lock().stopping = true;
            s.wake();
        }
        for h in self.handles.lock().drain(..) {
            let _ = h.join();
        }
    }
}

/// The poller and the tunnel waiters of one pair, as its [`Waker`].
struct PairWaker<'a> {
    shared: &'a Arc<Shared>,
    key: usize,
}

impl Waker for PairWaker<'_> {
    fn host(&self, host: &TcpStream, readable: bool, writable: bool) -> io::Result<()> {
        self.shared
            .poller
            .modify(host, Event::new(self.key, readable, writable))
    }

    fn tunnel(&self, tunnel: &TunnelStream, interest: Interest) -> io::Result<bool> {
        let (s, key) = (self.shared.clone(), self.key);
        tunnel.ready_or_notify(interest, Box::new(move || s.tunnel_ready(key, interest)))
    }
}

/// The pairs of one thread, by key (keys are never reused: an event for a pair that ended
/// finds nothing). Every pair here has its host socket in the thread's poller.
struct Pairs {
    shared: Arc<Shared>,
    by_key: HashMap<usize, Pair>,
    next_key: usize,
}

impl Pairs {
    fn remove(&mut self, key: usize) {
        if let Some(p) = self.by_key.remove(&key) {
            let _ = self.shared.poller.delete(p.host_socket());
        }
    }
}

impl Drop for Pairs {
    /// The sockets leave the poller before they close, also when the thread unwinds.
    fn drop(&mut self) {
        for p in self.by_key.values() {
            let _ = self.shared.poller.delete(p.host_socket());
        }
    }
}

fn run(ctx: &Arc<Context>, shared: &Arc<Shared>) {
    let mut pairs = Pairs {
        shared: shared.clone(),
        by_key: HashMap::new(),
        next_key: 0,
    };
    let mut events = Events::new();
    let mut deadlines: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut due: Vec<usize> = Vec::new();
    let mut again: Vec<usize> = Vec::new();
    // Host bytes on their way into the tunnel pass here (the read happens outside the
    // stack's lock); one per thread, whatever the number of connections.
    let mut scratch = vec![0u8; TURN];
    loop {
        let timeout = if !again.is_empty() {
            Some(Duration::ZERO)
        } else {
            deadlines
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()))
        };
        events.clear();
        if let Err(e) = shared.poller.wait(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                ctx.log(&format!("relay: {e}"));
                std::thread::sleep(super::POLL);
            }
        }
        due.append(&mut again);
        for ev in events.iter() {
            if let Some(p) = pairs.by_key.get_mut(&ev.key) {
                p.host_event(ev.readable, ev.writable, ev.is_interrupt() || ev.is_err() == Some(true));
                due.push(ev.key);
            }
        }
        shared.notified.store(false, Ordering::Release);
        let (new_pairs, ready, stopping) = {
            let mut inbox = shared.inbox.lock();
            (
                std::mem::take(&mut inbox.pairs),
                std::mem::take(&mut inbox.ready),
                inbox.stopping,
            )
        };
        if stopping {
            for mut p in new_pairs {
                p.abort();
            }
            for (_, mut p) in pairs.by_key.drain() {
                p.abort();
                let _ = shared.poller.delete(p.host_socket());
            }
            return;
        }
        for pair in new_pairs {
            let key = pairs.next_key;
            pairs.next_key += 1;
            let deadline = pair.deadline();
            // SAFETY: the socket is deleted from the poller before it is closed: the pair goes
            // into `pairs` right after this (or is dropped here, unregistered, on an error), and
            // leaves it only through `Pairs::remove`, the stop path above, or `Pairs`' drop
            // (an unwinding thread), which all delete it before dropping the pair.
            if let Err(e) = unsafe { shared.poller.add(pair.host_socket(), Event::none(key)) } {
                let mut pair = pair;
                pair.abort();
                ctx.log(&format!("relay: {e}"));
                continue;
            }
            pairs.by_key.insert(key, pair);
            if let Some(d) = deadline {
                deadlines.push(Reverse((d, key)));
            }
            due.push(key);
        }
        for (key, interest) in ready {
            if let Some(p) = pairs.by_key.get_mut(&key) {
                p.tunnel_event(interest);
                due.push(key);
            }
        }
        let now = Instant::now();
        while let Some(&Reverse((t, key))) = deadlines.peek() {
            if t > now {
                break;
            }
            deadlines.pop();
            if pairs
                .by_key
                .get(&key)
                .and_then(Pair::deadline)
                .is_some_and(|d| d <= now)
            {
                due.push(key);
            }
        }
        due.sort_unstable();
        due.dedup();
        for key in due.drain(..) {
            let Some(p) = pairs.by_key.get_mut(&key) else {
                continue;
            };
            let before = p.deadline();
            let waker = PairWaker { shared, key };
            match p.turn(ctx, &waker, &mut scratch) {
                Next::Wait => {}
                Next::Again => again.push(key),
                Next::Done => {
                    pairs.remove(key);
                    continue;
                }
            }
            if let Some(d) = p.deadline() {
                if before != Some(d) {
                    deadlines.push(Reverse((d, key)));
                }
            }
        }
    }
}
