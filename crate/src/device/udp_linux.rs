//! UDP sockets on the listen port: per worker one IPv4 and one IPv6 (`IPV6_V6ONLY`) socket,
//! all with `SO_REUSEPORT` on the same port so the kernel spreads peers (4-tuples) over
//! workers while keeping each flow on one socket (and so in order); while bulk traffic flows, a
//! reuseport program sends small data messages to the latency lane's socket (`lanes.rs`).
//! Large buffers (`SO_*BUFFORCE`, falling back to `SO_*BUF`), `SO_MARK` for the fwmark,
//! non-blocking.
//! `UDP_GRO` on receive (`WGKIT_UDP_GRO=0` turns it off). Port 0 picks a random port free
//! for both families.

use crate::error::{Error, ErrorCode, Result};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// wireguard-go's socket buffer size (7 MiB).
pub(crate) const SOCKET_BUFFER: i32 = 7 << 20;

/// A socket as the worker's poller and `batch_linux.rs` use it.
pub(crate) type Socket = OwnedFd;

#[derive(Debug)]
pub(crate) struct SocketPair {
    pub(crate) v4: OwnedFd,
    pub(crate) v6: Option<OwnedFd>,
}

/// One bound set of sockets; replaced as a whole when the port changes.
#[derive(Debug)]
pub(crate) struct Sockets {
    pub(crate) port: u16,
    pub(crate) pairs: Vec<SocketPair>,
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: value is a valid int for the option's size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Converts a socket address to its C form; returns the length used.
pub(crate) fn to_sockaddr(addr: &SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            sin.sin_zero = [0; 8];
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Converts a C socket address back; `None` for other families. IPv4-mapped IPv6 addresses
/// are returned as IPv4.
pub(crate) fn from_sockaddr(sa: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(sa as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            if let Some(v4) = ip.to_ipv4_mapped() {
                return Some(SocketAddr::new(IpAddr::V4(v4), port));
            }
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// UDP GRO on receive is on unless `WGKIT_UDP_GRO=0` (for measurements and as an escape hatch).
fn udp_gro_wanted() -> bool {
    std::env::var("WGKIT_UDP_GRO").map(|v| v != "0").unwrap_or(true)
}

fn open_socket(v6: bool, fwmark: u32) -> std::io::Result<OwnedFd> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain socket call; failure checked.
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    // Learn the local address each datagram arrived at, to answer from it (sticky source).
    if v6 {
        setsockopt_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        setsockopt_int(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    } else {
        setsockopt_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    }
    if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUFFER).is_err() {
        let _ = setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, SOCKET_BUFFER);
    }
    if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUFFER).is_err() {
        let _ = setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, SOCKET_BUFFER);
    }
    if fwmark != 0 {
        setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_MARK, fwmark as i32)?;
    }
    // Receive runs of datagrams (a peer's UDP GSO send, or what GRO merged) as one buffer with
    // their size in a control message; kernels without it deliver datagram by datagram.
    if udp_gro_wanted() {
        let _ = setsockopt_int(raw, libc::SOL_UDP, crate::device::batch::UDP_GRO, 1);
    }
    Ok(fd)
}

fn bind(fd: &OwnedFd, v6: bool, port: u16) -> std::io::Result<u16> {
    let addr = if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    };
    // SAFETY: zeroed sockaddr_storage is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = to_sockaddr(&addr, &mut ss);
    // SAFETY: ss holds a valid address of length len.
    if unsafe { libc::bind(fd.as_raw_fd(), &ss as *const _ as *const libc::sockaddr, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid out pointers.
    if unsafe { libc::getsockname(fd.as_raw_fd(), &mut ss as *mut _ as *mut libc::sockaddr, &mut len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(from_sockaddr(&ss).map(|a| a.port()).unwrap_or(port))
}

fn io_err(e: std::io::Error, context: String) -> Error {
    Error::from_io(&e, context)
}

impl Sockets {
    /// Binds `count` socket pairs on `port` (0 = random) in the calling thread's namespace.
    pub(crate) fn bind(port: u16, fwmark: u32, count: usize) -> Result<Sockets> {
        let attempts = if port == 0 { 100 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            match Self::try_bind(port, fwmark, count.max(1)) {
                Ok(s) => return Ok(s),
                Err(e) if port == 0 && e.errno == Some(libc::EADDRINUSE) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorCode::System, "Unable to bind a UDP port")))
    }

    fn try_bind(port: u16, fwmark: u32, count: usize) -> Result<Sockets> {
        let v4 = open_socket(false, fwmark).map_err(|e| io_err(e, "Unable to open UDP socket".into()))?;
        let port = bind(&v4, false, port).map_err(|e| io_err(e, format!("Unable to bind UDP port {port}")))?;
        let mut v6_ok = true;
        let mut pairs = Vec::with_capacity(count);
        let mut first_v4 = Some(v4);
        for _ in 0..count {
            let v4 = match first_v4.take() {
                Some(s) => s,
                None => {
                    let s = open_socket(false, fwmark).map_err(|e| io_err(e, "Unable to open UDP socket".into()))?;
                    bind(&s, false, port).map_err(|e| io_err(e, format!("Unable to bind UDP port {port}")))?;
                    s
                }
            };
            let v6 = if v6_ok {
                match open_socket(true, fwmark) {
                    Ok(s) => match bind(&s, true, port) {
                        Ok(_) => Some(s),
                        // No IPv6 in this namespace or kernel: run IPv4-only.
                        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) && pairs.is_empty() => {
                            v6_ok = false;
                            None
                        }
                        Err(e) => return Err(io_err(e, format!("Unable to bind UDP port {port} (IPv6)"))),
                    },
                    Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                        v6_ok = false;
                        None
                    }
                    Err(e) => return Err(io_err(e, "Unable to open UDP socket (IPv6)".into())),
                }
            } else {
                None
            };
            pairs.push(SocketPair { v4, v6 });
        }
        Ok(Sockets { port, pairs })
    }

    fn all_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.pairs
            .iter()
            .flat_map(|p| std::iter::once(p.v4.as_raw_fd()).chain(p.v6.as_ref().map(|s| s.as_raw_fd())))
    }

    /// Sets SO_MARK on every socket; on failure restores `old` on those already changed.
    pub(crate) fn set_fwmark(&self, mark: u32, old: u32) -> Result<()> {
        let fds: Vec<RawFd> = self.all_fds().collect();
        for (i, &fd) in fds.iter().enumerate() {
            if let Err(e) = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_MARK, mark as i32) {
                for &done in &fds[..i] {
                    let _ = setsockopt_int(done, libc::SOL_SOCKET, libc::SO_MARK, old as i32);
                }
                return Err(io_err(e, "Unable to set fwmark".into()));
            }
        }
        Ok(())
    }

    /// The socket of worker `i` for the family (IPv6 or not).
    #[inline]
    pub(crate) fn socket(&self, i: usize, v6: bool) -> Option<&Socket> {
        let p = &self.pairs[i % self.pairs.len()];
        if v6 {
            p.v6.as_ref()
        } else {
            Some(&p.v4)
        }
    }

    /// The socket of worker `i` for the family of `addr`.
    #[inline]
    pub(crate) fn fd_for(&self, i: usize, v6: bool) -> Option<RawFd> {
        let p = &self.pairs[i % self.pairs.len()];
        if v6 {
            p.v6.as_ref().map(|s| s.as_raw_fd())
        } else {
            Some(p.v4.as_raw_fd())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for s in ["192.0.2.1:51820", "[fd00::1]:9", "[fe80::1%2]:443"] {
            let a: SocketAddr = s.parse().unwrap();
            // SAFETY: zeroed sockaddr_storage is valid.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            to_sockaddr(&a, &mut ss);
            assert_eq!(from_sockaddr(&ss), Some(a));
        }
    }

    #[test]
    fn random_port_binds_both_families_and_reuses_port() {
        let s = Sockets::bind(0, 0, 2).unwrap();
        assert_ne!(s.port, 0);
        assert_eq!(s.pairs.len(), 2);
        // A second independent set cannot take the port without SO_REUSEPORT... but ours can,
        // so binding a plain socket to the same port must fail.
        let plain = std::net::UdpSocket::bind(("0.0.0.0", s.port));
        assert!(plain.is_err());
    }
}
