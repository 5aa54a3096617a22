//! Accept loops on host TCP listeners that `stop()` can end: the listener is non-blocking
//! and each loop waits in `poll(2)` for at most [`super::POLL`] before it looks at the stop
//! flag. Each accepted connection takes a place under the connection limit; a `-L` connection
//! to an address goes to the relay threads at once, the others get a thread for their
//! handshake (SOCKS5, HTTP, a name to resolve) before they do.

use super::counters::Listener;
use super::spec::Spec;
use super::{forward, health, http, socks5, Context};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Health requests answered at once.
const HEALTH_REQUESTS: usize = 16;

/// Connections the system queues for `accept` (capped by `net.core.somaxconn`): a burst of
/// clients opening connections at once must not see SYNs dropped (each drop costs the client
/// a second before it tries again).
const BACKLOG: libc::c_int = 4096;

pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    // SAFETY: `listen` on the descriptor `l` owns (bound and listening already): it only
    // changes the length of its queue.
    if unsafe { libc::listen(l.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Waits until `l` has a connection to accept or [`super::POLL`] passed.
fn wait_readable(l: &TcpListener) -> io::Result<()> {
    let mut fd = libc::pollfd {
        fd: l.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `fd` is one valid pollfd that lives across the call, and the count says one;
    // the descriptor belongs to `l`, which outlives the call.
    let r = unsafe { libc::poll(&mut fd, 1, super::POLL.as_millis() as libc::c_int) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
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
    while !ctx.stopping() {
        if let Err(e) = wait_readable(&l) {
            ctx.log(&format!("{} {local}: {e}", spec.kind()));
            break;
        }
        let (s, peer) = match l.accept() {
            Ok(c) => c,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
            Err(e)
                if matches!(
                    e.raw_os_error(),
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
