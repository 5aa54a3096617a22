//! WireGuard links through rtnetlink (outside the genetlink family): list, create, delete.
//!
//! - List: an `RTM_GETLINK` dump (`AF_UNSPEC`), keeping the links whose
//!   `IFLA_LINKINFO`/`IFLA_INFO_KIND` is `"wireguard"`, as wg and wgctrl-go do. The dump
//!   is read with a deliberately small, tolerant decoder (the `ifinfomsg` header plus
//!   `IFLA_IFNAME` and `IFLA_LINKINFO`): a full `netlink-packet-route` parse of every link
//!   would fail the whole listing on any attribute of an unrelated link type that the crate
//!   cannot parse. An interrupted dump (`NLM_F_DUMP_INTR`) is retried a few times, then
//!   accepted, as wg accepts it.
//! - Create: `RTM_NEWLINK` with `NLM_F_CREATE | NLM_F_EXCL`, `IFLA_IFNAME` and
//!   `IFLA_LINKINFO { IFLA_INFO_KIND = "wireguard" }` (embeddable-wg-library).
//! - Delete: the link is looked up by name first and must be of kind wireguard (so that a
//!   typo cannot delete `eth0`), then `RTM_DELLINK` by its index.
//!
//! Requests are built with `netlink-packet-route`.

use super::socket::{Connection, Transport};
use super::DeviceRef;
use crate::error::{Error, ErrorCode, Result};
use netlink_packet_core::{
    parse_string, parse_u32, NetlinkSerializable, NlasIterator, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkHeader, LinkInfo as RouteLinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

const RTM_NEWLINK: u16 = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFINFOMSG_LEN: usize = 16;
const DUMP_ATTEMPTS: usize = 5;

/// The kind string of WireGuard links.
pub const WIREGUARD_KIND: &str = "wireguard";

/// A WireGuard interface of the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    pub name: String,
}

/// Any link, as the listing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    /// `IFLA_MTU`, absent only from unusual replies.
    pub mtu: Option<u32>,
    /// `ifi_flags` (`IFF_UP`, `IFF_RUNNING`, ...).
    pub flags: u32,
}

/// Every link of the socket's namespace.
pub fn dump_links<T: Transport>(conn: &mut Connection<T>) -> Result<Vec<Link>> {
    let (message_type, payload) = serialize(RouteNetlinkMessage::GetLink(LinkMessage::default()));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = conn.request(message_type, NLM_F_DUMP, &payload, "Unable to list interfaces")?;
        if response.dump_interrupted && attempt < DUMP_ATTEMPTS {
            continue;
        }
        return response
            .replies
            .iter()
            .filter(|r| r.message_type == RTM_NEWLINK)
            .map(|r| parse_link(&r.payload))
            .collect();
    }
}

/// The WireGuard links of the socket's namespace, in the kernel's order.
pub fn list_wireguard<T: Transport>(conn: &mut Connection<T>) -> Result<Vec<LinkInfo>> {
    Ok(dump_links(conn)?
        .into_iter()
        .filter(|l| l.kind.as_deref() == Some(WIREGUARD_KIND))
        .map(|l| LinkInfo {
            ifindex: l.index,
            name: l.name,
        })
        .collect())
}

/// One link by name or index (`RTM_GETLINK` without dump).
pub fn get_link<T: Transport>(conn: &mut Connection<T>, device: &DeviceRef) -> Result<Link> {
    get_link_in_context(conn, device, &format!("Unable to access interface {device}"))
}

/// `get_link` whose errors start with `context` ("Unable to add address ... to wg0").
pub fn get_link_in_context<T: Transport>(conn: &mut Connection<T>, device: &DeviceRef, context: &str) -> Result<Link> {
    device.validate()?;
    let mut message = LinkMessage::default();
    match device {
        DeviceRef::Name(name) => message.attributes.push(LinkAttribute::IfName(name.clone())),
        DeviceRef::Index(index) => message.header.index = *index,
    }
    let (message_type, payload) = serialize(RouteNetlinkMessage::GetLink(message));
    let response = conn.request(message_type, 0, &payload, context)?;
    let reply = response
        .replies
        .iter()
        .find(|r| r.message_type == RTM_NEWLINK)
        .ok_or_else(|| Error::protocol(format!("{context}: no link in the reply")))?;
    parse_link(&reply.payload)
}

/// Creates a WireGuard link; fails with EEXIST if the name is taken.
pub fn create<T: Transport>(conn: &mut Connection<T>, name: &str) -> Result<()> {
    DeviceRef::Name(name.to_string()).validate()?;
    let mut message = LinkMessage::default();
    message.attributes.push(LinkAttribute::IfName(name.to_string()));
    message
        .attributes
        .push(LinkAttribute::LinkInfo(vec![RouteLinkInfo::Kind(InfoKind::Wireguard)]));
    let (message_type, payload) = serialize(RouteNetlinkMessage::NewLink(message));
    let context = format!("Unable to create interface {name}");
    conn.request(message_type, NLM_F_CREATE | NLM_F_EXCL, &payload, &context)
        .map_err(|e| match e.errno {
            // No "wireguard" rtnl_link_ops: the module is missing.
            Some(libc::EOPNOTSUPP) => e.with_code(ErrorCode::BackendUnavailable),
            _ => e,
        })?;
    Ok(())
}

/// Deletes a WireGuard link by name; a link of another kind is refused (EOPNOTSUPP).
pub fn delete<T: Transport>(conn: &mut Connection<T>, name: &str) -> Result<()> {
    let link = get_link(conn, &DeviceRef::Name(name.to_string()))?;
    if link.kind.as_deref() != Some(WIREGUARD_KIND) {
        return Err(Error::from_errno(
            libc::EOPNOTSUPP,
            format!("Unable to delete interface {name}: it is not a WireGuard interface"),
        ));
    }
    let mut message = LinkMessage::default();
    message.header.index = link.index;
    let (message_type, payload) = serialize(RouteNetlinkMessage::DelLink(message));
    conn.request(message_type, 0, &payload, &format!("Unable to delete interface {name}"))?;
    Ok(())
}

pub(super) fn serialize(message: RouteNetlinkMessage) -> (u16, Vec<u8>) {
    let mut payload = vec![0u8; message.buffer_len()];
    message.serialize(&mut payload);
    (message.message_type(), payload)
}

/// Reads the index, name and kind of an `RTM_NEWLINK` payload, ignoring everything else.
fn parse_link(payload: &[u8]) -> Result<Link> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(Error::protocol(format!(
            "link message too short: {} bytes, an ifinfomsg is {IFINFOMSG_LEN}",
            payload.len()
        )));
    }
    let header = LinkHeader::parse(payload).map_err(|e| Error::protocol(format!("bad ifinfomsg: {e}")))?;
    let mut link = Link {
        index: header.index,
        name: String::new(),
        kind: None,
        mtu: None,
        flags: header.flags.bits(),
    };
    for nla in NlasIterator::new(&payload[IFINFOMSG_LEN..]) {
        let nla = nla.map_err(|e| Error::protocol(format!("bad link attribute: {e}")))?;
        match nla.kind() {
            IFLA_IFNAME => link.name = parse_string(nla.value()).unwrap_or_default(),
            IFLA_MTU => link.mtu = parse_u32(nla.value()).ok(),
            IFLA_LINKINFO => {
                for info in NlasIterator::new(nla.value()).flatten() {
                    if info.kind() == IFLA_INFO_KIND {
                        link.kind = parse_string(info.value()).ok();
                    }
                }
            }
            _ => {}
        }
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::socket::fake::{ack, done, nla, FakeTransport};
    use netlink_packet_core::{NLM_F_DUMP_INTR, NLM_F_MULTIPART};

    fn link_payload(index: u32, name: &str, kind: Option<&str>) -> Vec<u8> {
        let mut out = vec![0u8; 16];
        out[4..8].copy_from_slice(&index.to_ne_bytes());
        out.extend(nla(IFLA_IFNAME, format!("{name}\0").as_bytes()));
        // An attribute the decoder must skip.
        out.extend(nla(4, &1420u32.to_ne_bytes()));
        if let Some(kind) = kind {
            let info = nla(IFLA_INFO_KIND, format!("{kind}\0").as_bytes());
            out.extend(nla(IFLA_LINKINFO | 0x8000, &info));
        }
        out
    }

    #[test]
    fn listing_keeps_wireguard_links_only() {
        let transport = FakeTransport::new(vec![vec![vec![
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(1, "lo", None)),
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(4, "wg0", Some("wireguard"))),
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(5, "dummy0", Some("dummy"))),
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(9, "wg-b", Some("wireguard"))),
            done(0),
        ]]]);
        let mut conn = Connection::new(transport);
        let links = list_wireguard(&mut conn).unwrap();
        assert_eq!(
            links,
            vec![
                LinkInfo {
                    ifindex: 4,
                    name: "wg0".into()
                },
                LinkInfo {
                    ifindex: 9,
                    name: "wg-b".into()
                }
            ]
        );
        // The request: RTM_GETLINK dump with an all-zero ifinfomsg.
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), 18);
        assert_eq!(&sent[16..], &[0u8; 16]);
    }

    #[test]
    fn interrupted_listing_is_retried() {
        let interrupted = vec![vec![
            (
                RTM_NEWLINK,
                NLM_F_MULTIPART | NLM_F_DUMP_INTR,
                link_payload(4, "wg0", Some("wireguard")),
            ),
            done(0),
        ]];
        let complete = vec![vec![
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(4, "wg0", Some("wireguard"))),
            (RTM_NEWLINK, NLM_F_MULTIPART, link_payload(7, "wg1", Some("wireguard"))),
            done(0),
        ]];
        let mut conn = Connection::new(FakeTransport::new(vec![interrupted, complete]));
        assert_eq!(list_wireguard(&mut conn).unwrap().len(), 2);
        assert_eq!(conn.transport().sent.len(), 2);
    }

    #[test]
    fn short_ifinfomsg_is_an_error() {
        assert_eq!(parse_link(&[0u8; 8]).unwrap_err().code, ErrorCode::Protocol);
    }

    #[test]
    fn create_request_bytes() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        create(&mut conn, "wg7").unwrap();
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_NEWLINK);
        let flags = u16::from_ne_bytes([sent[6], sent[7]]);
        assert_eq!(flags, 0x1 | 0x4 | 0x400 | 0x200); // REQUEST | ACK | CREATE | EXCL
        assert_eq!(parse_link(&sent[16..]).unwrap().kind.as_deref(), Some("wireguard"));
        assert_eq!(parse_link(&sent[16..]).unwrap().name, "wg7");
    }

    #[test]
    fn delete_refuses_other_kinds() {
        let reply = vec![vec![(RTM_NEWLINK, 0, link_payload(2, "eth0", None)), ack(0)]];
        let mut conn = Connection::new(FakeTransport::new(vec![reply]));
        let err = delete(&mut conn, "eth0").unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceNotFound);
        assert_eq!(conn.transport().sent.len(), 1);

        let reply = vec![vec![
            (RTM_NEWLINK, 0, link_payload(6, "wg0", Some("wireguard"))),
            ack(0),
        ]];
        let mut conn = Connection::new(FakeTransport::new(vec![reply, vec![vec![ack(0)]]]));
        delete(&mut conn, "wg0").unwrap();
        let del = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), 17); // RTM_DELLINK
        assert_eq!(u32::from_ne_bytes(del[20..24].try_into().unwrap()), 6);
    }

    #[test]
    fn real_kernel_create_list_delete_in_a_fresh_namespace() {
        use crate::netlink::netns::{open_transport, testing::TempNetns, NetnsTarget};
        let netns = TempNetns::create("link");
        let target = NetnsTarget::Name(netns.0.clone());
        let transport = open_transport(Some(&target), netlink_sys::protocols::NETLINK_ROUTE).unwrap();
        let mut conn = Connection::new(transport);
        assert_eq!(list_wireguard(&mut conn).unwrap(), Vec::new());
        // Deleting something that is not WireGuard is refused; the link stays.
        assert_eq!(delete(&mut conn, "lo").unwrap_err().code, ErrorCode::DeviceNotFound);
        assert_eq!(get_link(&mut conn, &DeviceRef::from("lo")).unwrap().index, 1);
        let missing = get_link(&mut conn, &DeviceRef::from("wgkit-missing")).unwrap_err();
        assert_eq!(missing.code, ErrorCode::DeviceNotFound);
        match create(&mut conn, "wgtest0") {
            // With the module (the kernel VM): the link appears, then goes away.
            Ok(()) => {
                let links = list_wireguard(&mut conn).unwrap();
                assert_eq!(links.len(), 1);
                assert_eq!(links[0].name, "wgtest0");
                assert_eq!(create(&mut conn, "wgtest0").unwrap_err().errno, Some(libc::EEXIST));
                delete(&mut conn, "wgtest0").unwrap();
                assert_eq!(list_wireguard(&mut conn).unwrap(), Vec::new());
            }
            // Without it (the test host): the kind is unknown, EOPNOTSUPP.
            Err(err) => {
                assert_eq!(err.code, ErrorCode::BackendUnavailable, "{err:?}");
                // The kernel explains through the extended ACK ("Unknown device type").
                assert!(err.message.contains("(kernel: \""), "{}", err.message);
            }
        }
    }

    #[test]
    fn names_are_validated() {
        let mut conn = Connection::new(FakeTransport::default());
        assert_eq!(create(&mut conn, "").unwrap_err().code, ErrorCode::InvalidArgument);
        let err = create(&mut conn, "sixteen-chars-xx").unwrap_err();
        assert_eq!(err.errno, Some(libc::ENAMETOOLONG));
        assert!(conn.transport().sent.is_empty());
    }
}
