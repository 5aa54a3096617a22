//! The inner side of the tunnel as one worker sees it: where decrypted IP packets go and where
//! the packets to encrypt come from. The device core (peers, sessions, routing, batched crypto,
//! the UDP side) is the same for both kinds:
//! - a queue of the TUN interface (`tun/`): the kernel's stack, offloads included;
//! - the link to the device's own TCP/IP stack in the process (`netstack/`): no interface, no
//!   privilege.

use super::batch::Batch;
use super::netstack::Link;
use super::tun::queue::{self, TunFd};
use std::os::fd::RawFd;
use std::sync::Arc;

pub(crate) enum Inner {
    Tun(TunFd),
    Stack(Arc<Link>),
}

impl Inner {
    /// The descriptor the worker's epoll waits on: readable when there are packets to send.
    pub(crate) fn fd(&self) -> RawFd {
        match self {
            Inner::Tun(t) => t.fd,
            Inner::Stack(link) => link.ready_fd(),
        }
    }

    /// Packets carry `virtio_net_hdr`s: TSO super-packets come in, GRO'd ones go out.
    pub(crate) fn offloads(&self) -> bool {
        match self {
            Inner::Tun(t) => t.vnet_hdr,
            Inner::Stack(_) => false,
        }
    }

    /// Reads up to a batch of plain IP packets into the (emptied) batch; `Err` only when
    /// nothing was read.
    pub(crate) fn read_burst(&self, batch: &mut Batch) -> std::io::Result<usize> {
        match self {
            Inner::Tun(t) => queue::read_tun(t.fd, batch),
            Inner::Stack(link) => Ok(link.take_outbound(batch)),
        }
    }

    /// Delivers every packet of the batch; returns (delivered, dropped).
    pub(crate) fn write(&self, batch: &mut Batch) -> (usize, usize) {
        match self {
            Inner::Tun(t) => {
                let (ok, failed, _err) = queue::write_tun(t.fd, batch, t.vnet_hdr);
                (ok, failed)
            }
            Inner::Stack(link) => link.deliver(batch),
        }
    }
}
