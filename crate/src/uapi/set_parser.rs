//! The server's reading of a `set=1` request body into a `DeviceConfig`, with
//! wireguard-go's rules (device/uapi.go), but without applying anything: the caller gets the
//! whole, validated change or the first error.
//!
//! Rules: a line is `key=value` split at the first `=` (no `=` is EPROTO); a trailing `\r` is
//! dropped (Go's line scanner does so); `public_key` starts a peer, and every other key is a
//! device key before the first peer and a peer key after it; unknown keys are EINVAL;
//! `replace_peers`, `remove`, `update_only` and `replace_allowed_ips` must be `true`;
//! `protocol_version` must be `1`; numbers are unsigned decimal within their type; keys are 64
//! hex digits; endpoints are numeric; an `allowed_ip` may start with `-` to remove it.
//!
//! One difference from the model's booleans: `replace_allowed_ips=true` after some
//! `allowed_ip` lines of the same peer drops those earlier lines, which is what clearing the
//! list "at that point in the stream" amounts to for the peer itself.

use super::lines::{Line, LineReader};
use super::value::{parse_decimal, parse_endpoint, parse_key, parse_request_allowed_ip};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{AllowedIpChange, DeviceConfig, PeerConfig};
use std::io::Read;

fn invalid(message: String) -> Error {
    Error {
        code: ErrorCode::InvalidArgument,
        message,
        errno: Some(libc::EINVAL),
    }
}

fn protocol(message: String) -> Error {
    Error {
        code: ErrorCode::Protocol,
        message,
        errno: Some(libc::EPROTO),
    }
}

/// Collects the lines of one request. After the first error, further lines are ignored.
#[derive(Default)]
pub struct SetParser {
    config: DeviceConfig,
    error: Option<Error>,
}

impl SetParser {
    pub fn new() -> SetParser {
        SetParser::default()
    }

    /// Takes one non-empty line, without its `\n`.
    pub fn line(&mut self, line: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Err(e) = self.parse_line(line) {
            self.error = Some(e);
        }
    }

    /// The request, if every line was valid.
    pub fn finish(self) -> Result<DeviceConfig> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.config),
        }
    }

    fn parse_line(&mut self, line: &[u8]) -> Result<()> {
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| protocol(format!("failed to parse line {:?}", String::from_utf8_lossy(line))))?;
        let key = String::from_utf8_lossy(&line[..eq]);
        let value =
            std::str::from_utf8(&line[eq + 1..]).map_err(|_| invalid(format!("invalid value for {key}: not UTF-8")))?;
        let key = key.as_ref();
        if key == "public_key" {
            let k = parse_key(value).ok_or_else(|| invalid("failed to get peer by public key".into()))?;
            self.config.peers.push(PeerConfig::new(k));
            return Ok(());
        }
        match self.config.peers.last_mut() {
            None => parse_device_line(&mut self.config, key, value),
            Some(peer) => parse_peer_line(peer, key, value),
        }
    }
}

fn require_true(key: &str, value: &str) -> Result<()> {
    if value == "true" {
        Ok(())
    } else {
        Err(invalid(format!("failed to set {key}, invalid value: {value}")))
    }
}

fn parse_device_line(config: &mut DeviceConfig, key: &str, value: &str) -> Result<()> {
    match key {
        "private_key" => {
            config.private_key = Some(parse_key(value).ok_or_else(|| invalid("failed to set private_key".into()))?)
        }
        "listen_port" => {
            let port = parse_decimal(value, u16::MAX as u64)
                .ok_or_else(|| invalid(format!("failed to parse listen_port: {value}")))?;
            config.listen_port = Some(port as u16);
        }
        "fwmark" => {
            let mark =
                parse_decimal(value, u32::MAX as u64).ok_or_else(|| invalid(format!("invalid fwmark: {value}")))?;
            config.fwmark = Some(mark as u32);
        }
        "replace_peers" => {
            require_true(key, value)?;
            config.replace_peers = true;
        }
        _ => return Err(invalid(format!("invalid UAPI device key: {key}"))),
    }
    Ok(())
}

fn parse_peer_line(peer: &mut PeerConfig, key: &str, value: &str) -> Result<()> {
    match key {
        "update_only" => {
            require_true(key, value)?;
            peer.update_only = true;
        }
        "remove" => {
            require_true(key, value)?;
            peer.remove = true;
        }
        "preshared_key" => {
            peer.preshared_key = Some(parse_key(value).ok_or_else(|| invalid("failed to set preshared key".into()))?)
        }
        "endpoint" => {
            peer.endpoint =
                Some(parse_endpoint(value).ok_or_else(|| invalid(format!("failed to set endpoint {value}")))?)
        }
        "persistent_keepalive_interval" => {
            let secs = parse_decimal(value, u16::MAX as u64)
                .ok_or_else(|| invalid(format!("failed to set persistent keepalive interval: {value}")))?;
            peer.persistent_keepalive_interval = Some(secs as u16);
        }
        "replace_allowed_ips" => {
            require_true(key, value)?;
            peer.replace_allowed_ips = true;
            peer.allowed_ips.clear();
        }
        "allowed_ip" => {
            let (ip, remove) =
                parse_request_allowed_ip(value).ok_or_else(|| invalid(format!("failed to set allowed ip: {value}")))?;
            peer.allowed_ips.push(AllowedIpChange { ip, remove });
        }
        "protocol_version" => {
            if value != "1" {
                return Err(invalid(format!("invalid protocol version: {value}")));
            }
            peer.protocol_version = Some(1);
        }
        _ => return Err(invalid(format!("invalid UAPI peer key: {key}"))),
    }
    Ok(())
}

/// How reading a request body ended.
pub enum SetBody {
    /// The blank line was reached; the request or its first error.
    Complete(Result<DeviceConfig>),
    /// The stream ended before the blank line (nothing is applied).
    Truncated,
    /// A line or the whole request exceeded its bound (nothing is applied). `mid_line`: the
    /// stream stopped inside the over-long line (`LineReader::skip_request` resyncs it).
    TooLarge { mid_line: bool },
}

/// Reads the body of a `set=1` request (after the `set=1` line) up to its blank line,
/// refusing more than `max_bytes` in total.
pub fn read_set_body<R: Read>(reader: &mut LineReader<R>, max_bytes: usize) -> std::io::Result<SetBody> {
    let mut parser = SetParser::new();
    let mut total = 0usize;
    loop {
        match reader.read_line()? {
            Line::Complete(line) => {
                let stripped = line.strip_suffix(b"\r").unwrap_or(line);
                if stripped.is_empty() {
                    return Ok(SetBody::Complete(parser.finish()));
                }
                total += line.len() + 1;
                if total > max_bytes {
                    return Ok(SetBody::TooLarge { mid_line: false });
                }
                parser.line(line);
            }
            Line::Eof | Line::Truncated => return Ok(SetBody::Truncated),
            Line::TooLong => return Ok(SetBody::TooLarge { mid_line: true }),
        }
    }
}

/// Parses a whole request body (the lines after `set=1`, up to and including the blank line).
pub fn parse_set_body(body: &[u8]) -> Result<DeviceConfig> {
    let mut reader = LineReader::new(body, usize::MAX);
    match read_set_body(&mut reader, usize::MAX) {
        Ok(SetBody::Complete(result)) => result,
        Ok(SetBody::Truncated) => Err(protocol("request ended before its blank line".into())),
        Ok(SetBody::TooLarge { .. }) => Err(protocol("request too large".into())),
        Err(e) => Err(Error::from_io(&e, "read")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::model::AllowedIp;

    fn errno_of(body: &str) -> Option<i32> {
        parse_set_body(body.as_bytes()).err().and_then(|e| e.errno)
    }

    fn pk(b: u8) -> String {
        format!("public_key={}\n", hex::<32>(b))
    }

    fn hex<const N: usize>(b: u8) -> String {
        format!("{b:02x}").repeat(N)
    }

    #[test]
    fn every_key() {
        let body = format!(
            "private_key={}\nlisten_port=51820\nfwmark=4294967295\nreplace_peers=true\r\n\
             {}update_only=true\npreshared_key={}\nendpoint=[2001:db8::1]:1\npersistent_keepalive_interval=65535\n\
             replace_allowed_ips=true\nallowed_ip=10.0.0.0/8\nallowed_ip=-fd00::1/128\nprotocol_version=1\n\
             {}remove=true\n\n",
            hex::<32>(1),
            pk(0xaa),
            hex::<32>(2),
            pk(0xbb),
        );
        let c = parse_set_body(body.as_bytes()).unwrap();
        assert_eq!(c.private_key, Some(Key::from_bytes([1; 32])));
        assert_eq!(
            (c.listen_port, c.fwmark, c.replace_peers),
            (Some(51820), Some(u32::MAX), true)
        );
        assert_eq!(c.peers.len(), 2);
        let a = &c.peers[0];
        assert_eq!(a.public_key, Key::from_bytes([0xaa; 32]));
        assert!(a.update_only && !a.remove && a.replace_allowed_ips);
        assert_eq!(a.preshared_key, Some(Key::from_bytes([2; 32])));
        assert_eq!(a.endpoint, Some("[2001:db8::1]:1".parse().unwrap()));
        assert_eq!(a.persistent_keepalive_interval, Some(65535));
        assert_eq!(
            a.allowed_ips,
            vec![
                AllowedIpChange {
                    ip: AllowedIp::parse("10.0.0.0/8").unwrap(),
                    remove: false
                },
                AllowedIpChange {
                    ip: AllowedIp::parse("fd00::1/128").unwrap(),
                    remove: true
                },
            ]
        );
        assert_eq!(a.protocol_version, Some(1));
        assert!(c.peers[1].remove);
        assert_eq!(parse_set_body(b"\n").unwrap(), DeviceConfig::default());
        let zero = parse_set_body(format!("private_key={}\nlisten_port=0\n\n", hex::<32>(0)).as_bytes()).unwrap();
        assert!(zero.private_key.unwrap().is_zero());
        assert_eq!(zero.listen_port, Some(0));
    }

    #[test]
    fn replace_allowed_ips_clears_earlier_lines() {
        let body = format!(
            "{}allowed_ip=10.0.0.1/32\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\n\n",
            pk(1)
        );
        let c = parse_set_body(body.as_bytes()).unwrap();
        assert_eq!(c.peers[0].allowed_ips.len(), 1);
        assert_eq!(c.peers[0].allowed_ips[0].ip.to_string(), "10.0.0.2/32");
    }

    #[test]
    fn invalid_values() {
        let einval = Some(libc::EINVAL);
        let p = pk(1);
        let cases: Vec<String> = vec![
            format!("private_key={}\n\n", hex::<31>(1)),
            format!("private_key={}x\n\n", hex::<31>(1)),
            "listen_port=65536\n\n".into(),
            "listen_port=-1\n\n".into(),
            "listen_port=+1\n\n".into(),
            "listen_port=\n\n".into(),
            "fwmark=4294967296\n\n".into(),
            "fwmark=0x1\n\n".into(),
            "replace_peers=false\n\n".into(),
            "replace_peers=TRUE\n\n".into(),
            "public_key=00\n\n".into(),
            "preshared_key=00\n\n".into(),
            "bogus=1\n\n".into(),
            "allowed_ip=10.0.0.0/8\n\n".into(),
            format!("{p}listen_port=1\n\n"),
            format!("{p}update_only=false\n\n"),
            format!("{p}remove=1\n\n"),
            format!("{p}replace_allowed_ips=yes\n\n"),
            format!("{p}preshared_key={}\n\n", hex::<33>(1)),
            format!("{p}endpoint=example.com:51820\n\n"),
            format!("{p}endpoint=192.0.2.1\n\n"),
            format!("{p}endpoint=2001:db8::1:5\n\n"),
            format!("{p}endpoint=[192.0.2.1]:5\n\n"),
            format!("{p}persistent_keepalive_interval=65536\n\n"),
            format!("{p}allowed_ip=10.0.0.0/33\n\n"),
            format!("{p}allowed_ip=10.0.0.0\n\n"),
            format!("{p}allowed_ip=10.0.0.0/08\n\n"),
            format!("{p}protocol_version=2\n\n"),
            format!("{p}protocol_version=01\n\n"),
            format!("{p}last_handshake_time_sec=1\n\n"),
        ];
        for case in cases {
            assert_eq!(errno_of(&case), einval, "{case:?}");
        }
        assert_eq!(errno_of("listen_port\n\n"), Some(libc::EPROTO));
        assert_eq!(errno_of(&format!("{p}remove\n\n")), Some(libc::EPROTO));
        // The first error wins; later lines are only consumed.
        assert_eq!(errno_of("bogus=1\nnoequals\n\n"), einval);
        assert_eq!(errno_of("listen_port=1"), Some(libc::EPROTO));
    }

    #[test]
    fn size_bounds() {
        let body = format!("{}{}\n", pk(1), "allowed_ip=10.0.0.0/8\n".repeat(100));
        let mut r = LineReader::new(body.as_bytes(), 200);
        assert!(matches!(
            read_set_body(&mut r, 1000).unwrap(),
            SetBody::TooLarge { mid_line: false }
        ));
        let mut r = LineReader::new(body.as_bytes(), 200);
        assert!(matches!(
            read_set_body(&mut r, 10_000).unwrap(),
            SetBody::Complete(Ok(_))
        ));
        let mut r = LineReader::new(body.as_bytes(), 50);
        assert!(matches!(
            read_set_body(&mut r, 10_000).unwrap(),
            SetBody::TooLarge { mid_line: true }
        ));
        let mut r = LineReader::new(&b"listen_port=1\n"[..], 50);
        assert!(matches!(read_set_body(&mut r, 10_000).unwrap(), SetBody::Truncated));
    }
}
