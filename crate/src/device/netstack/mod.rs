//! The netstack inner side: a TCP/IP stack in the process (smoltcp), so a device needs no TUN
//! interface, no network namespace and no privilege. The device's workers treat the stack's
//! link as they treat a TUN queue (`link.rs`): the same routing, batched crypto and UDP side.
//! The stack runs on a thread of its own (`stack.rs`); programs use it through [`Netstack`]:
//! TCP streams and listeners (`tcp.rs`, their buffers in `socket_pages.rs`), UDP sockets
//! (`udp.rs`), ICMP echo (`icmp.rs`). ICMP echo requests to the tunnel's addresses are answered.

mod icmp;
mod link;
mod phy;
mod socket_pages;
mod stack;
mod tcp;
mod udp;

pub use icmp::{EchoReply, IcmpSocket, MAX_ECHO_PAYLOAD};
pub(crate) use link::Link;
pub use stack::Interest;
pub use tcp::{Stop, TcpBuffers, TcpListener, TcpStream};
pub use udp::UdpSocket;

use super::events::{DeviceEvent, EventSink};
use crate::error::{Error, ErrorCode, Result};
use crate::thread_guard::spawn_guarded;
use stack::StackShared;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How a device's netstack is set up.
#[derive(Debug, Clone, Default)]
pub struct NetstackOptions {
    /// The tunnel's own addresses with their prefixes (wg-quick's `Address`).
    pub addresses: Vec<(IpAddr, u8)>,
    /// Buffers of each TCP connection.
    pub tcp_buffers: TcpBuffers,
}

/// A handle on a device's TCP/IP stack: cheap to clone, usable from any thread. Every call
/// fails with `NotConnected` once the device is closed.
#[derive(Clone)]
pub struct Netstack {
    stack: Arc<StackShared>,
    buffers: TcpBuffers,
}

impl Netstack {
    /// Connects to `remote` through the tunnel.
    pub fn tcp_connect(&self, remote: SocketAddr, timeout: Option<Duration>) -> std::io::Result<TcpStream> {
        TcpStream::connect(&self.stack, remote, self.buffers, timeout)
    }

    /// Starts connecting to `remote` and returns at once (see [`TcpStream::connected`]).
    pub fn tcp_connect_start(&self, remote: SocketAddr) -> std::io::Result<TcpStream> {
        TcpStream::connect_start(&self.stack, remote, self.buffers)
    }

    /// Listens on `local` (an address of the tunnel, or unspecified for all; port 0 = any).
    pub fn tcp_listen(&self, local: SocketAddr, backlog: usize) -> std::io::Result<TcpListener> {
        TcpListener::bind(&self.stack, local, backlog, self.buffers)
    }

    /// A UDP socket on `local` (as for [`Netstack::tcp_listen`]).
    pub fn udp_bind(&self, local: SocketAddr) -> std::io::Result<UdpSocket> {
        UdpSocket::bind(&self.stack, local)
    }

    /// An ICMP echo socket with identifier `ident` (see `icmp.rs`).
    pub fn icmp_bind(&self, ident: u16) -> std::io::Result<IcmpSocket> {
        IcmpSocket::bind(&self.stack, ident)
    }

    /// Packets the stack sent that the device's queue had no room for.
    pub fn dropped(&self) -> u64 {
        self.stack.state.lock().phy.dropped
    }
}

/// The stack's thread, owned by the device: stopped and joined when the device closes.
pub(crate) struct StackThread {
    stack: Arc<StackShared>,
    thread: Option<JoinHandle<()>>,
}

impl StackThread {
    /// Builds the stack on `link` and starts its thread.
    pub(crate) fn start(
        name: &str,
        link: Arc<Link>,
        mtu: Arc<AtomicUsize>,
        options: &NetstackOptions,
        events: Option<EventSink>,
    ) -> Result<(StackThread, Netstack)> {
        let stack = Arc::new(StackShared::new(link, mtu, &options.addresses)?);
        let (s, guard) = (stack.clone(), stack.clone());
        // A panic closes the stack (its users get `NotConnected`) and says so; the device's
        // WireGuard side goes on.
        let on_panic = move |thread: &str, message: &str| {
            guard.shutdown();
            if let Some(e) = events {
                e.emit(DeviceEvent::Error(Error::new(
                    ErrorCode::System,
                    format!("internal error in thread {thread}: {message}; the tunnel's TCP/IP stack is closed"),
                )));
            }
        };
        let thread = spawn_guarded(format!("wg-{name}-stack"), on_panic, move || s.run())
            .map_err(|e| Error::from_io(&e, "Unable to start the netstack thread"))?;
        let handle = Netstack {
            stack: stack.clone(),
            buffers: options.tcp_buffers,
        };
        Ok((
            StackThread {
                stack,
                thread: Some(thread),
            },
            handle,
        ))
    }

    pub(crate) fn stop(&mut self) {
        self.stack.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StackThread {
    fn drop(&mut self) {
        self.stop();
    }
}
