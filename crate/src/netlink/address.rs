//! Interface addresses: `ip address show dev IF`, `ip address add CIDR dev IF`,
//! `ip address del CIDR dev IF`.
//!
//! - List: an `RTM_GETADDR` dump (`AF_UNSPEC`, `ifa_index` set, which a kernel with strict
//!   checking uses as a filter; the replies are filtered here as well for older kernels).
//!   The address is `IFA_LOCAL` when present (on a point-to-point IPv4 link `IFA_ADDRESS`
//!   is the peer), else `IFA_ADDRESS`. The decoder reads the `ifaddrmsg` and those two
//!   attributes only.
//! - Add: `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL` (a duplicate is EEXIST);
//!   `IFA_LOCAL` and `IFA_ADDRESS` for IPv4, `IFA_ADDRESS` for IPv6.
//! - Delete: `RTM_DELADDR` with the same attributes (EADDRNOTAVAIL when there is no such
//!   address).
//!
//! The link is looked up by name first, so that a missing link is ENODEV with a message
//! about the address.

use super::attr;
use super::link::get_link_in_context;
use super::prefix::{Family, IpPrefix};
use super::socket::{Connection, Transport};
use super::DeviceRef;
use crate::error::Result;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use std::net::IpAddr;

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFADDRMSG_LEN: usize = 8;
const DUMP_ATTEMPTS: usize = 5;

/// One address of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub family: Family,
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Address {
    pub fn prefix(&self) -> IpPrefix {
        IpPrefix {
            addr: self.address,
            prefix_len: self.prefix_len,
        }
    }
}

/// The addresses of the link called `name`, in the kernel's order (IPv4 first).
pub fn list<T: Transport>(conn: &mut Connection<T>, name: &str) -> Result<Vec<Address>> {
    let device = DeviceRef::Name(name.to_string());
    let context = format!("Unable to list the addresses of {name}");
    let index = get_link_in_context(conn, &device, &context)?.index;
    let payload = ifaddrmsg(libc::AF_UNSPEC as u8, 0, index);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = conn.request(RTM_GETADDR, NLM_F_DUMP, &payload, &context)?;
        if response.dump_interrupted && attempt < DUMP_ATTEMPTS {
            continue;
        }
        let mut out = Vec::new();
        for reply in response.replies.iter().filter(|r| r.message_type == RTM_NEWADDR) {
            if let Some((addr_index, address)) = parse_address(&reply.payload)? {
                if addr_index == index {
                    out.push(address);
                }
            }
        }
        return Ok(out);
    }
}

/// Adds `prefix` (an address with its prefix length) to the link; EEXIST if it is there.
pub fn add<T: Transport>(conn: &mut Connection<T>, name: &str, prefix: &IpPrefix) -> Result<()> {
    let context = format!("Unable to add address {prefix} to {name}");
    change(conn, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, name, prefix, &context)
}

/// Removes `prefix` from the link; EADDRNOTAVAIL if it is not there.
pub fn delete<T: Transport>(conn: &mut Connection<T>, name: &str, prefix: &IpPrefix) -> Result<()> {
    let context = format!("Unable to delete address {prefix} from {name}");
    change(conn, RTM_DELADDR, 0, name, prefix, &context)
}

fn change<T: Transport>(
    conn: &mut Connection<T>,
    message_type: u16,
    flags: u16,
    name: &str,
    prefix: &IpPrefix,
    context: &str,
) -> Result<()> {
    let device = DeviceRef::Name(name.to_string());
    device.validate()?;
    let index = get_link_in_context(conn, &device, context)?.index;
    let payload = address_request(index, prefix);
    conn.request(message_type, flags, &payload, context)?;
    Ok(())
}

fn ifaddrmsg(family: u8, prefix_len: u8, index: u32) -> Vec<u8> {
    let mut out = vec![family, prefix_len, 0, 0];
    out.extend(index.to_ne_bytes());
    out
}

/// `ifaddrmsg` plus the address attributes, as `ip address add` sends them.
fn address_request(index: u32, prefix: &IpPrefix) -> Vec<u8> {
    let family = prefix.family();
    let mut out = ifaddrmsg(family.af(), prefix.prefix_len, index);
    let bytes = prefix.addr_bytes();
    if family == Family::V4 {
        attr::push(&mut out, IFA_LOCAL, &bytes);
    }
    attr::push(&mut out, IFA_ADDRESS, &bytes);
    out
}

/// The link index and address of an `RTM_NEWADDR` payload; `None` for a family other than
/// IPv4 and IPv6 or a message without an address.
fn parse_address(payload: &[u8]) -> Result<Option<(u32, Address)>> {
    let attrs = attr::parse(payload, IFADDRMSG_LEN, "address")?;
    let Some(family) = Family::from_af(payload[0]) else {
        return Ok(None);
    };
    let prefix_len = payload[1];
    let index = attr::u32_of(&payload[4..8]).unwrap_or_default();
    let (mut local, mut address) = (None, None);
    for (kind, value) in attrs {
        match kind {
            IFA_LOCAL => local = family.parse_addr(value),
            IFA_ADDRESS => address = family.parse_addr(value),
            _ => {}
        }
    }
    Ok(local.or(address).map(|address| {
        (
            index,
            Address {
                family,
                address,
                prefix_len,
            },
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::socket::fake::{ack, done, FakeTransport};
    use netlink_packet_core::NLM_F_MULTIPART;

    const RTM_NEWLINK: u16 = 16;

    fn link_reply(index: u32, name: &str) -> (u16, u16, Vec<u8>) {
        let mut out = vec![0u8; 16];
        out[4..8].copy_from_slice(&index.to_ne_bytes());
        attr::push(&mut out, 3, format!("{name}\0").as_bytes());
        (RTM_NEWLINK, 0, out)
    }

    fn addr_reply(family: Family, prefix_len: u8, index: u32, attrs: &[(u16, &str)]) -> (u16, u16, Vec<u8>) {
        let mut out = ifaddrmsg(family.af(), prefix_len, index);
        for (kind, addr) in attrs {
            attr::push(
                &mut out,
                *kind,
                &crate::netlink::prefix::addr_bytes(&addr.parse().unwrap()),
            );
        }
        // An attribute to skip: IFA_FLAGS.
        attr::push(&mut out, 8, &0x80u32.to_ne_bytes());
        (RTM_NEWADDR, NLM_F_MULTIPART, out)
    }

    #[test]
    fn add_v4_sends_local_and_address_with_create_excl() {
        let script = vec![vec![vec![link_reply(7, "wg0"), ack(0)]], vec![vec![ack(0)]]];
        let mut conn = Connection::new(FakeTransport::new(script));
        add(&mut conn, "wg0", &IpPrefix::parse("10.0.0.1/24").unwrap()).unwrap();
        let sent = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_NEWADDR);
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x1 | 0x4 | 0x400 | 0x200);
        let mut expected = vec![libc::AF_INET as u8, 24, 0, 0];
        expected.extend(7u32.to_ne_bytes());
        expected.extend([8, 0, 2, 0, 10, 0, 0, 1]); // IFA_LOCAL
        expected.extend([8, 0, 1, 0, 10, 0, 0, 1]); // IFA_ADDRESS
        assert_eq!(&sent[16..], &expected[..]);
    }

    #[test]
    fn add_v6_sends_address_only() {
        let script = vec![vec![vec![link_reply(7, "wg0"), ack(0)]], vec![vec![ack(0)]]];
        let mut conn = Connection::new(FakeTransport::new(script));
        add(&mut conn, "wg0", &IpPrefix::parse("fd00::1/64").unwrap()).unwrap();
        let body = &conn.transport().sent[1][16..];
        assert_eq!(body[0..2], [libc::AF_INET6 as u8, 64]);
        assert_eq!(u16::from_ne_bytes([body[8], body[9]]), 20);
        assert_eq!(u16::from_ne_bytes([body[10], body[11]]), IFA_ADDRESS);
        assert_eq!(body.len(), 8 + 20);
    }

    #[test]
    fn errors_name_the_address_and_link() {
        let script = vec![vec![vec![link_reply(7, "wg0"), ack(0)]], vec![vec![ack(-libc::EEXIST)]]];
        let mut conn = Connection::new(FakeTransport::new(script));
        let err = add(&mut conn, "wg0", &IpPrefix::parse("10.0.0.1/24").unwrap()).unwrap_err();
        assert_eq!(err.message, "Unable to add address 10.0.0.1/24 to wg0: File exists");
        assert_eq!(err.errno_name(), Some("EEXIST"));

        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(-libc::ENODEV)]]]));
        let err = delete(&mut conn, "wg1", &IpPrefix::parse("fd00::1").unwrap()).unwrap_err();
        assert_eq!(
            err.message,
            "Unable to delete address fd00::1/128 from wg1: No such device"
        );
        assert_eq!(err.code, ErrorCode::DeviceNotFound);

        let mut conn = Connection::new(FakeTransport::default());
        let err = add(&mut conn, "", &IpPrefix::parse("fd00::1").unwrap()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(conn.transport().sent.is_empty());
    }

    #[test]
    fn list_prefers_local_and_filters_by_link() {
        let dump = vec![vec![
            addr_reply(Family::V4, 24, 7, &[(IFA_ADDRESS, "10.0.0.1"), (IFA_LOCAL, "10.0.0.1")]),
            // Point-to-point: IFA_ADDRESS is the peer.
            addr_reply(Family::V4, 32, 7, &[(IFA_ADDRESS, "10.9.9.9"), (IFA_LOCAL, "10.0.0.2")]),
            addr_reply(Family::V4, 8, 1, &[(IFA_LOCAL, "127.0.0.1")]),
            addr_reply(Family::V6, 64, 7, &[(IFA_ADDRESS, "fd00::1")]),
            done(0),
        ]];
        let script = vec![vec![vec![link_reply(7, "wg0"), ack(0)]], dump];
        let mut conn = Connection::new(FakeTransport::new(script));
        let list = list(&mut conn, "wg0").unwrap();
        let text: Vec<String> = list.iter().map(|a| format!("{}:{}", a.family, a.prefix())).collect();
        assert_eq!(text, ["IPv4:10.0.0.1/24", "IPv4:10.0.0.2/32", "IPv6:fd00::1/64"]);
        let request = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([request[4], request[5]]), RTM_GETADDR);
        assert_eq!(&request[16..], &ifaddrmsg(0, 0, 7)[..]);
    }

    #[test]
    fn short_ifaddrmsg_is_a_protocol_error() {
        assert_eq!(parse_address(&[2, 24]).unwrap_err().code, ErrorCode::Protocol);
        assert_eq!(parse_address(&ifaddrmsg(99, 0, 1)).unwrap(), None);
    }
}
