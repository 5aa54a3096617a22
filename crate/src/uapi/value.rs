//! The value syntax of UAPI lines: decimal numbers, hex keys, numeric endpoints and
//! allowed-IP prefixes, shared by the client and the server.

use super::interface_index::interface_index;
use crate::keys::Key;
use crate::model::AllowedIp;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Unsigned decimal: ASCII digits only (no sign, no spaces), at most `max`. Leading zeros are
/// accepted, as by wg's `strtoull` and Go's `strconv.ParseUint`.
pub fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n <= max)
}

/// 64 hex digits, either case.
pub fn parse_key(text: &str) -> Option<Key> {
    Key::from_hex(text).ok()
}

/// A numeric endpoint: `a.b.c.d:port`, `[v6]:port` or `[v6%zone]:port`, where the zone is an
/// interface index or name. Host names are refused (wireguard-go parses endpoints with
/// `netip.ParseAddrPort`, which is numeric only).
pub fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = parse_decimal(after.strip_prefix(':')?, u16::MAX as u64)? as u16;
        let (addr, scope) = match host.split_once('%') {
            Some((addr, zone)) => (addr, parse_zone(zone)?),
            None => (host, 0),
        };
        let ip: Ipv6Addr = addr.parse().ok()?;
        Some(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)))
    } else {
        let (host, port) = text.rsplit_once(':')?;
        let port = parse_decimal(port, u16::MAX as u64)? as u16;
        let ip: Ipv4Addr = host.parse().ok()?;
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    }
}

fn parse_zone(zone: &str) -> Option<u32> {
    if zone.is_empty() {
        return None;
    }
    if let Some(n) = parse_decimal(zone, u32::MAX as u64) {
        return Some(n as u32);
    }
    interface_index(zone)
}

/// `ip:port`, `[v6]:port` or `[v6%scope]:port` (numeric scope), as wg writes endpoints.
pub fn format_endpoint(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) if a.scope_id() != 0 => format!("[{}%{}]:{}", a.ip(), a.scope_id(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// An `allowed_ip` value of a get reply, with wg's rules: `ip/digits`, the family decided by
/// the presence of `:`, the prefix length within the family.
pub fn parse_reply_allowed_ip(text: &str) -> Option<AllowedIp> {
    let (ip, cidr) = text.split_once('/')?;
    let cidr = parse_decimal(cidr, 255)? as u8;
    let addr = if ip.contains(':') {
        IpAddr::V6(ip.parse().ok()?)
    } else {
        IpAddr::V4(ip.parse().ok()?)
    };
    AllowedIp::new(addr, cidr).ok()
}

/// An `allowed_ip` value of a set request, as wireguard-go's `netip.ParsePrefix` takes it:
/// `ip/bits`, no zone, bits without sign or leading zeros; a leading `-` asks for removal.
/// Returns the prefix and whether it is a removal.
pub fn parse_request_allowed_ip(text: &str) -> Option<(AllowedIp, bool)> {
    let (text, remove) = match text.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (ip, bits) = text.split_once('/')?;
    if bits.len() > 1 && bits.starts_with('0') {
        return None;
    }
    let cidr = parse_decimal(bits, 255)? as u8;
    let addr: IpAddr = ip.parse().ok()?;
    AllowedIp::new(addr, cidr).ok().map(|a| (a, remove))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0", 10), Some(0));
        assert_eq!(parse_decimal("010", 10), Some(10));
        assert_eq!(parse_decimal("11", 10), None);
        assert_eq!(parse_decimal("+1", 10), None);
        assert_eq!(parse_decimal("-1", 10), None);
        assert_eq!(parse_decimal(" 1", 10), None);
        assert_eq!(parse_decimal("", 10), None);
        assert_eq!(parse_decimal("18446744073709551615", u64::MAX), Some(u64::MAX));
        assert_eq!(parse_decimal("18446744073709551616", u64::MAX), None);
    }

    #[test]
    fn endpoints() {
        let ok = |s: &str| parse_endpoint(s).unwrap_or_else(|| panic!("{s}"));
        assert_eq!(ok("192.0.2.1:51820").to_string(), "192.0.2.1:51820");
        assert_eq!(ok("[2001:db8::1]:1").to_string(), "[2001:db8::1]:1");
        let scoped = ok("[fe80::1%7]:51820");
        match scoped {
            SocketAddr::V6(a) => assert_eq!((a.scope_id(), a.port()), (7, 51820)),
            _ => panic!("not v6"),
        }
        assert_eq!(format_endpoint(&scoped), "[fe80::1%7]:51820");
        // A zone by interface name (the loopback's; Unix only: wine's if_nametoindex knows
        // no interface name to test with).
        #[cfg(target_os = "linux")]
        let lo = Some("lo");
        #[cfg(all(unix, not(target_os = "linux")))]
        let lo = Some("lo0");
        #[cfg(windows)]
        let lo: Option<&str> = None;
        if let Some(lo) = lo {
            match ok(&format!("[fe80::1%{lo}]:5")) {
                SocketAddr::V6(a) => assert_ne!(a.scope_id(), 0),
                _ => panic!("not v6"),
            }
        }
        for bad in [
            "",
            "192.0.2.1",
            "192.0.2.1:",
            "192.0.2.1:65536",
            "192.0.2.1:+1",
            "example.com:51820",
            "2001:db8::1:51820",
            "[192.0.2.1]:1",
            "[2001:db8::1]",
            "[2001:db8::1]:",
            "[2001:db8::1]1",
            "[2001:db8::1%]:1",
            "[fe80::1%nosuchif0]:1",
            "[2001:db8::1:1",
            "256.0.0.1:1",
        ] {
            assert_eq!(parse_endpoint(bad), None, "{bad}");
        }
        assert_eq!(format_endpoint(&ok("192.0.2.1:5")), "192.0.2.1:5");
        assert_eq!(format_endpoint(&ok("[::ffff:1.2.3.4]:5")), "[::ffff:1.2.3.4]:5");
    }

    #[test]
    fn allowed_ips() {
        assert_eq!(parse_reply_allowed_ip("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_reply_allowed_ip("fd00::/008").unwrap().to_string(), "fd00::/8");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/x",
            "x/1",
            "10.0.0.0/+1",
            "-10.0.0.0/8",
        ] {
            assert_eq!(parse_reply_allowed_ip(bad), None, "{bad}");
        }
        assert_eq!(
            parse_request_allowed_ip("-fd00::1/128").map(|(a, r)| (a.to_string(), r)),
            Some(("fd00::1/128".into(), true))
        );
        assert_eq!(parse_request_allowed_ip("10.0.0.0/0").map(|(_, r)| r), Some(false));
        for bad in [
            "10.0.0.0/08",
            "10.0.0.0",
            "fe80::1%1/64",
            "10.0.0.0/33",
            "--10.0.0.0/8",
            "10.0.0.0/",
        ] {
            assert_eq!(parse_request_allowed_ip(bad), None, "{bad}");
        }
    }
}
