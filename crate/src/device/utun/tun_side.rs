//! The utun as the device core's TUN inner side: on macOS `tun/mod.rs` takes its interface,
//! queue and MTU functions from here, so `Device::create`, the workers (`inner.rs`) and the
//! timer drive a utun as they drive a Linux TUN. What a utun lacks is missing here too, as
//! values that cannot exist: no `virtio_net_hdr` offloads (no [`VnetReader`]) and no latency
//! lanes (no [`LaneQueue`]: they need Linux's BPF steering). There is one control socket, so
//! every worker gets the same one (several read it in turn; `Device::create` starts one worker
//! unless asked for more, as packets of one flow could otherwise leave out of order).

use super::interface::{self, Utun};
use super::queue;
use crate::device::batch::Batch;
use crate::device::poller::Poller;
use crate::device::tun::offload::VnetHdr;
use crate::device::udp::Sockets;
use crate::error::Result;
use std::os::fd::{AsRawFd, RawFd};

pub(crate) use interface::{get_mtu, set_mtu};

/// The interface the device holds: closing its socket removes it.
pub(crate) type Tun = Utun;

/// A new interface with its MTU set, and what each of `queues` workers gets.
pub(crate) struct Opened {
    pub(crate) tun: Tun,
    pub(crate) name: String,
    pub(crate) queues: Vec<UtunQueue>,
    pub(crate) lane_queue: Option<LaneQueue>,
}

/// Creates the utun for `name` (`name.rs`) and sets its MTU; on failure nothing is left
/// (dropping the socket removes the interface).
pub(crate) fn open(name: &str, queues: usize, mtu: u32) -> Result<Opened> {
    let tun = Utun::create(name)?;
    set_mtu(&tun.name, mtu)?;
    let queue = UtunQueue { fd: tun.fd() };
    Ok(Opened {
        name: tun.name.clone(),
        queues: vec![queue; queues.max(1)],
        lane_queue: None,
        tun,
    })
}

/// Reads the MTU through the device's IPv4 socket (no socket opened per look).
pub(crate) fn get_mtu_on(sockets: &Sockets, name: &str) -> Result<u32> {
    match sockets.socket(0, false) {
        Some(s) => interface::get_mtu_with(s.as_raw_fd(), name),
        None => get_mtu(name),
    }
}

/// A worker's view of the utun: its control socket, owned by the [`Tun`] the device holds
/// until its workers have ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UtunQueue {
    fd: RawFd,
}

impl UtunQueue {
    pub(crate) fn watch(&self, poller: &mut Poller, token: u64) -> std::io::Result<()> {
        poller.add_fd(self.fd, token)
    }

    pub(crate) fn unwatch(&self, poller: &mut Poller) {
        poller.remove_fd(self.fd)
    }

    #[inline]
    pub(crate) fn read_burst(&self, batch: &mut Batch) -> std::io::Result<usize> {
        queue::read_burst(self.fd, batch)
    }

    #[inline]
    pub(crate) fn write(&self, batch: &mut Batch) -> (usize, usize) {
        let (ok, failed, _err) = queue::write_batch(self.fd, batch);
        (ok, failed)
    }

    #[inline]
    pub(crate) fn offloads(&self) -> bool {
        false
    }

    pub(crate) fn vnet_reader(&self) -> Option<VnetReader> {
        None
    }

    #[inline]
    pub(crate) fn read_vnet(&self, reader: &mut VnetReader) -> std::io::Result<Option<(VnetHdr, usize)>> {
        match *reader {}
    }
}

/// A reader of offloaded super-packets (none exists: a utun has no offloads).
pub(crate) enum VnetReader {}

impl VnetReader {
    pub(crate) fn packet_mut(&mut self, _len: usize) -> &mut [u8] {
        match *self {}
    }
}

/// A queue for the latency lanes (none exists: lanes need Linux).
#[derive(Debug)]
pub(crate) enum LaneQueue {}
