//! Port forwards through a real tunnel (two netstack devices over loopback): `-L` with bytes
//! checked by SHA-256 both ways and its single-stream throughput, `-U` with per-client
//! sessions, `-R` from the peer to a host server, and `--stdio`.

// The device, its netstack and the proxies build on every platform (crate/src/lib.rs).

mod proxy_support;

use proxy_support::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wgkit::proxy::{Proxy, ProxyOptions, Spec};

fn local_addr(p: &Proxy, i: usize) -> SocketAddr {
    p.listeners()[i].addr.unwrap()
}

#[test]
fn local_tcp_forward_carries_bytes_both_ways_intact() {
    let (a, b) = pair("lt", 1);
    let _echo = tcp_echo(&b.net, SocketAddr::new(b.ip, 7));
    let _digest = tcp_digest(&b.net, SocketAddr::new(b.ip, 9));
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![
            Spec::parse("-L", &format!("0:{}:7", b.ip)).unwrap(),
            Spec::parse("-L", &format!("127.0.0.1:0:{}:9", b.ip)).unwrap(),
        ],
    )
    .unwrap();
    let lines = proxy.ready_lines();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("local-tcp 127.0.0.1:") && lines[0].ends_with(" -> 10.77.1.2:7"),
        "{lines:?}"
    );

    // Echo: 8 MiB up, the same 8 MiB back, written and read at once.
    let data = pattern(8 << 20, 3);
    let mut s = std::net::TcpStream::connect(local_addr(&proxy, 0)).unwrap();
    let mut reader = s.try_clone().unwrap();
    let back = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    s.write_all(&data).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let got = back.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert_eq!(sha256(&got), sha256(&data), "the echo came back intact");

    // Throughput of one stream into the tunnel, its digest checked at the far end.
    let len = if cfg!(debug_assertions) { 32 << 20 } else { 512 << 20 };
    let data = pattern(len, 7);
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(local_addr(&proxy, 1)).unwrap();
    s.write_all(&data).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut digest = Vec::new();
    s.read_to_end(&mut digest).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(digest, sha256(&data));
    eprintln!(
        "proxy -L single stream: {} MiB in {secs:.2} s = {:.2} Gbit/s",
        len >> 20,
        len as f64 * 8.0 / secs / 1e9
    );
    let m = proxy.metrics();
    assert!(
        m.contains("wgkit_proxy_connections_total{listener=\"local-tcp\"} 2"),
        "{m}"
    );
    let up: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("wgkit_proxy_bytes_total{listener=\"local-tcp\",direction=\"to_tunnel\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(up, (8 << 20) + len as u64);
    proxy.stop();
    assert_eq!(proxy.active_connections(), 0);
}

#[test]
fn local_tcp_forward_to_a_closed_port_closes_the_client() {
    let (a, b) = pair("lc", 2);
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("-L", &format!("0:{}:9999", b.ip)).unwrap()],
    )
    .unwrap();
    let mut s = std::net::TcpStream::connect(local_addr(&proxy, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 8];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the client is closed when the target refuses");
    assert!(proxy
        .metrics()
        .contains("wgkit_proxy_connect_failures_total{listener=\"local-tcp\"} 1"));
}

#[test]
fn local_udp_forward_keeps_a_session_per_client() {
    let (a, b) = pair("lu", 3);
    let _echo = udp_echo(&b.net, SocketAddr::new(b.ip, 5300));
    let proxy = Proxy::start_with(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("-U", &format!("0:{}:5300", b.ip)).unwrap()],
        ProxyOptions {
            udp_idle: Duration::from_millis(800),
            ..Default::default()
        },
    )
    .unwrap();
    let at = local_addr(&proxy, 0);
    assert!(proxy.ready_lines()[0].starts_with("local-udp 127.0.0.1:"));
    let clients: Vec<_> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, c) in clients.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let msg = format!("client {i}");
        let mut buf = [0u8; 256];
        let mut tries = 0;
        let n = loop {
            tries += 1;
            assert!(tries <= 20, "no echo for client {i}");
            c.send_to(msg.as_bytes(), at).unwrap();
            if let Ok((n, from)) = c.recv_from(&mut buf) {
                assert_eq!(from, at);
                break n;
            }
        };
        assert_eq!(&buf[..n], format!("echo:client {i}").as_bytes());
    }
    let m = proxy.metrics();
    assert!(
        m.contains("wgkit_proxy_connections_active{listener=\"local-udp\"} 2"),
        "{m}"
    );
    // Idle sessions end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.active_connections() > 0 {
        assert!(Instant::now() < deadline, "the idle sessions did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    // And a new datagram opens a new one.
    let c = &clients[0];
    let mut buf = [0u8; 256];
    c.send_to(b"again", at).unwrap();
    let (n, _) = c.recv_from(&mut buf).expect("an echo through a fresh session");
    assert_eq!(&buf[..n], b"echo:again");
    assert!(proxy
        .metrics()
        .contains("wgkit_proxy_connections_total{listener=\"local-udp\"} 3"));
}

#[test]
fn remote_forward_lets_the_peer_reach_a_host_server() {
    let (a, b) = pair("rt", 4);
    // A host TCP server on loopback that answers with the digest of what it got.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let host = std::thread::spawn(move || {
        let (mut c, _) = server.accept().unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        c.write_all(&sha256(&all)).unwrap();
    });
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("-R", &format!("8080:127.0.0.1:{port}")).unwrap()],
    )
    .unwrap();
    assert_eq!(
        proxy.ready_lines(),
        vec![format!("remote-tcp 0.0.0.0:8080 -> 127.0.0.1:{port}")]
    );
    let s = b
        .net
        .tcp_connect(SocketAddr::new(a.ip, 8080), Some(Duration::from_secs(10)))
        .unwrap();
    let data = pattern(3 << 20, 9);
    (&s).write_all(&data).unwrap();
    s.shutdown_write().unwrap();
    let mut digest = Vec::new();
    (&s).read_to_end(&mut digest).unwrap();
    assert_eq!(digest, sha256(&data));
    host.join().unwrap();
    proxy.stop();
    // The tunnel port is closed after stop.
    let e = b
        .net
        .tcp_connect(SocketAddr::new(a.ip, 8080), Some(Duration::from_secs(10)))
        .err()
        .expect("nothing listens on 8080 after stop");
    assert_eq!(wgkit::os_error::errno_of(&e), Some(libc::ECONNREFUSED), "{e}");
}

#[test]
fn stdio_relays_one_stream_and_ends_when_the_target_closes() {
    let (a, b) = pair("sd", 5);
    let _echo = tcp_echo(&b.net, SocketAddr::new(b.ip, 7));
    let (ours, theirs) = stream_pair();
    let theirs_out = theirs.try_clone().unwrap();
    let proxy = Proxy::start_with(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("--stdio", &format!("{}:7", b.ip)).unwrap()],
        ProxyOptions {
            stdio: Some((Box::new(theirs), Box::new(theirs_out))),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(proxy.ready_lines(), vec!["stdio -> 10.77.5.2:7".to_string()]);
    let data = pattern(1 << 20, 5);
    let mut w = ours.try_clone().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&d2).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut r = &ours;
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(sha256(&got), sha256(&data));
    assert_eq!(proxy.wait_stdio().unwrap(), data.len() as u64);
    assert_eq!(
        proxy.wait_stdio().unwrap_err().code,
        wgkit::error::ErrorCode::InvalidArgument
    );
}
