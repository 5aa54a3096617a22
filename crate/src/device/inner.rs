//! The inner side of the tunnel as one worker sees it: where decrypted IP packets go and where
//! the packets to encrypt come from. The device core (peers, sessions, routing, batched crypto,
//! the UDP side) is the same for both kinds:
//! - a queue of the TUN interface (`tun/`): the kernel's stack, offloads included (Linux);
//! - the link to the device's own TCP/IP stack in the process (`netstack/`): no interface, no
//!   privilege, every platform.

use super::batch::Batch;
use super::netstack::Link;
use super::poller::Poller;
use super::tun::offload::VnetHdr;
use super::tun::{TunFd, VnetReader};
use std::sync::Arc;

pub(crate) enum Inner {
    Tun(TunFd),
    Stack(Arc<Link>),
}

impl Inner {
    /// Makes `poller` report `token` while there are packets to send.
    pub(crate) fn watch(&self, poller: &mut Poller, token: u64) -> std::io::Result<()> {
        match self {
            Inner::Tun(t) => t.watch(poller, token),
            Inner::Stack(link) => poller.add_waker(link.ready(), token),
        }
    }

    /// Stops watching (the inner side broke).
    pub(crate) fn unwatch(&self, poller: &mut Poller) {
        match self {
            Inner::Tun(t) => t.unwatch(poller),
            Inner::Stack(link) => poller.remove_waker(link.ready()),
        }
    }

    /// A reader of offloaded super-packets when packets carry `virtio_net_hdr`s (TSO
    /// super-packets come in, GRO'd ones go out); `None` otherwise.
    pub(crate) fn vnet_reader(&self) -> Option<VnetReader> {
        match self {
            Inner::Tun(t) => t.vnet_reader(),
            Inner::Stack(_) => None,
        }
    }

    /// Packets carry `virtio_net_hdr`s.
    #[inline]
    pub(crate) fn offloads(&self) -> bool {
        match self {
            Inner::Tun(t) => t.offloads(),
            Inner::Stack(_) => false,
        }
    }

    /// Reads one offloaded (super-)packet into `reader`: its header and length; `None` when
    /// there is none.
    #[inline]
    pub(crate) fn read_vnet(&self, reader: &mut VnetReader) -> std::io::Result<Option<(VnetHdr, usize)>> {
        match self {
            Inner::Tun(t) => t.read_vnet(reader),
            Inner::Stack(_) => Ok(None),
        }
    }

    /// Reads up to a batch of plain IP packets into the (emptied) batch; `Err` only when
    /// nothing was read.
    #[inline]
    pub(crate) fn read_burst(&self, batch: &mut Batch) -> std::io::Result<usize> {
        match self {
            Inner::Tun(t) => t.read_burst(batch),
            Inner::Stack(link) => Ok(link.take_outbound(batch)),
        }
    }

    /// Delivers every packet of the batch; returns (delivered, dropped).
    #[inline]
    pub(crate) fn write(&self, batch: &mut Batch) -> (usize, usize) {
        match self {
            Inner::Tun(t) => t.write(batch),
            Inner::Stack(link) => link.deliver(batch),
        }
    }
}
