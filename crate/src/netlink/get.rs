//! `WG_CMD_GET_DEVICE`: reading a device as a dump (netlink.c `wg_get_device_dump`).
//!
//! - The request is `NLM_F_REQUEST | NLM_F_DUMP` (a plain request is refused) with exactly
//!   one of `WGDEVICE_A_IFINDEX` or `WGDEVICE_A_IFNAME` (both or neither: EBADR).
//! - The first message carries the device attributes and the first peers; later messages
//!   carry only `WGDEVICE_A_PEERS`. A peer whose allowed IPs do not fit is repeated at the
//!   start of the next message with only its public key and the remaining allowed IPs, so
//!   adjacent entries with the same key are coalesced, as wg's `coalesce_peers` does.
//! - The kernel stamps the dump with its configuration generation; a change during the
//!   dump sets `NLM_F_DUMP_INTR` and the whole get is retried, as wg retries on EINTR.
//! - No private key: the kernel sends neither key, and both are `None`. An all-zero
//!   preshared key means none; a 0/0 handshake time means never.
//! - ENODEV (no such interface) and EOPNOTSUPP (not WireGuard) map to DeviceNotFound.

use super::socket::{Connection, Reply, Transport};
use super::wireguard;
use super::DeviceRef;
use crate::error::{Error, Result};
use crate::keys::Key;
use crate::model::{AllowedIp, Device, Peer, Timespec};
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_wireguard::{
    WireguardAddressFamily, WireguardAllowedIp, WireguardAllowedIpAttr, WireguardAttribute, WireguardCmd,
    WireguardPeer, WireguardPeerAttribute,
};
use std::net::IpAddr;

/// How many interrupted dumps in a row are tolerated before giving up.
pub const MAX_DUMP_ATTEMPTS: usize = 64;

pub fn get_device<T: Transport>(conn: &mut Connection<T>, family: u16, device: &DeviceRef) -> Result<Device> {
    device.validate()?;
    let selector = match device {
        DeviceRef::Name(name) => WireguardAttribute::IfName(name.clone()),
        DeviceRef::Index(index) => WireguardAttribute::IfIndex(*index),
    };
    let payload = wireguard::encode(WireguardCmd::GetDevice, vec![selector]);
    let context = format!("Unable to access interface {device}");
    for _ in 0..MAX_DUMP_ATTEMPTS {
        let response = conn.request(family, NLM_F_DUMP, &payload, &context)?;
        if response.dump_interrupted {
            continue;
        }
        return parse_dump(&response.replies, family);
    }
    Err(Error::from_errno(
        libc::EINTR,
        format!("{context}: the device kept changing while it was read"),
    ))
}

/// Builds the device from the messages of one consistent dump.
pub fn parse_dump(replies: &[Reply], family: u16) -> Result<Device> {
    let mut device = Device::default();
    let mut first = true;
    for reply in replies.iter().filter(|r| r.message_type == family) {
        let (_, attributes) = wireguard::decode(&reply.payload)?;
        for attribute in attributes {
            match attribute {
                WireguardAttribute::Peers(peers) => {
                    for peer in peers {
                        merge_peer(&mut device.peers, parse_peer(peer)?);
                    }
                }
                other if first => apply_device_attribute(&mut device, other),
                _ => {}
            }
        }
        first = false;
    }
    if first {
        return Err(Error::protocol("the device dump has no message"));
    }
    if device.private_key.is_some() && device.public_key.is_none() {
        device.public_key = device.private_key.as_ref().map(Key::public_key);
    }
    Ok(device)
}

fn apply_device_attribute(device: &mut Device, attribute: WireguardAttribute) {
    match attribute {
        WireguardAttribute::IfIndex(index) => device.ifindex = Some(index),
        WireguardAttribute::IfName(name) => device.name = name,
        WireguardAttribute::PrivateKey(key) => device.private_key = Some(Key::from_bytes(key)),
        WireguardAttribute::PublicKey(key) => device.public_key = Some(Key::from_bytes(key)),
        WireguardAttribute::ListenPort(port) => device.listen_port = port,
        WireguardAttribute::Fwmark(mark) => device.fwmark = mark,
        _ => {}
    }
}

/// Appends a peer, or extends the previous one when the kernel split it across messages.
fn merge_peer(peers: &mut Vec<Peer>, peer: Peer) {
    match peers.last_mut() {
        Some(last) if last.public_key == peer.public_key => last.allowed_ips.extend(peer.allowed_ips),
        _ => peers.push(peer),
    }
}

fn parse_peer(peer: WireguardPeer) -> Result<Peer> {
    let public_key = peer
        .iter()
        .find_map(|a| match a {
            WireguardPeerAttribute::PublicKey(key) => Some(Key::from_bytes(*key)),
            _ => None,
        })
        .ok_or_else(|| Error::protocol("a peer in the dump has no public key"))?;
    let mut out = Peer::new(public_key);
    for attribute in peer.0 {
        match attribute {
            WireguardPeerAttribute::PresharedKey(key) => {
                let key = Key::from_bytes(key);
                out.preshared_key = (!key.is_zero()).then_some(key);
            }
            WireguardPeerAttribute::Endpoint(endpoint) => out.endpoint = Some(endpoint),
            WireguardPeerAttribute::PersistentKeepalive(seconds) => out.persistent_keepalive_interval = seconds,
            WireguardPeerAttribute::LastHandshake(t) => {
                out.last_handshake = (t.seconds != 0 || t.nano_seconds != 0).then_some(Timespec {
                    sec: t.seconds,
                    nsec: t.nano_seconds,
                });
            }
            WireguardPeerAttribute::RxBytes(n) => out.rx_bytes = n,
            WireguardPeerAttribute::TxBytes(n) => out.tx_bytes = n,
            WireguardPeerAttribute::ProtocolVersion(v) => out.protocol_version = v,
            WireguardPeerAttribute::AllowedIps(ips) => {
                for ip in ips {
                    out.allowed_ips.push(parse_allowed_ip(&ip)?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_allowed_ip(ip: &WireguardAllowedIp) -> Result<AllowedIp> {
    let (mut family, mut addr, mut cidr) = (None, None, None);
    for attribute in ip.iter() {
        match attribute {
            WireguardAllowedIpAttr::Family(f) => family = Some(*f),
            WireguardAllowedIpAttr::IpAddr(a) => addr = Some(*a),
            WireguardAllowedIpAttr::Cidr(c) => cidr = Some(*c),
            _ => {}
        }
    }
    let (Some(family), Some(addr), Some(cidr)) = (family, addr, cidr) else {
        return Err(Error::protocol(
            "an allowed IP in the dump lacks its family, address or mask",
        ));
    };
    let matches = matches!(
        (family, addr),
        (WireguardAddressFamily::Ipv4, IpAddr::V4(_)) | (WireguardAddressFamily::Ipv6, IpAddr::V6(_))
    );
    if !matches {
        return Err(Error::protocol(format!(
            "allowed IP {addr} does not match its family {family:?}"
        )));
    }
    AllowedIp::new(addr, cidr).map_err(|_| Error::protocol(format!("allowed IP {addr}/{cidr} has a bad mask")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::socket::fake::{ack, done, FakeTransport};
    use netlink_packet_core::{NLM_F_DUMP_INTR, NLM_F_MULTIPART};
    use netlink_packet_wireguard::WireguardTimeSpec;
    use std::net::SocketAddr;

    const FAMILY: u16 = 0x1d;

    fn key(byte: u8) -> [u8; 32] {
        [byte; 32]
    }

    fn ips(list: &[&str]) -> WireguardPeerAttribute {
        WireguardPeerAttribute::AllowedIps(
            list.iter()
                .map(|s| wireguard::allowed_ip_element(&AllowedIp::parse(s).unwrap(), false))
                .collect(),
        )
    }

    fn message(attributes: Vec<WireguardAttribute>) -> (u16, u16, Vec<u8>) {
        (
            FAMILY,
            NLM_F_MULTIPART,
            wireguard::encode(WireguardCmd::GetDevice, attributes),
        )
    }

    fn full_peer(k: u8, psk: [u8; 32], handshake: (i64, i64), allowed: &[&str]) -> WireguardPeer {
        WireguardPeer(vec![
            WireguardPeerAttribute::PublicKey(key(k)),
            WireguardPeerAttribute::PresharedKey(psk),
            WireguardPeerAttribute::LastHandshake(WireguardTimeSpec {
                seconds: handshake.0,
                nano_seconds: handshake.1,
            }),
            WireguardPeerAttribute::PersistentKeepalive(25),
            WireguardPeerAttribute::TxBytes(10),
            WireguardPeerAttribute::RxBytes(20),
            WireguardPeerAttribute::ProtocolVersion(1),
            WireguardPeerAttribute::Endpoint("[fe80::1%7]:51820".parse().unwrap()),
            ips(allowed),
        ])
    }

    fn dump() -> Vec<(u16, u16, Vec<u8>)> {
        let private = Key::from_bytes(key(9));
        vec![
            message(vec![
                WireguardAttribute::ListenPort(51820),
                WireguardAttribute::Fwmark(0x42),
                WireguardAttribute::IfIndex(5),
                WireguardAttribute::IfName("wg0".into()),
                WireguardAttribute::PrivateKey(*private.as_bytes()),
                WireguardAttribute::PublicKey(*private.public_key().as_bytes()),
                WireguardAttribute::Peers(vec![
                    full_peer(1, key(0), (0, 0), &["10.0.0.1/32"]),
                    full_peer(2, key(3), (1_700_000_000, 5), &["10.0.1.0/24", "fd00::/64"]),
                ]),
            ]),
            // Peer 2 continues in the next message with only its key and more IPs.
            message(vec![WireguardAttribute::Peers(vec![
                WireguardPeer(vec![WireguardPeerAttribute::PublicKey(key(2)), ips(&["10.0.2.0/24"])]),
                full_peer(4, key(0), (0, 1), &[]),
            ])]),
            done(0),
        ]
    }

    #[test]
    fn multi_message_dump_with_a_split_peer() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![dump()]]));
        let device = get_device(&mut conn, FAMILY, &DeviceRef::from("wg0")).unwrap();
        assert_eq!(device.name, "wg0");
        assert_eq!(device.ifindex, Some(5));
        assert_eq!(device.listen_port, 51820);
        assert_eq!(device.fwmark, 0x42);
        assert_eq!(device.private_key, Some(Key::from_bytes(key(9))));
        assert_eq!(device.public_key, Some(Key::from_bytes(key(9)).public_key()));
        assert_eq!(device.peers.len(), 3);

        let p1 = &device.peers[0];
        assert_eq!(p1.preshared_key, None, "zero PSK means none");
        assert_eq!(p1.last_handshake, None, "0/0 means never");
        assert_eq!(p1.persistent_keepalive_interval, 25);
        assert_eq!((p1.rx_bytes, p1.tx_bytes), (20, 10));
        let SocketAddr::V6(endpoint) = p1.endpoint.unwrap() else {
            panic!()
        };
        assert_eq!(endpoint.scope_id(), 7);

        let p2 = &device.peers[1];
        assert_eq!(p2.preshared_key, Some(Key::from_bytes(key(3))));
        assert_eq!(
            p2.last_handshake,
            Some(Timespec {
                sec: 1_700_000_000,
                nsec: 5
            })
        );
        let p2_ips: Vec<String> = p2.allowed_ips.iter().map(ToString::to_string).collect();
        assert_eq!(p2_ips, ["10.0.1.0/24", "fd00::/64", "10.0.2.0/24"]);
        assert_eq!(p2.endpoint, p1.endpoint, "the continuation does not erase fields");
        assert_eq!(device.peers[2].last_handshake, Some(Timespec { sec: 0, nsec: 1 }));

        // The request: a dump of WG_CMD_GET_DEVICE with WGDEVICE_A_IFNAME only.
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), FAMILY);
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x301); // REQUEST | DUMP
        assert_eq!(&sent[16..], &[0, 1, 0, 0, 8, 0, 2, 0, b'w', b'g', b'0', 0]);
    }

    #[test]
    fn no_private_key_means_no_keys() {
        let replies = vec![
            message(vec![
                WireguardAttribute::ListenPort(0),
                WireguardAttribute::Fwmark(0),
                WireguardAttribute::IfIndex(3),
                WireguardAttribute::IfName("wg1".into()),
            ]),
            done(0),
        ];
        let mut conn = Connection::new(FakeTransport::new(vec![vec![replies]]));
        let device = get_device(&mut conn, FAMILY, &DeviceRef::Index(3)).unwrap();
        assert_eq!((device.private_key, device.public_key), (None, None));
        assert!(device.peers.is_empty());
        // Addressed by index: WGDEVICE_A_IFINDEX = 3.
        assert_eq!(&conn.transport().sent[0][16..], &[0, 1, 0, 0, 8, 0, 1, 0, 3, 0, 0, 0]);
    }

    #[test]
    fn interrupted_dump_is_retried_whole() {
        let mut interrupted = dump();
        interrupted[1].1 |= NLM_F_DUMP_INTR;
        let fresh = vec![
            message(vec![
                WireguardAttribute::IfName("wg0".into()),
                WireguardAttribute::Peers(vec![full_peer(8, key(0), (0, 0), &["10.9.0.0/16"])]),
            ]),
            done(0),
        ];
        let mut conn = Connection::new(FakeTransport::new(vec![vec![interrupted], vec![fresh]]));
        let device = get_device(&mut conn, FAMILY, &DeviceRef::from("wg0")).unwrap();
        assert_eq!(conn.transport().sent.len(), 2);
        assert_eq!(device.peers.len(), 1);
        assert_eq!(device.peers[0].public_key, Key::from_bytes(key(8)));
    }

    #[test]
    fn endless_interruptions_give_up() {
        let mut interrupted = dump();
        interrupted[0].1 |= NLM_F_DUMP_INTR;
        let answers = vec![vec![interrupted]; MAX_DUMP_ATTEMPTS];
        let mut conn = Connection::new(FakeTransport::new(answers));
        let err = get_device(&mut conn, FAMILY, &DeviceRef::from("wg0")).unwrap_err();
        assert_eq!(err.errno, Some(libc::EINTR));
    }

    #[test]
    fn errors_map_to_codes() {
        let answers = vec![
            vec![vec![ack(-libc::ENODEV)]],
            vec![vec![ack(-libc::EOPNOTSUPP)]],
            vec![vec![ack(-libc::EPERM)]],
        ];
        let mut conn = Connection::new(FakeTransport::new(answers));
        let dev = DeviceRef::from("eth0");
        let err = get_device(&mut conn, FAMILY, &dev).unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceNotFound);
        assert_eq!(err.message, "Unable to access interface eth0: No such device");
        assert_eq!(
            get_device(&mut conn, FAMILY, &dev).unwrap_err().code,
            ErrorCode::DeviceNotFound
        );
        assert_eq!(
            get_device(&mut conn, FAMILY, &dev).unwrap_err().code,
            ErrorCode::PermissionDenied
        );
        // A bad name never reaches the kernel.
        let long = DeviceRef::from("a-name-of-16-byt");
        assert_eq!(
            get_device(&mut conn, FAMILY, &long).unwrap_err().errno,
            Some(libc::ENAMETOOLONG)
        );
    }

    #[test]
    fn peer_without_key_and_bad_allowed_ip_are_rejected() {
        let replies = vec![
            message(vec![WireguardAttribute::Peers(vec![WireguardPeer(vec![ips(&[
                "10.0.0.0/8",
            ])])])]),
            done(0),
        ];
        let mut conn = Connection::new(FakeTransport::new(vec![vec![replies]]));
        let err = get_device(&mut conn, FAMILY, &DeviceRef::from("wg0")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Protocol);

        let mismatched = WireguardAllowedIp(vec![
            WireguardAllowedIpAttr::Family(WireguardAddressFamily::Ipv6),
            WireguardAllowedIpAttr::IpAddr("10.0.0.1".parse().unwrap()),
            WireguardAllowedIpAttr::Cidr(32),
        ]);
        assert!(parse_allowed_ip(&mismatched).is_err());
        let bad_mask = wireguard::allowed_ip_element(
            &AllowedIp {
                addr: "10.0.0.1".parse().unwrap(),
                cidr: 33,
            },
            false,
        );
        assert!(parse_allowed_ip(&bad_mask).is_err());
    }
}
