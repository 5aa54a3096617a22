//! Port forwarding, as ssh does it: `-L` (a host TCP port to a target inside the tunnel),
//! `-U` (the same for UDP: one tunnel UDP socket per client address, each session ending
//! after [`super::ProxyOptions::udp_idle`] of silence), and `-R` (a TCP port on the tunnel's
//! addresses to a target on the host's network, like `ssh -R`).

use super::connections::Slot;
use super::counters::Listener;
use super::spec::{Host, Target};
use super::Context;
use crate::device::{TcpListener as TunnelListener, UdpSocket as TunnelUdp};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

/// `-L`: one accepted host connection to `target` through the tunnel. An address target is
/// connected by the relay threads (this returns at once); a name is resolved first, on a
/// thread of its own.
pub(crate) fn serve_local_tcp(ctx: &Arc<Context>, slot: Slot, s: TcpStream, target: &Target) -> io::Result<()> {
    match &target.host {
        Host::Ip(ip) => ctx.relays()?.connect_and_relay(ctx, slot, s, vec![*ip], target.port),
        Host::Name(name) => {
            slot.watch_host(&s)?;
            let (c, name, port) = (ctx.clone(), name.clone(), target.port);
            ctx.spawn("local-tcp", move || {
                let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                let r = c
                    .resolver
                    .resolve(&name)
                    .inspect_err(|_| slot.counters().failed.inc())
                    .and_then(|addrs| c.relays()?.connect_and_relay(&c, slot, s, addrs, port));
                if let Err(e) = r {
                    if !c.stopping() {
                        c.log(&format!("local-tcp {peer}: {e}"));
                    }
                }
            })
            .map(|_| ())
        }
    }
}

/// `-R`: accepts on the tunnel and connects each stream to `target` on the host's network.
pub(crate) fn run_remote_tcp(ctx: Arc<Context>, mut listener: TunnelListener, target: Target) {
    while !ctx.stopping() {
        let stream = match listener.accept_until(Some(Instant::now() + super::POLL)) {
            Ok(s) => s,
            Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => continue,
            Err(e) => {
                ctx.log(&format!("remote-tcp {}: {e}", listener.local_addr()));
                break;
            }
        };
        let slot = match ctx.conns.acquire(Listener::RemoteTcp) {
            Ok(s) => s,
            Err(e) => {
                ctx.log(&format!("remote-tcp: {e}; refused {}", stream.peer_addr()));
                let _ = stream.abort();
                continue;
            }
        };
        let (c, t) = (ctx.clone(), target.clone());
        let started = ctx.spawn("remote-tcp", move || {
            let peer = stream.peer_addr();
            let host = match connect_host(&t, c.options.connect_timeout) {
                Ok(h) => h,
                Err(e) => {
                    slot.counters().failed.inc();
                    c.log(&format!("remote-tcp: {peer} -> {t}: {e}"));
                    let _ = stream.abort();
                    return;
                }
            };
            if let Err(e) = c.relays().and_then(|r| r.relay(slot, host, stream, Vec::new())) {
                c.log(&format!("remote-tcp: {peer} -> {t}: {e}"));
            }
        });
        if let Err(e) = started {
            ctx.log(&format!("remote-tcp: {e}"));
        }
    }
}

/// Connects to `target` on the host's network (names through the system's resolver).
fn connect_host(target: &Target, timeout: std::time::Duration) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        Host::Name(n) => (n.as_str(), target.port).to_socket_addrs()?.collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("`{}' has no address", target.host));
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

struct Session {
    tunnel: Arc<TunnelUdp>,
    last: Mutex<Instant>,
    _slot: Slot,
}

/// `-U`: datagrams from each client address go to `target` through a tunnel socket of their
/// own; what comes back on that socket goes to that client.
pub(crate) fn run_local_udp(ctx: Arc<Context>, host: UdpSocket, target: Target) {
    let host = Arc::new(host);
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<Session>>>> = Arc::default();
    let mut to: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65536];
    let counters = ctx.counters.get(Listener::LocalUdp);
    while !ctx.stopping() {
        let (n, from) = match host.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                ctx.log(&format!("local-udp {}: {e}", target));
                break;
            }
        };
        // The target's address, resolved once and again after a failure.
        let dest = match to {
            Some(a) => a,
            None => match ctx.resolve_target(&target) {
                Ok(a) => *to.insert(a),
                Err(e) => {
                    counters.failed.inc();
                    ctx.log(&format!("local-udp: {target}: {e}"));
                    continue;
                }
            },
        };
        let session = sessions.lock().get(&from).cloned();
        let session = match session {
            Some(s) => s,
            None => match open_session(&ctx, &host, &sessions, from) {
                Ok(s) => s,
                Err(e) => {
                    ctx.log(&format!("local-udp: {e}; dropped a datagram from {from}"));
                    continue;
                }
            },
        };
        *session.last.lock() = Instant::now();
        match session
            .tunnel
            .send_to_until(&buf[..n], dest, Some(Instant::now() + super::POLL))
        {
            Ok(_) => counters.to_tunnel.add(n as u64),
            Err(e) if crate::os_error::errno_of(&e) == Some(libc::ENETUNREACH) => {
                to = None;
                counters.failed.inc();
            }
            Err(_) => counters.failed.inc(),
        }
    }
}

fn open_session(
    ctx: &Arc<Context>,
    host: &Arc<UdpSocket>,
    sessions: &Arc<Mutex<HashMap<SocketAddr, Arc<Session>>>>,
    client: SocketAddr,
) -> io::Result<Arc<Session>> {
    let slot = ctx.conns.acquire(Listener::LocalUdp)?;
    let any = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0);
    let session = Arc::new(Session {
        tunnel: Arc::new(ctx.net.udp_bind(any)?),
        last: Mutex::new(Instant::now()),
        _slot: slot,
    });
    sessions.lock().insert(client, session.clone());
    let (c, h, m, s) = (ctx.clone(), host.clone(), sessions.clone(), session.clone());
    let started = ctx.spawn("local-udp-back", move || {
        let counters = c.counters.get(Listener::LocalUdp);
        let mut buf = vec![0u8; 65536];
        loop {
            if c.stopping() || s.last.lock().elapsed() >= c.options.udp_idle {
                break;
            }
            match s.tunnel.recv_from_until(&mut buf, Some(Instant::now() + super::POLL)) {
                Ok((n, _)) => {
                    *s.last.lock() = Instant::now();
                    if h.send_to(&buf[..n], client).is_ok() {
                        counters.from_tunnel.add(n as u64);
                    }
                }
                Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => {}
                Err(_) => break,
            }
        }
        m.lock().remove(&client);
    });
    if let Err(e) = started {
        sessions.lock().remove(&client);
        return Err(e);
    }
    Ok(session)
}
