//! Applying `DeviceConfig` to a device: validation, atomicity, key changes, peer and
//! allowed-IP semantics, port and fwmark (needs root: each test uses its own namespace).

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod common;

use common::*;
use std::os::fd::AsRawFd;
use wgkit::device::{Device, DeviceOptions};
use wgkit::error::ErrorCode;
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

fn device(ns: &Ns) -> Device {
    Device::create(
        &format!("wc{}", tag()),
        DeviceOptions {
            netns: Some(ns.path()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn ns() -> Ns {
    Ns::new(format!("wgk{}c", tag()))
}

/// Binds a plain UDP socket (no SO_REUSEPORT) in `ns` on a free port.
fn occupy_port(ns: &Ns) -> std::net::UdpSocket {
    let path = format!("/var/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let f = std::fs::File::open(path).unwrap();
        // SAFETY: entering a namespace on this short-lived thread only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        std::net::UdpSocket::bind("0.0.0.0:0").unwrap()
    })
    .join()
    .unwrap()
}

fn ips(d: &wgkit::model::Device, i: usize) -> Vec<String> {
    d.peers[i].allowed_ips.iter().map(|x| x.to_string()).collect()
}

#[test]
fn device_is_created_in_the_namespace_and_removed_on_drop() {
    let ns = ns();
    let dev = device(&ns);
    let name = dev.name().to_string();
    assert!(ns.try_sh(&format!("ip link show {name}")).status.success());
    assert!(
        !run(&format!("ip link show {name}")).status.success(),
        "not in the caller's namespace"
    );
    assert_eq!(ns.sh(&format!("cat /sys/class/net/{name}/mtu")).trim(), "1420");
    dev.set_mtu(1380).unwrap();
    assert_eq!(dev.refresh_mtu().unwrap(), 1380);
    // A change made with `ip link` is picked up by the timer thread.
    ns.sh(&format!("ip link set {name} mtu 1300"));
    assert!(wait_until(std::time::Duration::from_secs(3), || dev.mtu() == 1300));
    let port = dev.snapshot().listen_port;
    assert_ne!(port, 0);
    assert!(ns.sh("ss -Hulnp").contains(&format!(":{port}")));
    // A second device with the same name is refused (it must not join the first's queues).
    let err = Device::create(
        &name,
        DeviceOptions {
            netns: Some(ns.path()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.errno, Some(libc::EEXIST));
    drop(dev);
    assert!(!ns.try_sh(&format!("ip link show {name}")).status.success());
}

#[test]
fn failed_change_leaves_device_unchanged() {
    let ns = ns();
    let dev = device(&ns);
    let p1 = Key::generate_private().public_key();
    dev.apply(DeviceConfig {
        private_key: Some(Key::generate_private()),
        fwmark: Some(7),
        peers: vec![peer(&p1, Some("192.0.2.5:1234"), &["10.0.0.0/24"])],
        ..Default::default()
    })
    .unwrap();
    let before = dev.snapshot();
    assert_eq!(before.fwmark, 7);

    // Port in use: nothing of the change may stick (key, fwmark, peers, allowed IPs).
    let taken = occupy_port(&ns);
    let port = taken.local_addr().unwrap().port();
    let p2 = Key::generate_private().public_key();
    let err = dev
        .apply(DeviceConfig {
            private_key: Some(Key::generate_private()),
            listen_port: Some(port),
            fwmark: Some(9),
            replace_peers: true,
            peers: vec![peer(&p2, None, &["10.0.0.0/24"])],
        })
        .unwrap_err();
    assert_eq!(err.errno, Some(libc::EADDRINUSE));
    assert_eq!(dev.snapshot(), before);

    // Invalid protocol version in a later peer: the earlier ones are not applied either.
    let mut bad = PeerConfig::new(Key::generate_private().public_key());
    bad.protocol_version = Some(2);
    let err = dev
        .apply(DeviceConfig {
            listen_port: Some(0),
            peers: vec![peer(&p2, None, &["10.1.0.0/16"]), bad],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert_eq!(dev.snapshot(), before);

    // An out-of-range prefix built by hand is rejected the same way.
    let mut p = PeerConfig::new(p2.clone());
    p.allowed_ips.push(AllowedIpChange {
        ip: AllowedIp {
            addr: "10.0.0.0".parse().unwrap(),
            cidr: 33,
        },
        remove: false,
    });
    assert!(dev
        .apply(DeviceConfig {
            peers: vec![p],
            ..Default::default()
        })
        .is_err());
    assert_eq!(dev.snapshot(), before);
}

#[test]
fn peers_and_allowed_ips_follow_wg_semantics() {
    let ns = ns();
    let dev = device(&ns);
    let (k1, k2, k3) = (
        Key::generate_private().public_key(),
        Key::generate_private().public_key(),
        Key::generate_private().public_key(),
    );
    dev.apply(DeviceConfig {
        peers: vec![
            peer(&k1, None, &["10.0.0.1/32", "10.0.1.0/24", "fd00::/64"]),
            peer(&k2, None, &["10.0.2.0/24"]),
        ],
        ..Default::default()
    })
    .unwrap();
    // No private key yet: peers exist anyway, public key absent.
    let d = dev.snapshot();
    assert_eq!(d.public_key, None);
    assert_eq!(d.peers.len(), 2);
    assert_eq!(ips(&d, 0), ["10.0.0.1/32", "10.0.1.0/24", "fd00::/64"]);

    // Moving a prefix to another peer, removing one only from its owner, update_only.
    let mut c2 = peer(&k2, None, &["10.0.1.77/24"]);
    c2.allowed_ips.push(AllowedIpChange {
        ip: AllowedIp::parse("10.0.0.1/32").unwrap(),
        remove: true,
    });
    let mut c3 = peer(&k3, None, &["10.9.0.0/16"]);
    c3.update_only = true;
    let mut c1 = PeerConfig::new(k1.clone());
    c1.allowed_ips.push(AllowedIpChange {
        ip: AllowedIp::parse("10.0.0.1/32").unwrap(),
        remove: true,
    });
    c1.persistent_keepalive_interval = Some(25);
    dev.apply(DeviceConfig {
        peers: vec![c2, c3, c1],
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!(d.peers.len(), 2, "update_only does not create");
    assert_eq!(ips(&d, 0), ["fd00::/64"]);
    assert_eq!(ips(&d, 1), ["10.0.2.0/24", "10.0.1.0/24"]);
    assert_eq!(d.peers[0].persistent_keepalive_interval, 25);

    // replace_allowed_ips, preshared key set and cleared.
    let mut c1 = peer(&k1, Some("[2001:db8::5]:51820"), &["10.5.0.0/16"]);
    c1.replace_allowed_ips = true;
    c1.preshared_key = Some(Key::generate_preshared());
    dev.apply(DeviceConfig {
        peers: vec![c1],
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!(ips(&d, 0), ["10.5.0.0/16"]);
    assert!(d.peers[0].preshared_key.is_some());
    assert_eq!(d.peers[0].endpoint, Some("[2001:db8::5]:51820".parse().unwrap()));
    let mut c1 = PeerConfig::new(k1.clone());
    c1.preshared_key = Some(Key::zero());
    dev.apply(DeviceConfig {
        peers: vec![c1],
        ..Default::default()
    })
    .unwrap();
    assert!(dev.snapshot().peers[0].preshared_key.is_none());

    // replace_peers with one new peer.
    dev.apply(DeviceConfig {
        replace_peers: true,
        peers: vec![peer(&k3, None, &["10.0.2.0/24"])],
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!(d.peers.len(), 1);
    assert_eq!(d.peers[0].public_key, k3);
    assert_eq!(ips(&d, 0), ["10.0.2.0/24"]);
}

#[test]
fn private_key_changes() {
    let ns = ns();
    let dev = device(&ns);
    let own = Key::generate_private();
    let other = Key::generate_private();
    dev.apply(DeviceConfig {
        private_key: Some(own.clone()),
        peers: vec![
            peer(&other.public_key(), None, &["10.0.0.2/32"]),
            peer(&Key::generate_private().public_key(), None, &["10.0.0.3/32"]),
            // A peer with the device's own key is ignored.
            peer(&own.public_key(), None, &["10.0.0.4/32"]),
        ],
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!(d.public_key, Some(own.public_key()));
    assert_eq!(d.peers.len(), 2);
    // Taking a peer's private key removes that peer, as the kernel does.
    dev.apply(DeviceConfig {
        private_key: Some(other.clone()),
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!(d.public_key, Some(other.public_key()));
    assert_eq!(d.private_key, Some(other));
    assert_eq!(d.peers.len(), 1);
    assert_eq!(ips(&d, 0), ["10.0.0.3/32"]);
    // The zero key removes the private key and keeps the peers.
    dev.apply(DeviceConfig {
        private_key: Some(Key::zero()),
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!((d.private_key, d.public_key, d.peers.len()), (None, None, 1));
}

#[test]
fn port_and_fwmark_changes() {
    let ns = ns();
    let dev = device(&ns);
    let old = dev.snapshot().listen_port;
    let free = occupy_port(&ns);
    let port = free.local_addr().unwrap().port();
    drop(free);
    dev.apply(DeviceConfig {
        listen_port: Some(port),
        fwmark: Some(0x51),
        ..Default::default()
    })
    .unwrap();
    let d = dev.snapshot();
    assert_eq!((d.listen_port, d.fwmark), (port, 0x51));
    let ss = ns.sh("ss -Huln");
    assert!(ss.contains(&format!(":{port} ")), "{ss}");
    assert!(!ss.contains(&format!(":{old} ")), "old port released: {ss}");
    let marks = |ns: &Ns| ns.sh("ss -Hulne").lines().filter(|l| l.contains("fwmark:0x51")).count();
    let threads = ns.sh("ss -Hulne").lines().count();
    assert_eq!(marks(&ns), threads, "every socket carries the fwmark");
    // fwmark alone is changed in place on the bound sockets.
    dev.apply(DeviceConfig {
        fwmark: Some(0),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(dev.snapshot().fwmark, 0);
    assert_eq!(marks(&ns), 0);
    dev.apply(DeviceConfig {
        fwmark: Some(0x51),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(marks(&ns), threads);
    assert_eq!(dev.snapshot().listen_port, port);
}

#[test]
fn handshake_flood_is_answered_with_cookies() {
    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    use std::sync::Arc;
    use std::time::Duration;

    let ns = ns();
    let dev = device(&ns);
    let dev_key = Key::generate_private();
    let client = Key::generate_private();
    dev.apply(DeviceConfig {
        private_key: Some(dev_key.clone()),
        peers: vec![peer(&client.public_key(), None, &["10.0.0.2/32"])],
        ..Default::default()
    })
    .unwrap();
    let port = dev.snapshot().listen_port;
    let path = format!("/var/run/netns/{}", ns.name);
    let (responses, cookies, accepted_after_cookie) = std::thread::spawn(move || {
        let f = std::fs::File::open(path).unwrap();
        // SAFETY: entering a namespace on this short-lived thread only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let to = ("127.0.0.1", port);
        let cpub = PublicKey::from(*client.public_key().as_bytes());
        let mut t = Tunn::new(
            StaticSecret::from(*client.as_bytes()),
            PublicKey::from(*dev_key.public_key().as_bytes()),
            None,
            None,
            1,
            Some(Arc::new(RateLimiter::new(&cpub, u64::MAX))),
        );
        let mut buf = vec![0u8; 2048];
        // Far more than HANDSHAKE_RATE_LIMIT (100/s) initiations at once.
        for _ in 0..250 {
            if let TunnResult::WriteToNetwork(p) = t.format_handshake_initiation(&mut buf, true) {
                sock.send_to(p, to).unwrap();
            }
        }
        let (mut responses, mut cookies) = (0, 0);
        let mut last_cookie = None;
        let mut rbuf = vec![0u8; 2048];
        while let Ok((n, _)) = sock.recv_from(&mut rbuf) {
            match rbuf[0] {
                2 => responses += 1,
                3 => {
                    cookies += 1;
                    last_cookie = Some(rbuf[..n].to_vec());
                }
                _ => {}
            }
        }
        // Feeding a cookie back makes the next initiation carry mac2, which passes under load.
        let mut accepted = false;
        if let Some(c) = last_cookie {
            let mut out = vec![0u8; 2048];
            let r = t.decapsulate(None, &c, &mut out);
            assert!(matches!(r, TunnResult::Done), "cookie accepted: {r:?}");
            if let TunnResult::WriteToNetwork(p) = t.format_handshake_initiation(&mut buf, true) {
                sock.send_to(p, to).unwrap();
            }
            while let Ok((_, _)) = sock.recv_from(&mut rbuf) {
                if rbuf[0] == 2 {
                    accepted = true;
                }
            }
        }
        (responses, cookies, accepted)
    })
    .join()
    .unwrap();
    assert!(responses >= 1, "some initiations are answered");
    assert!(cookies > 0, "the rest get cookie replies");
    assert!(dev.stats().cookie_replies_sent > 0);
    assert!(
        accepted_after_cookie,
        "an initiation with a valid mac2 is answered under load"
    );
}

#[test]
fn interface_deleted_underneath_reports_an_error_event() {
    let ns = ns();
    let (sink, events) = wgkit::device::event_channel(16);
    let dev = Device::create(
        &format!("wc{}", tag()),
        DeviceOptions {
            netns: Some(ns.path()),
            threads: 1,
            events: Some(sink),
            ..Default::default()
        },
    )
    .unwrap();
    ns.sh(&format!("ip link del {}", dev.name()));
    let ev = events
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("an event");
    assert!(matches!(ev, wgkit::device::DeviceEvent::Error(_)), "{ev:?}");
    // Closing still works and is idempotent.
    dev.close();
    dev.close();
    assert!(dev.is_closed());
    assert!(dev.apply(DeviceConfig::default()).is_err());
}

#[test]
fn namespace_by_descriptor_and_kernel_chosen_name() {
    let ns = ns();
    let f = std::fs::File::open(format!("/var/run/netns/{}", ns.name)).unwrap();
    let dev = Device::create(
        "",
        DeviceOptions {
            netns: Some(wgkit::device::Netns::Fd(f.as_raw_fd())),
            mtu: 1280,
            threads: 3,
            ..Default::default()
        },
    )
    .unwrap();
    // The descriptor is duplicated: closing ours does not affect the device.
    drop(f);
    assert!(dev.name().starts_with("tun"), "{}", dev.name());
    assert!(ns.try_sh(&format!("ip link show {}", dev.name())).status.success());
    assert_eq!(ns.sh(&format!("cat /sys/class/net/{}/mtu", dev.name())).trim(), "1280");
    // Three queues: three sockets per family.
    assert_eq!(ns.sh("ss -Huln").lines().count(), 6);
    assert!(Device::create(
        "x",
        DeviceOptions {
            mtu: 100,
            ..Default::default()
        }
    )
    .is_err());
}

/// A set that starts more handshakes than one send batch holds (64) used to overflow it and
/// panic half-way (errno=-5 over UAPI, wgctrl-go's "configure many peers"): 1000 peers with
/// endpoints and persistent keepalive, and a private key, in one change.
#[test]
fn a_thousand_peers_with_endpoints_and_keepalive_in_one_change() {
    let ns = ns();
    // The endpoints are on a veth pair inside the namespace (nobody answers ARP): the
    // initiations stay there.
    ns.sh("ip link add wgcfv0 type veth peer name wgcfv1 && ip addr add 192.0.2.1/24 dev wgcfv0 && ip link set wgcfv0 up && ip link set wgcfv1 up");
    let dev = device(&ns);
    let private = Key::generate_private();
    let peers: Vec<PeerConfig> = (0..1000u32)
        .map(|n| {
            let endpoint = format!("192.0.2.{}:{}", 2 + n % 250, 1000 + n);
            let ip = format!("10.{}.{}.1/32", n >> 8, n & 255);
            let mut pc = peer(&Key::generate_private().public_key(), Some(&endpoint), &[&ip]);
            pc.persistent_keepalive_interval = Some(25);
            pc.preshared_key = Some(Key::generate_private());
            pc
        })
        .collect();
    dev.apply(DeviceConfig {
        private_key: Some(private.clone()),
        replace_peers: true,
        peers: peers.clone(),
        ..Default::default()
    })
    .unwrap();
    let got = dev.snapshot();
    assert_eq!(got.private_key, Some(private));
    assert_eq!(got.peers.len(), 1000);
    for (p, want) in got.peers.iter().zip(&peers) {
        assert_eq!(p.public_key, want.public_key);
        assert_eq!(p.preshared_key, want.preshared_key);
        assert_eq!(p.endpoint, want.endpoint);
        assert_eq!(p.persistent_keepalive_interval, 25);
        assert_eq!(p.allowed_ips.len(), 1);
    }
    // Every peer's first initiation (148 bytes) goes out: the first 256 before the reply, the
    // rest paced after it (device/first_initiations.rs; a peer's bytes are counted as its
    // datagram is queued, the device's datagrams once the batch is sent). The retry comes only
    // 5 s later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sent: Vec<u64> = dev.snapshot().peers.iter().map(|p| p.tx_bytes).collect();
        let stats = dev.stats();
        if sent.iter().all(|&b| b == 148) && stats.tx_datagrams >= 1000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "first initiations not all sent: {} of 1000 peers at 148 bytes, others {:?}; {stats:?}",
            sent.iter().filter(|&&b| b == 148).count(),
            sent.iter().filter(|&&b| b != 148).take(5).collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
