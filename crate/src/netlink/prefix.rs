//! IP families and prefixes (`10.0.0.1/24`, `fd00::/64`) as rtnetlink requests carry them.
//!
//! An interface address keeps its host bits (`10.0.0.1/24` is the address 10.0.0.1 on a
//! /24); a route destination must not have any (`ip route add 10.0.0.1/24` is refused by
//! the kernel for IPv4 and silently masked for IPv6, so it is refused here for both).

use crate::error::{Error, Result};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_INET` and `AF_INET6` as `u8`, the width of the family field in rtnetlink headers.
pub const AF_INET: u8 = libc::AF_INET as u8;
pub const AF_INET6: u8 = libc::AF_INET6 as u8;

/// An IP version: 4 or 6 in JS, `AF_INET` or `AF_INET6` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// 4 or 6; anything else is an invalid argument.
    pub fn from_version(version: u32) -> Result<Family> {
        match version {
            4 => Ok(Family::V4),
            6 => Ok(Family::V6),
            other => Err(Error::invalid_argument(format!(
                "Invalid address family {other}: expected 4 or 6"
            ))),
        }
    }

    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn from_af(af: u8) -> Option<Family> {
        match af {
            AF_INET => Some(Family::V4),
            AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }

    pub fn version(self) -> u32 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }

    pub fn af(self) -> u8 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }

    /// The prefix length of a single address: 32 or 128.
    pub fn max_prefix_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The unspecified address, the destination of a default route.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// Reads an address of this family from attribute bytes (exactly 4 or 16 of them).
    pub fn parse_addr(self, bytes: &[u8]) -> Option<IpAddr> {
        match self {
            Family::V4 => <[u8; 4]>::try_from(bytes).ok().map(|b| IpAddr::V4(b.into())),
            Family::V6 => <[u8; 16]>::try_from(bytes).ok().map(|b| IpAddr::V6(b.into())),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPv{}", self.version())
    }
}

/// An address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpPrefix {
    /// Validates the prefix length against the family.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<IpPrefix> {
        let family = Family::of(&addr);
        if prefix_len > family.max_prefix_len() {
            return Err(Error::invalid_argument(format!(
                "Invalid prefix length /{prefix_len} for {family} address {addr}"
            )));
        }
        Ok(IpPrefix { addr, prefix_len })
    }

    /// Parses `addr/len` or a bare address (a /32 or /128). Decimal lengths only, no zone.
    pub fn parse(text: &str) -> Result<IpPrefix> {
        let bad = || Error::invalid_argument(format!("Invalid IP prefix `{text}': expected ADDRESS[/LENGTH]"));
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix_len = match len {
            None => Family::of(&addr).max_prefix_len(),
            Some(len) if !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        IpPrefix::new(addr, prefix_len)
    }

    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// The address with its host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix_len as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix_len as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// Refuses a prefix with host bits set, naming the network it probably meant.
    pub fn require_network(&self) -> Result<()> {
        let network = self.network();
        if network != self.addr {
            return Err(Error::invalid_argument(format!(
                "Invalid prefix {self}: host bits are set (the network is {network}/{})",
                self.prefix_len
            )));
        }
        Ok(())
    }

    /// The address bytes as rtnetlink attributes carry them.
    pub fn addr_bytes(&self) -> Vec<u8> {
        addr_bytes(&self.addr)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// 4 or 16 bytes in network order.
pub fn addr_bytes(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn parses_prefixes_and_bare_addresses() {
        let p = IpPrefix::parse("10.0.0.1/24").unwrap();
        assert_eq!(p.addr, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.prefix_len, 24);
        assert_eq!(p.to_string(), "10.0.0.1/24");
        assert_eq!(IpPrefix::parse("10.0.0.1").unwrap().prefix_len, 32);
        assert_eq!(IpPrefix::parse("fd00::1").unwrap().prefix_len, 128);
        assert_eq!(IpPrefix::parse("::/0").unwrap().family(), Family::V6);
        assert_eq!(IpPrefix::parse("0.0.0.0/0").unwrap().prefix_len, 0);
    }

    #[test]
    fn rejects_malformed_prefixes() {
        for bad in [
            "",
            "10.0.0.1/33",
            "fd00::/129",
            "10.0.0.1/",
            "10.0.0/8",
            "x/1",
            "10.0.0.1/+1",
            "10.0.0.1/0024",
            "fe80::1%eth0",
            " 10.0.0.1",
        ] {
            let err = IpPrefix::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn network_and_host_bits() {
        let p = IpPrefix::parse("10.1.2.3/16").unwrap();
        assert_eq!(p.network().to_string(), "10.1.0.0");
        let err = p.require_network().unwrap_err();
        assert!(err.message.contains("10.1.0.0/16"), "{}", err.message);
        assert!(IpPrefix::parse("10.1.0.0/16").unwrap().require_network().is_ok());
        assert!(IpPrefix::parse("0.0.0.0/0").unwrap().require_network().is_ok());
        assert_eq!(
            IpPrefix::parse("fd00::1:2/112").unwrap().network().to_string(),
            "fd00::1:0"
        );
        assert!(IpPrefix::parse("fd00::1/128").unwrap().require_network().is_ok());
    }

    #[test]
    fn families() {
        assert_eq!(Family::from_version(4).unwrap().af(), libc::AF_INET as u8);
        assert_eq!(Family::from_version(6).unwrap().af(), libc::AF_INET6 as u8);
        assert_eq!(Family::from_version(5).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(Family::V4.parse_addr(&[1, 2, 3, 4]).unwrap().to_string(), "1.2.3.4");
        assert_eq!(Family::V4.parse_addr(&[1, 2, 3]), None);
    }
}
