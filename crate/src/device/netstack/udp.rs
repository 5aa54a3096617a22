//! UDP over the tunnel: a socket bound to a port of the tunnel's addresses, `send_to` and
//! `recv_from` with deadlines. Its queues are bounded: datagrams past them are dropped, as
//! UDP allows.

use super::stack::{Interest, Protocol, StackShared};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Datagrams and bytes each queue holds.
const QUEUE_DATAGRAMS: usize = 512;
const QUEUE_BYTES: usize = 1 << 20;

fn errno(e: i32) -> io::Error {
    crate::os_error::io_error(e)
}

pub struct UdpSocket {
    stack: Arc<StackShared>,
    handle: SocketHandle,
    local: SocketAddr,
}

impl UdpSocket {
    pub(crate) fn bind(stack: &Arc<StackShared>, local: SocketAddr) -> io::Result<UdpSocket> {
        let mut st = stack.lock()?;
        if !local.ip().is_unspecified() && !st.is_local(local.ip()) {
            return Err(errno(libc::EADDRNOTAVAIL));
        }
        let port = st.reserve_port(Protocol::Udp, local.port())?;
        let buffer = || PacketBuffer::new(vec![PacketMetadata::EMPTY; QUEUE_DATAGRAMS], vec![0u8; QUEUE_BYTES]);
        let mut s = udp::Socket::new(buffer(), buffer());
        let ep = IpListenEndpoint {
            addr: (!local.ip().is_unspecified()).then(|| local.ip().into()),
            port,
        };
        if s.bind(ep).is_err() {
            st.release_port(Protocol::Udp, port);
            return Err(errno(libc::EINVAL));
        }
        let handle = st.sockets.add(s);
        drop(st);
        Ok(UdpSocket {
            stack: stack.clone(),
            handle,
            local: SocketAddr::new(local.ip(), port),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Queues one datagram to `to` (waiting until `deadline` for room).
    pub fn send_to_until(&self, data: &[u8], to: SocketAddr, deadline: Option<Instant>) -> io::Result<usize> {
        if to.port() == 0 || to.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Cannot send to {to}"),
            ));
        }
        if data.len() > 65507 {
            return Err(errno(libc::EMSGSIZE));
        }
        let mut st = self.stack.lock()?;
        let src = match self.local.ip().is_unspecified() {
            true => st.source_for(to.ip()).ok_or_else(|| errno(libc::ENETUNREACH))?,
            false => self.local.ip(),
        };
        let meta = UdpMetadata {
            endpoint: IpEndpoint::new(to.ip().into(), to.port()),
            local_address: Some(src.into()),
            meta: Default::default(),
        };
        loop {
            let s = st.sockets.get_mut::<udp::Socket>(self.handle);
            match s.send_slice(data, meta) {
                Ok(()) => {
                    drop(st);
                    self.stack.kick();
                    return Ok(data.len());
                }
                Err(udp::SendError::BufferFull) => self.stack.wait(&mut st, deadline)?,
                Err(udp::SendError::Unaddressable) => return Err(errno(libc::ENETUNREACH)),
            }
        }
    }

    /// The next datagram and its sender if one is queued (never waits).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        match self.recv_from_until(buf, Some(Instant::now())) {
            Ok(r) => Ok(Some(r)),
            Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Calls `notify` once, from the stack's thread, when a datagram is queued (or the tunnel
    /// closes). Dropped uncalled if the socket is.
    pub fn when_readable(&self, notify: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        self.stack.lock()?.wait_for(self.handle, Interest::Datagram, notify);
        self.stack.kick();
        Ok(())
    }

    /// The next datagram and its sender (waiting until `deadline`); a datagram longer than
    /// `buf` is cut, as with `recvfrom`.
    pub fn recv_from_until(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<(usize, SocketAddr)> {
        let mut st = self.stack.lock()?;
        loop {
            let s = st.sockets.get_mut::<udp::Socket>(self.handle);
            if s.can_recv() {
                let (data, meta) = s.recv().map_err(|_| errno(libc::EIO))?;
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                return Ok((n, SocketAddr::new(meta.endpoint.addr.into(), meta.endpoint.port)));
            }
            self.stack.wait(&mut st, deadline)?;
        }
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let mut st = self.stack.state.lock();
        st.forget(self.handle);
        st.sockets.remove(self.handle);
        st.release_port(Protocol::Udp, self.local.port());
    }
}
