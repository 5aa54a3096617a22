//! Splitter tests: every message fits, device attributes only in message 1, per-peer
//! settings only in a peer's first fragment, and replaying the decoded messages with the
//! kernel's semantics gives the same device as applying the configuration directly.

use super::*;
use crate::keys::Key;
use crate::model::{AllowedIp, AllowedIpChange};
use crate::netlink::socket::fake::{ack, FakeTransport};
use netlink_packet_core::NLA_F_NESTED;
use netlink_packet_wireguard::{WireguardAllowedIpAttr, WireguardAllowedIpFlags};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

type RawKey = [u8; 32];

/// The state of a device as the kernel keeps it, for replaying messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SimDevice {
    private_key: Option<RawKey>,
    listen_port: u16,
    fwmark: u32,
    order: Vec<RawKey>,
    peers: HashMap<RawKey, SimPeer>,
    owner: HashMap<AllowedIp, RawKey>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SimPeer {
    preshared_key: Option<RawKey>,
    endpoint: Option<SocketAddr>,
    keepalive: u16,
    ips: BTreeSet<AllowedIp>,
}

/// One peer change in a form shared by both replay paths.
struct PeerChange<'a> {
    key: RawKey,
    remove: bool,
    update_only: bool,
    replace_allowed_ips: bool,
    preshared_key: Option<RawKey>,
    endpoint: Option<SocketAddr>,
    keepalive: Option<u16>,
    ips: Box<dyn Iterator<Item = (AllowedIp, bool)> + 'a>,
}

impl SimDevice {
    fn remove_peer(&mut self, key: &RawKey) {
        if let Some(peer) = self.peers.remove(key) {
            for ip in peer.ips {
                self.owner.remove(&ip);
            }
            self.order.retain(|k| k != key);
        }
    }

    fn replace_peers(&mut self) {
        for key in self.order.clone() {
            self.remove_peer(&key);
        }
    }

    /// netlink.c `set_peer`, in its order.
    fn apply_peer(&mut self, change: PeerChange<'_>) {
        let key = change.key;
        if let Entry::Vacant(slot) = self.peers.entry(key) {
            if change.remove || change.update_only {
                return;
            }
            slot.insert(SimPeer::default());
            self.order.push(key);
        }
        if change.remove {
            self.remove_peer(&key);
            return;
        }
        let peer = self.peers.get_mut(&key).unwrap();
        if let Some(psk) = change.preshared_key {
            peer.preshared_key = (psk != [0; 32]).then_some(psk);
        }
        if change.endpoint.is_some() {
            peer.endpoint = change.endpoint;
        }
        if let Some(k) = change.keepalive {
            peer.keepalive = k;
        }
        if change.replace_allowed_ips {
            for ip in std::mem::take(&mut peer.ips) {
                self.owner.remove(&ip);
            }
        }
        for (ip, remove) in change.ips {
            let ip = ip.masked();
            if remove {
                if self.owner.get(&ip) == Some(&key) {
                    self.owner.remove(&ip);
                    self.peers.get_mut(&key).unwrap().ips.remove(&ip);
                }
                continue;
            }
            if let Some(previous) = self.owner.insert(ip, key) {
                self.peers.get_mut(&previous).unwrap().ips.remove(&ip);
            }
            self.peers.get_mut(&key).unwrap().ips.insert(ip);
        }
    }

    /// Applies the configuration directly, with the model's semantics.
    fn apply_config(&mut self, config: &DeviceConfig) {
        if let Some(key) = &config.private_key {
            self.private_key = (!key.is_zero()).then_some(*key.as_bytes());
        }
        if let Some(port) = config.listen_port {
            self.listen_port = port;
        }
        if let Some(mark) = config.fwmark {
            self.fwmark = mark;
        }
        if config.replace_peers {
            self.replace_peers();
        }
        for peer in &config.peers {
            self.apply_peer(PeerChange {
                key: *peer.public_key.as_bytes(),
                remove: peer.remove,
                update_only: peer.update_only,
                replace_allowed_ips: peer.replace_allowed_ips,
                preshared_key: peer.preshared_key.as_ref().map(|k| *k.as_bytes()),
                endpoint: peer.endpoint,
                keepalive: peer.persistent_keepalive_interval,
                ips: Box::new(peer.allowed_ips.iter().map(|c| (c.ip, c.remove))),
            });
        }
    }

    /// Applies one decoded `WG_CMD_SET_DEVICE` message, as netlink.c `wg_set_device` does.
    fn apply_message(&mut self, attributes: &[WireguardAttribute]) {
        for attribute in attributes {
            match attribute {
                WireguardAttribute::PrivateKey(k) => self.private_key = (*k != [0; 32]).then_some(*k),
                WireguardAttribute::ListenPort(p) => self.listen_port = *p,
                WireguardAttribute::Fwmark(m) => self.fwmark = *m,
                WireguardAttribute::Flags(f) if f.contains(WireguardDeviceFlags::ReplacePeers) => self.replace_peers(),
                WireguardAttribute::Peers(peers) => {
                    for peer in peers {
                        self.apply_peer(decode_peer_change(peer));
                    }
                }
                _ => {}
            }
        }
    }
}

fn decode_peer_change(peer: &WireguardPeer) -> PeerChange<'_> {
    let mut change = PeerChange {
        key: [0; 32],
        remove: false,
        update_only: false,
        replace_allowed_ips: false,
        preshared_key: None,
        endpoint: None,
        keepalive: None,
        ips: Box::new(std::iter::empty()),
    };
    for attribute in peer.iter() {
        match attribute {
            WireguardPeerAttribute::PublicKey(k) => change.key = *k,
            WireguardPeerAttribute::Flags(f) => {
                change.remove = f.contains(WireguardPeerFlags::RemoveMe);
                change.update_only = f.contains(WireguardPeerFlags::UpdateOnly);
                change.replace_allowed_ips = f.contains(WireguardPeerFlags::ReplaceAllowedIps);
            }
            WireguardPeerAttribute::PresharedKey(k) => change.preshared_key = Some(*k),
            WireguardPeerAttribute::Endpoint(e) => change.endpoint = Some(*e),
            WireguardPeerAttribute::PersistentKeepalive(k) => change.keepalive = Some(*k),
            WireguardPeerAttribute::AllowedIps(list) => {
                change.ips = Box::new(list.iter().map(|element| {
                    let (mut addr, mut cidr, mut remove) = (None, 0, false);
                    for a in element.iter() {
                        match a {
                            WireguardAllowedIpAttr::IpAddr(ip) => addr = Some(*ip),
                            WireguardAllowedIpAttr::Cidr(c) => cidr = *c,
                            WireguardAllowedIpAttr::Flags(f) => remove = f.contains(WireguardAllowedIpFlags::RemoveMe),
                            _ => {}
                        }
                    }
                    (AllowedIp::new(addr.unwrap(), cidr).unwrap(), remove)
                }));
            }
            _ => {}
        }
    }
    change
}

/// Encodes every fragment, checks the invariants, decodes them back and replays them on
/// `initial`; the result must equal `initial` with `config` applied directly.
fn check(config: &DeviceConfig, initial: &SimDevice, budget: usize) -> Vec<Fragment> {
    let fragments = split(&DeviceRef::from("wg0"), config, budget).unwrap();
    let mut replayed = initial.clone();
    let mut seen: HashSet<RawKey> = HashSet::new();
    for (index, fragment) in fragments.iter().enumerate() {
        let payload = wireguard::encode(WireguardCmd::SetDevice, fragment.attributes.clone());
        assert!(
            NLMSG_HEADER_LEN + payload.len() <= budget,
            "message {index} has {} bytes",
            NLMSG_HEADER_LEN + payload.len()
        );
        assert_eq!(fragment.message_len(), NLMSG_HEADER_LEN + payload.len());
        let (cmd, decoded) = wireguard::decode(&payload).unwrap();
        assert_eq!(cmd, WireguardCmd::SetDevice);
        assert_eq!(decoded, fragment.attributes, "the encoding round-trips");
        assert_eq!(decoded[0], WireguardAttribute::IfName("wg0".into()));
        for attribute in &decoded[1..] {
            match attribute {
                WireguardAttribute::Peers(peers) => {
                    for peer in peers {
                        let WireguardPeerAttribute::PublicKey(key) = peer[0] else {
                            panic!("a peer must start with its public key")
                        };
                        if !seen.insert(key) {
                            // A continuation: the key, UPDATE_ONLY, allowed IPs; nothing else.
                            assert!(!peer.iter().any(is_first_fragment_only), "message {index}");
                            assert_eq!(peer[1], WireguardPeerAttribute::Flags(WireguardPeerFlags::UpdateOnly));
                            assert!(matches!(peer[2], WireguardPeerAttribute::AllowedIps(_)));
                            assert_eq!(peer.len(), 3);
                        }
                    }
                }
                _ => assert_eq!(index, 0, "device attribute {attribute:?} outside message 1"),
            }
        }
        replayed.apply_message(&decoded);
    }
    let mut expected = initial.clone();
    expected.apply_config(config);
    assert!(
        replayed == expected,
        "replaying the messages does not give the configuration"
    );
    fragments
}

fn key(n: u32) -> Key {
    let mut bytes = [0x5a; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    Key::from_bytes(bytes)
}

/// `n` IPv6 /128s from 2001:db8::/64 starting at `start`, like wgctrl-go's generateIPs.
fn v6_ips(start: u32, n: u32) -> Vec<AllowedIpChange> {
    (start..start + n)
        .map(|i| AllowedIpChange {
            ip: AllowedIp::new(
                Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + i as u128).into(),
                128,
            )
            .unwrap(),
            remove: false,
        })
        .collect()
}

fn v4_ips(start: u32, n: u32) -> Vec<AllowedIpChange> {
    (start..start + n)
        .map(|i| AllowedIpChange {
            ip: AllowedIp::new(Ipv4Addr::from(0x0a00_0000 + i).into(), 32).unwrap(),
            remove: false,
        })
        .collect()
}

fn peer(n: u32, ips: Vec<AllowedIpChange>) -> PeerConfig {
    let mut p = PeerConfig::new(key(n));
    p.allowed_ips = ips;
    p
}

/// A peer with every first-fragment-only setting.
fn full_peer(n: u32, ips: Vec<AllowedIpChange>) -> PeerConfig {
    let mut p = peer(n, ips);
    p.preshared_key = Some(key(1000 + n));
    p.endpoint = Some(format!("[fe80::{n:x}%3]:{}", 1000 + n % 60000).parse().unwrap());
    p.persistent_keepalive_interval = Some(25);
    p.replace_allowed_ips = true;
    p.protocol_version = Some(1);
    p
}

fn device_change(peers: Vec<PeerConfig>) -> DeviceConfig {
    DeviceConfig {
        private_key: Some(key(7)),
        listen_port: Some(51820),
        fwmark: Some(0x1234),
        replace_peers: false,
        peers,
    }
}

/// A device that already has peers 1..=n, each with a few IPs, for REPLACE and UPDATE_ONLY.
fn existing(n: u32) -> SimDevice {
    let mut device = SimDevice::default();
    device.apply_config(&DeviceConfig {
        peers: (1..=n).map(|i| peer(i, v4_ips(0x00ff_0000 + i * 4, 3))).collect(),
        ..Default::default()
    });
    device
}

fn peer_fragments(fragments: &[Fragment], k: u32) -> Vec<&WireguardPeer> {
    let raw = *key(k).as_bytes();
    fragments
        .iter()
        .flat_map(|f| f.attributes.iter())
        .filter_map(|a| match a {
            WireguardAttribute::Peers(p) => Some(p),
            _ => None,
        })
        .flatten()
        .filter(|p| p[0] == WireguardPeerAttribute::PublicKey(raw))
        .collect()
}

fn ip_count(peer: &WireguardPeer) -> usize {
    peer.iter()
        .map(|a| match a {
            WireguardPeerAttribute::AllowedIps(list) => list.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn wgctrl_large_peer_ip_chunks_equivalent() {
    // wgctrl-go TestLinuxClientConfigureDeviceLargePeerIPChunks: A has 257 IPs, B 128,
    // C 768, D is removed; A, B and C are UpdateOnly + ReplaceAllowedIPs; ReplacePeers.
    let mut peers: Vec<PeerConfig> = [(1, 257), (2, 128), (3, 768)]
        .into_iter()
        .map(|(n, count)| {
            let mut p = peer(n, v6_ips(0, count));
            p.update_only = true;
            p.replace_allowed_ips = true;
            p
        })
        .collect();
    let mut removed = PeerConfig::new(key(4));
    removed.remove = true;
    peers.push(removed);
    let mut config = DeviceConfig {
        replace_peers: true,
        peers,
        ..Default::default()
    };
    let fragments = check(&config, &existing(4), MESSAGE_BUDGET);
    assert_eq!(
        fragments[0].attributes[1],
        WireguardAttribute::Flags(WireguardDeviceFlags::ReplacePeers)
    );
    for (n, count) in [(1, 257), (2, 128), (3, 768)] {
        let chunks = peer_fragments(&fragments, n);
        assert_eq!(chunks.iter().map(|p| ip_count(p)).sum::<usize>(), count);
        let first_flags = WireguardPeerFlags::ReplaceAllowedIps | WireguardPeerFlags::UpdateOnly;
        assert_eq!(chunks[0][1], WireguardPeerAttribute::Flags(first_flags));
        for chunk in &chunks[1..] {
            // UPDATE_ONLY on every chunk, REPLACE_ALLOWEDIPS on the first only.
            assert_eq!(chunk[1], WireguardPeerAttribute::Flags(WireguardPeerFlags::UpdateOnly));
        }
    }
    assert!(
        peer_fragments(&fragments, 3).len() >= 4,
        "768 IPv6 entries need several messages"
    );
    let d = peer_fragments(&fragments, 4);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].0,
        vec![
            WireguardPeerAttribute::PublicKey(*key(4).as_bytes()),
            WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe)
        ]
    );

    // The same shape without ReplacePeers, on a device where A to D exist, so that the
    // replay shows the IP lists landing whole and D going away.
    config.replace_peers = false;
    check(&config, &existing(4), MESSAGE_BUDGET);
}

#[test]
fn one_peer_with_130560_allowed_ips() {
    let mut p = full_peer(1, v4_ips(0, 130_560));
    p.allowed_ips.extend(v6_ips(0, 5));
    let fragments = check(&device_change(vec![p]), &existing(2), MESSAGE_BUDGET);
    assert!(fragments.len() > 200);
    // Every message but the last is nearly full.
    for f in &fragments[..fragments.len() - 1] {
        assert!(f.message_len() > MESSAGE_BUDGET - 40, "{}", f.message_len());
    }
}

#[test]
fn forty_peers_with_52_ips_each() {
    let peers = (1..=40).map(|n| full_peer(n, v6_ips(n * 100, 52))).collect();
    let fragments = check(&device_change(peers), &existing(45), MESSAGE_BUDGET);
    assert!(fragments.len() > 1);
}

#[test]
fn twenty_nine_empty_peers_and_one_with_two_ips() {
    let mut peers: Vec<PeerConfig> = (1..=29).map(|n| full_peer(n, Vec::new())).collect();
    peers.push(full_peer(30, v6_ips(0, 2)));
    let mut config = device_change(peers);
    config.replace_peers = true;
    check(&config, &existing(3), MESSAGE_BUDGET);
}

#[test]
fn one_peer_with_197_ipv6_ips_around_one_message() {
    // 197 IPv6 entries of 40 bytes sit at the edge of an 8 KiB message.
    let fragments = check(
        &device_change(vec![peer(1, v6_ips(0, 197))]),
        &existing(1),
        MESSAGE_BUDGET,
    );
    assert_eq!(
        peer_fragments(&fragments, 1).iter().map(|p| ip_count(p)).sum::<usize>(),
        197
    );
}

#[test]
fn ten_thousand_peers_with_two_ips_each() {
    let peers = (1..=10_000).map(|n| peer(n, v4_ips(n * 2, 2))).collect();
    let fragments = check(&device_change(peers), &SimDevice::default(), MESSAGE_BUDGET);
    assert!(fragments.len() > 50);
    // No peer is split: two IPs always fit with their header.
    assert!((1..=10_000)
        .step_by(997)
        .all(|n| peer_fragments(&fragments, n).len() == 1));
}

#[test]
fn small_budgets_split_headers_and_ip_lists() {
    // Removals of single IPs, moves between peers and overlapping IPs across peers.
    let mut a = full_peer(1, v4_ips(0, 40));
    a.allowed_ips.push(AllowedIpChange {
        ip: AllowedIp::parse("10.255.0.5/32").unwrap(),
        remove: true,
    });
    let mut b = full_peer(2, v4_ips(20, 40));
    b.update_only = true;
    let c = full_peer(99, v6_ips(0, 3));
    let mut removed = PeerConfig::new(key(3));
    removed.remove = true;
    let config = device_change(vec![a, b, removed, c]);
    for budget in [200, 256, 300, 512, 1000, 4096] {
        let fragments = check(&config, &existing(5), budget);
        assert!(fragments.len() > 1 || budget == 4096);
    }
    let err = split(&DeviceRef::from("wg0"), &config, 120).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

#[test]
fn nothing_to_change_is_one_message_with_the_name() {
    let fragments = split(&DeviceRef::Index(4), &DeviceConfig::default(), MESSAGE_BUDGET).unwrap();
    assert_eq!(fragments.len(), 1);
    assert_eq!(fragments[0].attributes, vec![WireguardAttribute::IfIndex(4)]);
}

#[test]
fn bad_input_is_refused_before_sending() {
    let mut p = peer(1, Vec::new());
    p.protocol_version = Some(2);
    let config = device_change(vec![p]);
    assert_eq!(
        split(&DeviceRef::from("wg0"), &config, MESSAGE_BUDGET)
            .unwrap_err()
            .code,
        ErrorCode::InvalidArgument
    );
    let mut p = peer(1, Vec::new());
    p.allowed_ips.push(AllowedIpChange {
        ip: AllowedIp {
            addr: Ipv4Addr::LOCALHOST.into(),
            cidr: 40,
        },
        remove: false,
    });
    assert!(split(&DeviceRef::from("wg0"), &device_change(vec![p]), MESSAGE_BUDGET).is_err());
}

#[test]
fn peer_golden_bytes_have_nested_flags() {
    let mut p = PeerConfig::new(Key::from_bytes([1; 32]));
    p.allowed_ips = v4_ips(1, 1);
    p.replace_allowed_ips = true;
    let config = DeviceConfig {
        peers: vec![p],
        ..Default::default()
    };
    let fragments = split(&DeviceRef::from("wg0"), &config, MESSAGE_BUDGET).unwrap();
    let payload = wireguard::encode(WireguardCmd::SetDevice, fragments[0].attributes.clone());
    #[rustfmt::skip]
    let mut expected: Vec<u8> = vec![
        1, 1, 0, 0,
        8, 0, 2, 0, b'w', b'g', b'0', 0,
        84, 0, 8, 0x80, // WGDEVICE_A_PEERS | NLA_F_NESTED
        80, 0, 0, 0x80, // peer 0 | NLA_F_NESTED
        36, 0, 1, 0,
    ];
    expected.extend([1; 32]);
    #[rustfmt::skip]
    expected.extend([
        8, 0, 3, 0, 2, 0, 0, 0, // WGPEER_A_FLAGS = REPLACE_ALLOWEDIPS
        32, 0, 9, 0x80, // WGPEER_A_ALLOWEDIPS | NLA_F_NESTED
        28, 0, 0, 0x80, // allowed IP 0 | NLA_F_NESTED
        6, 0, 1, 0, 2, 0, 0, 0,
        8, 0, 2, 0, 10, 0, 0, 1,
        5, 0, 3, 0, 32, 0, 0, 0,
    ]);
    assert_eq!(payload, expected);
    assert_ne!(u16::from_ne_bytes([payload[14], payload[15]]) & NLA_F_NESTED, 0);
}

fn big_config() -> DeviceConfig {
    device_change((1..=3).map(|n| peer(n, v6_ips(n * 1000, 300))).collect())
}

#[test]
fn every_message_is_acknowledged() {
    let total = split(&DeviceRef::from("wg0"), &big_config(), MESSAGE_BUDGET)
        .unwrap()
        .len();
    let answers = vec![vec![vec![ack(0)]]; total];
    let mut conn = Connection::new(FakeTransport::new(answers));
    set_device(
        &mut conn,
        0x1d,
        &DeviceRef::from("wg0"),
        &big_config(),
        MESSAGE_BUDGET,
        &AtomicBool::new(false),
    )
    .unwrap();
    let sent = conn.transport().sent.clone();
    assert_eq!(sent.len(), total);
    for message in &sent {
        assert_eq!(u16::from_ne_bytes([message[4], message[5]]), 0x1d);
        assert_eq!(u16::from_ne_bytes([message[6], message[7]]), 0x5); // REQUEST | ACK
        assert!(message.len() <= MESSAGE_BUDGET);
    }
}

#[test]
fn failure_after_the_first_message_is_partially_applied() {
    let answers = vec![vec![vec![ack(0)]], vec![vec![ack(-libc::ENOMEM)]]];
    let mut conn = Connection::new(FakeTransport::new(answers));
    let err = set_device(
        &mut conn,
        0x1d,
        &DeviceRef::from("wg0"),
        &big_config(),
        MESSAGE_BUDGET,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::PartiallyApplied);
    assert_eq!(err.errno, Some(libc::ENOMEM));
    assert!(err.message.contains("(message 2 of"), "{}", err.message);
    assert!(
        err.message.contains("1 earlier message(s) stayed applied"),
        "{}",
        err.message
    );
    assert_eq!(conn.transport().sent.len(), 2, "nothing is sent after the failure");

    let answers = vec![vec![vec![ack(-libc::ENODEV)]]];
    let mut conn = Connection::new(FakeTransport::new(answers));
    let err = set_device(
        &mut conn,
        0x1d,
        &DeviceRef::from("wg0"),
        &big_config(),
        MESSAGE_BUDGET,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceNotFound);
    assert!(err
        .message
        .starts_with("Unable to modify interface wg0: No such device (message 1 of"));
}

#[test]
fn cancellation_stops_between_messages() {
    let cancel = AtomicBool::new(true);
    let mut conn = Connection::new(FakeTransport::default());
    let err = set_device(
        &mut conn,
        0x1d,
        &DeviceRef::from("wg0"),
        &big_config(),
        MESSAGE_BUDGET,
        &cancel,
    )
    .unwrap_err();
    assert_eq!(err.errno, Some(libc::ECANCELED));
    assert_ne!(err.code, ErrorCode::PartiallyApplied);
    assert!(conn.transport().sent.is_empty());
}
