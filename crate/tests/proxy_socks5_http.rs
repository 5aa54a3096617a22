//! SOCKS5 and the HTTP proxy through a real tunnel: CONNECT by address and by name (names
//! answered by a DNS server on the peer's tunnel address, over UDP and, for a truncated
//! answer, TCP), username/password, UDP ASSOCIATE, HTTP CONNECT and an absolute-URI GET, and
//! curl through both (curl is installed by scripts/setup.sh).

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod proxy_support;

use proxy_support::*;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;
use wgkit::proxy::{Credentials, Proxy, ProxyOptions, Spec};

struct World {
    a: Side,
    b: Side,
    _services: Vec<Service>,
    proxy: Proxy,
}

fn world(tag: &str, n: u8, options: ProxyOptions) -> World {
    let (a, b) = pair(tag, n);
    let (dns_udp, dns_tcp) = dns_server(&b.net, b.ip, vec![("echo.test", b.ip), ("www.echo.test", b.ip)]);
    let services = vec![
        tcp_echo(&b.net, SocketAddr::new(b.ip, 7)),
        http_origin(&b.net, SocketAddr::new(b.ip, 80)),
        udp_echo(&b.net, SocketAddr::new(b.ip, 5300)),
        dns_udp,
        dns_tcp,
    ];
    let proxy = Proxy::start_with(
        a.dev.clone(),
        a.net.clone(),
        vec![b.ip],
        vec![
            Spec::parse("--socks5", "0").unwrap(),
            Spec::parse("--http", "0").unwrap(),
        ],
        options,
    )
    .unwrap();
    World {
        a,
        b,
        _services: services,
        proxy,
    }
}

impl World {
    fn socks(&self) -> SocketAddr {
        self.proxy.listeners()[0].addr.unwrap()
    }
    fn http(&self) -> SocketAddr {
        self.proxy.listeners()[1].addr.unwrap()
    }
}

/// Greets with no authentication; the method the server chose.
fn greet(s: &mut TcpStream, methods: &[u8]) -> u8 {
    let mut m = vec![5, methods.len() as u8];
    m.extend_from_slice(methods);
    s.write_all(&m).unwrap();
    let mut r = [0u8; 2];
    s.read_exact(&mut r).unwrap();
    assert_eq!(r[0], 5);
    r[1]
}

/// Sends a request (CMD, ATYP+address+port); the reply code and the bound address bytes.
fn request(s: &mut TcpStream, cmd: u8, dst: &[u8]) -> (u8, SocketAddr) {
    let mut m = vec![5, cmd, 0];
    m.extend_from_slice(dst);
    s.write_all(&m).unwrap();
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[0], 5);
    let addr = match h[3] {
        1 => {
            let mut a = [0u8; 6];
            s.read_exact(&mut a).unwrap();
            SocketAddr::new(IpAddr::from([a[0], a[1], a[2], a[3]]), u16::from_be_bytes([a[4], a[5]]))
        }
        4 => {
            let mut a = [0u8; 18];
            s.read_exact(&mut a).unwrap();
            let mut o = [0u8; 16];
            o.copy_from_slice(&a[..16]);
            SocketAddr::new(IpAddr::from(o), u16::from_be_bytes([a[16], a[17]]))
        }
        t => panic!("address type {t}"),
    };
    (h[1], addr)
}

fn ipv4(ip: IpAddr, port: u16) -> Vec<u8> {
    let IpAddr::V4(v4) = ip else { panic!() };
    let mut m = vec![1];
    m.extend_from_slice(&v4.octets());
    m.extend_from_slice(&port.to_be_bytes());
    m
}

fn name(n: &str, port: u16) -> Vec<u8> {
    let mut m = vec![3, n.len() as u8];
    m.extend_from_slice(n.as_bytes());
    m.extend_from_slice(&port.to_be_bytes());
    m
}

fn echo_round(s: &mut TcpStream, len: usize) {
    let data = pattern(len, len as u8);
    s.write_all(&data).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(sha256(&got), sha256(&data));
}

#[test]
fn socks5_connects_by_address_and_by_name_through_the_tunnel_dns() {
    let w = world("sc", 10, ProxyOptions::default());
    let mut s = TcpStream::connect(w.socks()).unwrap();
    assert_eq!(greet(&mut s, &[0]), 0);
    let (code, bound) = request(&mut s, 1, &ipv4(w.b.ip, 7));
    assert_eq!(code, 0);
    assert_eq!(bound.ip(), w.a.ip, "BND.ADDR is the tunnel-side address");
    echo_round(&mut s, 1 << 20);

    let mut s = TcpStream::connect(w.socks()).unwrap();
    greet(&mut s, &[0]);
    assert_eq!(request(&mut s, 1, &name("www.echo.test", 7)).0, 0);
    echo_round(&mut s, 100_000);

    // A truncated UDP answer: the resolver asks again over TCP.
    let mut s = TcpStream::connect(w.socks()).unwrap();
    greet(&mut s, &[0]);
    assert_eq!(request(&mut s, 1, &name("big.test", 7)).0, 0);
    echo_round(&mut s, 1000);

    // A name that does not exist: host unreachable (4); a closed port: refused (5); BIND: 7.
    for (dst, want) in [(name("nope.test", 7), 4u8), (ipv4(w.b.ip, 9), 5), (ipv4(w.b.ip, 7), 7)] {
        let mut s = TcpStream::connect(w.socks()).unwrap();
        greet(&mut s, &[0]);
        let cmd = if want == 7 { 2 } else { 1 };
        assert_eq!(request(&mut s, cmd, &dst).0, want);
    }
    // An unknown address type: 8.
    let mut s = TcpStream::connect(w.socks()).unwrap();
    greet(&mut s, &[0]);
    s.write_all(&[5, 1, 0, 9]).unwrap();
    let mut r = [0u8; 2];
    s.read_exact(&mut r).unwrap();
    assert_eq!(r, [5, 8]);
    // Only username/password offered while none is configured: no acceptable method.
    let mut s = TcpStream::connect(w.socks()).unwrap();
    assert_eq!(greet(&mut s, &[2]), 0xFF);
}

#[test]
fn socks5_username_and_password_are_checked() {
    let w = world(
        "sa",
        11,
        ProxyOptions {
            socks5_auth: Some(Credentials {
                username: "alice".into(),
                password: "s3cret".into(),
            }),
            ..Default::default()
        },
    );
    let mut s = TcpStream::connect(w.socks()).unwrap();
    assert_eq!(greet(&mut s, &[0]), 0xFF, "no-auth is refused when credentials are set");
    for (user, pass, ok) in [("alice", "wrong", false), ("alice", "s3cret", true)] {
        let mut s = TcpStream::connect(w.socks()).unwrap();
        assert_eq!(greet(&mut s, &[0, 2]), 2);
        let mut m = vec![1, user.len() as u8];
        m.extend_from_slice(user.as_bytes());
        m.push(pass.len() as u8);
        m.extend_from_slice(pass.as_bytes());
        s.write_all(&m).unwrap();
        let mut r = [0u8; 2];
        s.read_exact(&mut r).unwrap();
        assert_eq!(r, [1, if ok { 0 } else { 1 }]);
        if ok {
            assert_eq!(request(&mut s, 1, &ipv4(w.b.ip, 7)).0, 0);
            echo_round(&mut s, 5000);
        }
    }
}

#[test]
fn socks5_udp_associate_relays_datagrams_by_address_and_by_name() {
    let w = world("su", 12, ProxyOptions::default());
    let mut control = TcpStream::connect(w.socks()).unwrap();
    greet(&mut control, &[0]);
    let (code, relay) = request(&mut control, 3, &ipv4("0.0.0.0".parse().unwrap(), 0));
    assert_eq!(code, 0);
    assert_eq!(relay.ip(), w.socks().ip());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    for (dst, payload) in [
        (ipv4(w.b.ip, 5300), &b"by address"[..]),
        (name("echo.test", 5300), &b"by name"[..]),
    ] {
        let mut m = vec![0, 0, 0];
        m.extend_from_slice(&dst);
        m.extend_from_slice(payload);
        let mut buf = [0u8; 1500];
        let mut tries = 0;
        let n = loop {
            tries += 1;
            assert!(tries <= 20, "no datagram back");
            udp.send_to(&m, relay).unwrap();
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                assert_eq!(from, relay);
                break n;
            }
        };
        // RSV RSV FRAG, then the sender: the echo service's address.
        assert_eq!(&buf[..3], &[0, 0, 0]);
        assert_eq!(&buf[3..10], &ipv4(w.b.ip, 5300)[..]);
        assert_eq!(&buf[10..n], [b"echo:".as_slice(), payload].concat());
    }
    assert!(w
        .proxy
        .metrics()
        .contains("wgkit_proxy_connections_active{listener=\"socks5\"} 1"));
    drop(control);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while w.proxy.active_connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the association outlived its control connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_proxy_connects_and_forwards_absolute_uris() {
    let w = world("hp", 13, ProxyOptions::default());
    // CONNECT to the echo service by name, with bytes sent right after the head.
    let mut s = TcpStream::connect(w.http()).unwrap();
    s.write_all(b"CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\nearly")
        .unwrap();
    let mut head = [0u8; 39];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[..], b"HTTP/1.1 200 Connection Established\r\n\r\n");
    let mut early = [0u8; 5];
    s.read_exact(&mut early).unwrap();
    assert_eq!(&early, b"early");
    echo_round(&mut s, 200_000);

    let r = http_exchange(
        w.http(),
        "GET http://echo.test/some/path?q=1 HTTP/1.1\r\nHost: echo.test\r\nProxy-Connection: keep-alive\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.ends_with("hello /some/path?q=1 via echo.test proxy-headers=false\n"),
        "{r}"
    );

    let r = http_exchange(w.http(), "GET http://nope.test/ HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{r}");
    assert!(r.contains("Cannot reach nope.test: `nope.test' does not exist"), "{r}");
    let r = http_exchange(w.http(), "GET /relative HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    let r = http_exchange(w.http(), "CONNECT echo.test HTTP/1.1\r\n\r\n");
    assert!(r.contains("Bad target `echo.test'"), "{r}");
}

#[test]
fn curl_goes_through_socks5_and_the_http_proxy() {
    let w = world("cu", 14, ProxyOptions::default());
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args)
            .output()
            .expect("curl is installed (scripts/setup.sh)");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let socks = format!("socks5h://{}", w.socks());
    assert_eq!(
        curl(&["--proxy", &socks, "http://www.echo.test/x"]),
        "hello /x via www.echo.test proxy-headers=false\n"
    );
    let http = format!("http://{}", w.http());
    assert_eq!(
        curl(&["--proxy", &http, "http://echo.test/y"]),
        "hello /y via echo.test proxy-headers=false\n"
    );
    // Through CONNECT (curl's --proxytunnel).
    assert_eq!(
        curl(&["--proxytunnel", "--proxy", &http, &format!("http://{}/z", w.b.ip)]),
        format!("hello /z via {} proxy-headers=false\n", w.b.ip)
    );
}
