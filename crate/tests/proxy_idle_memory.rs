//! What an idle relayed connection costs in resident memory: 300 connections through `-L`,
//! each proven relayed by one byte each way, then left idle. Both ends of the tunnel are in
//! this process (the far side answers from one thread, no thread per connection), so the
//! growth per connection is the proxy's pair, both netstack sockets and whatever their
//! buffers keep resident after the trim (`socket_pages.rs`). Alone in its binary: no other
//! test's allocations in the figure.

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod proxy_support;

use proxy_support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgkit::proxy::{Proxy, Spec};

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn an_idle_relayed_connection_costs_a_few_kib() {
    const N: usize = 300;
    // The far buffers' pages are given back within a second of the last use.
    const SETTLE: Duration = Duration::from_secs(3);
    let (a, b) = pair("im", 36);
    // The far side: accepts and answers each connection's byte, all from one thread.
    let mut listener = b.net.tcp_listen(SocketAddr::new(b.ip, 7), 64).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let far = std::thread::spawn(move || {
        let (mut conns, mut accepted) = (Vec::new(), 0);
        while !s2.load(Ordering::Relaxed) {
            while let Ok(Some(c)) = listener.try_accept() {
                conns.push(c);
                accepted += 1;
            }
            // Each byte is answered; a client's end is answered with ours.
            conns.retain(|c| {
                let mut b = [0u8; 16];
                match c.try_read(&mut b) {
                    Ok(Some(0)) | Err(_) => {
                        let _ = c.shutdown_write();
                        false
                    }
                    Ok(Some(n)) => {
                        let _ = c.try_write(&b[..n]);
                        true
                    }
                    Ok(None) => true,
                }
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        accepted
    });
    let proxy = Proxy::start(
        a.dev.clone(),
        a.net.clone(),
        vec![],
        vec![Spec::parse("-L", &format!("0:{}:7", b.ip)).unwrap()],
    )
    .unwrap();
    let at = proxy.listeners()[0].addr.unwrap();
    let open = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let mut s = TcpStream::connect(at).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                s.write_all(b"!").unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                s
            })
            .collect()
    };
    // A first batch warms what grows once (the relay's tables, the stack's socket set).
    let warm = open(N);
    std::thread::sleep(SETTLE);
    let before = rss();
    let idle = open(N);
    std::thread::sleep(SETTLE);
    let after = rss();
    let per = after.saturating_sub(before) / N as u64;
    eprintln!("idle relayed connection: {per} bytes resident each ({before} -> {after} for {N})");
    assert_eq!(proxy.active_connections(), 2 * N);
    // The tunnel buffers alone are 8 MiB per socket (two sockets per connection here): had
    // they, or a relay buffer, stayed resident, this would be hundreds of KiB.
    assert!(per < 16 << 10, "{per} bytes resident per idle connection");
    drop(warm);
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.active_connections() > 0 {
        assert!(Instant::now() < deadline, "the connections did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.stop();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(far.join().unwrap(), 2 * N);
}
