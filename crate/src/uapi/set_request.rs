//! The client's `set=1` request, written in wg's key order (ipc-uapi.h `userspace_set_device`).
//!
//! Device: `private_key`, `listen_port`, `fwmark`, `replace_peers=true`. Per peer:
//! `public_key`; `remove=true` and nothing else for a removed peer; otherwise `update_only=true`,
//! `preshared_key`, `endpoint`, `persistent_keepalive_interval`, `replace_allowed_ips=true`,
//! `allowed_ip=[-]ip/cidr`…, `protocol_version`. A blank line ends the request.

use super::value::format_endpoint;
use crate::error::{Error, Result};
use crate::model::DeviceConfig;
use std::fmt::Write;
use zeroize::Zeroizing;

/// Builds the whole request. The text holds keys and is zeroized when dropped.
/// A `protocol_version` other than 1 or a prefix length beyond its family is refused here,
/// before anything is sent.
pub fn format_set_request(config: &DeviceConfig) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(128 + config.peers.len() * 256));
    out.push_str("set=1\n");
    if let Some(key) = &config.private_key {
        let hex = Zeroizing::new(key.to_hex());
        out.push_str("private_key=");
        out.push_str(&hex);
        out.push('\n');
    }
    // `write!` into a String cannot fail.
    if let Some(port) = config.listen_port {
        let _ = writeln!(out, "listen_port={port}");
    }
    if let Some(mark) = config.fwmark {
        let _ = writeln!(out, "fwmark={mark}");
    }
    if config.replace_peers {
        out.push_str("replace_peers=true\n");
    }
    for peer in &config.peers {
        let _ = writeln!(out, "public_key={}", peer.public_key.to_hex());
        if peer.remove {
            out.push_str("remove=true\n");
            continue;
        }
        if let Some(v) = peer.protocol_version.filter(|&v| v != 1) {
            return Err(Error::invalid_argument(format!("Unsupported protocol version: {v}")));
        }
        if peer.update_only {
            out.push_str("update_only=true\n");
        }
        if let Some(psk) = &peer.preshared_key {
            let hex = Zeroizing::new(psk.to_hex());
            out.push_str("preshared_key=");
            out.push_str(&hex);
            out.push('\n');
        }
        if let Some(endpoint) = &peer.endpoint {
            let _ = writeln!(out, "endpoint={}", format_endpoint(endpoint));
        }
        if let Some(interval) = peer.persistent_keepalive_interval {
            let _ = writeln!(out, "persistent_keepalive_interval={interval}");
        }
        if peer.replace_allowed_ips {
            out.push_str("replace_allowed_ips=true\n");
        }
        for change in &peer.allowed_ips {
            let ip = crate::model::AllowedIp::new(change.ip.addr, change.ip.cidr)?;
            let _ = writeln!(out, "allowed_ip={}{}", if change.remove { "-" } else { "" }, ip);
        }
        if let Some(v) = peer.protocol_version {
            let _ = writeln!(out, "protocol_version={v}");
        }
    }
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::model::{AllowedIp, AllowedIpChange, PeerConfig};

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn empty_request() {
        assert_eq!(&*format_set_request(&DeviceConfig::default()).unwrap(), "set=1\n\n");
    }

    #[test]
    fn golden_full_request() {
        let mut a = PeerConfig::new(key(0xaa));
        a.update_only = true;
        a.preshared_key = Some(key(0x11));
        a.endpoint = Some("[2001:db8::1]:51820".parse().unwrap());
        a.persistent_keepalive_interval = Some(25);
        a.replace_allowed_ips = true;
        a.allowed_ips = vec![
            AllowedIpChange {
                ip: AllowedIp::parse("10.0.0.0/24").unwrap(),
                remove: false,
            },
            AllowedIpChange {
                ip: AllowedIp::parse("fd00::1/128").unwrap(),
                remove: true,
            },
        ];
        a.protocol_version = Some(1);
        let mut b = PeerConfig::new(key(0xbb));
        b.remove = true;
        b.preshared_key = Some(key(0x22));
        b.allowed_ips = a.allowed_ips.clone();
        let mut c = PeerConfig::new(key(0xcc));
        c.endpoint = Some("192.0.2.1:1".parse().unwrap());
        c.preshared_key = Some(Key::zero());
        c.persistent_keepalive_interval = Some(0);
        let config = DeviceConfig {
            private_key: Some(key(0x01)),
            listen_port: Some(51820),
            fwmark: Some(0xffff_ffff),
            replace_peers: true,
            peers: vec![a, b, c],
        };
        let expected = format!(
            "set=1\nprivate_key={k01}\nlisten_port=51820\nfwmark=4294967295\nreplace_peers=true\n\
             public_key={kaa}\nupdate_only=true\npreshared_key={k11}\nendpoint=[2001:db8::1]:51820\n\
             persistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n\
             allowed_ip=-fd00::1/128\nprotocol_version=1\n\
             public_key={kbb}\nremove=true\n\
             public_key={kcc}\npreshared_key={zero}\nendpoint=192.0.2.1:1\npersistent_keepalive_interval=0\n\n",
            k01 = "01".repeat(32),
            kaa = "aa".repeat(32),
            k11 = "11".repeat(32),
            kbb = "bb".repeat(32),
            kcc = "cc".repeat(32),
            zero = "00".repeat(32),
        );
        assert_eq!(&*format_set_request(&config).unwrap(), &expected);
    }

    #[test]
    fn zero_values() {
        let config = DeviceConfig {
            private_key: Some(Key::zero()),
            listen_port: Some(0),
            fwmark: Some(0),
            ..Default::default()
        };
        assert_eq!(
            &*format_set_request(&config).unwrap(),
            &format!("set=1\nprivate_key={}\nlisten_port=0\nfwmark=0\n\n", "00".repeat(32))
        );
    }

    #[test]
    fn scoped_endpoint() {
        let mut p = PeerConfig::new(key(1));
        p.endpoint = Some(std::net::SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            9,
            0,
            3,
        )));
        let config = DeviceConfig {
            peers: vec![p],
            ..Default::default()
        };
        assert!(format_set_request(&config)
            .unwrap()
            .contains("\nendpoint=[fe80::1%3]:9\n"));
    }

    #[test]
    fn refuses_bad_values() {
        let mut p = PeerConfig::new(key(1));
        p.protocol_version = Some(2);
        let config = DeviceConfig {
            peers: vec![p],
            ..Default::default()
        };
        assert_eq!(
            format_set_request(&config).unwrap_err().code,
            crate::error::ErrorCode::InvalidArgument
        );
        let mut p = PeerConfig::new(key(1));
        p.allowed_ips.push(AllowedIpChange {
            ip: AllowedIp {
                addr: "10.0.0.0".parse().unwrap(),
                cidr: 33,
            },
            remove: false,
        });
        let config = DeviceConfig {
            peers: vec![p],
            ..Default::default()
        };
        assert!(format_set_request(&config).is_err());
    }
}
