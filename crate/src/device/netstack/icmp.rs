//! ICMP echo ("ping") from the tunnel's addresses: a socket bound to one echo identifier sends
//! echo requests (ICMP to IPv4 destinations, ICMPv6 to IPv6 ones) and queues the replies that
//! carry its identifier. Echo requests to the tunnel's own addresses are answered by the
//! stack itself (smoltcp's `auto-icmp-echo-reply`), not here.

use super::stack::{Interest, StackShared};
use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp::{self, PacketBuffer, PacketMetadata};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, Ipv6Address};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

/// Packets and bytes each queue holds.
const QUEUE_PACKETS: usize = 64;
const QUEUE_BYTES: usize = 256 << 10;
/// ICMP echo header: type, code, checksum, identifier, sequence number.
const ECHO_HEADER: usize = 8;
/// The largest echo payload (an IPv4 datagram of 65535 bytes less IP and ICMP headers).
pub const MAX_ECHO_PAYLOAD: usize = 65507;

fn errno(e: i32) -> io::Error {
    crate::os_error::io_error(e)
}

/// One echo reply taken from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    pub from: IpAddr,
    pub seq: u16,
    pub data: Vec<u8>,
}

/// A socket for ICMP echo through the tunnel, bound to one identifier.
pub struct IcmpSocket {
    stack: Arc<StackShared>,
    handle: SocketHandle,
    ident: u16,
}

impl IcmpSocket {
    pub(crate) fn bind(stack: &Arc<StackShared>, ident: u16) -> io::Result<IcmpSocket> {
        let mut st = stack.lock()?;
        let buffer = || PacketBuffer::new(vec![PacketMetadata::EMPTY; QUEUE_PACKETS], vec![0u8; QUEUE_BYTES]);
        let mut s = icmp::Socket::new(buffer(), buffer());
        s.bind(icmp::Endpoint::Ident(ident)).map_err(|_| errno(libc::EINVAL))?;
        let handle = st.sockets.add(s);
        Ok(IcmpSocket {
            stack: stack.clone(),
            handle,
            ident,
        })
    }

    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Queues an echo request to `to` with sequence number `seq` and payload `data`.
    pub fn send_echo(&self, to: IpAddr, seq: u16, data: &[u8]) -> io::Result<()> {
        if to.is_unspecified() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("Cannot ping {to}")));
        }
        if data.len() > MAX_ECHO_PAYLOAD {
            return Err(errno(libc::EMSGSIZE));
        }
        let mut st = self.stack.lock()?;
        if st.source_for(to).is_none() {
            return Err(errno(libc::ENETUNREACH));
        }
        let mut packet = vec![0u8; ECHO_HEADER + data.len()];
        // The interface checksums the packet as it sends it (it parses and re-emits it).
        let caps = ChecksumCapabilities::ignored();
        match to {
            IpAddr::V4(_) => {
                let repr = Icmpv4Repr::EchoRequest {
                    ident: self.ident,
                    seq_no: seq,
                    data,
                };
                repr.emit(&mut Icmpv4Packet::new_unchecked(&mut packet[..]), &caps);
            }
            IpAddr::V6(_) => {
                let repr = Icmpv6Repr::EchoRequest {
                    ident: self.ident,
                    seq_no: seq,
                    data,
                };
                let any = Ipv6Address::UNSPECIFIED;
                repr.emit(&any, &any, &mut Icmpv6Packet::new_unchecked(&mut packet[..]), &caps);
            }
        }
        let s = st.sockets.get_mut::<icmp::Socket>(self.handle);
        match s.send_slice(&packet, IpAddress::from(to)) {
            Ok(()) => {
                drop(st);
                self.stack.kick();
                Ok(())
            }
            Err(icmp::SendError::BufferFull) => Err(errno(libc::ENOBUFS)),
            Err(icmp::SendError::Unaddressable) => Err(errno(libc::ENETUNREACH)),
        }
    }

    /// The next queued echo reply, if any (never waits). Other messages with this identifier
    /// (echo requests, malformed packets) are skipped.
    pub fn try_recv(&self) -> io::Result<Option<EchoReply>> {
        let mut st = self.stack.lock()?;
        let s = st.sockets.get_mut::<icmp::Socket>(self.handle);
        while s.can_recv() {
            let (bytes, from) = s.recv().map_err(|_| errno(libc::EIO))?;
            if let Some(reply) = parse_echo_reply(bytes, from.into(), self.ident) {
                return Ok(Some(reply));
            }
        }
        Ok(None)
    }

    /// Calls `notify` once, from the stack's thread, when a packet is queued (or the tunnel
    /// closes). Dropped uncalled if the socket is.
    pub fn when_readable(&self, notify: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        self.stack.lock()?.wait_for(self.handle, Interest::Echo, notify);
        self.stack.kick();
        Ok(())
    }
}

/// An echo reply with identifier `ident` in `bytes` (an ICMP or ICMPv6 message from `from`).
fn parse_echo_reply(bytes: &[u8], from: IpAddr, ident: u16) -> Option<EchoReply> {
    let caps = ChecksumCapabilities::ignored();
    let (id, seq, data) = match from {
        IpAddr::V4(_) => match Icmpv4Repr::parse(&Icmpv4Packet::new_checked(bytes).ok()?, &caps).ok()? {
            Icmpv4Repr::EchoReply { ident, seq_no, data } => (ident, seq_no, data),
            _ => return None,
        },
        IpAddr::V6(_) => {
            let any = Ipv6Address::UNSPECIFIED;
            match Icmpv6Repr::parse(&any, &any, &Icmpv6Packet::new_checked(bytes).ok()?, &caps).ok()? {
                Icmpv6Repr::EchoReply { ident, seq_no, data } => (ident, seq_no, data),
                _ => return None,
            }
        }
    };
    (id == ident).then(|| EchoReply {
        from,
        seq,
        data: data.to_vec(),
    })
}

impl Drop for IcmpSocket {
    fn drop(&mut self) {
        let mut st = self.stack.state.lock();
        st.forget(self.handle);
        st.sockets.remove(self.handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_v4(kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
        let mut p = vec![kind, 0, 0, 0];
        p.extend_from_slice(&ident.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn parses_replies_with_its_identifier_only() {
        let from: IpAddr = "10.0.0.1".parse().unwrap();
        let r = parse_echo_reply(&echo_v4(0, 7, 3, b"abc"), from, 7).unwrap();
        assert_eq!((r.seq, r.data.as_slice()), (3, &b"abc"[..]));
        assert!(parse_echo_reply(&echo_v4(0, 8, 3, b"abc"), from, 7).is_none());
        // An echo request with the same identifier is not a reply.
        assert!(parse_echo_reply(&echo_v4(8, 7, 3, b"abc"), from, 7).is_none());
    }

    #[test]
    fn parses_icmpv6_replies() {
        let from: IpAddr = "fd00::1".parse().unwrap();
        let r = parse_echo_reply(&echo_v4(129, 9, 1, b"x"), from, 9).unwrap();
        assert_eq!(r.seq, 1);
        assert!(parse_echo_reply(&echo_v4(128, 9, 1, b"x"), from, 9).is_none());
    }

    #[test]
    fn short_or_garbage_packets_are_skipped() {
        let from: IpAddr = "10.0.0.1".parse().unwrap();
        for n in 0..ECHO_HEADER {
            assert!(parse_echo_reply(&echo_v4(0, 7, 3, b"")[..n], from, 7).is_none());
            assert!(parse_echo_reply(&echo_v4(129, 7, 3, b"")[..n], "fd00::1".parse().unwrap(), 7).is_none());
        }
        assert!(parse_echo_reply(&[3, 1, 0, 0, 0, 0, 0, 0], from, 7).is_none());
    }
}
