//! The client's reading of a `get=1` reply into a `model::Device` (wg ipc-uapi.h
//! `userspace_get_device`).
//!
//! Rules, as in wg: every line is `key=value`; keys are hex; `private_key` yields the public
//! key as well; `public_key` starts a peer; device keys after the first peer and peer keys
//! before it are ignored; numbers are plain decimal within wg's bounds (port and keepalive
//! ≤ 65535, fwmark ≤ 2³²−1, handshake seconds and nanoseconds ≤ 2⁶³−1, byte counters ≤ 2⁶⁴−1);
//! a zero preshared key is `None`; a handshake of 0/0 is `None`; `errno=` ends with the status.
//! A blank line ends the reply; a reply without `errno` is EPROTO.
//!
//! Decisions: unknown keys are tolerated, as wg does (forks such as AmneziaWG add device keys
//! and newer servers may add more). Endpoints must be numeric (`ip:port`, `[v6]:port`,
//! `[v6%zone]:port`), which is all wireguard-go writes; wg would also resolve a host name.
//! `errno` may be `N` or `-N`. An all-zero private key is reported as no key. Malformed values
//! are protocol errors (EPROTO), where wg also stops with EPROTO.

use super::errno::{missing_errno, parse_errno, reply_error};
use super::lines::{Line, LineReader};
use super::value::{parse_decimal, parse_endpoint, parse_key, parse_reply_allowed_ip};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, Peer, Timespec};
use std::io::Read;

/// Reads one reply from `reader` up to its blank line. `name` fills `Device::name`.
pub fn read_get_reply<R: Read>(reader: &mut LineReader<R>, name: &str) -> Result<Device> {
    let context = format!("Unable to access interface {name}");
    let mut device = Device {
        name: name.to_string(),
        ..Default::default()
    };
    let mut peer: Option<PeerState> = None;
    let mut errno: Option<i32> = None;
    loop {
        let line = match reader.read_line() {
            Ok(Line::Complete(line)) => line,
            Ok(Line::Eof) | Ok(Line::Truncated) => {
                return Err(protocol(&context, "connection closed before the end of the reply"))
            }
            Ok(Line::TooLong) => return Err(protocol(&context, "reply line too long")),
            Err(e) => return Err(super::errno::io_error(&e, &context)),
        };
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line).map_err(|_| protocol(&context, "reply is not UTF-8"))?;
        let (key, value) = line.split_once('=').ok_or_else(|| {
            protocol(
                &context,
                &format!("invalid key=value pair `{key}'", key = line.escape_debug()),
            )
        })?;
        let bad = || protocol(&context, &format!("invalid value for `{key}'"));
        match (key, peer.as_mut()) {
            ("private_key", None) => {
                let k = parse_key(value).ok_or_else(bad)?;
                if k.is_zero() {
                    device.private_key = None;
                    device.public_key = None;
                } else {
                    device.public_key = Some(k.public_key());
                    device.private_key = Some(k);
                }
            }
            ("listen_port", None) => device.listen_port = parse_decimal(value, 0xffff).ok_or_else(bad)? as u16,
            ("fwmark", None) => device.fwmark = parse_decimal(value, 0xffff_ffff).ok_or_else(bad)? as u32,
            ("public_key", _) => {
                let k = parse_key(value).ok_or_else(bad)?;
                if let Some(done) = peer.take() {
                    device.peers.push(done.finish());
                }
                peer = Some(PeerState {
                    peer: Peer::new(k),
                    handshake: Timespec::default(),
                });
            }
            ("preshared_key", Some(p)) => {
                let k = parse_key(value).ok_or_else(bad)?;
                p.peer.preshared_key = (!k.is_zero()).then_some(k);
            }
            ("endpoint", Some(p)) => p.peer.endpoint = Some(parse_endpoint(value).ok_or_else(bad)?),
            ("persistent_keepalive_interval", Some(p)) => {
                p.peer.persistent_keepalive_interval = parse_decimal(value, 0xffff).ok_or_else(bad)? as u16
            }
            ("allowed_ip", Some(p)) => p.peer.allowed_ips.push(parse_reply_allowed_ip(value).ok_or_else(bad)?),
            ("last_handshake_time_sec", Some(p)) => {
                p.handshake.sec = parse_decimal(value, i64::MAX as u64).ok_or_else(bad)? as i64
            }
            ("last_handshake_time_nsec", Some(p)) => {
                p.handshake.nsec = parse_decimal(value, i64::MAX as u64).ok_or_else(bad)? as i64
            }
            ("rx_bytes", Some(p)) => p.peer.rx_bytes = parse_decimal(value, u64::MAX).ok_or_else(bad)?,
            ("tx_bytes", Some(p)) => p.peer.tx_bytes = parse_decimal(value, u64::MAX).ok_or_else(bad)?,
            ("protocol_version", Some(p)) => {
                p.peer.protocol_version = parse_decimal(value, u32::MAX as u64).ok_or_else(bad)? as u32
            }
            ("errno", _) => errno = Some(parse_errno(value).ok_or_else(bad)?),
            _ => {}
        }
    }
    if let Some(done) = peer.take() {
        device.peers.push(done.finish());
    }
    match errno {
        None => Err(missing_errno(&context)),
        Some(0) => Ok(device),
        Some(n) => Err(reply_error(n, &context)),
    }
}

struct PeerState {
    peer: Peer,
    handshake: Timespec,
}

impl PeerState {
    fn finish(mut self) -> Peer {
        if self.handshake != Timespec::default() {
            self.peer.last_handshake = Some(self.handshake);
        }
        self.peer
    }
}

fn protocol(context: &str, what: &str) -> Error {
    Error {
        code: ErrorCode::Protocol,
        message: format!("{context}: {what}"),
        errno: Some(libc::EPROTO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::uapi::lines::tests::Chunked;

    const PRIV: &str = "GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=";
    const PUB: &str = "aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=";

    fn parse_chunked(text: &str, chunk: usize) -> Result<Device> {
        let mut r = LineReader::new(
            Chunked {
                data: text.as_bytes(),
                chunk,
            },
            4096,
        );
        read_get_reply(&mut r, "wg0")
    }

    fn parse(text: &str) -> Result<Device> {
        parse_chunked(text, 4096)
    }

    fn hex(b64: &str) -> String {
        Key::from_base64(b64).unwrap().to_hex()
    }

    fn full_reply() -> String {
        format!(
            "private_key={}\nlisten_port=51820\nfwmark=7\n\
             public_key={}\npreshared_key={}\nprotocol_version=1\nendpoint=192.0.2.2:51820\n\
             last_handshake_time_sec=1795423258\nlast_handshake_time_nsec=444890229\ntx_bytes=532\nrx_bytes=476\n\
             persistent_keepalive_interval=25\nallowed_ip=10.77.0.2/32\nallowed_ip=fd00::/64\n\
             public_key={}\npreshared_key={}\nprotocol_version=1\nendpoint=[fe80::1%1]:1\n\
             last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=18446744073709551615\n\
             persistent_keepalive_interval=0\nerrno=0\n\n",
            hex(PRIV),
            hex(PUB),
            "ab".repeat(32),
            "cd".repeat(32),
            "00".repeat(32),
        )
    }

    #[test]
    fn full_reply_in_any_chunking() {
        let text = full_reply();
        let whole = parse(&text).unwrap();
        for chunk in [1, 2, 7, 64] {
            assert_eq!(parse_chunked(&text, chunk).unwrap(), whole, "chunk {chunk}");
        }
        let d = whole;
        assert_eq!(d.name, "wg0");
        assert_eq!(d.private_key.as_ref().unwrap().to_base64(), PRIV);
        assert_eq!(d.public_key.as_ref().unwrap().to_base64(), PUB);
        assert_eq!((d.listen_port, d.fwmark), (51820, 7));
        assert_eq!(d.peers.len(), 2);
        let a = &d.peers[0];
        assert_eq!(a.public_key.to_base64(), PUB);
        assert_eq!(a.preshared_key, Some(Key::from_bytes([0xab; 32])));
        assert_eq!(a.endpoint, Some("192.0.2.2:51820".parse().unwrap()));
        assert_eq!(
            a.last_handshake,
            Some(Timespec {
                sec: 1795423258,
                nsec: 444890229
            })
        );
        assert_eq!(
            (a.tx_bytes, a.rx_bytes, a.persistent_keepalive_interval),
            (532, 476, 25)
        );
        assert_eq!(
            a.allowed_ips.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["10.77.0.2/32", "fd00::/64"]
        );
        assert_eq!(a.protocol_version, 1);
        let b = &d.peers[1];
        assert_eq!(b.preshared_key, None, "zero PSK is None");
        assert_eq!(b.last_handshake, None, "0/0 handshake is None");
        assert_eq!(b.rx_bytes, u64::MAX);
        assert!(b.allowed_ips.is_empty());
        match b.endpoint {
            Some(std::net::SocketAddr::V6(e)) => assert_eq!((e.scope_id(), e.port()), (1, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_device() {
        let d = parse("errno=0\n\n").unwrap();
        assert_eq!(
            d,
            Device {
                name: "wg0".into(),
                ..Default::default()
            }
        );
        let d = parse(&format!("private_key={}\nerrno=0\n\n", "00".repeat(32))).unwrap();
        assert!(d.private_key.is_none() && d.public_key.is_none());
    }

    #[test]
    fn handshake_at_second_boundary_is_kept() {
        let text = format!(
            "public_key={}\nlast_handshake_time_sec=5\nlast_handshake_time_nsec=0\nerrno=0\n\n",
            "01".repeat(32)
        );
        assert_eq!(
            parse(&text).unwrap().peers[0].last_handshake,
            Some(Timespec { sec: 5, nsec: 0 })
        );
    }

    #[test]
    fn errno_forms() {
        let e = parse("errno=-22\n\n").unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::System, Some(libc::EINVAL)));
        let e2 = parse("errno=22\n\n").unwrap_err();
        assert_eq!(e2, e);
        let e = parse("errno=19\n\n").unwrap_err();
        assert_eq!(e.code, ErrorCode::DeviceNotFound);
        let e = parse("listen_port=1\n\n").unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::Protocol, Some(libc::EPROTO)));
        let e = parse("errno=x\n\n").unwrap_err();
        assert_eq!(e.code, ErrorCode::Protocol);
    }

    #[test]
    fn framing_errors() {
        for text in ["errno=0\n", "errno=0", "", "listen_port\nerrno=0\n\n"] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.code, e.errno), (ErrorCode::Protocol, Some(libc::EPROTO)), "{text:?}");
        }
        let long = format!("x={}\nerrno=0\n\n", "a".repeat(5000));
        assert_eq!(parse(&long).unwrap_err().code, ErrorCode::Protocol);
    }

    #[test]
    fn bad_values() {
        let peer = format!("public_key={}\n", "01".repeat(32));
        let cases: Vec<String> = vec![
            format!("private_key={}\n", "0".repeat(63)),
            format!("private_key={}\n", "g".repeat(64)),
            "listen_port=65536\n".into(),
            "listen_port=-1\n".into(),
            "listen_port=+1\n".into(),
            "listen_port=\n".into(),
            "fwmark=4294967296\n".into(),
            "fwmark=0x10\n".into(),
            "public_key=zz\n".into(),
            format!("{peer}preshared_key=00\n"),
            format!("{peer}endpoint=example.com:1\n"),
            format!("{peer}endpoint=192.0.2.1\n"),
            format!("{peer}endpoint=[::1]:99999\n"),
            format!("{peer}endpoint=\n"),
            format!("{peer}allowed_ip=10.0.0.0/33\n"),
            format!("{peer}allowed_ip=10.0.0.0\n"),
            format!("{peer}allowed_ip=-10.0.0.0/8\n"),
            format!("{peer}allowed_ip=fd00::/129\n"),
            format!("{peer}persistent_keepalive_interval=65536\n"),
            format!("{peer}last_handshake_time_sec=9223372036854775808\n"),
            format!("{peer}rx_bytes=18446744073709551616\n"),
            format!("{peer}tx_bytes=1.5\n"),
        ];
        for case in cases {
            let e = parse(&format!("{case}errno=0\n\n")).unwrap_err();
            assert_eq!(e.code, ErrorCode::Protocol, "{case:?}");
        }
        assert_eq!(
            parse(&format!("fwmark=4294967295\n{peer}errno=0\n\n")).unwrap().fwmark,
            u32::MAX
        );
    }

    #[test]
    fn unknown_and_misplaced_keys_are_ignored() {
        let text = format!(
            "jc=4\npreshared_key=zz\nlisten_port=5\npublic_key={}\nlisten_port=6\nfuture_key=1\nerrno=0\n\n",
            "01".repeat(32)
        );
        let d = parse(&text).unwrap();
        assert_eq!(d.listen_port, 5);
        assert_eq!(d.peers.len(), 1);
        assert_eq!(d.peers[0].preshared_key, None);
    }
}
