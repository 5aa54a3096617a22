//! Shared by the proxy tests: two netstack devices linked over loopback (a runs the proxy,
//! b is the peer with services on its tunnel address) and those services: TCP echo, UDP
//! echo, a DNS responder (UDP, with TCP for truncated answers), an HTTP origin.
#![allow(dead_code)]

mod descriptor_limit;
#[allow(unused_imports)] // used by some of the test files that include this module
pub use descriptor_limit::raise_descriptor_limit;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wgkit::device::{Device, DeviceOptions, Netstack, NetstackOptions, TcpStream};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

pub struct Side {
    pub dev: Arc<Device>,
    pub net: Netstack,
    pub key: Key,
    pub ip: IpAddr,
}

fn side(name: &str, ip: &str) -> Side {
    let ip: IpAddr = ip.parse().unwrap();
    let (dev, net) = Device::create_netstack(
        name,
        DeviceOptions::default(),
        NetstackOptions {
            addresses: vec![(ip, 24)],
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
    Side {
        dev: Arc::new(dev),
        net,
        key,
        ip,
    }
}

fn link(a: &Side, b: &Side) {
    let mut p = PeerConfig::new(b.key.public_key());
    p.endpoint = Some(SocketAddr::new(
        "127.0.0.1".parse().unwrap(),
        b.dev.snapshot().listen_port,
    ));
    p.allowed_ips = vec![AllowedIpChange {
        ip: AllowedIp::parse(&format!("{}/32", b.ip)).unwrap(),
        remove: false,
    }];
    a.dev
        .apply(DeviceConfig {
            peers: vec![p],
            ..Default::default()
        })
        .unwrap();
}

/// a = 10.77.N.1 (runs the proxy), b = 10.77.N.2 (the services).
pub fn pair(tag: &str, n: u8) -> (Side, Side) {
    let a = side(&format!("wgpx{tag}a"), &format!("10.77.{n}.1"));
    let b = side(&format!("wgpx{tag}b"), &format!("10.77.{n}.2"));
    link(&a, &b);
    link(&b, &a);
    (a, b)
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
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

pub fn sha256(d: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, d).as_ref().to_vec()
}

/// A service thread, stopped and joined on drop.
pub struct Service {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_tcp(net: &Netstack, at: SocketAddr, handler: fn(TcpStream)) -> Service {
    serve_tcp_with(net, at, 16, handler)
}

/// Accepts on `at` (with a backlog of `backlog` listening sockets), each connection on a
/// thread of its own running `handler`.
pub fn serve_tcp_with(
    net: &Netstack,
    at: SocketAddr,
    backlog: usize,
    handler: impl Fn(TcpStream) + Clone + Send + 'static,
) -> Service {
    let mut l = net.tcp_listen(at, backlog).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            match l.accept_until(Some(Instant::now() + Duration::from_millis(100))) {
                Ok(c) => {
                    let h = handler.clone();
                    std::thread::spawn(move || h(c));
                }
                Err(e) if wgkit::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => {}
                Err(_) => break,
            }
        }
    });
    Service {
        stop,
        thread: Some(thread),
    }
}

/// Echoes each connection's bytes back, then half-closes.
pub fn tcp_echo(net: &Netstack, at: SocketAddr) -> Service {
    serve_tcp(net, at, echo)
}

/// [`tcp_echo`] with a backlog of `backlog` listening sockets (for bursts of connections).
pub fn tcp_echo_with(net: &Netstack, at: SocketAddr, backlog: usize) -> Service {
    serve_tcp_with(net, at, backlog, echo)
}

fn echo(c: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match c.read_until(&mut buf, None) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if c.write_all_until(&buf[..n], None).is_err() {
                    return;
                }
            }
        }
    }
    let _ = c.shutdown_write();
    let _ = c.flush_until(Some(Instant::now() + Duration::from_secs(10)));
}

/// Reads everything, answers its SHA-256, half-closes.
pub fn tcp_digest(net: &Netstack, at: SocketAddr) -> Service {
    serve_tcp(net, at, |c| {
        let mut all = Vec::new();
        if (&c).read_to_end(&mut all).is_ok() {
            let _ = (&c).write_all(&sha256(&all));
        }
        let _ = c.shutdown_write();
        let _ = c.flush_until(Some(Instant::now() + Duration::from_secs(10)));
    })
}

/// An HTTP/1.x origin: answers every request with `hello PATH via HOST` and closes.
pub fn http_origin(net: &Netstack, at: SocketAddr) -> Service {
    serve_tcp(net, at, |c| {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read_until(&mut buf, Some(Instant::now() + Duration::from_secs(10))) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let path = text.split(' ').nth(1).unwrap_or("").to_string();
        let host = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Host: ").or_else(|| l.strip_prefix("host: ")))
            .unwrap_or("")
            .to_string();
        let proxy_headers = text.to_ascii_lowercase().contains("proxy-connection");
        let body = format!("hello {path} via {host} proxy-headers={proxy_headers}\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = c.write_all_until(resp.as_bytes(), None);
        let _ = c.shutdown_write();
        let _ = c.flush_until(Some(Instant::now() + Duration::from_secs(10)));
    })
}

fn serve_udp(net: &Netstack, at: SocketAddr, handler: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> Service {
    let sock = net.udp_bind(at).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !s.load(Ordering::Relaxed) {
            match sock.recv_from_until(&mut buf, Some(Instant::now() + Duration::from_millis(100))) {
                Ok((n, from)) => {
                    if let Some(r) = handler(&buf[..n]) {
                        let _ = sock.send_to_until(&r, from, None);
                    }
                }
                Err(e) if wgkit::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => {}
                Err(_) => break,
            }
        }
    });
    Service {
        stop,
        thread: Some(thread),
    }
}

/// Echoes datagrams, prefixed with `echo:`.
pub fn udp_echo(net: &Netstack, at: SocketAddr) -> Service {
    serve_udp(net, at, |d| Some([b"echo:".as_slice(), d].concat()))
}

/// The question's name and type of a DNS query.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(at..at + len)?).into_owned());
        at += len;
    }
    let ty = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    Some((labels.join("."), ty, at + 4))
}

/// The answer to `q` from `records` (name -> IPv4); `many` IPv4 answers for `big.test`.
fn dns_answer(q: &[u8], records: &[(String, [u8; 4])], truncate_big: bool) -> Option<Vec<u8>> {
    let (name, ty, end) = question(q)?;
    let mut r = q[..end].to_vec();
    r[2] = 0x81; // response, recursion desired
    r[3] = 0x80; // recursion available
    let mut answers: Vec<[u8; 4]> = Vec::new();
    if name == "big.test" {
        if truncate_big {
            r[2] |= 0x02;
            return Some(r);
        }
        if ty == 1 {
            answers = (1..=40).map(|i| [10, 77, 250, i]).collect();
            // The real one (the peer) goes first.
            answers.insert(0, records[0].1);
        }
    } else if let Some((_, ip)) = records.iter().find(|(n, _)| *n == name) {
        if ty == 1 {
            answers.push(*ip);
        }
    } else {
        r[3] |= 3; // NXDOMAIN
    }
    r[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for ip in answers {
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        r.extend_from_slice(&ip);
    }
    Some(r)
}

/// A DNS server on `ip`:53 (UDP, and TCP for `big.test`, whose UDP answer is truncated).
pub fn dns_server(net: &Netstack, ip: IpAddr, records: Vec<(&str, IpAddr)>) -> (Service, Service) {
    let records: Vec<(String, [u8; 4])> = records
        .into_iter()
        .map(|(n, ip)| match ip {
            IpAddr::V4(v4) => (n.to_string(), v4.octets()),
            IpAddr::V6(_) => panic!("IPv4 records only"),
        })
        .collect();
    let r2 = records.clone();
    let udp = serve_udp(net, SocketAddr::new(ip, 53), move |q| dns_answer(q, &records, true));
    let mut l = net.tcp_listen(SocketAddr::new(ip, 53), 4).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let c = match l.accept_until(Some(Instant::now() + Duration::from_millis(100))) {
                Ok(c) => c,
                Err(e) if wgkit::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => continue,
                Err(_) => break,
            };
            let mut len = [0u8; 2];
            if (&c).read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if (&c).read_exact(&mut q).is_err() {
                continue;
            }
            if let Some(a) = dns_answer(&q, &r2, false) {
                let mut m = (a.len() as u16).to_be_bytes().to_vec();
                m.extend_from_slice(&a);
                let _ = (&c).write_all(&m);
                let _ = c.flush_until(Some(Instant::now() + Duration::from_secs(5)));
            }
        }
    });
    (
        udp,
        Service {
            stop,
            thread: Some(thread),
        },
    )
}

/// A whole HTTP/1.x exchange over a host TCP stream; the response as text.
pub fn http_exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits for a handshake on `a` by a TCP connection to `to` (anything answering, even a RST).
pub fn handshake(a: &Side, to: SocketAddr) {
    let _ = a.net.tcp_connect(to, Some(Duration::from_secs(10)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.dev.snapshot().peers[0].last_handshake.is_none() {
        assert!(Instant::now() < deadline, "no handshake");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two connected TCP sockets over loopback (a stand-in for stdin/stdout on every platform).
pub fn stream_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}
