//! The device model shared by every backend (kernel netlink, UAPI client, UAPI server and
//! the userspace device): what a device reports (`Device`, `Peer`) and what a change asks
//! for (`DeviceConfig`, `PeerConfig`), with wg's semantics.

use crate::error::{Error, Result};
use crate::keys::Key;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A device as read back: the kernel's `get-device` dump or a UAPI `get=1` reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub name: String,
    /// The kernel's interface index; `None` for userspace devices.
    pub ifindex: Option<u32>,
    /// `None` when the device has no private key.
    pub private_key: Option<Key>,
    /// Derived from the private key; `None` when there is none.
    pub public_key: Option<Key>,
    /// 0 when not listening (no key or not up).
    pub listen_port: u16,
    /// 0 = off.
    pub fwmark: u32,
    pub peers: Vec<Peer>,
}

/// A handshake time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub public_key: Key,
    /// `None` when the preshared key is all zeros.
    pub preshared_key: Option<Key>,
    /// `None` when the peer has no endpoint. IPv6 keeps its scope id.
    pub endpoint: Option<SocketAddr>,
    /// Seconds; 0 = off.
    pub persistent_keepalive_interval: u16,
    /// `None` when no handshake ever completed (sec and nsec both 0).
    pub last_handshake: Option<Timespec>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// In the order the device reports them; host bits masked by the kernel.
    pub allowed_ips: Vec<AllowedIp>,
    pub protocol_version: u32,
}

impl Peer {
    pub fn new(public_key: Key) -> Peer {
        Peer {
            public_key,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive_interval: 0,
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            allowed_ips: Vec::new(),
            protocol_version: 1,
        }
    }
}

/// An IP prefix, `addr/cidr`. The address is kept as given (host bits are not masked here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllowedIp {
    pub addr: IpAddr,
    pub cidr: u8,
}

impl AllowedIp {
    /// Validates the prefix length against the address family.
    pub fn new(addr: IpAddr, cidr: u8) -> Result<AllowedIp> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if cidr > max {
            return Err(Error::invalid_argument(format!(
                "AllowedIP is not in the correct format: `{addr}/{cidr}'"
            )));
        }
        Ok(AllowedIp { addr, cidr })
    }

    /// Parses `ip[/cidr]`; a missing cidr means /32 or /128, as in wg.
    pub fn parse(text: &str) -> Result<AllowedIp> {
        let bad = || Error::invalid_argument(format!("AllowedIP is not in the correct format: `{text}'"));
        let (ip, cidr) = match text.split_once('/') {
            Some((ip, cidr)) => (ip, Some(cidr)),
            None => (text, None),
        };
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        let cidr = match cidr {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(c) if !c.is_empty() && c.len() <= 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
                c.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        AllowedIp::new(addr, cidr).map_err(|_| bad())
    }

    /// The prefix with its host bits cleared.
    pub fn masked(&self) -> AllowedIp {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if self.cidr == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.cidr as u32)
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if self.cidr == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.cidr as u32)
                };
                IpAddr::V6((bits & mask).into())
            }
        };
        AllowedIp { addr, cidr: self.cidr }
    }
}

impl fmt::Display for AllowedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.cidr)
    }
}

/// One allowed-IP entry of a change: add it (moving it from any other peer) or remove it
/// from this peer only (`-ip/cidr` in wg, WGALLOWEDIP_F_REMOVE_ME in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedIpChange {
    pub ip: AllowedIp,
    pub remove: bool,
}

/// A change to a device, with the semantics of the kernel's `set-device` and UAPI `set=1`:
/// `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceConfig {
    /// `Some(zero key)` removes the private key.
    pub private_key: Option<Key>,
    /// `Some(0)` picks a random port.
    pub listen_port: Option<u16>,
    /// `Some(0)` turns the fwmark off.
    pub fwmark: Option<u32>,
    /// Remove every peer before applying `peers`.
    pub replace_peers: bool,
    pub peers: Vec<PeerConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: Key,
    /// Remove the peer; every other field is ignored.
    pub remove: bool,
    /// Only change the peer if it exists already.
    pub update_only: bool,
    /// `Some(zero key)` removes the preshared key.
    pub preshared_key: Option<Key>,
    pub endpoint: Option<SocketAddr>,
    /// `Some(0)` turns persistent keepalive off.
    pub persistent_keepalive_interval: Option<u16>,
    /// Clear the peer's allowed IPs before adding `allowed_ips`.
    pub replace_allowed_ips: bool,
    pub allowed_ips: Vec<AllowedIpChange>,
    /// Must be 1 when given.
    pub protocol_version: Option<u32>,
}

impl PeerConfig {
    pub fn new(public_key: Key) -> PeerConfig {
        PeerConfig {
            public_key,
            remove: false,
            update_only: false,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive_interval: None,
            replace_allowed_ips: false,
            allowed_ips: Vec::new(),
            protocol_version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_ip_parse() {
        assert_eq!(AllowedIp::parse("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(AllowedIp::parse("fd00::1").unwrap().to_string(), "fd00::1/128");
        assert_eq!(
            AllowedIp::parse("10.1.2.3/8").unwrap().masked().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(AllowedIp::parse("0.0.0.0/0").unwrap().masked().to_string(), "0.0.0.0/0");
        assert_eq!(
            AllowedIp::parse("fd00::ff/120").unwrap().masked().to_string(),
            "fd00::/120"
        );
        for bad in [
            "10.0.0.1/33",
            "fd00::/129",
            "10.0.0.1/",
            "10.0.0.1/+1",
            "x/1",
            "10.0.0.1/1a",
        ] {
            assert!(AllowedIp::parse(bad).is_err(), "{bad}");
        }
    }
}
