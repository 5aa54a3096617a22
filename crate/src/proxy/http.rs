//! An HTTP proxy whose connections leave through the tunnel: `CONNECT host:port` (a tunnel
//! for any protocol, relayed by `relay.rs`) and requests with an absolute `http://` URI
//! (forwarded in origin form with `Connection: close`, so one proxy connection carries one
//! request; the response and any body are relayed as they are). Host names are resolved
//! through the tunnel's DNS. Failures get a plain-text answer: 400 for a malformed request,
//! 502 when the target cannot be reached, 504 when connecting times out, 503 at the limit.

use super::connections::Slot;
use super::Context;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;

/// The longest request head taken.
const MAX_HEAD: usize = 64 << 10;

/// A complete answer from the proxy itself.
pub(crate) fn respond(s: &mut TcpStream, status: u16, reason: &str, body: &str) -> io::Result<()> {
    let m = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(m.as_bytes())
}

/// Reads up to the blank line that ends a request head; (head, bytes read past it).
pub(crate) fn read_head(s: &mut TcpStream) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(end + 4);
            return Ok(Some((got, rest)));
        }
        if got.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "The client closed before a full request",
            ));
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// `host:port` or `[v6]:port` (the port defaults to `default`); the host without brackets.
pub(crate) fn parse_authority(a: &str, default: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match &rest[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    let port = match port {
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u16>().ok().filter(|&p| p != 0)?
        }
        None => default?,
    };
    if host.parse::<IpAddr>().is_err() && !super::spec::is_host_name(host) {
        return None;
    }
    Some((host.to_string(), port))
}

/// Headers that concern the hop to the proxy, not the origin.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Serves one proxy client.
pub(crate) fn serve(ctx: &Arc<Context>, slot: Slot, mut s: TcpStream) -> io::Result<()> {
    slot.watch_host(&s)?;
    s.set_read_timeout(Some(ctx.options.handshake_timeout))?;
    let Some((head, rest)) = read_head(&mut s)? else {
        return respond(
            &mut s,
            431,
            "Request Header Fields Too Large",
            "The request head is too long\n",
        );
    };
    let Ok(text) = std::str::from_utf8(&head) else {
        return respond(&mut s, 400, "Bad Request", "The request head is not UTF-8\n");
    };
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return respond(&mut s, 400, "Bad Request", "Malformed request line\n");
    };
    if !version.starts_with("HTTP/1.") {
        return respond(&mut s, 400, "Bad Request", "Only HTTP/1.x is proxied\n");
    }
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let (authority, path) = if connect {
        (uri, "")
    } else if let Some(after) = uri.strip_prefix("http://") {
        match after.find(['/', '?']) {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, "/"),
        }
    } else {
        return respond(
            &mut s,
            400,
            "Bad Request",
            "Expected CONNECT or an absolute http:// URI\n",
        );
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let Some((host, port)) = parse_authority(authority, (!connect).then_some(80)) else {
        return respond(&mut s, 400, "Bad Request", &format!("Bad target `{authority}'\n"));
    };
    let tunnel = match ctx.connect_tunnel_name(&host, port) {
        Ok(t) => t,
        Err(e) => {
            slot.counters().failed.inc();
            let (status, reason) = match crate::os_error::errno_of(&e) {
                Some(libc::ETIMEDOUT) => (504, "Gateway Timeout"),
                _ => (502, "Bad Gateway"),
            };
            respond(&mut s, status, reason, &format!("Cannot reach {authority}: {e}\n"))?;
            return Err(e);
        }
    };
    if connect {
        s.write_all(format!("{version} 200 Connection Established\r\n\r\n").as_bytes())?;
        return ctx.relays()?.relay(slot, s, tunnel, rest);
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut out = format!("{method} {path} {version}\r\n");
    let mut has_host = false;
    for h in lines.filter(|l| !l.is_empty()) {
        let name = h.split(':').next().unwrap_or("").trim();
        if hop_by_hop(name) {
            continue;
        }
        has_host |= name.eq_ignore_ascii_case("host");
        out.push_str(h);
        out.push_str("\r\n");
    }
    if !has_host {
        out.push_str(&format!("Host: {authority}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut early = out.into_bytes();
    early.extend_from_slice(&rest);
    ctx.relays()?.relay(slot, s, tunnel, early)
}

#[cfg(test)]
mod tests {
    use super::parse_authority;

    #[test]
    fn authorities_with_and_without_ports() {
        assert_eq!(parse_authority("a.test:8080", None), Some(("a.test".into(), 8080)));
        assert_eq!(parse_authority("a.test", Some(80)), Some(("a.test".into(), 80)));
        assert_eq!(parse_authority("[fd00::1]:443", None), Some(("fd00::1".into(), 443)));
        assert_eq!(parse_authority("[fd00::1]", Some(80)), Some(("fd00::1".into(), 80)));
        assert_eq!(parse_authority("a.test", None), None);
        assert_eq!(parse_authority("a.test:0", None), None);
        assert_eq!(parse_authority("a.test:x", None), None);
        assert_eq!(parse_authority("[nope]:1", None), None);
        assert_eq!(parse_authority("bad host:1", None), None);
    }
}
