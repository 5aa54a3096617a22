//! Accept loops on host TCP listeners that `stop()` can end: the listener is non-blocking
//! and each loop waits for it in a poller (`polling`: epoll, kqueue, IOCP) for at most
//! [`super::POLL`] before it looks at the stop flag. Each accepted connection takes a place under the connection limit; a `-L` connection
//! to an address goes to the relay threads at once, the others get a thread for their
//! handshake (SOCKS5, HTTP, a name to resolve) before they do.

use super::counters::Listener;
use super::spec::Spec;
use super::{forward, health, http, socks5, Context};
use polling::{Event, Events, Poller};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Health requests answered at once.
const HEALTH_REQUESTS: usize = 16;

/// Connections the system queues for `accept` (capped by `net.core.somaxconn`): a burst of
/// clients opening connections at once must not see SYNs dropped (each drop costs the client
/// a second before it tries again).
const BACKLOG: i32 = 4096;

pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    // A second `listen` changes the queue's length (Linux, macOS); Windows keeps its first.
    socket2::SockRef::from(&l).listen(BACKLOG)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Waits for a listener to have a connection to accept.
struct Readiness {
    poller: Poller,
    events: Events,
}

impl Readiness {
    fn new(l: &TcpListener) -> io::Result<Readiness> {
        let poller = Poller::new()?;
        // SAFETY: the listener is deleted from the poller (`Readiness::end`) before `serve`
        // lets it go; should `serve` unwind instead, its `Readiness` (a local) is dropped, and
        // the poller with it, before the listener (its parameter) closes.
        unsafe { poller.add(l, Event::readable(0))? };
        Ok(Readiness {
            poller,
            events: Events::new(),
        })
    }

    /// Until `l` has a connection to accept or [`super::POLL`] passed; re-arms the interest
    /// (the poller reports once per registration).
    fn wait(&mut self, l: &TcpListener) -> io::Result<()> {
        self.events.clear();
        match self.poller.wait(&mut self.events, Some(super::POLL)) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        self.poller.modify(l, Event::readable(0))
    }

    fn end(self, l: &TcpListener) {
        let _ = self.poller.delete(l);
    }
}

fn listener_of(spec: &Spec) -> Option<Listener> {
    match spec {
        Spec::Socks5 { .. } => Some(Listener::Socks5),
        Spec::Http { .. } => Some(Listener::Http),
        Spec::LocalTcp { .. } => Some(Listener::LocalTcp),
        _ => None,
    }
}

/// Serves `l` until the proxy stops; the listener is closed when this returns.
pub(crate) fn serve(ctx: Arc<Context>, l: TcpListener, spec: Spec) {
    let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let health_busy = Arc::new(AtomicUsize::new(0));
    let mut ready = match Readiness::new(&l) {
        Ok(r) => r,
        Err(e) => {
            ctx.log(&format!("{} {local}: {e}", spec.kind()));
            return;
        }
    };
    while !ctx.stopping() {
        if let Err(e) = ready.wait(&l) {
            ctx.log(&format!("{} {local}: {e}", spec.kind()));
            break;
        }
        let (s, peer) = match l.accept() {
            Ok(c) => c,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
            Err(e)
                if matches!(
                    crate::os_error::errno_of(&e),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ECONNABORTED)
                ) =>
            {
                ctx.log(&format!("{} {local}: accept: {e}", spec.kind()));
                std::thread::sleep(super::POLL);
                continue;
            }
            Err(e) => {
                ctx.log(&format!("{} {local}: accept: {e}", spec.kind()));
                break;
            }
        };
        if s.set_nonblocking(false).is_err() {
            continue;
        }
        let started = match listener_of(&spec) {
            // The health endpoint answers outside the connection limit (it must answer when
            // the proxy is full), with a small limit of its own.
            None if health_busy.load(Ordering::Relaxed) >= HEALTH_REQUESTS => {
                let _ = s.set_write_timeout(Some(super::POLL));
                let _ = http::respond(
                    &mut { s },
                    503,
                    "Service Unavailable",
                    "Too many health requests at once\n",
                );
                Ok(())
            }
            None => {
                let (c, busy) = (ctx.clone(), Busy::take(&health_busy));
                ctx.spawn("health", move || {
                    let _ = health::serve(&c, s);
                    drop(busy);
                })
                .map(|_| ())
            }
            Some(kind) => match ctx.conns.acquire(kind) {
                Err(e) => {
                    ctx.log(&format!("{} {local}: {e}; refused {peer}", spec.kind()));
                    refuse(kind, s, &e);
                    Ok(())
                }
                Ok(slot) => match &spec {
                    Spec::LocalTcp { target, .. } => {
                        if let Err(e) = forward::serve_local_tcp(&ctx, slot, s, target) {
                            if !ctx.stopping() {
                                ctx.log(&format!("{} {peer}: {e}", spec.kind()));
                            }
                        }
                        Ok(())
                    }
                    _ => {
                        let (c, sp) = (ctx.clone(), spec.clone());
                        ctx.spawn(spec.kind(), move || {
                            let r = match &sp {
                                Spec::Socks5 { .. } => socks5::serve(&c, slot, s),
                                Spec::Http { .. } => http::serve(&c, slot, s),
                                _ => Ok(()),
                            };
                            if let Err(e) = r {
                                if !c.stopping() {
                                    c.log(&format!("{} {peer}: {e}", sp.kind()));
                                }
                            }
                        })
                        .map(|_| ())
                    }
                },
            },
        };
        if let Err(e) = started {
            ctx.log(&format!("{} {local}: {e}", spec.kind()));
        }
    }
    ready.end(&l);
}

/// Turns a connection away at the limit, saying why where the protocol has a way to.
fn refuse(kind: Listener, mut s: TcpStream, e: &io::Error) {
    let _ = s.set_write_timeout(Some(super::POLL));
    if kind == Listener::Http {
        let _ = http::respond(&mut s, 503, "Service Unavailable", &format!("{e}\n"));
    }
    // Closing with the client's request unread would reset the connection (and could lose
    // the answer): end our side, then take what has come, briefly.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(super::POLL / 2));
    let mut sink = [0u8; 4096];
    let _ = std::io::Read::read(&mut s, &mut sink);
}

/// One health request in progress (given back when dropped, even by a panic).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn take(n: &Arc<AtomicUsize>) -> Busy {
        n.fetch_add(1, Ordering::Relaxed);
        Busy(n.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
