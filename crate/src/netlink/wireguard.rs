//! The codec of the "wireguard" generic netlink family (uapi/linux/wireguard.h).
//!
//! Data types and encoding come from `netlink-packet-wireguard` (`WireguardAttribute`,
//! `WireguardPeerAttribute`, `WireguardAllowedIpAttr`): it emits every nest with
//! `NLA_F_NESTED` (`WGDEVICE_A_PEERS`, each peer, `WGPEER_A_ALLOWEDIPS`, each allowed IP),
//! pads to 4 bytes, writes the endpoint as a raw `sockaddr_in`/`sockaddr_in6` (port in
//! network order, IPv6 scope id in host order) and knows `WGALLOWEDIP_A_FLAGS` (6.16).
//!
//! Decoding is written here, into the same types, because the crate's parser is stricter
//! or looser than the kernel data needs:
//! - `WGPEER_A_LAST_HANDSHAKE_TIME` must be accepted as 16 bytes (`__kernel_timespec`) and
//!   as 8 bytes (the 32-bit `struct timespec` of old kernels, as wgctrl-go accepts); the
//!   crate rejects 8.
//! - A `WGALLOWEDIP_A_CIDR_MASK` with an empty payload would panic in the crate.
//! - The endpoint family must match its length (16 or 28 bytes), as wg checks.
//!
//! Unknown attributes are kept as `Other` so that newer kernels do not break the parse.

use crate::error::{Error, Result};
use crate::model::AllowedIp;
use netlink_packet_core::{DefaultNla, Emitable, NlaBuffer, NlasIterator, Parseable};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::{
    WireguardAddressFamily, WireguardAllowedIp, WireguardAllowedIpAttr, WireguardAllowedIpFlags, WireguardAttribute,
    WireguardCmd, WireguardDeviceFlags, WireguardMessage, WireguardPeer, WireguardPeerAttribute, WireguardPeerFlags,
    WireguardTimeSpec,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub const WG_GENL_NAME: &str = "wireguard";
pub const WG_KEY_LEN: usize = 32;
pub const GENL_HEADER_LEN: usize = 4;

const WGDEVICE_A_IFINDEX: u16 = 1;
const WGDEVICE_A_IFNAME: u16 = 2;
const WGDEVICE_A_PRIVATE_KEY: u16 = 3;
const WGDEVICE_A_PUBLIC_KEY: u16 = 4;
const WGDEVICE_A_FLAGS: u16 = 5;
const WGDEVICE_A_LISTEN_PORT: u16 = 6;
const WGDEVICE_A_FWMARK: u16 = 7;
const WGDEVICE_A_PEERS: u16 = 8;

const WGPEER_A_PUBLIC_KEY: u16 = 1;
const WGPEER_A_PRESHARED_KEY: u16 = 2;
const WGPEER_A_FLAGS: u16 = 3;
const WGPEER_A_ENDPOINT: u16 = 4;
const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: u16 = 5;
const WGPEER_A_LAST_HANDSHAKE_TIME: u16 = 6;
const WGPEER_A_RX_BYTES: u16 = 7;
const WGPEER_A_TX_BYTES: u16 = 8;
const WGPEER_A_ALLOWEDIPS: u16 = 9;
const WGPEER_A_PROTOCOL_VERSION: u16 = 10;

const WGALLOWEDIP_A_FAMILY: u16 = 1;
const WGALLOWEDIP_A_IPADDR: u16 = 2;
const WGALLOWEDIP_A_CIDR_MASK: u16 = 3;
const WGALLOWEDIP_A_FLAGS: u16 = 4;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// A generic netlink payload: `genlmsghdr` (command, version 1) and the attributes.
pub fn encode(cmd: WireguardCmd, attributes: Vec<WireguardAttribute>) -> Vec<u8> {
    let message = GenlMessage::from_payload(WireguardMessage { cmd, attributes });
    let mut out = vec![0u8; message.buffer_len()];
    message.emit(&mut out);
    out
}

/// The size of an encoded payload without building it.
pub fn encoded_len(attributes: &[WireguardAttribute]) -> usize {
    GENL_HEADER_LEN + attributes.buffer_len()
}

/// One allowed-IP element; `WGALLOWEDIP_A_FLAGS` only when set, as wg does, so that kernels
/// before 6.16 (which reject the attribute) still accept every other request.
pub fn allowed_ip_element(ip: &AllowedIp, remove: bool) -> WireguardAllowedIp {
    let family = match ip.addr {
        IpAddr::V4(_) => WireguardAddressFamily::Ipv4,
        IpAddr::V6(_) => WireguardAddressFamily::Ipv6,
    };
    let mut attrs = vec![
        WireguardAllowedIpAttr::Family(family),
        WireguardAllowedIpAttr::IpAddr(ip.addr),
        WireguardAllowedIpAttr::Cidr(ip.cidr),
    ];
    if remove {
        attrs.push(WireguardAllowedIpAttr::Flags(WireguardAllowedIpFlags::RemoveMe));
    }
    WireguardAllowedIp(attrs)
}

/// Decodes a generic netlink payload (after the `nlmsghdr`) of the family.
pub fn decode(payload: &[u8]) -> Result<(WireguardCmd, Vec<WireguardAttribute>)> {
    if payload.len() < GENL_HEADER_LEN {
        return Err(Error::protocol("wireguard message shorter than its genetlink header"));
    }
    let cmd = WireguardCmd::from(payload[0]);
    let attributes = nlas(&payload[GENL_HEADER_LEN..], "device")?
        .iter()
        .map(decode_device_attribute)
        .collect::<Result<_>>()?;
    Ok((cmd, attributes))
}

fn nlas<'a>(buf: &'a [u8], what: &str) -> Result<Vec<NlaBuffer<&'a [u8]>>> {
    NlasIterator::new(buf)
        .map(|nla| nla.map_err(|e| Error::protocol(format!("malformed {what} attribute: {e}"))))
        .collect()
}

fn decode_device_attribute(nla: &NlaBuffer<&[u8]>) -> Result<WireguardAttribute> {
    let v = nla.value();
    Ok(match nla.kind() {
        WGDEVICE_A_IFINDEX => WireguardAttribute::IfIndex(u32_of(v, "WGDEVICE_A_IFINDEX")?),
        WGDEVICE_A_IFNAME => WireguardAttribute::IfName(string_of(v)),
        WGDEVICE_A_PRIVATE_KEY => WireguardAttribute::PrivateKey(key_of(v, "WGDEVICE_A_PRIVATE_KEY")?),
        WGDEVICE_A_PUBLIC_KEY => WireguardAttribute::PublicKey(key_of(v, "WGDEVICE_A_PUBLIC_KEY")?),
        WGDEVICE_A_FLAGS => {
            WireguardAttribute::Flags(WireguardDeviceFlags::from_bits_retain(u32_of(v, "WGDEVICE_A_FLAGS")?))
        }
        WGDEVICE_A_LISTEN_PORT => WireguardAttribute::ListenPort(u16_of(v, "WGDEVICE_A_LISTEN_PORT")?),
        WGDEVICE_A_FWMARK => WireguardAttribute::Fwmark(u32_of(v, "WGDEVICE_A_FWMARK")?),
        WGDEVICE_A_PEERS => WireguardAttribute::Peers(
            nlas(v, "peer")?
                .iter()
                .map(|p| decode_peer(p.value()))
                .collect::<Result<_>>()?,
        ),
        _ => WireguardAttribute::Other(other(nla)?),
    })
}

fn decode_peer(buf: &[u8]) -> Result<WireguardPeer> {
    let attrs = nlas(buf, "peer")?
        .iter()
        .map(decode_peer_attribute)
        .collect::<Result<_>>()?;
    Ok(WireguardPeer(attrs))
}

fn decode_peer_attribute(nla: &NlaBuffer<&[u8]>) -> Result<WireguardPeerAttribute> {
    let v = nla.value();
    Ok(match nla.kind() {
        WGPEER_A_PUBLIC_KEY => WireguardPeerAttribute::PublicKey(key_of(v, "WGPEER_A_PUBLIC_KEY")?),
        WGPEER_A_PRESHARED_KEY => WireguardPeerAttribute::PresharedKey(key_of(v, "WGPEER_A_PRESHARED_KEY")?),
        WGPEER_A_FLAGS => {
            WireguardPeerAttribute::Flags(WireguardPeerFlags::from_bits_retain(u32_of(v, "WGPEER_A_FLAGS")?))
        }
        WGPEER_A_ENDPOINT => WireguardPeerAttribute::Endpoint(decode_endpoint(v)?),
        WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL => {
            WireguardPeerAttribute::PersistentKeepalive(u16_of(v, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL")?)
        }
        WGPEER_A_LAST_HANDSHAKE_TIME => WireguardPeerAttribute::LastHandshake(decode_timespec(v)?),
        WGPEER_A_RX_BYTES => WireguardPeerAttribute::RxBytes(u64_of(v, "WGPEER_A_RX_BYTES")?),
        WGPEER_A_TX_BYTES => WireguardPeerAttribute::TxBytes(u64_of(v, "WGPEER_A_TX_BYTES")?),
        WGPEER_A_ALLOWEDIPS => WireguardPeerAttribute::AllowedIps(
            nlas(v, "allowed IP")?
                .iter()
                .map(|a| decode_allowed_ip(a.value()))
                .collect::<Result<_>>()?,
        ),
        WGPEER_A_PROTOCOL_VERSION => WireguardPeerAttribute::ProtocolVersion(u32_of(v, "WGPEER_A_PROTOCOL_VERSION")?),
        _ => WireguardPeerAttribute::Other(other(nla)?),
    })
}

fn decode_allowed_ip(buf: &[u8]) -> Result<WireguardAllowedIp> {
    let mut attrs = Vec::new();
    for nla in nlas(buf, "allowed IP")? {
        let v = nla.value();
        attrs.push(match nla.kind() {
            WGALLOWEDIP_A_FAMILY => {
                WireguardAllowedIpAttr::Family(WireguardAddressFamily::from(u16_of(v, "WGALLOWEDIP_A_FAMILY")?))
            }
            WGALLOWEDIP_A_IPADDR => WireguardAllowedIpAttr::IpAddr(match v.len() {
                4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).unwrap_or_default())),
                16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).unwrap_or_default())),
                n => {
                    return Err(Error::protocol(format!(
                        "WGALLOWEDIP_A_IPADDR has {n} bytes, not 4 or 16"
                    )))
                }
            }),
            WGALLOWEDIP_A_CIDR_MASK => match v.first() {
                Some(cidr) => WireguardAllowedIpAttr::Cidr(*cidr),
                None => return Err(Error::protocol("WGALLOWEDIP_A_CIDR_MASK is empty")),
            },
            WGALLOWEDIP_A_FLAGS => WireguardAllowedIpAttr::Flags(WireguardAllowedIpFlags::from_bits_retain(u32_of(
                v,
                "WGALLOWEDIP_A_FLAGS",
            )?)),
            _ => WireguardAllowedIpAttr::Other(other(&nla)?),
        });
    }
    Ok(WireguardAllowedIp(attrs))
}

/// A handshake time: `__kernel_timespec` (two i64) or the 32-bit `timespec` (two i32).
pub fn decode_timespec(v: &[u8]) -> Result<WireguardTimeSpec> {
    match v.len() {
        16 => Ok(WireguardTimeSpec {
            seconds: i64::from_ne_bytes(v[0..8].try_into().unwrap_or_default()),
            nano_seconds: i64::from_ne_bytes(v[8..16].try_into().unwrap_or_default()),
        }),
        8 => Ok(WireguardTimeSpec {
            seconds: i32::from_ne_bytes(v[0..4].try_into().unwrap_or_default()).into(),
            nano_seconds: i32::from_ne_bytes(v[4..8].try_into().unwrap_or_default()).into(),
        }),
        n => Err(Error::protocol(format!(
            "WGPEER_A_LAST_HANDSHAKE_TIME has {n} bytes, not 8 or 16"
        ))),
    }
}

/// A raw `sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes, with flow info and scope id).
pub fn decode_endpoint(v: &[u8]) -> Result<SocketAddr> {
    let family = v.get(0..2).map(|f| u16::from_ne_bytes([f[0], f[1]]));
    let port = || u16::from_be_bytes([v[2], v[3]]);
    match (family, v.len()) {
        (Some(AF_INET), 16) => {
            let ip = Ipv4Addr::new(v[4], v[5], v[6], v[7]);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port())))
        }
        (Some(AF_INET6), 28) => {
            // Rust keeps `sin6_flowinfo` as the raw field, so it is read unconverted.
            let flowinfo = u32::from_ne_bytes(v[4..8].try_into().unwrap_or_default());
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&v[8..24]).unwrap_or_default());
            let scope_id = u32::from_ne_bytes(v[24..28].try_into().unwrap_or_default());
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, port(), flowinfo, scope_id)))
        }
        _ => Err(Error::protocol(format!(
            "WGPEER_A_ENDPOINT is not a sockaddr_in or sockaddr_in6 ({} bytes, family {:?})",
            v.len(),
            family
        ))),
    }
}

fn other(nla: &NlaBuffer<&[u8]>) -> Result<DefaultNla> {
    DefaultNla::parse(nla).map_err(|e| Error::protocol(format!("malformed attribute: {e}")))
}

fn key_of(v: &[u8], what: &str) -> Result<[u8; WG_KEY_LEN]> {
    v.try_into()
        .map_err(|_| Error::protocol(format!("{what} has {} bytes, not {WG_KEY_LEN}", v.len())))
}

fn u16_of(v: &[u8], what: &str) -> Result<u16> {
    Ok(u16::from_ne_bytes(fixed(v, what)?))
}

fn u32_of(v: &[u8], what: &str) -> Result<u32> {
    Ok(u32::from_ne_bytes(fixed(v, what)?))
}

fn u64_of(v: &[u8], what: &str) -> Result<u64> {
    Ok(u64::from_ne_bytes(fixed(v, what)?))
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N]> {
    v.try_into()
        .map_err(|_| Error::protocol(format!("{what} has {} bytes, not {N}", v.len())))
}

/// The NUL-terminated string of an attribute (up to the first NUL).
fn string_of(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NLA_F_NESTED;

    #[test]
    fn allowed_ip_golden_bytes() {
        let ip = AllowedIp::parse("192.0.2.1/32").unwrap();
        let peer = WireguardPeer(vec![
            WireguardPeerAttribute::PublicKey([7; 32]),
            WireguardPeerAttribute::AllowedIps(vec![allowed_ip_element(&ip, true)]),
        ]);
        let payload = encode(WireguardCmd::SetDevice, vec![WireguardAttribute::Peers(vec![peer])]);
        #[rustfmt::skip]
        let mut expected: Vec<u8> = vec![
            1, 1, 0, 0, // genlmsghdr: WG_CMD_SET_DEVICE, version 1
            84, 0, 8, 0x80, // WGDEVICE_A_PEERS | NLA_F_NESTED
            80, 0, 0, 0x80, // peer 0 | NLA_F_NESTED
            36, 0, 1, 0, // WGPEER_A_PUBLIC_KEY
        ];
        expected.extend([7; 32]);
        #[rustfmt::skip]
        expected.extend([
            40, 0, 9, 0x80, // WGPEER_A_ALLOWEDIPS | NLA_F_NESTED
            36, 0, 0, 0x80, // allowed IP 0 | NLA_F_NESTED
            6, 0, 1, 0, 2, 0, 0, 0, // FAMILY = AF_INET, 2 bytes of padding
            8, 0, 2, 0, 192, 0, 2, 1, // IPADDR
            5, 0, 3, 0, 32, 0, 0, 0, // CIDR_MASK, 3 bytes of padding
            8, 0, 4, 0, 1, 0, 0, 0, // FLAGS = WGALLOWEDIP_F_REMOVE_ME
        ]);
        assert_eq!(payload, expected);
        assert_eq!(encoded_len(&decode(&payload).unwrap().1), payload.len());
        // Every nest header has NLA_F_NESTED.
        for offset in [4, 8, 48, 52] {
            let kind = u16::from_ne_bytes([payload[offset + 2], payload[offset + 3]]);
            assert_ne!(kind & NLA_F_NESTED, 0, "nest at {offset}");
        }
    }

    #[test]
    fn endpoint_golden_bytes_v4_and_v6_with_scope() {
        let v4: SocketAddr = "192.168.1.1:51820".parse().unwrap();
        let v6 = SocketAddr::V6(SocketAddrV6::new(
            "fe80::e458:8ead:89bb:8e25".parse().unwrap(),
            51820,
            0,
            3,
        ));
        let payload = encode(
            WireguardCmd::SetDevice,
            vec![WireguardAttribute::Peers(vec![WireguardPeer(vec![
                WireguardPeerAttribute::Endpoint(v4),
                WireguardPeerAttribute::Endpoint(v6),
            ])])],
        );
        let body = &payload[12..];
        #[rustfmt::skip]
        assert_eq!(&body[..20], &[
            20, 0, 4, 0, // WGPEER_A_ENDPOINT, 16-byte sockaddr_in
            2, 0, 0xca, 0x6c, 192, 168, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        #[rustfmt::skip]
        assert_eq!(&body[20..52], &[
            32, 0, 4, 0, // 28-byte sockaddr_in6
            10, 0, 0xca, 0x6c, 0, 0, 0, 0, // family, port 51820 big-endian, flow info
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xe4, 0x58, 0x8e, 0xad, 0x89, 0xbb, 0x8e, 0x25,
            3, 0, 0, 0, // scope id 3, host order
        ]);
        assert_eq!(decode_endpoint(&body[4..20]).unwrap(), v4);
        let back = decode_endpoint(&body[24..52]).unwrap();
        assert_eq!(back, v6);
        let SocketAddr::V6(back) = back else { panic!() };
        assert_eq!(back.scope_id(), 3);
    }

    #[test]
    fn endpoint_family_must_match_length() {
        let mut bad = vec![10u8, 0, 0, 1];
        bad.extend([0; 12]);
        assert!(decode_endpoint(&bad).is_err());
        assert!(decode_endpoint(&[2, 0, 0]).is_err());
    }

    #[test]
    fn timespec_8_and_16_bytes() {
        let mut sixteen = 1_700_000_000i64.to_ne_bytes().to_vec();
        sixteen.extend(123_456_789i64.to_ne_bytes());
        let t = decode_timespec(&sixteen).unwrap();
        assert_eq!((t.seconds, t.nano_seconds), (1_700_000_000, 123_456_789));
        let mut eight = 1_600_000_000i32.to_ne_bytes().to_vec();
        eight.extend(5i32.to_ne_bytes());
        let t = decode_timespec(&eight).unwrap();
        assert_eq!((t.seconds, t.nano_seconds), (1_600_000_000, 5));
        assert!(decode_timespec(&[0; 12]).is_err());
    }

    #[test]
    fn malformed_values_are_protocol_errors() {
        // A CIDR attribute with no payload, and a 3-byte address.
        let empty_cidr = [4u8, 0, 3, 0];
        assert!(decode_allowed_ip(&empty_cidr).is_err());
        let short_ip = [7u8, 0, 2, 0, 1, 2, 3, 0];
        assert!(decode_allowed_ip(&short_ip).is_err());
        assert!(decode(&[0, 1]).is_err());
    }

    #[test]
    fn unknown_attributes_are_kept() {
        let payload = [0u8, 1, 0, 0, 8, 0, 99, 0, 1, 2, 3, 4];
        let (cmd, attrs) = decode(&payload).unwrap();
        assert_eq!(cmd, WireguardCmd::GetDevice);
        assert!(matches!(attrs[0], WireguardAttribute::Other(_)));
    }
}
