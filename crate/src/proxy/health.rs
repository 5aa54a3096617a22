//! A tiny HTTP endpoint for supervisors: `GET /readyz` answers 200 once some peer has
//! completed a handshake (the device's last-handshake times), 503 before; `GET /metrics`
//! answers Prometheus text: the device's and each peer's bytes and last handshake, and the
//! proxy's connections and bytes per listener kind.

use super::counters::Listener;
use super::http::{read_head, respond};
use super::Context;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

/// True once a peer of the device has completed a handshake.
pub(crate) fn ready(ctx: &Context) -> bool {
    !ctx.device.is_closed() && ctx.device.snapshot().peers.iter().any(|p| p.last_handshake.is_some())
}

/// The metrics, in the Prometheus text format (version 0.0.4).
pub(crate) fn metrics(ctx: &Context) -> String {
    let dev = ctx.device.snapshot();
    let stats = ctx.device.stats();
    let mut m = String::new();
    let family = |m: &mut String, name: &str, ty: &str, help: &str| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {ty}");
    };
    family(&mut m, "wgkit_up", "gauge", "1 while the device runs.");
    let _ = writeln!(m, "wgkit_up {}", u8::from(!ctx.device.is_closed()));
    family(
        &mut m,
        "wgkit_ready",
        "gauge",
        "1 once a peer has completed a handshake.",
    );
    let _ = writeln!(m, "wgkit_ready {}", u8::from(ready(ctx)));
    family(
        &mut m,
        "wgkit_datagrams_total",
        "counter",
        "WireGuard datagrams on the UDP side.",
    );
    let _ = writeln!(m, "wgkit_datagrams_total{{direction=\"rx\"}} {}", stats.rx_datagrams);
    let _ = writeln!(m, "wgkit_datagrams_total{{direction=\"tx\"}} {}", stats.tx_datagrams);
    family(
        &mut m,
        "wgkit_peer_bytes_total",
        "counter",
        "Bytes received from and sent to each peer.",
    );
    for p in &dev.peers {
        let k = p.public_key.to_base64();
        let _ = writeln!(
            m,
            "wgkit_peer_bytes_total{{peer=\"{k}\",direction=\"rx\"}} {}",
            p.rx_bytes
        );
        let _ = writeln!(
            m,
            "wgkit_peer_bytes_total{{peer=\"{k}\",direction=\"tx\"}} {}",
            p.tx_bytes
        );
    }
    family(
        &mut m,
        "wgkit_peer_handshake_completed",
        "gauge",
        "1 if a handshake with the peer has completed.",
    );
    for p in &dev.peers {
        let _ = writeln!(
            m,
            "wgkit_peer_handshake_completed{{peer=\"{}\"}} {}",
            p.public_key.to_base64(),
            u8::from(p.last_handshake.is_some())
        );
    }
    family(
        &mut m,
        "wgkit_peer_last_handshake_seconds",
        "gauge",
        "Unix time of the peer's last handshake.",
    );
    for p in &dev.peers {
        if let Some(t) = p.last_handshake {
            let _ = writeln!(
                m,
                "wgkit_peer_last_handshake_seconds{{peer=\"{}\"}} {}",
                p.public_key.to_base64(),
                t.sec
            );
        }
    }
    let all = Listener::ALL.map(|l| (l.name(), ctx.counters.get(l)));
    family(
        &mut m,
        "wgkit_proxy_connections_total",
        "counter",
        "Connections (UDP: sessions) accepted.",
    );
    for (n, c) in &all {
        let _ = writeln!(
            m,
            "wgkit_proxy_connections_total{{listener=\"{n}\"}} {}",
            c.accepted.get()
        );
    }
    family(
        &mut m,
        "wgkit_proxy_connections_active",
        "gauge",
        "Connections (UDP: sessions) open.",
    );
    for (n, c) in &all {
        let _ = writeln!(
            m,
            "wgkit_proxy_connections_active{{listener=\"{n}\"}} {}",
            c.active.get()
        );
    }
    family(
        &mut m,
        "wgkit_proxy_connections_rejected_total",
        "counter",
        "Connections refused at the connection limit.",
    );
    for (n, c) in &all {
        let _ = writeln!(
            m,
            "wgkit_proxy_connections_rejected_total{{listener=\"{n}\"}} {}",
            c.rejected.get()
        );
    }
    family(
        &mut m,
        "wgkit_proxy_connect_failures_total",
        "counter",
        "Targets that could not be reached.",
    );
    for (n, c) in &all {
        let _ = writeln!(
            m,
            "wgkit_proxy_connect_failures_total{{listener=\"{n}\"}} {}",
            c.failed.get()
        );
    }
    family(
        &mut m,
        "wgkit_proxy_bytes_total",
        "counter",
        "Bytes relayed, into the tunnel and out of it.",
    );
    for (n, c) in &all {
        let _ = writeln!(
            m,
            "wgkit_proxy_bytes_total{{listener=\"{n}\",direction=\"to_tunnel\"}} {}",
            c.to_tunnel.get()
        );
        let _ = writeln!(
            m,
            "wgkit_proxy_bytes_total{{listener=\"{n}\",direction=\"from_tunnel\"}} {}",
            c.from_tunnel.get()
        );
    }
    m
}

/// Answers one request.
pub(crate) fn serve(ctx: &Context, mut s: TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let Some((head, _)) = read_head(&mut s)? else {
        return respond(&mut s, 431, "Request Header Fields Too Large", "");
    };
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return respond(&mut s, 405, "Method Not Allowed", "Only GET\n");
    }
    match path.split('?').next().unwrap_or("") {
        "/readyz" if ready(ctx) => respond(&mut s, 200, "OK", "ready\n"),
        "/readyz" => respond(&mut s, 503, "Service Unavailable", "no handshake has completed\n"),
        "/metrics" => {
            let body = metrics(ctx);
            let m = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(m.as_bytes())
        }
        _ => respond(&mut s, 404, "Not Found", "Try /readyz or /metrics\n"),
    }
}
