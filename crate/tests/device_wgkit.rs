//! wgkit ↔ wgkit through two network namespaces (needs root).

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod common;

use common::*;
use std::time::Duration;
use wgkit::device::DeviceEvent;
use wgkit::model::DeviceConfig;

#[test]
fn ping_tcp_and_stats_between_two_devices() {
    let pair = Pair::new();
    let (a, b, na, _) = connected_nodes(&pair, true);

    assert!(ping(&pair.a, "10.77.0.2", ""), "ping through the tunnel");
    assert!(ping(&pair.b, "fd77::1", ""), "IPv6 ping through the tunnel");
    tcp_transfer(&pair.a, &pair.b, "10.77.0.2", 5001, 4 << 20);
    tcp_transfer(&pair.b, &pair.a, "fd77::1", 5002, 1 << 20);

    let sa = a.dev.snapshot();
    let sb = b.dev.snapshot();
    assert_eq!(sa.listen_port, 51820);
    assert_eq!(sa.public_key, Some(a.public()));
    let pa = &sa.peers[0];
    let pb = &sb.peers[0];
    assert!(pa.last_handshake.is_some() && pb.last_handshake.is_some());
    assert!(pa.rx_bytes > 4 << 20 || pb.rx_bytes > 4 << 20);
    assert!(pa.tx_bytes > 0 && pa.rx_bytes > 0 && pb.tx_bytes > 0 && pb.rx_bytes > 0);
    assert_eq!(pa.endpoint, Some("192.0.2.2:51820".parse().unwrap()));
    let ips: Vec<String> = pa.allowed_ips.iter().map(|x| x.to_string()).collect();
    assert_eq!(ips, ["10.77.0.2/32", "fd77::2/128"]);

    let ev = a.drain();
    assert!(
        ev.iter().any(|e| matches!(e, DeviceEvent::HandshakeCompleted { public_key, initiator: true, .. } if *public_key == b.public())),
        "{ev:?}"
    );
    let ev = b.drain();
    assert!(
        ev.iter()
            .any(|e| matches!(e, DeviceEvent::HandshakeCompleted { initiator: false, .. })),
        "{ev:?}"
    );
    let stats = a.dev.stats();
    assert!(stats.tx_datagrams > 0 && stats.rx_datagrams > 0);

    // An unrelated change keeps the session: no new handshake, traffic still flows.
    let before = a.dev.snapshot().peers[0].last_handshake;
    let other = wgkit::keys::Key::generate_private().public_key();
    a.add_peer(peer(&other, Some("192.0.2.9:1"), &["10.77.0.9/32"]));
    let mut keep = wgkit::model::PeerConfig::new(b.public());
    keep.endpoint = Some("192.0.2.2:51820".parse().unwrap());
    a.add_peer(keep);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    assert_eq!(a.dev.snapshot().peers[0].last_handshake, before);
    assert!(!a
        .drain()
        .iter()
        .any(|e| matches!(e, DeviceEvent::HandshakeCompleted { .. })));

    // Removing the peer stops traffic.
    let mut rm = wgkit::model::PeerConfig::new(b.public());
    rm.remove = true;
    a.dev
        .apply(DeviceConfig {
            peers: vec![rm],
            ..Default::default()
        })
        .unwrap();
    let out = pair.a.try_sh("ping -c 1 -W 1 10.77.0.2");
    assert!(!out.status.success());
    // The device answers with ICMP host unreachable, as the kernel does.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Unreachable"), "{text}");
    let out = pair.a.try_sh("ping -c 1 -W 1 fd77::2");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(!out.status.success() && text.contains("unreachable"), "{text}");
    assert!(a.dev.stats().dropped_no_route > 0);
    a.dev.close();
    // The interface is gone once closed.
    assert!(!pair.a.try_sh(&format!("ip link show {na}")).status.success());
}

#[test]
fn inbound_source_filtering() {
    let pair = Pair::new();
    let (na, nb) = (format!("wa{}", pair.t), format!("wb{}", pair.t));
    let a = Node::new(&pair.a, &na, 0);
    let b = Node::new(&pair.b, &nb, 0);
    let pa = a.dev.snapshot().listen_port;
    let pb = b.dev.snapshot().listen_port;
    assert!(pa != 0 && pb != 0);
    // A accepts only 10.77.0.2 from B; B routes the whole /24 to A.
    a.add_peer(peer(&b.public(), Some(&format!("192.0.2.2:{pb}")), &["10.77.0.2/32"]));
    b.add_peer(peer(&a.public(), Some(&format!("192.0.2.1:{pa}")), &["10.77.0.0/24"]));
    up(&pair.a, &na, &["10.77.0.1/24"]);
    up(&pair.b, &nb, &["10.77.0.2/24", "10.77.0.99/24"]);
    assert!(ping(&pair.b, "10.77.0.1", "-I 10.77.0.2"));
    let before = a.dev.stats().dropped_source_filter;
    assert!(
        !ping(&pair.b, "10.77.0.1", "-I 10.77.0.99"),
        "spoofed inner source must be dropped"
    );
    assert!(a.dev.stats().dropped_source_filter >= before + 3);
}

#[test]
fn roaming_follows_authenticated_packets() {
    let pair = Pair::new();
    let (na, nb) = (format!("wa{}", pair.t), format!("wb{}", pair.t));
    pair.b.sh(&format!(
        "sysctl -qw net.ipv4.conf.vb{t}.promote_secondaries=1; ip addr add 192.0.2.3/24 dev vb{t}",
        t = pair.t
    ));
    let a = Node::new(&pair.a, &na, 51820);
    let b = Node::new(&pair.b, &nb, 51820);
    // A knows no endpoint for B: B must initiate, and A learns B's address from it.
    a.add_peer(peer(&b.public(), None, &["10.77.0.2/32"]));
    b.add_peer(peer(&a.public(), Some("192.0.2.1:51820"), &["10.77.0.1/32"]));
    up(&pair.a, &na, &["10.77.0.1/24"]);
    up(&pair.b, &nb, &["10.77.0.2/24"]);
    assert!(!pair.a.try_sh("ping -c 1 -W 1 10.77.0.2").status.success());
    assert!(ping(&pair.b, "10.77.0.1", ""));
    let at = |s: &str| Some(s.parse().unwrap());
    assert_eq!(a.dev.snapshot().peers[0].endpoint, at("192.0.2.2:51820"));
    // Sticky source: B answers from the address A talks to, even when routing would now
    // pick another source.
    pair.b
        .sh(&format!("ip route replace 192.0.2.1/32 dev vb{} src 192.0.2.3", pair.t));
    assert!(ping(&pair.b, "10.77.0.1", ""));
    assert!(ping(&pair.a, "10.77.0.2", ""));
    assert_eq!(a.dev.snapshot().peers[0].endpoint, at("192.0.2.2:51820"));
    // B loses that address: its packets leave from the route's source and A follows.
    pair.b.sh(&format!("ip addr del 192.0.2.2/24 dev vb{}", pair.t));
    assert!(ping(&pair.b, "10.77.0.1", ""));
    assert!(wait_until(Duration::from_secs(2), || a.dev.snapshot().peers[0]
        .endpoint
        == at("192.0.2.3:51820")));
    let ev = a.drain();
    assert!(
        ev.iter().any(
            |e| matches!(e, DeviceEvent::EndpointChanged { new, .. } if *new == "192.0.2.3:51820".parse().unwrap())
        ),
        "{ev:?}"
    );
    // And A can reach B at the new address.
    assert!(ping(&pair.a, "10.77.0.2", ""));

    // B moves to another port (sockets rebound under running workers): A follows again.
    b.dev
        .apply(DeviceConfig {
            listen_port: Some(51999),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(b.dev.snapshot().listen_port, 51999);
    assert!(ping(&pair.b, "10.77.0.1", ""));
    assert_eq!(
        a.dev.snapshot().peers[0].endpoint,
        Some("192.0.2.3:51999".parse().unwrap())
    );
    assert!(ping(&pair.a, "10.77.0.2", ""));
}

#[test]
fn ipv6_underlay() {
    let pair = Pair::new();
    let (na, nb) = (format!("wa{}", pair.t), format!("wb{}", pair.t));
    let a = Node::new(&pair.a, &na, 51820);
    let b = Node::new(&pair.b, &nb, 51820);
    a.add_peer(peer(&b.public(), Some("[2001:db8::2]:51820"), &["10.77.0.2/32"]));
    b.add_peer(peer(&a.public(), None, &["10.77.0.1/32"]));
    up(&pair.a, &na, &["10.77.0.1/24"]);
    up(&pair.b, &nb, &["10.77.0.2/24"]);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    assert_eq!(
        b.dev.snapshot().peers[0].endpoint,
        Some("[2001:db8::1]:51820".parse().unwrap())
    );
    tcp_transfer(&pair.b, &pair.a, "10.77.0.1", 5006, 1 << 20);
}

#[test]
fn device_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<wgkit::device::Device>();
}

/// A hub with two peers on two links: routing picks the peer by allowed IPs, and the hub
/// forwards between its peers.
#[test]
fn hub_routes_between_two_peers() {
    let t = tag();
    let hub = Ns::new(format!("wgk{t}h"));
    let b = Ns::new(format!("wgk{t}b"));
    let c = Ns::new(format!("wgk{t}c"));
    must(&format!(
        "ip link add hb{t} netns {} type veth peer name bh{t} netns {}",
        hub.name, b.name
    ));
    must(&format!(
        "ip link add hc{t} netns {} type veth peer name ch{t} netns {}",
        hub.name, c.name
    ));
    hub.sh(&format!(
        "ip addr add 192.0.2.1/24 dev hb{t}; ip link set hb{t} up; ip addr add 198.51.100.1/24 dev hc{t}; ip link set hc{t} up; sysctl -qw net.ipv4.ip_forward=1"
    ));
    b.sh(&format!("ip addr add 192.0.2.2/24 dev bh{t}; ip link set bh{t} up"));
    c.sh(&format!("ip addr add 198.51.100.2/24 dev ch{t}; ip link set ch{t} up"));
    let (nh, nb, nc) = (format!("wh{t}"), format!("wb{t}"), format!("wc{t}"));
    let h = Node::new(&hub, &nh, 51820);
    let pb = Node::new(&b, &nb, 51820);
    let pc = Node::new(&c, &nc, 51820);
    h.add_peer(peer(&pb.public(), Some("192.0.2.2:51820"), &["10.77.0.2/32"]));
    h.add_peer(peer(&pc.public(), Some("198.51.100.2:51820"), &["10.77.0.3/32"]));
    pb.add_peer(peer(&h.public(), Some("192.0.2.1:51820"), &["10.77.0.0/24"]));
    pc.add_peer(peer(&h.public(), Some("198.51.100.1:51820"), &["10.77.0.0/24"]));
    up(&hub, &nh, &["10.77.0.1/24"]);
    up(&b, &nb, &["10.77.0.2/24"]);
    up(&c, &nc, &["10.77.0.3/24"]);
    assert!(ping(&hub, "10.77.0.2", ""));
    assert!(ping(&hub, "10.77.0.3", ""));
    // b → hub → c: decrypted from b, routed by the hub's kernel back into the TUN, encrypted
    // for c.
    assert!(ping(&b, "10.77.0.3", ""));
    let s = h.dev.snapshot();
    assert_eq!(s.peers.len(), 2);
    assert!(s.peers.iter().all(|p| p.last_handshake.is_some() && p.rx_bytes > 0));
    assert_eq!(h.dev.stats().dropped_source_filter, 0);
}

#[test]
fn link_down_and_up_keeps_working() {
    let pair = Pair::new();
    let (a, b, na, nb) = connected_nodes(&pair, false);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    // Packets arriving for a down interface are dropped, not fatal.
    pair.b.sh(&format!("ip link set {nb} down"));
    assert!(!pair.a.try_sh("ping -c 2 -i 0.2 -W 1 10.77.0.2").status.success());
    pair.b.sh(&format!("ip link set {nb} up"));
    pair.a.sh(&format!("ip link set {na} down; ip link set {na} up"));
    assert!(ping(&pair.a, "10.77.0.2", ""));
    assert!(ping(&pair.b, "10.77.0.1", ""));
    let errors = |n: &Node| {
        n.drain()
            .into_iter()
            .filter(|e| matches!(e, DeviceEvent::Error(_)))
            .count()
    };
    assert_eq!((errors(&a), errors(&b)), (0, 0));
    assert!(
        b.dev.stats().dropped_io > 0,
        "writes to the down interface were counted"
    );
}

/// 50 MB each way through TUN offloads on both ends (TSO super-packets split before
/// encryption, decrypted segments coalesced into GSO writes): the bytes arrive intact.
#[test]
fn large_tcp_transfer_with_offloads() {
    let pair = Pair::new();
    let (a, b, _, _) = connected_nodes(&pair, true);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    tcp_transfer(&pair.a, &pair.b, "10.77.0.2", 5011, 50 << 20);
    tcp_transfer(&pair.b, &pair.a, "fd77::1", 5012, 50 << 20);
    let (sa, sb) = (a.dev.stats(), b.dev.stats());
    assert_eq!(sa.dropped_invalid + sb.dropped_invalid, 0, "{sa:?} {sb:?}");
}

/// The id of this process's thread named `name` (as the kernel keeps it: 15 bytes at most).
fn thread_id(name: &str) -> Option<i32> {
    let name = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        (comm.trim_end() == name).then(|| t.file_name().to_str()?.parse().ok())?
    })
}

/// While a bulk transfer runs, each device turns its latency lanes on (`device/lanes.rs`; the
/// steering itself is checked in its unit tests): the lanes' workers get a short slice (the last
/// one of two workers; the last two of eight, one lane per four), the bulk workers keep theirs,
/// and the bytes still arrive intact, nothing dropped as invalid, although the lanes reorder a
/// peer's packets. Once quiet, the slices are back to the default.
#[test]
fn the_latency_lane_is_on_while_bulk_flows() {
    let pair = Pair::new();
    let (na, nb) = (format!("wa{}", pair.t), format!("wb{}", pair.t));
    let a = Node::new_with_threads(&pair.a, &na, 51820, 2);
    let b = Node::new_with_threads(&pair.b, &nb, 51820, 8);
    a.add_peer(peer(&b.public(), Some("192.0.2.2:51820"), &["10.77.0.2/32"]));
    b.add_peer(peer(&a.public(), Some("192.0.2.1:51820"), &["10.77.0.1/32"]));
    up(&pair.a, &na, &["10.77.0.1/24"]);
    up(&pair.b, &nb, &["10.77.0.2/24"]);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    let worker = |name: &str, i: usize| thread_id(&format!("wg-{name}-{i}")).expect("a worker");
    let lanes = [worker(&na, 1), worker(&nb, 6), worker(&nb, 7)];
    let bulk = worker(&nb, 5);
    let default = slice_of(bulk);
    std::thread::scope(|s| {
        let transfer = s.spawn(|| {
            tcp_transfer(&pair.a, &pair.b, "10.77.0.2", 5021, 200 << 20);
            // Pings during the transfer's last moments, and the lanes' own small packets.
            assert!(ping(&pair.a, "10.77.0.2", ""));
        });
        let mut seen_short = [false; 3];
        while !transfer.is_finished() {
            for (seen, &tid) in seen_short.iter_mut().zip(&lanes) {
                *seen |= default.is_some() && slice_of(tid) == Some(100_000);
            }
            assert_eq!(slice_of(bulk), default, "a bulk worker's slice changed");
            std::thread::sleep(Duration::from_millis(20));
        }
        transfer.join().unwrap();
        if default.is_some() {
            assert_eq!(
                seen_short, [true; 3],
                "every lane worker had a short slice during the transfer"
            );
        }
    });
    // Four quiet ticks of 250 ms, then the lanes are off again.
    let back = wait_until(Duration::from_secs(3), || lanes.iter().all(|&t| slice_of(t) == default));
    assert!(back, "a lane worker kept its short slice while quiet");
    let (sa, sb) = (a.dev.stats(), b.dev.stats());
    assert_eq!(sa.dropped_invalid + sb.dropped_invalid, 0, "{sa:?} {sb:?}");
}
