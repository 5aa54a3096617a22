//! Two wgkit devices for throughput measurements: `wgkit_pair NS_A NS_B` creates `wgpa` in
//! namespace NS_A (tunnel address 10.77.0.1, endpoint 192.0.2.1:51820) and `wgpb` in NS_B
//! (10.77.0.2, endpoint 192.0.2.2:51820), peers them, brings both interfaces up, prints
//! `ready` and runs until stdin closes. The namespaces and the veth between them are the
//! caller's (see `benchmark/dataplane.sh`).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::Command;
use wgkit::device::{Device, DeviceOptions, Netns};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

fn device(ns: &str, name: &str, key: &Key, threads: usize) -> Device {
    let dev = Device::create(
        name,
        DeviceOptions {
            netns: Some(Netns::Path(PathBuf::from(format!("/var/run/netns/{ns}")))),
            listen_port: 51820,
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("creating {name} in {ns}: {e}"));
    dev.apply(DeviceConfig {
        private_key: Some(key.clone()),
        ..Default::default()
    })
    .expect("private key");
    dev
}

fn add_peer(dev: &Device, public: Key, endpoint: &str, ip: &str) {
    let mut p = PeerConfig::new(public);
    p.endpoint = Some(endpoint.parse().expect("endpoint"));
    p.allowed_ips = vec![AllowedIpChange {
        ip: AllowedIp::parse(ip).expect("allowed ip"),
        remove: false,
    }];
    dev.apply(DeviceConfig {
        peers: vec![p],
        ..Default::default()
    })
    .expect("peer");
}

fn sh(ns: &str, cmd: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "`{cmd}` in {ns} failed");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ns_a, ns_b] = <[String; 2]>::try_from(args).unwrap_or_else(|_| {
        eprintln!("usage: wgkit_pair NS_A NS_B");
        std::process::exit(2);
    });
    let threads = std::env::var("WGKIT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (ka, kb) = (Key::generate_private(), Key::generate_private());
    let a = device(&ns_a, "wgpa", &ka, threads);
    let b = device(&ns_b, "wgpb", &kb, threads);
    add_peer(&a, kb.public_key(), "192.0.2.2:51820", "10.77.0.2/32");
    add_peer(&b, ka.public_key(), "192.0.2.1:51820", "10.77.0.1/32");
    sh(&ns_a, "ip addr add 10.77.0.1/24 dev wgpa && ip link set wgpa up");
    sh(&ns_b, "ip addr add 10.77.0.2/24 dev wgpb && ip link set wgpb up");
    println!("ready");
    std::io::stdout().flush().ok();
    let mut line = String::new();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        line.clear();
    }
    let (sa, sb) = (a.stats(), b.stats());
    eprintln!("a: {sa:?}\nb: {sb:?}");
}
