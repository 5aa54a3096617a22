//! Any link, by name: read its settings, change MTU and up/down, move it to another network
//! namespace, delete it (optionally only if it is of an allowed kind).
//!
//! - Get: `RTM_GETLINK` by `IFLA_IFNAME` (the tolerant decoder of `link`): index, name,
//!   `IFLA_INFO_KIND` (absent for physical links and loopback), `IFLA_MTU`, `IFF_UP`.
//! - Set: one `RTM_NEWLINK` without `NLM_F_CREATE`, addressed by name, with `IFLA_MTU`
//!   and/or `ifi_flags`/`ifi_change` = `IFF_UP` (`ip link set dev X mtu M up`). A missing
//!   link is ENODEV from the kernel.
//! - Move: `RTM_NEWLINK` with `IFLA_NET_NS_FD`, a descriptor of the target namespace file
//!   opened by this process (`ip link set dev X netns Y`). The link keeps its name and
//!   loses its addresses and routes, as with `ip`.
//! - Delete: the link is looked up first; with a list of allowed kinds, a link of another
//!   kind (or of no kind) is refused before anything is deleted; then `RTM_DELLINK` by index.

use super::link::{get_link_in_context, serialize, Link};
use super::netns::NetnsTarget;
use super::socket::{Connection, Transport};
use super::DeviceRef;
use crate::error::{Error, Result};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

const IFF_UP: u32 = libc::IFF_UP as u32;

/// What `ip link show` says about a link, in short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` ("wireguard", "veth", "tun", ...); `None` for physical links and `lo`.
    pub kind: Option<String>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`), whatever the carrier.
    pub up: bool,
}

impl From<Link> for LinkSettings {
    fn from(link: Link) -> LinkSettings {
        LinkSettings {
            index: link.index,
            name: link.name,
            kind: link.kind,
            mtu: link.mtu.unwrap_or(0),
            up: link.flags & IFF_UP != 0,
        }
    }
}

/// A change of `set`: each field left `None` stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub mtu: Option<u32>,
    pub up: Option<bool>,
}

fn validate_name(name: &str) -> Result<DeviceRef> {
    let device = DeviceRef::Name(name.to_string());
    device.validate()?;
    Ok(device)
}

/// The settings of the link called `name`; ENODEV if there is none.
pub fn get<T: Transport>(conn: &mut Connection<T>, name: &str) -> Result<LinkSettings> {
    let device = validate_name(name)?;
    Ok(get_link_in_context(conn, &device, &format!("Unable to access interface {name}"))?.into())
}

/// Applies `change` in one request; an empty change sends nothing.
pub fn set<T: Transport>(conn: &mut Connection<T>, name: &str, change: &LinkChange) -> Result<()> {
    validate_name(name)?;
    if change.mtu == Some(0) {
        return Err(Error::invalid_argument(format!("Invalid MTU 0 for interface {name}")));
    }
    if change.mtu.is_none() && change.up.is_none() {
        return Ok(());
    }
    let mut message = LinkMessage::default();
    message.attributes.push(LinkAttribute::IfName(name.to_string()));
    let mut what = Vec::new();
    if let Some(mtu) = change.mtu {
        message.attributes.push(LinkAttribute::Mtu(mtu));
        what.push(format!("mtu {mtu}"));
    }
    if let Some(up) = change.up {
        message.header.change_mask = LinkFlags::Up;
        if up {
            message.header.flags = LinkFlags::Up;
        }
        what.push(if up { "up" } else { "down" }.to_string());
    }
    let (message_type, payload) = serialize(RouteNetlinkMessage::NewLink(message));
    let context = format!("Unable to set {} on interface {name}", what.join(" "));
    conn.request(message_type, 0, &payload, &context)?;
    Ok(())
}

/// Moves the link into `target` (a name under /var/run/netns, a namespace file, or a
/// descriptor, which is only borrowed).
pub fn move_to<T: Transport>(conn: &mut Connection<T>, name: &str, target: &NetnsTarget) -> Result<()> {
    validate_name(name)?;
    let namespace = target.open()?;
    let mut message = LinkMessage::default();
    message.attributes.push(LinkAttribute::IfName(name.to_string()));
    message.attributes.push(LinkAttribute::NetNsFd(namespace.raw()));
    let (message_type, payload) = serialize(RouteNetlinkMessage::NewLink(message));
    let context = format!("Unable to move interface {name} to network namespace {target}");
    conn.request(message_type, 0, &payload, &context)?;
    Ok(())
}

/// Deletes the link called `name`. With `kinds`, only a link whose kind is in the list is
/// deleted; any other is refused with EOPNOTSUPP and left alone.
pub fn delete<T: Transport>(conn: &mut Connection<T>, name: &str, kinds: Option<&[String]>) -> Result<()> {
    let device = validate_name(name)?;
    let context = format!("Unable to delete interface {name}");
    let link = get_link_in_context(conn, &device, &context)?;
    if let Some(kinds) = kinds {
        if !link.kind.as_ref().is_some_and(|k| kinds.contains(k)) {
            let actual = match &link.kind {
                Some(kind) => format!("of kind `{kind}'"),
                None => "of no kind (a physical or loopback link)".to_string(),
            };
            let mut error = Error::from_errno(libc::EOPNOTSUPP, &context);
            error.message = format!(
                "{context}: it is {actual}, not one of the allowed kinds ({})",
                kinds.join(", ")
            );
            return Err(error);
        }
    }
    let mut message = LinkMessage::default();
    message.header.index = link.index;
    let (message_type, payload) = serialize(RouteNetlinkMessage::DelLink(message));
    conn.request(message_type, 0, &payload, &context)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::socket::fake::{ack, nla, FakeTransport};
    use netlink_packet_core::NlasIterator;

    const RTM_NEWLINK: u16 = 16;
    const RTM_DELLINK: u16 = 17;

    fn link_payload(index: u32, flags: u32, name: &str, mtu: u32, kind: Option<&str>) -> Vec<u8> {
        let mut out = vec![0u8; 16];
        out[4..8].copy_from_slice(&index.to_ne_bytes());
        out[8..12].copy_from_slice(&flags.to_ne_bytes());
        out.extend(nla(3, format!("{name}\0").as_bytes()));
        out.extend(nla(4, &mtu.to_ne_bytes()));
        if let Some(kind) = kind {
            out.extend(nla(18 | 0x8000, &nla(1, format!("{kind}\0").as_bytes())));
        }
        out
    }

    fn attrs(payload: &[u8]) -> Vec<(u16, Vec<u8>)> {
        NlasIterator::new(&payload[16..])
            .map(|n| n.unwrap())
            .map(|n| (n.kind(), n.value().to_vec()))
            .collect()
    }

    #[test]
    fn get_decodes_mtu_kind_and_up() {
        let reply = vec![vec![
            (
                RTM_NEWLINK,
                0,
                link_payload(5, IFF_UP | 0x40, "wg0", 1420, Some("wireguard")),
            ),
            ack(0),
        ]];
        let mut conn = Connection::new(FakeTransport::new(vec![reply]));
        let link = get(&mut conn, "wg0").unwrap();
        assert_eq!(
            link,
            LinkSettings {
                index: 5,
                name: "wg0".into(),
                kind: Some("wireguard".into()),
                mtu: 1420,
                up: true
            }
        );
        let reply = vec![vec![(RTM_NEWLINK, 0, link_payload(1, 0, "lo", 65536, None)), ack(0)]];
        let mut conn = Connection::new(FakeTransport::new(vec![reply]));
        let lo = get(&mut conn, "lo").unwrap();
        assert_eq!((lo.kind, lo.up, lo.mtu), (None, false, 65536));
    }

    #[test]
    fn set_sends_mtu_and_up_flag_in_one_request() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        set(
            &mut conn,
            "wg0",
            &LinkChange {
                mtu: Some(1380),
                up: Some(true),
            },
        )
        .unwrap();
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_NEWLINK);
        // REQUEST | ACK only: never create.
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x5);
        let body = &sent[16..];
        assert_eq!(u32::from_ne_bytes(body[8..12].try_into().unwrap()), IFF_UP); // ifi_flags
        assert_eq!(u32::from_ne_bytes(body[12..16].try_into().unwrap()), IFF_UP); // ifi_change
        let attrs = attrs(body);
        assert!(attrs.contains(&(3, b"wg0\0".to_vec())));
        assert!(attrs.contains(&(4, 1380u32.to_ne_bytes().to_vec())));
    }

    #[test]
    fn set_down_clears_the_flag_and_empty_change_sends_nothing() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        set(
            &mut conn,
            "wg0",
            &LinkChange {
                mtu: None,
                up: Some(false),
            },
        )
        .unwrap();
        let body = &conn.transport().sent[0][16..];
        assert_eq!(u32::from_ne_bytes(body[8..12].try_into().unwrap()), 0);
        assert_eq!(u32::from_ne_bytes(body[12..16].try_into().unwrap()), IFF_UP);
        set(&mut conn, "wg0", &LinkChange::default()).unwrap();
        assert_eq!(conn.transport().sent.len(), 1);
        let err = set(&mut conn, "wg0", &LinkChange { mtu: Some(0), up: None }).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let err = set(&mut conn, "bad/name", &LinkChange { mtu: Some(1), up: None }).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn kernel_errors_name_the_operation() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(-libc::ENODEV)]]]));
        let err = set(
            &mut conn,
            "wg9",
            &LinkChange {
                mtu: Some(1400),
                up: None,
            },
        )
        .unwrap_err();
        assert_eq!(err.message, "Unable to set mtu 1400 on interface wg9: No such device");
        assert_eq!(err.errno_name(), Some("ENODEV"));
    }

    #[test]
    fn move_sends_the_namespace_descriptor() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        move_to(&mut conn, "wg0", &NetnsTarget::Fd(42)).unwrap();
        let attrs = attrs(&conn.transport().sent[0][16..]);
        assert!(attrs.contains(&(28, 42u32.to_ne_bytes().to_vec())), "{attrs:?}");
        // IFLA_NET_NS_FD
    }

    #[test]
    fn delete_checks_the_kind_first() {
        let veth = vec![vec![
            (RTM_NEWLINK, 0, link_payload(3, 0, "v0", 1500, Some("veth"))),
            ack(0),
        ]];
        let kinds = vec!["wireguard".to_string(), "tun".to_string()];
        let mut conn = Connection::new(FakeTransport::new(vec![veth.clone()]));
        let err = delete(&mut conn, "v0", Some(&kinds)).unwrap_err();
        assert_eq!(err.errno, Some(libc::EOPNOTSUPP));
        assert_eq!(
            err.message,
            "Unable to delete interface v0: it is of kind `veth', not one of the allowed kinds (wireguard, tun)"
        );
        assert_eq!(conn.transport().sent.len(), 1);

        let lo = vec![vec![(RTM_NEWLINK, 0, link_payload(1, 0, "lo", 65536, None)), ack(0)]];
        let mut conn = Connection::new(FakeTransport::new(vec![lo]));
        assert!(delete(&mut conn, "lo", Some(&kinds))
            .unwrap_err()
            .message
            .contains("of no kind"));

        let mut conn = Connection::new(FakeTransport::new(vec![veth, vec![vec![ack(0)]]]));
        delete(&mut conn, "v0", None).unwrap();
        let del = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), RTM_DELLINK);
        assert_eq!(u32::from_ne_bytes(del[20..24].try_into().unwrap()), 3);
    }
}
