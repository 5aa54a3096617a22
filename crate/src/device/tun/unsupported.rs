//! No TUN interface on this platform (yet: Windows wintun would go here; macOS has a utun). A
//! device with an interface cannot be created (`UnsupportedPlatform`); a netstack device
//! needs none. The queue types have no values, so the worker's TUN paths are never taken.

use super::offload::VnetHdr;
use crate::device::batch::Batch;
use crate::device::poller::Poller;
use crate::device::udp::Sockets;
use crate::error::{Error, Result};

fn unsupported() -> Error {
    let platform = Error::node_platform();
    Error::unsupported_platform(format!(
        "A device with a network interface is not available on {platform}: wgkit has TUN on Linux \
         and utun on macOS only. A netstack tunnel (openTunnel()) works on every platform."
    ))
}

/// An interface (none exists here).
#[derive(Debug)]
pub(crate) enum Tun {}

/// A queue of an interface (none exists here).
#[derive(Debug, Clone, Copy)]
pub(crate) enum TunFd {}

/// A reader of offloaded super-packets (none exists here).
pub(crate) enum VnetReader {}

/// A queue for the latency lanes (none exists here).
#[derive(Debug)]
pub(crate) enum LaneQueue {}

/// A new interface (never made here).
pub(crate) struct Opened {
    pub(crate) tun: Tun,
    pub(crate) name: String,
    pub(crate) queues: Vec<TunFd>,
    pub(crate) lane_queue: Option<LaneQueue>,
}

pub(crate) fn open(_name: &str, _queues: usize, _mtu: u32) -> Result<Opened> {
    Err(unsupported())
}

pub(crate) fn set_mtu(_name: &str, _mtu: u32) -> Result<()> {
    Err(unsupported())
}

pub(crate) fn get_mtu(_name: &str) -> Result<u32> {
    Err(unsupported())
}

pub(crate) fn get_mtu_on(_sockets: &Sockets, _name: &str) -> Result<u32> {
    Err(unsupported())
}

impl TunFd {
    pub(crate) fn watch(&self, _: &mut Poller, _: u64) -> std::io::Result<()> {
        match *self {}
    }

    pub(crate) fn unwatch(&self, _: &mut Poller) {
        match *self {}
    }

    pub(crate) fn read_burst(&self, _: &mut Batch) -> std::io::Result<usize> {
        match *self {}
    }

    pub(crate) fn write(&self, _: &mut Batch) -> (usize, usize) {
        match *self {}
    }

    pub(crate) fn offloads(&self) -> bool {
        match *self {}
    }

    pub(crate) fn vnet_reader(&self) -> Option<VnetReader> {
        match *self {}
    }

    pub(crate) fn read_vnet(&self, _: &mut VnetReader) -> std::io::Result<Option<(VnetHdr, usize)>> {
        match *self {}
    }
}

impl VnetReader {
    pub(crate) fn packet_mut(&mut self, _len: usize) -> &mut [u8] {
        match *self {}
    }
}
