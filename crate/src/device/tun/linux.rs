//! Linux TUN device: `/dev/net/tun` with `IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`, one
//! non-blocking queue descriptor per worker thread. Created in the calling thread's network
//! namespace (see `netns.rs`). The interface disappears when the last queue is closed.

use super::queue::TunFd;
use crate::device::udp::Sockets;
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A queue the latency lanes' steering program is attached to (`lanes.rs`).
pub(crate) type LaneQueue = OwnedFd;

/// A new interface, ready for the workers.
pub(crate) struct Opened {
    /// Held by the device: the interface goes when its last queue closes.
    pub(crate) tun: Tun,
    pub(crate) name: String,
    /// One per worker.
    pub(crate) queues: Vec<TunFd>,
    pub(crate) lane_queue: Option<LaneQueue>,
}

/// Creates the interface `name` (empty: the kernel's choice) with `queues` queues and MTU
/// `mtu`, in the calling thread's namespace.
pub(crate) fn open(name: &str, queues: usize, mtu: u32) -> Result<Opened> {
    let tun = Tun::create(name, queues)?;
    set_mtu(&tun.name, mtu)?;
    let fds = (0..queues)
        .map(|i| TunFd {
            fd: tun.fd(i),
            vnet_hdr: tun.vnet_hdr,
        })
        .collect();
    Ok(Opened {
        name: tun.name.clone(),
        lane_queue: tun.queues[0].try_clone().ok(),
        queues: fds,
        tun,
    })
}

const IFNAMSIZ: usize = 16;

/// `struct ifreq`: the name, then a 24-byte union (flags or MTU).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

// The kernel copies a whole `struct ifreq` in and out through the pointer the ioctls below
// pass: an `IfReq` is at least that large, and its name sits where `ifr_name` does.
const _: () = {
    assert!(std::mem::size_of::<IfReq>() >= std::mem::size_of::<libc::ifreq>());
    assert!(std::mem::offset_of!(libc::ifreq, ifr_ifru) == IFNAMSIZ);
};

impl IfReq {
    fn new(name: &str) -> Result<IfReq> {
        if name.len() >= IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace()) {
            return Err(Error::invalid_argument(format!("Invalid interface name: `{name}'")));
        }
        let mut r = IfReq {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(r)
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

#[derive(Debug)]
pub(crate) struct Tun {
    pub(crate) name: String,
    pub(crate) queues: Vec<OwnedFd>,
    /// Every queue carries a `virtio_net_hdr` and the kernel may hand us TSO super-packets
    /// (`offload.rs`).
    pub(crate) vnet_hdr: bool,
}

/// `IFF_VNET_HDR`, `TUNSETOFFLOAD` and its flags (linux/if_tun.h). ioctl requests are passed
/// `as _`: `c_ulong` on glibc, `c_int` on musl (the same bits).
const IFF_VNET_HDR: i32 = 0x4000;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_USO4: libc::c_uint = 0x20;
const TUN_F_USO6: libc::c_uint = 0x40;

/// TUN offloads are on unless `WGKIT_TUN_OFFLOAD=0` (for measurements and as an escape hatch).
fn offload_wanted() -> bool {
    std::env::var("WGKIT_TUN_OFFLOAD").map(|v| v != "0").unwrap_or(true)
}

fn last_err(context: impl Into<String>) -> Error {
    Error::from_io(&std::io::Error::last_os_error(), context)
}

fn open_queue(name: &str, vnet_hdr: bool) -> Result<(OwnedFd, String)> {
    // SAFETY: constant path, flags checked by the kernel.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_err("Unable to open /dev/net/tun"));
    }
    // SAFETY: fd was just opened and is owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = IfReq::new(name)?;
    let vnet = if vnet_hdr { IFF_VNET_HDR } else { 0 };
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE | vnet) as i16;
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: req is a live, writable `IfReq`, as large as a `struct ifreq` (checked above),
    // with a NUL-terminated name (`IfReq::new`); the kernel reads and writes only inside it.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(last_err(format!("Unable to create TUN device `{name}'")));
    }
    Ok((fd, req.name()))
}

impl Tun {
    /// Creates the interface (an empty name lets the kernel pick `tunN`) with `queues` queues.
    pub(crate) fn create(name: &str, queues: usize) -> Result<Tun> {
        // TUNSETIFF on an existing multi-queue TUN would attach to it: refuse instead.
        if !name.is_empty() {
            let c = std::ffi::CString::new(name)
                .map_err(|_| Error::invalid_argument(format!("Invalid interface name: `{name}'")))?;
            // SAFETY: c is a valid NUL-terminated string.
            if unsafe { libc::if_nametoindex(c.as_ptr()) } != 0 {
                return Err(Error::from_errno(
                    libc::EEXIST,
                    format!("Unable to create TUN device `{name}'"),
                ));
            }
        }
        let mut vnet_hdr = offload_wanted();
        let (first, actual) = match open_queue(name, vnet_hdr) {
            Ok(q) => q,
            Err(_) if vnet_hdr => {
                vnet_hdr = false;
                open_queue(name, false)?
            }
            Err(e) => return Err(e),
        };
        let (first, actual) = if vnet_hdr && !set_offload(first.as_raw_fd()) {
            // The kernel refuses TSO: start over without the header (closing the only
            // queue removes the interface, so the name is free again).
            drop(first);
            vnet_hdr = false;
            open_queue(name, false)?
        } else {
            (first, actual)
        };
        let mut tun = Tun {
            name: actual,
            queues: vec![first],
            vnet_hdr,
        };
        for _ in 1..queues.max(1) {
            let (q, _) = open_queue(&tun.name, vnet_hdr)?;
            tun.queues.push(q);
        }
        Ok(tun)
    }

    pub(crate) fn fd(&self, queue: usize) -> RawFd {
        self.queues[queue].as_raw_fd()
    }
}

/// Turns on checksum offload, TSO and (kernels ≥ 6.2) UDP segmentation offload for IPv4 and
/// IPv6; false when the kernel refuses even TSO. UDP super-packets (from senders using
/// `UDP_SEGMENT`) are split on read like TCP ones.
fn set_offload(fd: RawFd) -> bool {
    let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    [tso | TUN_F_USO4 | TUN_F_USO6, tso].into_iter().any(|flags| {
        // SAFETY: TUNSETOFFLOAD takes an unsigned int by value.
        unsafe { libc::ioctl(fd, TUNSETOFFLOAD as _, flags as libc::c_ulong) == 0 }
    })
}

fn ctl_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket call; failure checked.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(last_err("Unable to open a control socket"));
    }
    // SAFETY: fresh descriptor owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(s) })
}

/// Sets the interface MTU (SIOCSIFMTU). Must run in the interface's namespace.
pub(crate) fn set_mtu(name: &str, mtu: u32) -> Result<()> {
    let s = ctl_socket()?;
    let mut req = IfReq::new(name)?;
    req.data[..4].copy_from_slice(&(mtu as i32).to_ne_bytes());
    // SAFETY: req is a live, writable `IfReq`, as large as a `struct ifreq` (checked above),
    // with a NUL-terminated name (`IfReq::new`); the kernel reads and writes only inside it.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFMTU as _, &mut req) } < 0 {
        return Err(last_err(format!("Unable to set MTU {mtu} on `{name}'")));
    }
    Ok(())
}

/// Reads the interface MTU (SIOCGIFMTU). Must run in the interface's namespace.
pub(crate) fn get_mtu(name: &str) -> Result<u32> {
    let s = ctl_socket()?;
    get_mtu_with(s.as_raw_fd(), name)
}

/// Reads the interface MTU through one of the device's sockets (see [`get_mtu_with`]).
pub(crate) fn get_mtu_on(sockets: &Sockets, name: &str) -> Result<u32> {
    match sockets.fd_for(0, false) {
        Some(fd) => get_mtu_with(fd, name),
        None => get_mtu(name),
    }
}

/// Reads the interface MTU through `sock`, any socket of the interface's namespace (so no
/// namespace switch is needed).
pub(crate) fn get_mtu_with(sock: RawFd, name: &str) -> Result<u32> {
    let mut req = IfReq::new(name)?;
    // SAFETY: req is a live, writable `IfReq`, as large as a `struct ifreq` (checked above),
    // with a NUL-terminated name (`IfReq::new`); the kernel reads and writes only inside it.
    if unsafe { libc::ioctl(sock, libc::SIOCGIFMTU as _, &mut req) } < 0 {
        return Err(last_err(format!("Unable to read the MTU of `{name}'")));
    }
    Ok(i32::from_ne_bytes(req.data[..4].try_into().expect("4 bytes")) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        assert!(IfReq::new("0123456789abcdef").is_err());
        assert!(IfReq::new("a/b").is_err());
        assert!(IfReq::new("a b").is_err());
        assert_eq!(IfReq::new("wg0").unwrap().name(), "wg0");
    }
}
