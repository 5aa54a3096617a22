//! A SOCKS5 server (RFC 1928) whose connections leave through the tunnel: CONNECT (relayed
//! by `relay.rs`) and UDP ASSOCIATE (datagrams of the client's host relayed through one
//! tunnel UDP socket per association), with optional username/password authentication
//! (RFC 1929). Host names are resolved through the tunnel's DNS (`dns.rs`). BIND is refused
//! (reply 07).

use super::connections::Slot;
use super::Context;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_METHOD: u8 = 0xFF;
const CMD_CONNECT: u8 = 1;
const CMD_UDP_ASSOCIATE: u8 = 3;

/// RFC 1928 §6 reply codes.
#[derive(Clone, Copy)]
pub(crate) enum Reply {
    Succeeded = 0,
    GeneralFailure = 1,
    NetworkUnreachable = 3,
    HostUnreachable = 4,
    ConnectionRefused = 5,
    TtlExpired = 6,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

impl Reply {
    fn for_error(e: &io::Error) -> Reply {
        match crate::os_error::errno_of(e) {
            Some(libc::ECONNREFUSED) => Reply::ConnectionRefused,
            Some(libc::ENETUNREACH) => Reply::NetworkUnreachable,
            Some(libc::EHOSTUNREACH) => Reply::HostUnreachable,
            Some(libc::ETIMEDOUT) => Reply::TtlExpired,
            _ if e.kind() == io::ErrorKind::NotFound => Reply::HostUnreachable,
            _ => Reply::GeneralFailure,
        }
    }
}

/// A destination as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Ip(SocketAddr),
    Name(String, u16),
}

fn read_exact(s: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v)?;
    Ok(v)
}

fn protocol(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads ATYP, address and port from a stream.
fn read_address(s: &mut impl Read) -> io::Result<Result<Address, Reply>> {
    let atyp = read_exact(s, 1)?[0];
    let addr = match atyp {
        1 => {
            let b = read_exact(s, 6)?;
            Address::Ip(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                u16::from_be_bytes([b[4], b[5]]),
            ))
        }
        4 => {
            let b = read_exact(s, 18)?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            Address::Ip(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(o)),
                u16::from_be_bytes([b[16], b[17]]),
            ))
        }
        3 => {
            let len = read_exact(s, 1)?[0] as usize;
            let b = read_exact(s, len + 2)?;
            let name = String::from_utf8_lossy(&b[..len]).into_owned();
            Address::Name(name, u16::from_be_bytes([b[len], b[len + 1]]))
        }
        _ => return Ok(Err(Reply::AddressTypeNotSupported)),
    };
    Ok(Ok(addr))
}

/// Parses ATYP, address and port at the start of `b`; the address and its length.
pub(crate) fn parse_address(b: &[u8]) -> Option<(Address, usize)> {
    let port = |at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    match *b.first()? {
        1 => {
            let a = b.get(1..5)?;
            Some((
                Address::Ip(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                    port(5)?,
                )),
                7,
            ))
        }
        4 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b.get(1..17)?);
            Some((
                Address::Ip(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port(17)?)),
                19,
            ))
        }
        3 => {
            let len = *b.get(1)? as usize;
            let name = std::str::from_utf8(b.get(2..2 + len)?).ok()?.to_string();
            Some((Address::Name(name, port(2 + len)?), 4 + len))
        }
        _ => None,
    }
}

/// ATYP, address and port of `a`.
pub(crate) fn encode_address(a: SocketAddr, out: &mut Vec<u8>) {
    match a.ip() {
        IpAddr::V4(v4) => {
            out.push(1);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => {
                out.push(1);
                out.extend_from_slice(&v4.octets());
            }
            None => {
                out.push(4);
                out.extend_from_slice(&v6.octets());
            }
        },
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn send_reply(s: &mut TcpStream, r: Reply, bound: SocketAddr) -> io::Result<()> {
    let mut m = vec![VERSION, r as u8, 0];
    encode_address(bound, &mut m);
    s.write_all(&m)
}

fn unspecified() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}

/// Method negotiation and, if configured, RFC 1929 authentication; false if the client was
/// turned away.
fn authenticate(ctx: &Context, s: &mut TcpStream) -> io::Result<bool> {
    let head = read_exact(s, 2)?;
    if head[0] != VERSION {
        return Err(protocol("Not a SOCKS5 client"));
    }
    let methods = read_exact(s, head[1] as usize)?;
    let want = if ctx.options.socks5_auth.is_some() {
        USER_PASS
    } else {
        NO_AUTH
    };
    if !methods.contains(&want) {
        s.write_all(&[VERSION, NO_METHOD])?;
        return Ok(false);
    }
    s.write_all(&[VERSION, want])?;
    let Some(auth) = &ctx.options.socks5_auth else {
        return Ok(true);
    };
    let ver = read_exact(s, 1)?[0];
    if ver != 1 {
        return Err(protocol("Bad username/password negotiation version"));
    }
    let ulen = read_exact(s, 1)?[0] as usize;
    let user = read_exact(s, ulen)?;
    let plen = read_exact(s, 1)?[0] as usize;
    let pass = read_exact(s, plen)?;
    use subtle::ConstantTimeEq;
    let ok = bool::from(user.ct_eq(auth.username.as_bytes())) & bool::from(pass.ct_eq(auth.password.as_bytes()));
    s.write_all(&[1, if ok { 0 } else { 1 }])?;
    Ok(ok)
}

/// Serves one SOCKS5 client.
pub(crate) fn serve(ctx: &Arc<Context>, slot: Slot, mut s: TcpStream) -> io::Result<()> {
    slot.watch_host(&s)?;
    s.set_read_timeout(Some(ctx.options.handshake_timeout))?;
    if !authenticate(ctx, &mut s)? {
        return Ok(());
    }
    let head = read_exact(&mut s, 3)?;
    if head[0] != VERSION {
        return Err(protocol("Not a SOCKS5 request"));
    }
    let addr = match read_address(&mut s)? {
        Ok(a) => a,
        Err(r) => return send_reply(&mut s, r, unspecified()),
    };
    match head[1] {
        CMD_CONNECT => {
            let result = match &addr {
                Address::Ip(a) => ctx.connect_tunnel_addrs(&[a.ip()], a.port()),
                Address::Name(n, p) => ctx.connect_tunnel_name(n, *p),
            };
            let tunnel = match result {
                Ok(t) => t,
                Err(e) => {
                    slot.counters().failed.inc();
                    send_reply(&mut s, Reply::for_error(&e), unspecified())?;
                    return Err(e);
                }
            };
            send_reply(&mut s, Reply::Succeeded, tunnel.local_addr())?;
            ctx.relays()?.relay(slot, s, tunnel, Vec::new())
        }
        CMD_UDP_ASSOCIATE => associate(ctx, &slot, s, addr),
        _ => send_reply(&mut s, Reply::CommandNotSupported, unspecified()),
    }
}

/// UDP ASSOCIATE: one host UDP socket for the client, one tunnel UDP socket; lasts as long
/// as the control connection.
fn associate(ctx: &Arc<Context>, slot: &Slot, mut control: TcpStream, requested: Address) -> io::Result<()> {
    let client_ip = control.peer_addr()?.ip();
    let host = UdpSocket::bind(SocketAddr::new(control.local_addr()?.ip(), 0))?;
    host.set_read_timeout(Some(super::POLL))?;
    let tunnel = Arc::new(ctx.net.udp_bind(unspecified())?);
    // The client's datagram address: what the request named if it named one, else the first
    // sender from the client's host.
    let fixed = match requested {
        Address::Ip(a) if a.port() != 0 && !a.ip().is_unspecified() => Some(a),
        _ => None,
    };
    send_reply(&mut control, Reply::Succeeded, host.local_addr()?)?;
    let client: Arc<parking_lot::Mutex<Option<SocketAddr>>> = Arc::new(parking_lot::Mutex::new(fixed));
    let done = Arc::new(AtomicBool::new(false));
    let host = Arc::new(host);

    let (c2, h2, t2, d2, x2) = (client.clone(), host.clone(), tunnel.clone(), done.clone(), ctx.clone());
    let listener = slot.listener;
    let back = ctx.spawn("socks5-udp-back", move || {
        let counters = x2.counters.get(listener);
        let mut buf = vec![0u8; 65536];
        while !d2.load(Ordering::Relaxed) && !x2.stopping() {
            let (n, from) = match t2.recv_from_until(&mut buf, Some(Instant::now() + super::POLL)) {
                Ok(r) => r,
                Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => continue,
                Err(_) => break,
            };
            let Some(to) = *c2.lock() else { continue };
            let mut m = vec![0, 0, 0];
            encode_address(from, &mut m);
            m.extend_from_slice(&buf[..n]);
            if h2.send_to(&m, to).is_ok() {
                counters.from_tunnel.add(n as u64);
            }
        }
    })?;
    let (h3, t3, d3, x3) = (host.clone(), tunnel.clone(), done.clone(), ctx.clone());
    let c3 = client.clone();
    let out = ctx.spawn("socks5-udp-out", move || {
        let counters = x3.counters.get(listener);
        let mut names: HashMap<String, IpAddr> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        while !d3.load(Ordering::Relaxed) && !x3.stopping() {
            let (n, from) = match h3.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                Err(_) => break,
            };
            {
                let mut c = c3.lock();
                match *c {
                    Some(a) if a != from => continue,
                    None if from.ip() != client_ip => continue,
                    None => *c = Some(from),
                    _ => {}
                }
            }
            let m = &buf[..n];
            // RSV RSV FRAG: fragments are not supported and dropped (RFC 1928 §7 allows it).
            if m.len() < 4 || m[2] != 0 {
                continue;
            }
            let Some((dst, len)) = parse_address(&m[3..]) else {
                continue;
            };
            let data = &m[3 + len..];
            let to = match dst {
                Address::Ip(a) => a,
                Address::Name(name, port) => {
                    let ip = match names.get(&name) {
                        Some(ip) => *ip,
                        None => match x3.resolver.resolve(&name).ok().and_then(|a| a.first().copied()) {
                            Some(ip) => {
                                names.insert(name, ip);
                                ip
                            }
                            None => continue,
                        },
                    };
                    SocketAddr::new(ip, port)
                }
            };
            if t3
                .send_to_until(data, to, Some(Instant::now() + Duration::from_secs(1)))
                .is_ok()
            {
                counters.to_tunnel.add(data.len() as u64);
            }
        }
    })?;
    // The association ends with its control connection.
    control.set_read_timeout(None)?;
    let mut sink = [0u8; 512];
    while let Ok(n) = control.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    back.join();
    out.join();
    Ok(())
}
