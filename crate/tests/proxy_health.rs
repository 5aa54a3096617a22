//! The proxy's health endpoint (`/readyz` before and after a handshake, `/metrics`), its
//! connection limit, its argument errors, binding all or nothing, and `stop()` leaving no
//! listener and no connection.

// The device, its netstack and the proxies build on every platform (crate/src/lib.rs).

mod proxy_support;

use proxy_support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wgkit::error::ErrorCode;
use wgkit::proxy::{Proxy, ProxyOptions, Spec};

#[test]
fn readyz_turns_ready_after_a_handshake_and_metrics_name_the_peer() {
    let (a, b) = pair("hz", 20);
    let _echo = tcp_echo(&b.net, SocketAddr::new(b.ip, 7));
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("--health", "0").unwrap(),
            Spec::parse("-L", &format!("0:{}:7", b.ip)).unwrap(),
        ],
    )
    .unwrap();
    let health = proxy.listeners()[0].addr.unwrap();
    assert!(proxy.ready_lines()[0].starts_with("health 127.0.0.1:"));
    let r = http_exchange(health, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
    assert!(!proxy.ready());
    let m = http_exchange(health, "GET /metrics HTTP/1.1\r\n\r\n");
    assert!(m.contains("wgkit_ready 0\n"), "{m}");

    // Traffic through -L makes the handshake.
    let mut s = TcpStream::connect(proxy.listeners()[1].addr.unwrap()).unwrap();
    s.write_all(b"ping").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ping");

    let r = http_exchange(health, "GET /readyz HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("ready\n"), "{r}");
    let m = http_exchange(health, "GET /metrics HTTP/1.1\r\n\r\n");
    assert!(
        m.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"),
        "{m}"
    );
    let peer = b.key.public_key().to_base64();
    for want in [
        "wgkit_ready 1\n".to_string(),
        "# TYPE wgkit_peer_bytes_total counter\n".to_string(),
        format!("wgkit_peer_handshake_completed{{peer=\"{peer}\"}} 1\n"),
        format!("wgkit_peer_last_handshake_seconds{{peer=\"{peer}\"}} "),
        "wgkit_proxy_connections_total{listener=\"local-tcp\"} 1\n".to_string(),
        "wgkit_proxy_bytes_total{listener=\"local-tcp\",direction=\"to_tunnel\"} 4\n".to_string(),
        "wgkit_proxy_bytes_total{listener=\"local-tcp\",direction=\"from_tunnel\"} 4\n".to_string(),
    ] {
        assert!(m.contains(&want), "missing {want:?} in {m}");
    }
    let tx: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix(&format!("wgkit_peer_bytes_total{{peer=\"{peer}\",direction=\"tx\"}} ")))
        .unwrap()
        .parse()
        .unwrap();
    assert!(tx > 0);
    assert!(http_exchange(health, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http_exchange(health, "POST /readyz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
}

#[test]
fn the_connection_limit_refuses_with_a_clear_error() {
    let (a, b) = pair("cl", 21);
    let _echo = tcp_echo(&b.net, SocketAddr::new(b.ip, 7));
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = log.clone();
    let proxy = Proxy::start_with(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("-L", &format!("0:{}:7", b.ip)).unwrap(),
            Spec::parse("--http", "0").unwrap(),
        ],
        ProxyOptions {
            max_connections: 2,
            log: Some(Arc::new(move |l: &str| l2.lock().unwrap().push(l.to_string()))),
            ..Default::default()
        },
    )
    .unwrap();
    let fwd = proxy.listeners()[0].addr.unwrap();
    // Two open connections, each proven relayed.
    let mut open: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(fwd).unwrap();
            s.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            s
        })
        .collect();
    assert_eq!(proxy.active_connections(), 2);
    let r = http_exchange(
        proxy.listeners()[1].addr.unwrap(),
        "GET http://x.test/ HTTP/1.1\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
    assert!(r.ends_with("Connection limit reached: 2 connections are open\n"), "{r}");
    let mut third = TcpStream::connect(fwd).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        third.read(&mut buf).unwrap_or(0),
        0,
        "the third -L connection is closed"
    );
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("local-tcp 127.0.0.1:")
            && l.contains(": Connection limit reached: 2 connections are open; refused 127.0.0.1:")),
        "{lines:?}"
    );
    assert!(proxy
        .metrics()
        .contains("wgkit_proxy_connections_rejected_total{listener=\"local-tcp\"} 1"));
    // A place freed is a place taken again.
    let s = open.pop().unwrap();
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while proxy.active_connections() > 1 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = TcpStream::connect(fwd).unwrap();
    s.write_all(b"y").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"y");
}

#[test]
fn stop_closes_listeners_and_open_connections() {
    let (a, b) = pair("st", 22);
    let _echo = tcp_echo(&b.net, SocketAddr::new(b.ip, 7));
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("-L", &format!("0:{}:7", b.ip)).unwrap(),
            Spec::parse("--socks5", "0").unwrap(),
            Spec::parse("-U", &format!("0:{}:7", b.ip)).unwrap(),
            Spec::parse("--health", "[::1]:0").unwrap(),
        ],
    )
    .unwrap();
    let addrs: Vec<SocketAddr> = proxy.listeners().iter().map(|l| l.addr.unwrap()).collect();
    assert!(addrs[3].is_ipv6());
    let mut s = TcpStream::connect(addrs[0]).unwrap();
    s.write_all(b"z").unwrap();
    let mut buf = [0u8; 1];
    s.read_exact(&mut buf).unwrap();
    // A client in the middle of a SOCKS5 greeting.
    let mut half = TcpStream::connect(addrs[1]).unwrap();
    half.write_all(&[5]).unwrap();
    let started = std::time::Instant::now();
    proxy.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(proxy.active_connections(), 0);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "the open connection was closed");
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(half.read(&mut buf).unwrap_or(0), 0);
    for (i, a) in addrs.iter().enumerate() {
        if i == 2 {
            // The UDP port is free again.
            std::net::UdpSocket::bind(a).expect("the -U port was released");
        } else {
            let e = TcpStream::connect(a).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{a}");
        }
    }
    proxy.stop();
}

#[test]
fn binding_is_all_or_nothing() {
    let (a, _b) = pair("bn", 23);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = free.local_addr().unwrap().port();
    drop(free);
    let e = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("--socks5", &free_port.to_string()).unwrap(),
            Spec::parse("--http", &taken.local_addr().unwrap().port().to_string()).unwrap(),
        ],
    )
    .err()
    .expect("the second port is taken");
    assert_eq!(e.code, ErrorCode::System);
    assert_eq!(
        e.message,
        format!(
            "Unable to listen on {} for http: Address already in use",
            taken.local_addr().unwrap()
        )
    );
    // The first listener was closed again.
    std::net::TcpListener::bind(("127.0.0.1", free_port)).expect("the socks5 port is free");
    let e = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("--stdio", "10.0.0.1:1").unwrap(),
            Spec::parse("--stdio", "10.0.0.1:2").unwrap(),
        ],
    )
    .err()
    .unwrap();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::InvalidArgument, "Only one --stdio stream is possible")
    );
    // -R on an address the tunnel does not have.
    let e = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("-R", "10.1.2.3:80:127.0.0.1:80").unwrap()],
    )
    .err()
    .unwrap();
    assert_eq!(
        e.message,
        "Unable to listen on 10.1.2.3:80 for remote-tcp: Cannot assign requested address"
    );
}

#[test]
fn bad_listener_arguments_give_documented_errors() {
    for (flag, value, message) in [
        ("--socks5", "70000", "Invalid --socks5 `70000': port 70000 is out of range (expected [HOST:]PORT)"),
        ("--http", "1:2:3", "Invalid --http `1:2:3': wrong number of fields (expected [HOST:]PORT)"),
        (
            "-L",
            "8080:fd00::1:80",
            "Invalid -L `8080:fd00::1:80': an IPv6 address must be in brackets (expected [BIND:]PORT:HOST:HOSTPORT)",
        ),
        (
            "-U",
            "nothost:53:10.0.0.1:53",
            "Invalid -U `nothost:53:10.0.0.1:53': `nothost' is not an IP address to listen on (expected [BIND:]PORT:HOST:HOSTPORT)",
        ),
        (
            "-R",
            "80:127.0.0.1:0",
            "Invalid -R `80:127.0.0.1:0': a target port cannot be 0 (expected [TUNADDR:]PORT:HOST:HOSTPORT)",
        ),
        ("--stdio", "host", "Invalid --stdio `host': wrong number of fields (expected HOST:PORT)"),
        ("--health", "[::1]x", "Invalid --health `[::1]x': `]' must be followed by `:' (expected [HOST:]PORT)"),
        ("--socks", "1", "Unknown proxy listener flag `--socks'"),
    ] {
        let e = Spec::parse(flag, value).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(e.code.as_str(), "ERR_WGKIT_INVALID_ARGUMENT");
        assert_eq!(e.message, message);
    }
}
