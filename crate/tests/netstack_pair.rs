//! Two netstack devices talking over loopback UDP: no root, no TUN, no namespace. TCP both
//! ways checked by SHA-256, IPv6, UDP, refused connections, many connections at once, and a
//! closed device waking its blocked users.

// The embedded device and its netstack build on every platform (crate/src/lib.rs).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgkit::device::{Device, DeviceOptions, Netstack, NetstackOptions};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

struct Side {
    dev: Device,
    net: Netstack,
    key: Key,
}

fn side_with(name: &str, addrs: &[(&str, u8)], options: DeviceOptions) -> Side {
    let (dev, net) = Device::create_netstack(
        name,
        options,
        NetstackOptions {
            addresses: addrs.iter().map(|(a, p)| (a.parse().unwrap(), *p)).collect(),
            ..Default::default()
        },
    )
    .expect("create a netstack device");
    let key = Key::generate_private();
    dev.apply(DeviceConfig {
        private_key: Some(key.clone()),
        ..Default::default()
    })
    .unwrap();
    Side { dev, net, key }
}

fn link(a: &Side, b: &Side, b_ips: &[&str]) {
    let mut p = PeerConfig::new(b.key.public_key());
    p.endpoint = Some(SocketAddr::new(
        "127.0.0.1".parse().unwrap(),
        b.dev.snapshot().listen_port,
    ));
    p.allowed_ips = b_ips
        .iter()
        .map(|s| AllowedIpChange {
            ip: AllowedIp::parse(s).unwrap(),
            remove: false,
        })
        .collect();
    a.dev
        .apply(DeviceConfig {
            peers: vec![p],
            ..Default::default()
        })
        .unwrap();
}

/// Two linked devices: a = 10.99.0.1 / fd99::1, b = 10.99.0.2 / fd99::2.
fn pair(tag: &str) -> (Side, Side) {
    pair_with(tag, DeviceOptions::default())
}

fn pair_with(tag: &str, options: DeviceOptions) -> (Side, Side) {
    let a = side_with(
        &format!("nsa{tag}"),
        &[("10.99.0.1", 24), ("fd99::1", 64)],
        options.clone(),
    );
    let b = side_with(&format!("nsb{tag}"), &[("10.99.0.2", 24), ("fd99::2", 64)], options);
    link(&a, &b, &["10.99.0.2/32", "fd99::2/128"]);
    link(&b, &a, &["10.99.0.1/32", "fd99::1/128"]);
    (a, b)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha256(d: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, d).as_ref().to_vec()
}

/// Sends `len` bytes from `from` to a listener on `to` at `addr`, the receiver checking the
/// SHA-256; returns Gbit/s.
fn transfer(from: &Netstack, to: &Netstack, addr: &str, port: u16, len: usize) -> f64 {
    let listen = SocketAddr::new(addr.parse().unwrap(), port);
    let mut listener = to.tcp_listen(listen, 4).unwrap();
    let data = Arc::new(pattern(len, port as u8));
    let expect = sha256(&data);
    let receiver = std::thread::spawn(move || {
        let s = listener
            .accept_until(Some(Instant::now() + Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::with_capacity(len);
        (&s).read_to_end(&mut got).unwrap();
        (&s).write_all(b"ok").unwrap();
        s.shutdown_write().unwrap();
        s.flush_until(Some(Instant::now() + Duration::from_secs(5))).unwrap();
        got
    });
    let start = Instant::now();
    let s = from.tcp_connect(listen, Some(Duration::from_secs(10))).unwrap();
    assert_eq!(s.peer_addr(), listen);
    (&s).write_all(&data).unwrap();
    s.shutdown_write().unwrap();
    let mut reply = Vec::new();
    (&s).read_to_end(&mut reply).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(reply, b"ok");
    let got = receiver.join().unwrap();
    assert_eq!(got.len(), len);
    assert_eq!(sha256(&got), expect, "the bytes arrived intact");
    len as f64 * 8.0 / secs / 1e9
}

#[test]
fn tcp_both_ways_over_ipv4_and_ipv6() {
    let (a, b) = pair("t1");
    let fwd = transfer(&a.net, &b.net, "10.99.0.2", 5001, 64 << 20);
    let rev = transfer(&b.net, &a.net, "fd99::1", 5002, 16 << 20);
    eprintln!("netstack pair: 64 MiB a→b {fwd:.2} Gbit/s, 16 MiB b→a (IPv6) {rev:.2} Gbit/s");
    let pa = &a.dev.snapshot().peers[0];
    assert!(pa.last_handshake.is_some());
    assert!(
        pa.tx_bytes > 64 << 20,
        "the bytes went through WireGuard: {}",
        pa.tx_bytes
    );
}

/// Several workers per device (the UDP side shared between them off Linux, one socket pair
/// per worker on Linux; the batched crypto shared by all): TCP both ways and many
/// connections at once still arrive intact.
#[test]
fn several_workers_carry_tcp_both_ways() {
    let options = DeviceOptions {
        threads: 3,
        ..Default::default()
    };
    let (a, b) = pair_with("w3", options);
    transfer(&a.net, &b.net, "10.99.0.2", 5101, 32 << 20);
    transfer(&b.net, &a.net, "fd99::1", 5102, 8 << 20);
    let at = std::thread::spawn({
        let a = a.net.clone();
        let b = b.net.clone();
        move || transfer(&a, &b, "10.99.0.2", 5103, 4 << 20)
    });
    transfer(&b.net, &a.net, "10.99.0.1", 5104, 4 << 20);
    at.join().unwrap();
    assert!(a.dev.snapshot().peers[0].last_handshake.is_some());
}

#[test]
fn udp_datagrams_cross_and_come_back() {
    let (a, b) = pair("u1");
    let server = b.net.udp_bind("0.0.0.0:5353".parse().unwrap()).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        // Echoes until the client has been quiet for two seconds (it resends until it
        // hears back, so the server cannot know how many datagrams come).
        while let Ok((n, from)) = server.recv_from_until(&mut buf, Some(Instant::now() + Duration::from_secs(2))) {
            server.send_to_until(&buf[..n], from, None).unwrap();
        }
    });
    let client = a.net.udp_bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let to: SocketAddr = "10.99.0.2:5353".parse().unwrap();
    for len in [1usize, 512, 1400] {
        let msg = pattern(len, len as u8);
        // The first datagram waits for the handshake; resend until the echo arrives.
        let mut buf = [0u8; 2048];
        let mut tries = 0;
        let got = loop {
            tries += 1;
            assert!(
                tries <= 20,
                "no echo for a {len}-byte datagram: {:?} {:?}",
                a.dev.stats(),
                b.dev.stats()
            );
            client.send_to_until(&msg, to, None).unwrap();
            match client.recv_from_until(&mut buf, Some(Instant::now() + Duration::from_millis(500))) {
                Ok((n, from)) => break (n, from),
                Err(e) if wgkit::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got.1, to);
        assert_eq!(&buf[..got.0], &msg[..]);
    }
    drop(client);
    echo.join().unwrap();
}

#[test]
fn a_closed_port_refuses_and_an_unrouted_address_is_unreachable() {
    let (a, _b) = pair("r1");
    let e = a
        .net
        .tcp_connect("10.99.0.2:9".parse().unwrap(), Some(Duration::from_secs(10)))
        .err()
        .expect("nothing listens on port 9");
    assert_eq!(wgkit::os_error::errno_of(&e), Some(libc::ECONNREFUSED), "{e}");
    // 10.98.0.1 has no peer: the device drops the SYNs, so the connection times out.
    let e = a
        .net
        .tcp_connect("10.98.0.1:80".parse().unwrap(), Some(Duration::from_millis(700)))
        .err()
        .expect("no peer has 10.98.0.1");
    assert_eq!(wgkit::os_error::errno_of(&e), Some(libc::ETIMEDOUT), "{e}");
}

#[test]
fn one_listener_serves_many_connections_at_once() {
    let (a, b) = pair("m1");
    let mut listener = b.net.tcp_listen("10.99.0.2:7000".parse().unwrap(), 64).unwrap();
    const N: usize = 64;
    let server = std::thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..N {
            let s = listener
                .accept_until(Some(Instant::now() + Duration::from_secs(30)))
                .unwrap();
            handlers.push(std::thread::spawn(move || {
                let mut req = Vec::new();
                (&s).read_to_end(&mut req).unwrap();
                (&s).write_all(&sha256(&req)).unwrap();
                s.shutdown_write().unwrap();
                s.flush_until(Some(Instant::now() + Duration::from_secs(10))).unwrap();
            }));
        }
        for h in handlers {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let net = a.net.clone();
            std::thread::spawn(move || {
                let s = net
                    .tcp_connect("10.99.0.2:7000".parse().unwrap(), Some(Duration::from_secs(20)))
                    .unwrap();
                let body = pattern(10_000 + i * 997, i as u8);
                (&s).write_all(&body).unwrap();
                s.shutdown_write().unwrap();
                let mut digest = Vec::new();
                (&s).read_to_end(&mut digest).unwrap();
                assert_eq!(digest, sha256(&body));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn closing_the_device_wakes_a_blocked_reader() {
    let (a, b) = pair("c1");
    let mut listener = b.net.tcp_listen("10.99.0.2:7100".parse().unwrap(), 1).unwrap();
    let accepted = std::thread::spawn(move || listener.accept_until(None).unwrap());
    let s = a
        .net
        .tcp_connect("10.99.0.2:7100".parse().unwrap(), Some(Duration::from_secs(10)))
        .unwrap();
    let _server_side = accepted.join().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        (&s).read(&mut buf)
    });
    std::thread::sleep(Duration::from_millis(100));
    a.dev.close();
    let r = reader.join().unwrap();
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    let e = a
        .net
        .tcp_connect("10.99.0.2:7100".parse().unwrap(), None)
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
}
