//! The Linux kernel backend: the "wireguard" generic netlink family plus rtnetlink for
//! listing, creating and deleting WireGuard links.
//!
//! Built on the rust-netlink crates: `netlink-sys` (sockets), `netlink-packet-core`
//! (framing, attribute iteration), `netlink-packet-generic` (family resolution),
//! `netlink-packet-wireguard` (attribute types and encoding) and `netlink-packet-route`
//! (link requests). Written here because the crates do not provide it:
//! - `socket`: a synchronous request/response loop with sequence numbers, dump handling,
//!   `NLM_F_DUMP_INTR` detection and a fake transport for tests (the crates' own loop,
//!   `netlink-proto`, is async);
//! - `ack`: extended-ACK (`NLMSGERR_ATTR_*`) decoding;
//! - `wireguard`: a tolerant decoder (8-byte timespec, endpoint checks, no panics);
//! - `set`: splitting a change into messages by byte budget, as wg does;
//! - `get`: peer coalescing across dump messages and the retry on interrupted dumps;
//! - `netns`: socket creation inside another network namespace;
//! - `removal`: detecting `WGALLOWEDIP_F_REMOVE_ME` support (Linux 6.16).
//!
//! For the interface manager (wg-quick's `ip` and `sysctl` calls, without running them),
//! `Rtnl` gathers rtnetlink operations on any link: `address`, `link_settings`, `route`
//! (including `ip route get`), `rule`; `sysctl` reads and writes `/proc/sys` in a
//! namespace. Requests are built by `attr`, prefixes parsed by `prefix`.
//!
//! Everything is synchronous; the JS layer calls it from a worker thread.

mod ack;
mod address;
mod attr;
#[doc(hidden)]
pub mod fuzzing;
mod genl;
mod get;
mod link;
mod link_settings;
mod netns;
mod prefix;
mod removal;
mod route;
mod rtnl;
mod rule;
mod set;
mod socket;
pub mod sysctl;
mod wireguard;

pub use address::Address;
pub use link::LinkInfo;
pub use link_settings::{LinkChange, LinkSettings};
pub use netns::{NetnsTarget, NETNS_RUN_DIR};
pub use prefix::{Family, IpPrefix};
pub use removal::REMOVAL_NEEDS_LINUX_6_16;
pub use route::{Route, RouteLookup, RouteSpec, RT_TABLE_MAIN};
pub use rtnl::Rtnl;
pub use rule::{Rule, RuleSpec, FR_ACT_TO_TBL};
pub use set::MESSAGE_BUDGET;

use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, DeviceConfig};
use socket::Connection;
use std::fmt;
use std::sync::atomic::AtomicBool;

/// `IFNAMSIZ`: names are at most 15 bytes plus the terminating NUL.
pub const IFNAMSIZ: usize = 16;

/// A kernel interface, by name or by index (the kernel wants exactly one of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceRef {
    Name(String),
    Index(u32),
}

impl DeviceRef {
    /// Rejects what the kernel would reject, with wg's wording: an empty name, a name of
    /// `IFNAMSIZ` bytes or more (ENAMETOOLONG), a name with `/`, whitespace or NUL, index 0.
    pub fn validate(&self) -> Result<()> {
        match self {
            DeviceRef::Name(name) => {
                if name.is_empty() {
                    return Err(Error::invalid_argument("Interface name is empty"));
                }
                if name.len() >= IFNAMSIZ {
                    let mut error =
                        Error::from_errno(libc::ENAMETOOLONG, format!("Interface name `{name}' is invalid"));
                    error.message.push_str(&format!(" (at most {} bytes)", IFNAMSIZ - 1));
                    return Err(error.with_code(ErrorCode::InvalidArgument));
                }
                if name == "." || name == ".." || name.chars().any(|c| c == '/' || c == '\0' || c.is_whitespace()) {
                    return Err(Error::invalid_argument(format!("Interface name `{name}' is invalid")));
                }
                Ok(())
            }
            DeviceRef::Index(0) => Err(Error::invalid_argument("Interface index 0 is invalid")),
            DeviceRef::Index(_) => Ok(()),
        }
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRef::Name(name) => f.write_str(name),
            DeviceRef::Index(index) => write!(f, "#{index}"),
        }
    }
}

impl From<&str> for DeviceRef {
    fn from(name: &str) -> DeviceRef {
        DeviceRef::Name(name.to_string())
    }
}

/// A connection to the kernel's "wireguard" generic netlink family.
pub struct WireguardNetlink {
    conn: Connection,
    family: u16,
    removal_supported: Option<bool>,
}

impl WireguardNetlink {
    /// Opens a socket (in `netns` if given) and resolves the family. A kernel without
    /// WireGuard gives `ErrorCode::BackendUnavailable`.
    pub fn open(netns: Option<&NetnsTarget>) -> Result<WireguardNetlink> {
        let transport = netns::open_transport(netns, netlink_sys::protocols::NETLINK_GENERIC)?;
        let mut conn = Connection::new(transport);
        let family = genl::resolve_family(&mut conn, wireguard::WG_GENL_NAME)?;
        Ok(WireguardNetlink {
            conn,
            family,
            removal_supported: None,
        })
    }

    /// Reads a device (`WG_CMD_GET_DEVICE` dump), retrying when a change interrupts it.
    pub fn get_device(&mut self, device: &DeviceRef) -> Result<Device> {
        get::get_device(&mut self.conn, self.family, device)
    }

    /// Applies a change (`WG_CMD_SET_DEVICE`), split into messages of at most
    /// `MESSAGE_BUDGET` bytes. If a message after the first fails, the error is
    /// `ErrorCode::PartiallyApplied`: the kernel keeps what earlier messages changed.
    pub fn set_device(&mut self, device: &DeviceRef, config: &DeviceConfig) -> Result<()> {
        self.set_device_cancellable(device, config, &AtomicBool::new(false))
    }

    /// `set_device` that stops between messages once `cancel` is set.
    pub fn set_device_cancellable(
        &mut self,
        device: &DeviceRef,
        config: &DeviceConfig,
        cancel: &AtomicBool,
    ) -> Result<()> {
        let removes_ips = config
            .peers
            .iter()
            .any(|p| !p.remove && p.allowed_ips.iter().any(|ip| ip.remove));
        if removes_ips && !self.supports_allowed_ip_removal(device)? {
            return Err(removal::unsupported_error());
        }
        set::set_device(&mut self.conn, self.family, device, config, MESSAGE_BUDGET, cancel)
    }

    /// Whether the kernel honours `WGALLOWEDIP_F_REMOVE_ME` (Linux 6.16 or later). A kernel
    /// release of 6.16 or later answers yes without touching anything; on an older release
    /// (which may carry a backport) the device is probed with a throw-away peer that is
    /// created and removed again (see the `removal` module). The answer is cached per
    /// connection. `set_device` calls this only for changes that remove single IPs.
    pub fn supports_allowed_ip_removal(&mut self, device: &DeviceRef) -> Result<bool> {
        if let Some(known) = self.removal_supported {
            return Ok(known);
        }
        let supported = removal::probe(&mut self.conn, self.family, device)?;
        self.removal_supported = Some(supported);
        Ok(supported)
    }
}

/// A connection to rtnetlink for WireGuard links. It works without the WireGuard module.
pub struct Links {
    conn: Connection,
}

impl Links {
    pub fn open(netns: Option<&NetnsTarget>) -> Result<Links> {
        let transport = netns::open_transport(netns, netlink_sys::protocols::NETLINK_ROUTE)?;
        Ok(Links {
            conn: Connection::new(transport),
        })
    }

    /// The WireGuard links (`IFLA_INFO_KIND == "wireguard"`); empty without the module.
    pub fn list(&mut self) -> Result<Vec<LinkInfo>> {
        link::list_wireguard(&mut self.conn)
    }

    /// Creates a WireGuard link (`RTM_NEWLINK`, `NLM_F_CREATE | NLM_F_EXCL`).
    pub fn create(&mut self, name: &str) -> Result<()> {
        link::create(&mut self.conn, name)
    }

    /// Deletes a WireGuard link by name; other kinds of links are refused.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        link::delete(&mut self.conn, name)
    }
}

/// Lists the kernel's WireGuard interfaces of `netns` (or the caller's namespace).
pub fn list_devices(netns: Option<&NetnsTarget>) -> Result<Vec<LinkInfo>> {
    Links::open(netns)?.list()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<WireguardNetlink>();
        assert_send::<Links>();
    }

    #[test]
    fn names_are_validated_like_wg() {
        assert!(DeviceRef::from("wg0").validate().is_ok());
        assert!(DeviceRef::from("fifteen-chars-x").validate().is_ok());
        let err = DeviceRef::from("sixteen-chars-xx").validate().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.errno, Some(libc::ENAMETOOLONG));
        assert!(err.message.contains("at most 15 bytes"), "{}", err.message);
        for bad in ["", "a/b", "a b", "..", "a\0b"] {
            assert_eq!(
                DeviceRef::from(bad).validate().unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        assert!(DeviceRef::Index(0).validate().is_err());
        assert!(DeviceRef::Index(3).validate().is_ok());
    }

    #[test]
    fn this_host_lists_no_devices_and_has_no_backend() {
        // No WireGuard module on the test host: listing works and is empty, opening the
        // family says "unavailable".
        if std::path::Path::new("/sys/module/wireguard").exists() {
            assert!(WireguardNetlink::open(None).is_ok());
            return;
        }
        assert_eq!(list_devices(None).unwrap(), Vec::new());
        let err = WireguardNetlink::open(None).err().unwrap();
        assert_eq!(err.code, ErrorCode::BackendUnavailable);
    }
}
