//! The macOS kernel interfaces a utun is made with, spelled out so their layout and numbers
//! are checked on every platform (`tests` below) and against the `libc` crate's on macOS
//! (`interface.rs`): the kernel control lookup (`struct ctl_info`, `CTLIOCGINFO`), the control
//! socket address (`struct sockaddr_ctl`), and the MTU requests (`struct ifreq`,
//! `SIOCGIFMTU`/`SIOCSIFMTU`).

use super::name::IFNAMSIZ;
use crate::error::{Error, Result};
use std::mem::size_of;

/// The kernel control that creates utun interfaces.
pub(crate) const UTUN_CONTROL_NAME: &str = "com.apple.net.utun_control";
/// `AF_SYSTEM` / `PF_SYSTEM` (sys/socket.h).
pub(crate) const AF_SYSTEM: u8 = 32;
/// `AF_SYS_CONTROL` (sys/sys_domain.h): the `ss_sysaddr` of a kernel control address.
pub(crate) const AF_SYS_CONTROL: u16 = 2;
/// `SYSPROTO_CONTROL` (sys/sys_domain.h): the socket protocol and the getsockopt level.
pub(crate) const SYSPROTO_CONTROL: i32 = 2;
/// `UTUN_OPT_IFNAME` (net/if_utun.h): getsockopt for the interface's name.
pub(crate) const UTUN_OPT_IFNAME: i32 = 2;
/// `MAX_KCTL_NAME` (sys/kern_control.h).
pub(crate) const MAX_KCTL_NAME: usize = 96;

/// An ioctl request number as sys/ioccom.h builds it: direction bits, parameter length (13
/// bits), group, number.
const fn ioc(inout: u32, group: u8, num: u8, len: usize) -> u32 {
    inout | ((len as u32 & 0x1fff) << 16) | ((group as u32) << 8) | num as u32
}
const IOC_IN: u32 = 0x8000_0000;
const IOC_INOUT: u32 = 0xc000_0000;

/// `CTLIOCGINFO`: `_IOWR('N', 3, struct ctl_info)`, the control's id from its name.
pub(crate) const CTLIOCGINFO: u32 = ioc(IOC_INOUT, b'N', 3, size_of::<CtlInfo>());
/// `SIOCSIFMTU`: `_IOW('i', 52, struct ifreq)`.
pub(crate) const SIOCSIFMTU: u32 = ioc(IOC_IN, b'i', 52, size_of::<IfReqMtu>());
/// `SIOCGIFMTU`: `_IOWR('i', 51, struct ifreq)`.
pub(crate) const SIOCGIFMTU: u32 = ioc(IOC_INOUT, b'i', 51, size_of::<IfReqMtu>());

/// `struct ctl_info`: filled with a control's name, `CTLIOCGINFO` sets its id.
#[repr(C)]
pub(crate) struct CtlInfo {
    pub(crate) ctl_id: u32,
    pub(crate) ctl_name: [u8; MAX_KCTL_NAME],
}

impl CtlInfo {
    /// The lookup of the utun control.
    pub(crate) fn utun() -> CtlInfo {
        let mut info = CtlInfo {
            ctl_id: 0,
            ctl_name: [0; MAX_KCTL_NAME],
        };
        info.ctl_name[..UTUN_CONTROL_NAME.len()].copy_from_slice(UTUN_CONTROL_NAME.as_bytes());
        info
    }
}

/// `struct sockaddr_ctl`: the address a control socket connects to.
#[repr(C)]
pub(crate) struct SockaddrCtl {
    pub(crate) sc_len: u8,
    pub(crate) sc_family: u8,
    pub(crate) ss_sysaddr: u16,
    pub(crate) sc_id: u32,
    pub(crate) sc_unit: u32,
    pub(crate) sc_reserved: [u32; 5],
}

impl SockaddrCtl {
    /// The address of unit `unit` (`name::control_unit`) of control `ctl_id`.
    pub(crate) fn new(ctl_id: u32, unit: u32) -> SockaddrCtl {
        SockaddrCtl {
            sc_len: size_of::<SockaddrCtl>() as u8,
            sc_family: AF_SYSTEM,
            ss_sysaddr: AF_SYS_CONTROL,
            sc_id: ctl_id,
            sc_unit: unit,
            sc_reserved: [0; 5],
        }
    }
}

/// `struct ifreq` as the MTU requests use it: the name, then the MTU (`ifr_mtu`, an `int`)
/// at the start of the 16-byte union.
#[repr(C)]
pub(crate) struct IfReqMtu {
    pub(crate) name: [u8; IFNAMSIZ],
    pub(crate) mtu: i32,
    pub(crate) rest: [u8; 12],
}

impl IfReqMtu {
    /// A request for interface `name` carrying `mtu` (0 for a read).
    pub(crate) fn new(name: &str, mtu: i32) -> Result<IfReqMtu> {
        if name.is_empty() || name.len() >= IFNAMSIZ || name.bytes().any(|b| b == 0) {
            return Err(Error::invalid_argument(format!("Invalid interface name: `{name}'")));
        }
        let mut r = IfReqMtu {
            name: [0; IFNAMSIZ],
            mtu,
            rest: [0; 12],
        };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(r)
    }
}

/// The interface name `UTUN_OPT_IFNAME` wrote: the first `len` bytes of `buf`, up to a NUL.
pub(crate) fn ifname_from(buf: &[u8], len: usize) -> Result<String> {
    let bytes = &buf[..len.min(buf.len())];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match std::str::from_utf8(&bytes[..end]) {
        Ok(name) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(Error::new(
            crate::error::ErrorCode::System,
            "The kernel returned no valid utun interface name",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of};

    #[test]
    fn ioctl_numbers_match_the_sdk() {
        // The values of the macOS SDK's headers.
        assert_eq!(CTLIOCGINFO, 0xc064_4e03);
        assert_eq!(SIOCSIFMTU, 0x8020_6934);
        assert_eq!(SIOCGIFMTU, 0xc020_6933);
    }

    #[test]
    fn struct_layouts() {
        assert_eq!(size_of::<CtlInfo>(), 100);
        assert_eq!(offset_of!(CtlInfo, ctl_name), 4);
        assert_eq!(size_of::<SockaddrCtl>(), 32);
        assert_eq!(offset_of!(SockaddrCtl, sc_family), 1);
        assert_eq!(offset_of!(SockaddrCtl, ss_sysaddr), 2);
        assert_eq!(offset_of!(SockaddrCtl, sc_id), 4);
        assert_eq!(offset_of!(SockaddrCtl, sc_unit), 8);
        assert_eq!(offset_of!(SockaddrCtl, sc_reserved), 12);
        assert_eq!(align_of::<SockaddrCtl>(), 4);
        assert_eq!(size_of::<IfReqMtu>(), 32);
        assert_eq!(offset_of!(IfReqMtu, mtu), IFNAMSIZ);
    }

    #[test]
    fn control_lookup_names_the_utun_control() {
        let info = CtlInfo::utun();
        assert_eq!(info.ctl_id, 0);
        assert_eq!(&info.ctl_name[..26], b"com.apple.net.utun_control");
        assert!(info.ctl_name[26..].iter().all(|&b| b == 0));
    }

    #[test]
    fn control_address() {
        let sc = SockaddrCtl::new(0x1234, 8);
        assert_eq!(sc.sc_len, 32);
        assert_eq!(sc.sc_family, 32);
        assert_eq!(sc.ss_sysaddr, 2);
        assert_eq!(sc.sc_id, 0x1234);
        assert_eq!(sc.sc_unit, 8);
        assert_eq!(sc.sc_reserved, [0; 5]);
    }

    #[test]
    fn mtu_request() {
        let r = IfReqMtu::new("utun3", 1420).unwrap();
        assert_eq!(&r.name[..6], b"utun3\0");
        assert!(r.name.iter().skip(5).all(|&b| b == 0));
        assert_eq!(r.mtu, 1420);
        assert_eq!(r.rest, [0; 12]);
        assert!(IfReqMtu::new("utun12345678901", 0).is_ok());
        for bad in ["", "utun123456789012", "ut\0un"] {
            let e = IfReqMtu::new(bad, 0).err().expect(bad);
            assert_eq!(e.message, format!("Invalid interface name: `{bad}'"));
        }
    }

    #[test]
    fn interface_name_from_getsockopt() {
        let mut buf = [0u8; IFNAMSIZ];
        buf[..6].copy_from_slice(b"utun4\0");
        assert_eq!(ifname_from(&buf, 6).unwrap(), "utun4");
        // Some kernels count the NUL, some do not; a length past the buffer is clamped.
        assert_eq!(ifname_from(&buf, 5).unwrap(), "utun4");
        assert_eq!(ifname_from(&buf, 99).unwrap(), "utun4");
        assert!(ifname_from(&buf, 0).is_err());
        assert!(ifname_from(&[0xff, 0xfe, 0], 3).is_err());
    }
}
