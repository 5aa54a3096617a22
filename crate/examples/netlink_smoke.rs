//! A check of the kernel backend against a real WireGuard module, meant for the kernel VM:
//! `scripts/kernel-vm/run.sh -- target/debug/examples/netlink_smoke`. It creates its own
//! links (`wgsmoke0`, and `wgns0` in a network namespace `wgsmoke-ns`), exercises get, set
//! (several messages), the removal probe, errors and netns, removes what it made, and exits
//! with status 1 and a message on the first mismatch.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use wgkit::error::ErrorCode;
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};
use wgkit::netlink::{list_devices, DeviceRef, Links, NetnsTarget, WireguardNetlink};

type Check = Result<(), String>;

fn ensure(cond: bool, what: impl Into<String>) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn e(err: wgkit::error::Error) -> String {
    format!("{:?}: {}", err.code, err.message)
}

fn ip_change(addr: IpAddr, cidr: u8) -> AllowedIpChange {
    AllowedIpChange {
        ip: AllowedIp::new(addr, cidr).unwrap(),
        remove: false,
    }
}

fn main() {
    let name = "wgsmoke0";
    let result = Links::open(None).map_err(e).and_then(|mut links| {
        links.create(name).map_err(e)?;
        let outcome = scenario(name).and_then(|_| netns_scenario());
        links.delete(name).map_err(e)?;
        outcome
    });
    match result {
        Ok(()) => println!("netlink smoke: OK"),
        Err(message) => {
            eprintln!("netlink smoke: FAIL: {message}");
            std::process::exit(1);
        }
    }
}

fn scenario(name: &str) -> Check {
    let dev = DeviceRef::from(name);
    let listed = list_devices(None).map_err(e)?;
    ensure(
        listed.iter().any(|l| l.name == name),
        format!("{name} not listed: {listed:?}"),
    )?;
    let mut wg = WireguardNetlink::open(None).map_err(e)?;
    let fresh = wg.get_device(&dev).map_err(e)?;
    ensure(
        fresh.private_key.is_none() && fresh.public_key.is_none(),
        "fresh device has keys",
    )?;
    let ifindex = fresh.ifindex.ok_or("no ifindex")?;

    // One peer with 5000 IPv6 prefixes (several set messages, a peer split in the dump),
    // 300 peers with two IPv4 prefixes each.
    let private = Key::generate_private();
    let mut big = PeerConfig::new(Key::generate_private().public_key());
    big.preshared_key = Some(Key::generate_preshared());
    big.endpoint = Some("[fe80::1%1]:51820".parse().unwrap());
    big.persistent_keepalive_interval = Some(25);
    big.allowed_ips = (0..5000u128)
        .map(|i| ip_change(Ipv6Addr::from(0x2001_0db8_u128 << 96 | i).into(), 128))
        .collect();
    let mut peers = vec![big.clone()];
    for i in 0..300u32 {
        let mut p = PeerConfig::new(Key::generate_private().public_key());
        p.endpoint = Some(SocketAddr::new(
            Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1).into(),
            1000 + i as u16,
        ));
        p.allowed_ips = vec![
            ip_change(Ipv4Addr::from(0x0a00_0000 + 2 * i).into(), 32),
            ip_change(Ipv4Addr::from(0x0a00_0000 + 2 * i + 1).into(), 32),
        ];
        peers.push(p);
    }
    let config = DeviceConfig {
        private_key: Some(private.clone()),
        listen_port: Some(51820),
        fwmark: Some(0x42),
        replace_peers: true,
        peers: peers.clone(),
    };
    wg.set_device(&dev, &config).map_err(e)?;

    let got = wg.get_device(&DeviceRef::Index(ifindex)).map_err(e)?;
    ensure(got.name == name, format!("name {}", got.name))?;
    ensure(got.private_key.as_ref() == Some(&private), "private key")?;
    ensure(got.public_key == Some(private.public_key()), "public key")?;
    ensure(got.listen_port == 51820 && got.fwmark == 0x42, "port/fwmark")?;
    ensure(got.peers.len() == 301, format!("{} peers", got.peers.len()))?;
    let first = got
        .peers
        .iter()
        .find(|p| p.public_key == big.public_key)
        .ok_or("big peer missing")?;
    let want: BTreeSet<AllowedIp> = big.allowed_ips.iter().map(|c| c.ip).collect();
    let have: BTreeSet<AllowedIp> = first.allowed_ips.iter().copied().collect();
    ensure(have == want, format!("big peer has {} of 5000 IPs", have.len()))?;
    ensure(first.preshared_key == big.preshared_key, "psk")?;
    ensure(first.endpoint == big.endpoint, format!("endpoint {:?}", first.endpoint))?;
    ensure(first.persistent_keepalive_interval == 25, "keepalive")?;
    ensure(
        first.last_handshake.is_none() && first.protocol_version == 1,
        "handshake/version",
    )?;
    for p in &peers[1..] {
        let q = got
            .peers
            .iter()
            .find(|q| q.public_key == p.public_key)
            .ok_or("peer missing")?;
        ensure(
            q.allowed_ips.len() == 2 && q.endpoint == p.endpoint && q.preshared_key.is_none(),
            "small peer",
        )?;
    }

    // The removal probe leaves no trace; its answer matches the kernel release.
    let supported = wg.supports_allowed_ip_removal(&dev).map_err(e)?;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "kernel {} supports WGALLOWEDIP_F_REMOVE_ME: {supported}",
        release.trim()
    );
    let after = wg.get_device(&dev).map_err(e)?;
    ensure(after.peers.len() == 301, "the probe left a peer behind")?;
    let mut removal = PeerConfig::new(peers[1].public_key.clone());
    removal.allowed_ips = vec![AllowedIpChange {
        ip: peers[1].allowed_ips[0].ip,
        remove: true,
    }];
    let change = DeviceConfig {
        peers: vec![removal],
        ..Default::default()
    };
    match wg.set_device(&dev, &change) {
        Ok(()) => {
            ensure(supported, "removal accepted although unsupported")?;
            let after = wg.get_device(&dev).map_err(e)?;
            let q = after
                .peers
                .iter()
                .find(|q| q.public_key == peers[1].public_key)
                .unwrap();
            ensure(q.allowed_ips.len() == 1, "removed IP still there")?;
        }
        Err(err) => {
            ensure(!supported, format!("removal failed: {}", e(err.clone())))?;
            ensure(
                err.code == ErrorCode::InvalidArgument && err.message.contains("6.16"),
                e(err),
            )?;
        }
    }

    // UPDATE_ONLY for an unknown peer is a no-op; REMOVE_ME removes.
    let mut ghost = PeerConfig::new(Key::generate_private().public_key());
    ghost.update_only = true;
    ghost.allowed_ips = vec![ip_change(Ipv4Addr::new(10, 200, 0, 1).into(), 32)];
    let mut gone = PeerConfig::new(peers[2].public_key.clone());
    gone.remove = true;
    let change = DeviceConfig {
        peers: vec![ghost, gone],
        ..Default::default()
    };
    wg.set_device(&dev, &change).map_err(e)?;
    let after = wg.get_device(&dev).map_err(e)?;
    ensure(
        after.peers.len() == 300,
        format!("{} peers after remove", after.peers.len()),
    )?;

    // Errors.
    let missing = wg.get_device(&DeviceRef::from("wgnotexist0")).unwrap_err();
    ensure(missing.code == ErrorCode::DeviceNotFound, e(missing))?;
    let not_wg = wg.get_device(&DeviceRef::from("lo")).unwrap_err();
    ensure(
        not_wg.code == ErrorCode::DeviceNotFound && not_wg.errno == Some(libc::EOPNOTSUPP),
        e(not_wg),
    )?;
    let bad_port = DeviceConfig {
        peers: vec![{
            let mut p = PeerConfig::new(Key::generate_private().public_key());
            p.protocol_version = Some(1);
            p
        }],
        ..Default::default()
    };
    wg.set_device(&dev, &bad_port).map_err(e)?;

    // Reset: no key, no peers.
    let reset = DeviceConfig {
        private_key: Some(Key::zero()),
        listen_port: Some(0),
        fwmark: Some(0),
        replace_peers: true,
        peers: Vec::new(),
    };
    wg.set_device(&dev, &reset).map_err(e)?;
    let after = wg.get_device(&dev).map_err(e)?;
    ensure(
        after.private_key.is_none() && after.peers.is_empty() && after.fwmark == 0,
        "reset",
    )?;
    acceptance_shapes(&mut wg, &dev)
}

/// The split-response shapes of the kernel selftest (netns.sh): each is set in one call
/// (ReplacePeers) and must read back exactly.
fn acceptance_shapes(wg: &mut WireguardNetlink, dev: &DeviceRef) -> Check {
    let v4 = |i: u32| ip_change(Ipv4Addr::from(0x0a00_0000 + i).into(), 32);
    let v6 = |i: u32| ip_change(Ipv6Addr::from(0xfd00_u128 << 112 | i as u128).into(), 128);
    let peer = |ips: Vec<AllowedIpChange>| {
        let mut p = PeerConfig::new(Key::generate_private().public_key());
        p.allowed_ips = ips;
        p
    };
    let shapes: Vec<(&str, Vec<PeerConfig>)> = vec![
        ("1 peer x 130560 IPv4", vec![peer((0..130_560).map(v4).collect())]),
        (
            "40 peers x 52 IPv6",
            (0..40).map(|n| peer((n * 52..n * 52 + 52).map(v6).collect())).collect(),
        ),
        ("29 empty peers + 1 with 2", {
            let mut peers: Vec<PeerConfig> = (0..29).map(|_| peer(Vec::new())).collect();
            peers.push(peer(vec![v4(1), v4(2)]));
            peers
        }),
        ("1 peer x 197 IPv6", vec![peer((0..197).map(v6).collect())]),
    ];
    for (label, peers) in shapes {
        let started = std::time::Instant::now();
        let config = DeviceConfig {
            replace_peers: true,
            peers: peers.clone(),
            ..Default::default()
        };
        wg.set_device(dev, &config)
            .map_err(|err| format!("{label}: {}", e(err)))?;
        let got = wg.get_device(dev).map_err(|err| format!("{label}: {}", e(err)))?;
        ensure(
            got.peers.len() == peers.len(),
            format!("{label}: {} peers", got.peers.len()),
        )?;
        for (want, have) in peers.iter().zip(&got.peers) {
            ensure(want.public_key == have.public_key, format!("{label}: peer order"))?;
            let want: BTreeSet<AllowedIp> = want.allowed_ips.iter().map(|c| c.ip).collect();
            let have: BTreeSet<AllowedIp> = have.allowed_ips.iter().copied().collect();
            ensure(want == have, format!("{label}: {} of {} IPs", have.len(), want.len()))?;
        }
        println!("{label}: set and read back in {:?}", started.elapsed());
    }
    Ok(())
}

fn thread_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn netns_scenario() -> Check {
    let ns = "wgsmoke-ns";
    let ok = Command::new("ip")
        .args(["netns", "add", ns])
        .status()
        .map(|s| s.success());
    ensure(matches!(ok, Ok(true)), "ip netns add")?;
    let result = (|| {
        let before = thread_netns();
        let target = NetnsTarget::Name(ns.into());
        let mut links = Links::open(Some(&target)).map_err(e)?;
        links.create("wgns0").map_err(e)?;
        let mut wg = WireguardNetlink::open(Some(&target)).map_err(e)?;
        let key = Key::generate_private();
        let config = DeviceConfig {
            private_key: Some(key.clone()),
            ..Default::default()
        };
        wg.set_device(&DeviceRef::from("wgns0"), &config).map_err(e)?;
        let dev = wg.get_device(&DeviceRef::from("wgns0")).map_err(e)?;
        ensure(dev.public_key == Some(key.public_key()), "netns device key")?;
        let host = WireguardNetlink::open(None)
            .map_err(e)?
            .get_device(&DeviceRef::from("wgns0"));
        ensure(host.is_err(), "wgns0 visible outside its namespace")?;
        ensure(list_devices(Some(&target)).map_err(e)?.len() == 1, "netns listing")?;
        ensure(thread_netns() == before, "the calling thread changed namespace")?;
        links.delete("wgns0").map_err(e)
    })();
    let _ = Command::new("ip").args(["netns", "delete", ns]).status();
    result
}
