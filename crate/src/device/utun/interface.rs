//! Creating a utun interface (macOS): a `PF_SYSTEM` datagram socket of the utun kernel
//! control, looked up by name with `CTLIOCGINFO` and connected to the unit the name asks for
//! (`name.rs`); `UTUN_OPT_IFNAME` tells the name the kernel gave it. No kernel extension or
//! system extension is involved; creating one needs root. The interface lives as long as the
//! socket: closing it removes the interface. Its MTU is read and set with
//! `SIOCGIFMTU`/`SIOCSIFMTU` on an `AF_INET` datagram socket.
//!
//! macOS has no `SOCK_CLOEXEC`: close-on-exec is set right after `socket()`, so a `fork`+`exec`
//! in another thread in between could inherit the descriptor (and keep the interface alive
//! until that program exits).

use super::name;
use super::sys::{self, CtlInfo, IfReqMtu, SockaddrCtl};
use crate::error::{Error, Result};
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// The kernel's definitions, as the libc crate has them, agree with the ones checked in
// `sys.rs` on every platform.
const _: () = {
    assert!(sys::CTLIOCGINFO as libc::c_ulong == libc::CTLIOCGINFO);
    assert!(sys::AF_SYSTEM as libc::c_int == libc::AF_SYSTEM);
    assert!(sys::AF_SYSTEM as libc::c_int == libc::PF_SYSTEM);
    assert!(sys::AF_SYS_CONTROL as libc::c_int == libc::AF_SYS_CONTROL);
    assert!(sys::SYSPROTO_CONTROL == libc::SYSPROTO_CONTROL);
    assert!(sys::UTUN_OPT_IFNAME == libc::UTUN_OPT_IFNAME);
    assert!(sys::MAX_KCTL_NAME == libc::MAX_KCTL_NAME);
    assert!(size_of::<CtlInfo>() == size_of::<libc::ctl_info>());
    assert!(size_of::<SockaddrCtl>() == size_of::<libc::sockaddr_ctl>());
    assert!(size_of::<IfReqMtu>() == size_of::<libc::ifreq>());
    assert!(name::IFNAMSIZ == libc::IFNAMSIZ);
    assert!(super::frame::AF_INET == libc::AF_INET as u32);
    assert!(super::frame::AF_INET6 == libc::AF_INET6 as u32);
};

/// A utun interface: its name and its control socket (non-blocking, close-on-exec).
#[derive(Debug)]
pub(crate) struct Utun {
    pub(crate) name: String,
    pub(crate) socket: OwnedFd,
}

fn last_err(context: impl Into<String>) -> Error {
    Error::from_io(&std::io::Error::last_os_error(), context)
}

impl Utun {
    /// Creates `utunN` for `name` = `utunN`, or the first free utun for an empty name (or
    /// `utun`).
    pub(crate) fn create(name: &str) -> Result<Utun> {
        let unit = name::control_unit(name)?;
        let shown = name::display(name);
        // SAFETY: plain socket call; failure checked.
        let fd = unsafe { libc::socket(libc::PF_SYSTEM, libc::SOCK_DGRAM, libc::SYSPROTO_CONTROL) };
        if fd < 0 {
            return Err(last_err("Unable to open a utun control socket"));
        }
        // SAFETY: fd was just opened and is owned here.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        set_cloexec(socket.as_raw_fd(), "the utun control socket")?;
        let mut info = CtlInfo::utun();
        // SAFETY: CTLIOCGINFO reads and writes a struct ctl_info, which `info` is (its size is
        // checked above against the libc crate's).
        if unsafe { libc::ioctl(socket.as_raw_fd(), libc::CTLIOCGINFO, &mut info) } < 0 {
            return Err(last_err(format!(
                "Unable to find the kernel control {}",
                sys::UTUN_CONTROL_NAME
            )));
        }
        let addr = SockaddrCtl::new(info.ctl_id, unit);
        // SAFETY: addr is a struct sockaddr_ctl of the length passed.
        let r = unsafe {
            libc::connect(
                socket.as_raw_fd(),
                &addr as *const SockaddrCtl as *const libc::sockaddr,
                size_of::<SockaddrCtl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_err(format!("Unable to create utun device `{shown}'")));
        }
        let name = interface_name(socket.as_raw_fd())?;
        set_nonblock(socket.as_raw_fd())?;
        Ok(Utun { name, socket })
    }

    /// The control socket, for the device's workers.
    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

fn set_cloexec(fd: RawFd, what: &str) -> Result<()> {
    // SAFETY: fcntl on a descriptor owned by the caller; F_SETFD takes an int.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(last_err(format!("Unable to set close-on-exec on {what}")));
    }
    Ok(())
}

/// Non-blocking once connected (as wireguard-go does; the connect itself completes at once).
fn set_nonblock(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl on a descriptor owned by the caller; F_GETFL/F_SETFL take an int.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) >= 0
    };
    if !ok {
        return Err(last_err("Unable to make the utun control socket non-blocking"));
    }
    Ok(())
}

/// The name the kernel gave the interface of a connected control socket.
fn interface_name(fd: RawFd) -> Result<String> {
    let mut buf = [0u8; name::IFNAMSIZ];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for `len` bytes; getsockopt updates len.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SYSPROTO_CONTROL,
            libc::UTUN_OPT_IFNAME,
            buf.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Err(last_err("Unable to read the utun interface name"));
    }
    sys::ifname_from(&buf, len as usize)
}

fn inet_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket call; failure checked.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if s < 0 {
        return Err(last_err("Unable to open a control socket"));
    }
    // SAFETY: fresh descriptor owned here.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    set_cloexec(s.as_raw_fd(), "a control socket")?;
    Ok(s)
}

/// Sets the interface MTU (SIOCSIFMTU).
pub(crate) fn set_mtu(name: &str, mtu: u32) -> Result<()> {
    let mtu_int = i32::try_from(mtu).map_err(|_| Error::invalid_argument(format!("MTU {mtu} is out of range")))?;
    let mut req = IfReqMtu::new(name, mtu_int)?;
    let s = inet_socket()?;
    // SAFETY: SIOCSIFMTU reads a struct ifreq, which `req` is (size checked above).
    if unsafe { libc::ioctl(s.as_raw_fd(), sys::SIOCSIFMTU as libc::c_ulong, &mut req) } < 0 {
        return Err(last_err(format!("Unable to set MTU {mtu} on `{name}'")));
    }
    Ok(())
}

/// Reads the interface MTU (SIOCGIFMTU).
pub(crate) fn get_mtu(name: &str) -> Result<u32> {
    let s = inet_socket()?;
    get_mtu_with(s.as_raw_fd(), name)
}

/// Reads the interface MTU (SIOCGIFMTU) through `sock`, any open socket (the device's UDP
/// socket, so the timer's periodic look opens none).
pub(crate) fn get_mtu_with(sock: RawFd, name: &str) -> Result<u32> {
    let mut req = IfReqMtu::new(name, 0)?;
    // SAFETY: SIOCGIFMTU reads and writes a struct ifreq, which `req` is (size checked above).
    if unsafe { libc::ioctl(sock, sys::SIOCGIFMTU as libc::c_ulong, &mut req) } < 0 {
        return Err(last_err(format!("Unable to read the MTU of `{name}'")));
    }
    u32::try_from(req.mtu).map_err(|_| {
        Error::new(
            crate::error::ErrorCode::System,
            format!("The MTU of `{name}' is negative: {}", req.mtu),
        )
    })
}
