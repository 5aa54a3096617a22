//! The server's `get=1` reply, in wireguard-go's order: `private_key`, `listen_port`, `fwmark`
//! (each only when non-zero); per peer `public_key`, `preshared_key` (zeros when none),
//! `protocol_version`, `endpoint` (when known), `last_handshake_time_sec`,
//! `last_handshake_time_nsec`, `tx_bytes`, `rx_bytes`, `persistent_keepalive_interval`,
//! `allowed_ip`…; then `errno=0` and a blank line.

use super::value::format_endpoint;
use crate::keys::Key;
use crate::model::Device;
use std::fmt::Write;
use zeroize::Zeroizing;

fn key_line(out: &mut String, name: &str, key: &Key) {
    let hex = Zeroizing::new(key.to_hex());
    out.push_str(name);
    out.push('=');
    out.push_str(&hex);
    out.push('\n');
}

/// The whole reply, zeroized when dropped.
pub fn format_get_reply(device: &Device) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(256 + device.peers.len() * 384));
    if let Some(key) = device.private_key.as_ref().filter(|k| !k.is_zero()) {
        key_line(&mut out, "private_key", key);
    }
    // `write!` into a String cannot fail.
    if device.listen_port != 0 {
        let _ = writeln!(out, "listen_port={}", device.listen_port);
    }
    if device.fwmark != 0 {
        let _ = writeln!(out, "fwmark={}", device.fwmark);
    }
    for peer in &device.peers {
        key_line(&mut out, "public_key", &peer.public_key);
        key_line(
            &mut out,
            "preshared_key",
            peer.preshared_key.as_ref().unwrap_or(&Key::zero()),
        );
        let _ = writeln!(out, "protocol_version={}", peer.protocol_version.max(1));
        if let Some(endpoint) = &peer.endpoint {
            let _ = writeln!(out, "endpoint={}", format_endpoint(endpoint));
        }
        let handshake = peer.last_handshake.unwrap_or_default();
        let _ = writeln!(out, "last_handshake_time_sec={}", handshake.sec);
        let _ = writeln!(out, "last_handshake_time_nsec={}", handshake.nsec);
        let _ = writeln!(out, "tx_bytes={}", peer.tx_bytes);
        let _ = writeln!(out, "rx_bytes={}", peer.rx_bytes);
        let _ = writeln!(
            out,
            "persistent_keepalive_interval={}",
            peer.persistent_keepalive_interval
        );
        for ip in &peer.allowed_ips {
            let _ = writeln!(out, "allowed_ip={ip}");
        }
    }
    out.push_str("errno=0\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AllowedIp, Peer, Timespec};
    use crate::uapi::get_reply::read_get_reply;
    use crate::uapi::lines::LineReader;

    #[test]
    fn empty_device() {
        assert_eq!(&*format_get_reply(&Device::default()), "errno=0\n\n");
        let d = Device {
            private_key: Some(Key::zero()),
            ..Default::default()
        };
        assert_eq!(&*format_get_reply(&d), "errno=0\n\n");
    }

    #[test]
    fn golden_reply_and_round_trip() {
        let mut a = Peer::new(Key::from_bytes([0xaa; 32]));
        a.preshared_key = Some(Key::from_bytes([0x11; 32]));
        a.endpoint = Some("[2001:db8::1]:51820".parse().unwrap());
        a.last_handshake = Some(Timespec {
            sec: 1700000000,
            nsec: 5,
        });
        a.tx_bytes = 10;
        a.rx_bytes = 20;
        a.persistent_keepalive_interval = 25;
        a.allowed_ips = vec![
            AllowedIp::parse("10.0.0.0/8").unwrap(),
            AllowedIp::parse("fd00::/64").unwrap(),
        ];
        let b = Peer::new(Key::from_bytes([0xbb; 32]));
        let private = Key::from_bytes([0x40; 32]);
        let d = Device {
            name: "wg0".into(),
            ifindex: None,
            public_key: Some(private.public_key()),
            private_key: Some(private),
            listen_port: 51820,
            fwmark: 0,
            peers: vec![a, b],
        };
        let expected = format!(
            "private_key={}\nlisten_port=51820\n\
             public_key={}\npreshared_key={}\nprotocol_version=1\nendpoint=[2001:db8::1]:51820\n\
             last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\ntx_bytes=10\nrx_bytes=20\n\
             persistent_keepalive_interval=25\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\n\
             public_key={}\npreshared_key={}\nprotocol_version=1\n\
             last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n\
             persistent_keepalive_interval=0\nerrno=0\n\n",
            "40".repeat(32),
            "aa".repeat(32),
            "11".repeat(32),
            "bb".repeat(32),
            "00".repeat(32),
        );
        let text = format_get_reply(&d);
        assert_eq!(&*text, &expected);
        let mut r = LineReader::new(text.as_bytes(), 4096);
        assert_eq!(read_get_reply(&mut r, "wg0").unwrap(), d);
    }
}
