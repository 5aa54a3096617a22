//! Every platform but Linux: one IPv4 and one IPv6 (`IPV6_V6ONLY`) socket on the listen port,
//! shared by the workers (without SO_REUSEPORT's load balancing, several sockets on one port
//! would only split the traffic arbitrarily), non-blocking, with wireguard-go's buffer sizes
//! where the OS grants them. On Windows, `SIO_UDP_CONNRESET` is turned off so that an ICMP
//! port unreachable for an earlier datagram does not fail the next receive
//! (`WSAECONNRESET`); where that cannot be done the receive loop skips such errors
//! ([`is_stale_reset`]). No fwmark (a Linux routing mark): asking for one fails with
//! `UnsupportedPlatform`. Port 0 picks a random port free for both families.

use crate::error::{Error, ErrorCode, Result};
use socket2::{Domain, Protocol, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// wireguard-go's socket buffer size (7 MiB).
pub(crate) const SOCKET_BUFFER: usize = 7 << 20;

/// A socket as the worker's poller and `batch_portable.rs` use it.
pub(crate) type Socket = std::net::UdpSocket;

#[derive(Debug)]
pub(crate) struct SocketPair {
    pub(crate) v4: Socket,
    pub(crate) v6: Option<Socket>,
}

/// One bound set of sockets; replaced as a whole when the port changes.
#[derive(Debug)]
pub(crate) struct Sockets {
    pub(crate) port: u16,
    pub(crate) pairs: Vec<SocketPair>,
}

fn no_fwmark() -> Error {
    Error::unsupported_platform("fwmark is a Linux routing mark: it cannot be set on this platform")
}

fn open(v6: bool, port: u16) -> std::io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = socket2::Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if v6 {
        s.set_only_v6(true)?;
    }
    // Best effort: the OS may cap them.
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    s.bind(&SocketAddr::new(ip, port).into())?;
    let s: Socket = s.into();
    no_connection_resets(&s);
    Ok(s)
}

/// Windows: an ICMP port unreachable in answer to a datagram makes the socket's next
/// `recvfrom` fail with WSAECONNRESET unless `SIO_UDP_CONNRESET` is off.
#[cfg(windows)]
fn no_connection_resets(s: &Socket) {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{WSAIoctl, SIO_UDP_CONNRESET};
    let off: u32 = 0;
    let mut returned: u32 = 0;
    // SAFETY: a valid socket; the input buffer is a 4-byte BOOL, no output buffer, no
    // overlapped I/O. A failure leaves the option on, which `is_stale_reset` covers.
    unsafe {
        WSAIoctl(
            s.as_raw_socket() as usize,
            SIO_UDP_CONNRESET,
            &off as *const u32 as *const core::ffi::c_void,
            4,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
}

#[cfg(not(windows))]
fn no_connection_resets(_: &Socket) {}

/// A receive error that reports an ICMP error for an earlier send, not a broken socket.
pub(crate) fn is_stale_reset(e: &std::io::Error) -> bool {
    cfg!(windows) && e.kind() == std::io::ErrorKind::ConnectionReset
}

fn io_err(e: std::io::Error, context: String) -> Error {
    Error::from_io(&e, context)
}

impl Sockets {
    /// Binds the socket pair on `port` (0 = random). `count` (the workers) does not matter
    /// here: they share the pair.
    pub(crate) fn bind(port: u16, fwmark: u32, _count: usize) -> Result<Sockets> {
        if fwmark != 0 {
            return Err(no_fwmark());
        }
        let attempts = if port == 0 { 100 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            match Self::try_bind(port) {
                Ok(s) => return Ok(s),
                Err(e) if port == 0 && e.errno == Some(libc::EADDRINUSE) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorCode::System, "Unable to bind a UDP port")))
    }

    fn try_bind(port: u16) -> Result<Sockets> {
        let v4 = open(false, port).map_err(|e| io_err(e, format!("Unable to bind UDP port {port}")))?;
        let port = v4
            .local_addr()
            .map_err(|e| io_err(e, "Unable to read the UDP port".into()))?
            .port();
        let v6 = match open(true, port) {
            Ok(s) => Some(s),
            // No IPv6 here: run IPv4-only.
            Err(e)
                if matches!(
                    crate::os_error::errno_of(&e),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT)
                ) =>
            {
                None
            }
            Err(e) => return Err(io_err(e, format!("Unable to bind UDP port {port} (IPv6)"))),
        };
        Ok(Sockets {
            port,
            pairs: vec![SocketPair { v4, v6 }],
        })
    }

    /// Only 0 (no mark) is possible here.
    pub(crate) fn set_fwmark(&self, mark: u32, _old: u32) -> Result<()> {
        match mark {
            0 => Ok(()),
            _ => Err(no_fwmark()),
        }
    }

    /// The socket of worker `i` (all share it) for the family (IPv6 or not).
    #[inline]
    pub(crate) fn socket(&self, i: usize, v6: bool) -> Option<&Socket> {
        let p = &self.pairs[i % self.pairs.len()];
        if v6 {
            p.v6.as_ref()
        } else {
            Some(&p.v4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_port_binds_both_families_and_is_taken() {
        let s = Sockets::bind(0, 0, 2).unwrap();
        assert_ne!(s.port, 0);
        assert_eq!(s.pairs.len(), 1);
        assert_eq!(s.pairs[0].v4.local_addr().unwrap().port(), s.port);
        let plain = std::net::UdpSocket::bind(("0.0.0.0", s.port));
        assert!(plain.is_err());
    }

    #[test]
    fn a_fwmark_is_refused_as_unsupported() {
        let e = Sockets::bind(0, 1, 1).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedPlatform);
        let s = Sockets::bind(0, 0, 1).unwrap();
        assert_eq!(s.set_fwmark(7, 0).unwrap_err().code, ErrorCode::UnsupportedPlatform);
        s.set_fwmark(0, 0).unwrap();
    }
}
