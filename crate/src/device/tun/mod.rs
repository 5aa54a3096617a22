//! The TUN inner side: a kernel interface, whose stack routes packets to and from the device.
//!
//! `offload.rs` and `checksum.rs` are packet code (splitting `virtio_net_hdr` super-packets,
//! coalescing TCP segments, Internet checksums) that the shared [`crate::device::batch::Batch`]
//! and worker use; they build everywhere but only a Linux TUN queue with offloads turns them
//! on. The interface itself is per platform: `linux.rs` and `queue.rs` (`/dev/net/tun`,
//! multi-queue, TSO/USO) on Linux; a utun on macOS (`device/utun/tun_side.rs`); elsewhere
//! `unsupported.rs`, where creating one fails with
//! `UnsupportedPlatform` (a netstack device needs no interface) and the queue types have no
//! values.

pub(crate) mod checksum;
pub(crate) mod offload;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) mod queue;
#[cfg(target_os = "linux")]
pub(crate) use linux::{get_mtu, get_mtu_on, open, set_mtu, LaneQueue, Tun};
#[cfg(target_os = "linux")]
pub(crate) use queue::{TunFd, VnetReader};

#[cfg(target_os = "macos")]
pub(crate) use crate::device::utun::tun_side::{
    get_mtu, get_mtu_on, open, set_mtu, LaneQueue, Tun, UtunQueue as TunFd, VnetReader,
};

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unsupported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(crate) use unsupported::{get_mtu, get_mtu_on, open, set_mtu, LaneQueue, Tun, TunFd, VnetReader};
