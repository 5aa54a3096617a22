//! wgkit ↔ Debian wireguard-go (configured with `wg set`), each side initiating (needs root,
//! wireguard-go and wg).

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use wgkit::keys::Key;

/// A wireguard-go process in a namespace; killed (and its UAPI socket removed) on drop.
struct WgGo {
    _proc: Proc,
    name: String,
}

impl WgGo {
    fn start(ns: &Ns, name: &str) -> WgGo {
        let proc = ns.spawn(&format!("wireguard-go -f {name}"));
        let sock = format!("/var/run/wireguard/{name}.sock");
        assert!(
            wait_until(Duration::from_secs(10), || Path::new(&sock).exists()),
            "wireguard-go did not start"
        );
        WgGo {
            _proc: proc,
            name: name.to_string(),
        }
    }
}

impl Drop for WgGo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.name));
    }
}

struct Setup {
    // Drop order: processes and devices before namespaces.
    wg: WgGo,
    node: Node,
    _key_file: TempFile,
    pair: Pair,
}

/// wgkit in namespace a (10.77.0.1), wireguard-go in namespace b (10.77.0.2).
fn setup(with_endpoint_on_wgkit: bool, with_endpoint_on_go: bool) -> Setup {
    let pair = Pair::new();
    let (na, nb) = (format!("wa{}", pair.t), format!("gb{}", pair.t));
    let node = Node::new(&pair.a, &na, 51820);
    let go_key = Key::generate_private();
    let key_file = TempFile::new("go.key", go_key.to_base64().as_bytes());
    let wg = WgGo::start(&pair.b, &nb);
    let ep = if with_endpoint_on_go {
        " endpoint 192.0.2.1:51820"
    } else {
        ""
    };
    pair.b.sh(&format!(
        "wg set {nb} listen-port 51820 private-key {} peer {} allowed-ips 10.77.0.1/32{ep}",
        key_file.path(),
        node.public().to_base64()
    ));
    node.add_peer(peer(
        &go_key.public_key(),
        with_endpoint_on_wgkit.then_some("192.0.2.2:51820"),
        &["10.77.0.2/32"],
    ));
    up(&pair.a, &na, &["10.77.0.1/24"]);
    up(&pair.b, &nb, &["10.77.0.2/24"]);
    Setup {
        wg,
        node,
        _key_file: key_file,
        pair,
    }
}

#[test]
fn wgkit_initiates_to_wireguard_go() {
    let s = setup(true, false);
    assert!(ping(&s.pair.a, "10.77.0.2", ""), "ping from wgkit");
    tcp_transfer(&s.pair.a, &s.pair.b, "10.77.0.2", 5003, 2 << 20);
    tcp_transfer(&s.pair.b, &s.pair.a, "10.77.0.1", 5004, 2 << 20);
    let snap = s.node.dev.snapshot();
    assert!(snap.peers[0].last_handshake.is_some());
    assert!(snap.peers[0].rx_bytes > 2 << 20 && snap.peers[0].tx_bytes > 2 << 20);
    // wireguard-go agrees a handshake happened and learnt our endpoint.
    let dump = s.pair.b.sh(&format!("wg show {} dump", s.wg.name));
    let line = dump.lines().nth(1).expect("peer line");
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[2], "192.0.2.1:51820");
    assert_ne!(fields[4], "0", "latest handshake on the wireguard-go side");
}

#[test]
fn wireguard_go_initiates_to_wgkit() {
    let s = setup(false, true);
    assert!(ping(&s.pair.b, "10.77.0.1", ""), "ping from wireguard-go");
    let snap = s.node.dev.snapshot();
    assert_eq!(snap.peers[0].endpoint, Some("192.0.2.2:51820".parse().unwrap()));
    assert!(snap.peers[0].last_handshake.is_some());
    assert!(ping(&s.pair.a, "10.77.0.2", ""), "and back from wgkit");
    tcp_transfer(&s.pair.b, &s.pair.a, "10.77.0.1", 5005, 2 << 20);
}

#[test]
fn persistent_keepalive_initiates_handshake() {
    let s = setup(true, false);
    let go_public = s.pair.b.sh(&format!("wg show {} public-key", s.wg.name));
    let mut p = wgkit::model::PeerConfig::new(Key::from_base64(go_public.trim()).unwrap());
    p.persistent_keepalive_interval = Some(1);
    s.node.add_peer(p);
    // Turning keepalive on sends one at once, which needs a handshake: no traffic involved.
    assert!(wait_until(Duration::from_secs(5), || s.node.dev.snapshot().peers[0]
        .last_handshake
        .is_some()));
    let dump = s.pair.b.sh(&format!("wg show {} dump", s.wg.name));
    let fields: Vec<String> = dump.lines().nth(1).unwrap().split('\t').map(String::from).collect();
    let rx_before: u64 = fields[5].parse().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let dump = s.pair.b.sh(&format!("wg show {} dump", s.wg.name));
    let fields: Vec<String> = dump.lines().nth(1).unwrap().split('\t').map(String::from).collect();
    let rx_after: u64 = fields[5].parse().unwrap();
    assert!(rx_after > rx_before, "keepalives keep arriving every second");
    assert_eq!(s.node.dev.snapshot().peers[0].persistent_keepalive_interval, 1);
}

/// 50 MB each way between wgkit (TUN offloads on) and wireguard-go: segments split from
/// wgkit's super-packets and coalesced writes of wireguard-go's packets arrive intact.
#[test]
fn large_tcp_transfer_with_offloads() {
    let s = setup(true, false);
    assert!(ping(&s.pair.a, "10.77.0.2", ""), "ping from wgkit");
    tcp_transfer(&s.pair.a, &s.pair.b, "10.77.0.2", 5013, 50 << 20);
    tcp_transfer(&s.pair.b, &s.pair.a, "10.77.0.1", 5014, 50 << 20);
    assert_eq!(s.node.dev.stats().dropped_invalid, 0);
}
