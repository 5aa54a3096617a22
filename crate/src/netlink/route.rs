//! Routes: `ip route show [table T]`, `ip route add|del CIDR dev IF [table T] [metric M]`
//! and `ip route get ADDRESS [mark M]`.
//!
//! - List: an `RTM_GETROUTE` dump of one family (an all-zero `rtmsg` apart from the family,
//!   as strict checking requires), filtered by table here. The table is `RTA_TABLE` when
//!   present (always, on current kernels), else `rtm_table`. Output link names come from
//!   one `RTM_GETLINK` dump.
//! - Add: `RTM_NEWROUTE`, `NLM_F_CREATE | NLM_F_EXCL`, as `ip route add` builds it for a
//!   device route: protocol boot, scope link, type unicast, `RTA_DST` (left out for a
//!   default route), `RTA_OIF`, `RTA_PRIORITY` for a metric, and the table in `rtm_table`
//!   when below 256, else `RTA_TABLE` with `rtm_table = RT_TABLE_UNSPEC`. Table defaults to
//!   main (254).
//! - Delete: `RTM_DELROUTE` with the same selectors, protocol and type unspecified and
//!   scope `RT_SCOPE_NOWHERE` (the kernel's "any scope"), as `ip route del` sends it. No
//!   matching route is ESRCH.
//! - Get: `RTM_GETROUTE` without `NLM_F_DUMP`, `RTA_DST` (a /32 or /128) and optionally
//!   `RTA_MARK`; the answer is one `RTM_NEWROUTE` with `RTA_OIF`, `RTA_GATEWAY` and
//!   `RTA_METRICS` (whose `RTAX_MTU` is the route MTU, as in `ip route get`'s "mtu 1400").
//!   The output link's MTU is read with `RTM_GETLINK`. wg-quick derives the tunnel MTU from
//!   these two.

use super::attr;
use super::link::{dump_links, get_link, get_link_in_context};
use super::prefix::{Family, IpPrefix};
use super::socket::{Connection, Transport};
use super::DeviceRef;
use crate::error::{Error, Result};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTMSG_LEN: usize = 12;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_METRICS: u16 = 8;
const RTA_TABLE: u16 = 15;
const RTA_MARK: u16 = 16;
const RTAX_MTU: u16 = 2;

const RTPROT_UNSPEC: u8 = 0;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTN_UNSPEC: u8 = 0;
const RTN_UNICAST: u8 = 1;
const RT_TABLE_UNSPEC: u8 = 0;

/// The main routing table (`ip route` without `table`).
pub const RT_TABLE_MAIN: u32 = 254;

const DUMP_ATTEMPTS: usize = 5;

/// One route of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub family: Family,
    /// `RTA_DST`/`rtm_dst_len`; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: IpPrefix,
    pub table: u32,
    pub ifname: Option<String>,
    /// `RTA_OIF`; absent for multipath, blackhole and similar routes.
    pub ifindex: Option<u32>,
    /// `RTA_PRIORITY`.
    pub metric: Option<u32>,
    /// `rtm_protocol` (`RTPROT_*`: 2 kernel, 3 boot, 4 static, ...).
    pub protocol: u8,
    /// `rtm_scope` (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// `rtm_type` (`RTN_*`: 1 unicast, 2 local, 3 broadcast, ...).
    pub kind: u8,
    pub gateway: Option<IpAddr>,
}

/// A device route to add or delete: `CIDR dev IFNAME [table T] [metric M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The destination network (no host bits); `0.0.0.0/0` or `::/0` for a default route.
    pub destination: IpPrefix,
    pub ifname: String,
    /// Defaults to main (254).
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.destination, self.ifname)?;
        if let Some(table) = self.table {
            write!(f, " table {table}")?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        Ok(())
    }
}

/// What `ip route get ADDRESS` answers, in short.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteLookup {
    pub ifname: Option<String>,
    pub ifindex: Option<u32>,
    pub gateway: Option<IpAddr>,
    /// `RTAX_MTU` of the route, when it has one (`ip route add ... mtu 1400`).
    pub route_mtu: Option<u32>,
    /// The MTU of the output link.
    pub link_mtu: Option<u32>,
}

/// The routes of `family`, of one table if `table` is given, in the kernel's order.
pub fn list<T: Transport>(conn: &mut Connection<T>, family: Family, table: Option<u32>) -> Result<Vec<Route>> {
    let names: HashMap<u32, String> = dump_links(conn)?.into_iter().map(|l| (l.index, l.name)).collect();
    let context = format!("Unable to list {family} routes");
    let payload = rtmsg(family.af(), 0, RT_TABLE_UNSPEC, RTPROT_UNSPEC, 0, RTN_UNSPEC);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = conn.request(RTM_GETROUTE, NLM_F_DUMP, &payload, &context)?;
        if response.dump_interrupted && attempt < DUMP_ATTEMPTS {
            continue;
        }
        let mut routes = Vec::new();
        for reply in response.replies.iter().filter(|r| r.message_type == RTM_NEWROUTE) {
            let Some(mut route) = parse_route(&reply.payload)? else {
                continue;
            };
            if route.family != family || table.is_some_and(|t| t != route.table) {
                continue;
            }
            route.ifname = route.ifindex.and_then(|i| names.get(&i).cloned());
            routes.push(route);
        }
        return Ok(routes);
    }
}

/// Adds a device route; EEXIST if the same route is there.
pub fn add<T: Transport>(conn: &mut Connection<T>, spec: &RouteSpec) -> Result<()> {
    let context = format!("Unable to add route {spec}");
    let payload = route_request(conn, spec, true, &context)?;
    conn.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &payload, &context)?;
    Ok(())
}

/// Deletes a device route; ESRCH if no route matches.
pub fn delete<T: Transport>(conn: &mut Connection<T>, spec: &RouteSpec) -> Result<()> {
    let context = format!("Unable to delete route {spec}");
    let payload = route_request(conn, spec, false, &context)?;
    conn.request(RTM_DELROUTE, 0, &payload, &context)?;
    Ok(())
}

/// The route the kernel would use for `address` (and `fwmark`, if given).
pub fn get<T: Transport>(conn: &mut Connection<T>, address: IpAddr, fwmark: Option<u32>) -> Result<RouteLookup> {
    let family = Family::of(&address);
    let mut context = format!("Unable to get the route to {address}");
    if let Some(mark) = fwmark {
        context.push_str(&format!(" with fwmark {mark:#x}"));
    }
    let mut payload = rtmsg(
        family.af(),
        family.max_prefix_len(),
        RT_TABLE_UNSPEC,
        RTPROT_UNSPEC,
        0,
        RTN_UNSPEC,
    );
    attr::push(&mut payload, RTA_DST, &super::prefix::addr_bytes(&address));
    if let Some(mark) = fwmark {
        attr::push_u32(&mut payload, RTA_MARK, mark);
    }
    let response = conn.request(RTM_GETROUTE, 0, &payload, &context)?;
    let reply = response
        .replies
        .iter()
        .find(|r| r.message_type == RTM_NEWROUTE)
        .ok_or_else(|| Error::protocol(format!("{context}: no route in the reply")))?;
    let mut lookup = parse_lookup(&reply.payload)?;
    if let Some(index) = lookup.ifindex {
        let link = get_link(conn, &DeviceRef::Index(index))?;
        lookup.ifname = Some(link.name);
        lookup.link_mtu = link.mtu;
    }
    Ok(lookup)
}

fn rtmsg(family: u8, dst_len: u8, table: u8, protocol: u8, scope: u8, kind: u8) -> Vec<u8> {
    // family, dst_len, src_len, tos, table, protocol, scope, type, flags (u32)
    vec![family, dst_len, 0, 0, table, protocol, scope, kind, 0, 0, 0, 0]
}

/// The request for `add` (`create`) or `delete`, after validating the spec and looking up
/// the link.
fn route_request<T: Transport>(
    conn: &mut Connection<T>,
    spec: &RouteSpec,
    create: bool,
    context: &str,
) -> Result<Vec<u8>> {
    spec.destination.require_network()?;
    let table = spec.table.unwrap_or(RT_TABLE_MAIN);
    if table == 0 {
        return Err(Error::invalid_argument(format!(
            "{context}: table 0 is not a routing table"
        )));
    }
    let device = DeviceRef::Name(spec.ifname.clone());
    device.validate()?;
    let index = get_link_in_context(conn, &device, context)?.index;

    let family = spec.destination.family();
    let header_table = u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC);
    let mut payload = if create {
        rtmsg(
            family.af(),
            spec.destination.prefix_len,
            header_table,
            RTPROT_BOOT,
            RT_SCOPE_LINK,
            RTN_UNICAST,
        )
    } else {
        rtmsg(
            family.af(),
            spec.destination.prefix_len,
            header_table,
            RTPROT_UNSPEC,
            RT_SCOPE_NOWHERE,
            RTN_UNSPEC,
        )
    };
    if spec.destination.prefix_len > 0 {
        attr::push(&mut payload, RTA_DST, &spec.destination.addr_bytes());
    }
    if header_table == RT_TABLE_UNSPEC {
        attr::push_u32(&mut payload, RTA_TABLE, table);
    }
    attr::push_u32(&mut payload, RTA_OIF, index);
    if let Some(metric) = spec.metric {
        attr::push_u32(&mut payload, RTA_PRIORITY, metric);
    }
    Ok(payload)
}

/// Decodes an `RTM_NEWROUTE` payload (without the link name); `None` for a family other than
/// IPv4 and IPv6.
fn parse_route(payload: &[u8]) -> Result<Option<Route>> {
    let attrs = attr::parse(payload, RTMSG_LEN, "route")?;
    let Some(family) = Family::from_af(payload[0]) else {
        return Ok(None);
    };
    let mut route = Route {
        family,
        destination: IpPrefix {
            addr: family.unspecified(),
            prefix_len: payload[1].min(family.max_prefix_len()),
        },
        table: payload[4] as u32,
        ifname: None,
        ifindex: None,
        metric: None,
        protocol: payload[5],
        scope: payload[6],
        kind: payload[7],
        gateway: None,
    };
    for (kind, value) in attrs {
        match kind {
            RTA_DST => {
                if let Some(addr) = family.parse_addr(value) {
                    route.destination.addr = addr;
                }
            }
            RTA_OIF => route.ifindex = attr::u32_of(value),
            RTA_GATEWAY => route.gateway = family.parse_addr(value),
            RTA_PRIORITY => route.metric = attr::u32_of(value),
            RTA_TABLE => route.table = attr::u32_of(value).unwrap_or(route.table),
            _ => {}
        }
    }
    Ok(Some(route))
}

fn parse_lookup(payload: &[u8]) -> Result<RouteLookup> {
    let attrs = attr::parse(payload, RTMSG_LEN, "route")?;
    let family = Family::from_af(payload[0]);
    let mut lookup = RouteLookup::default();
    for (kind, value) in attrs {
        match kind {
            RTA_OIF => lookup.ifindex = attr::u32_of(value),
            RTA_GATEWAY => lookup.gateway = family.and_then(|f| f.parse_addr(value)),
            RTA_METRICS => {
                let metrics = attr::parse(value, 0, "route metrics")?;
                if let Some((_, mtu)) = metrics.iter().find(|(kind, _)| *kind == RTAX_MTU) {
                    lookup.route_mtu = attr::u32_of(mtu).filter(|m| *m != 0);
                }
            }
            _ => {}
        }
    }
    Ok(lookup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::socket::fake::{ack, done, FakeTransport};
    use netlink_packet_core::NLM_F_MULTIPART;

    const RTM_NEWLINK: u16 = 16;

    fn link_reply(index: u32, name: &str, mtu: u32, flags: u16) -> (u16, u16, Vec<u8>) {
        let mut out = vec![0u8; 16];
        out[4..8].copy_from_slice(&index.to_ne_bytes());
        attr::push(&mut out, 3, format!("{name}\0").as_bytes());
        attr::push_u32(&mut out, 4, mtu);
        (RTM_NEWLINK, flags, out)
    }

    fn spec(destination: &str, ifname: &str, table: Option<u32>, metric: Option<u32>) -> RouteSpec {
        RouteSpec {
            destination: IpPrefix::parse(destination).unwrap(),
            ifname: ifname.into(),
            table,
            metric,
        }
    }

    #[test]
    fn add_in_main_puts_the_table_in_the_header() {
        let script = vec![vec![vec![link_reply(4, "wg0", 1420, 0), ack(0)]], vec![vec![ack(0)]]];
        let mut conn = Connection::new(FakeTransport::new(script));
        add(&mut conn, &spec("10.0.0.0/24", "wg0", None, None)).unwrap();
        let sent = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_NEWROUTE);
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x1 | 0x4 | 0x400 | 0x200);
        let mut expected = vec![2, 24, 0, 0, 254, RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST, 0, 0, 0, 0];
        expected.extend([8, 0, 1, 0, 10, 0, 0, 0]); // RTA_DST
        expected.extend([8, 0, 4, 0]); // RTA_OIF
        expected.extend(4u32.to_ne_bytes());
        assert_eq!(&sent[16..], &expected[..]);
    }

    #[test]
    fn add_in_a_big_table_with_metric_uses_rta_table() {
        let script = vec![vec![vec![link_reply(4, "wg0", 1420, 0), ack(0)]], vec![vec![ack(0)]]];
        let mut conn = Connection::new(FakeTransport::new(script));
        add(&mut conn, &spec("::/0", "wg0", Some(51820), Some(7))).unwrap();
        let body = &conn.transport().sent[1][16..];
        assert_eq!(body[0..5], [libc::AF_INET6 as u8, 0, 0, 0, 0]);
        let attrs = attr::parse(body, RTMSG_LEN, "route").unwrap();
        // No RTA_DST for a default route.
        assert_eq!(
            attrs,
            vec![
                (RTA_TABLE, &51820u32.to_ne_bytes()[..]),
                (RTA_OIF, &4u32.to_ne_bytes()[..]),
                (RTA_PRIORITY, &7u32.to_ne_bytes()[..]),
            ]
        );
    }

    #[test]
    fn delete_uses_wildcard_scope_and_protocol() {
        let script = vec![
            vec![vec![link_reply(4, "wg0", 1420, 0), ack(0)]],
            vec![vec![ack(-libc::ESRCH)]],
        ];
        let mut conn = Connection::new(FakeTransport::new(script));
        let err = delete(&mut conn, &spec("10.0.0.0/24", "wg0", Some(51820), None)).unwrap_err();
        assert_eq!(
            err.message,
            "Unable to delete route 10.0.0.0/24 dev wg0 table 51820: No such process"
        );
        assert_eq!(err.errno_name(), Some("ESRCH"));
        let sent = &conn.transport().sent[1];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_DELROUTE);
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x1 | 0x4);
        assert_eq!(
            sent[16..24],
            [2, 24, 0, 0, 0, RTPROT_UNSPEC, RT_SCOPE_NOWHERE, RTN_UNSPEC]
        );
    }

    #[test]
    fn invalid_specs_send_nothing() {
        let mut conn = Connection::new(FakeTransport::default());
        let err = add(&mut conn, &spec("10.0.0.1/24", "wg0", None, None)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let err = add(&mut conn, &spec("10.0.0.0/24", "wg0", Some(0), None)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let err = add(&mut conn, &spec("10.0.0.0/24", "", None, None)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(conn.transport().sent.is_empty());
    }

    fn route_reply(header: [u8; 8], attrs: &[(u16, Vec<u8>)]) -> (u16, u16, Vec<u8>) {
        let mut out = header.to_vec();
        out.extend([0, 0, 0, 0]);
        for (kind, value) in attrs {
            attr::push(&mut out, *kind, value);
        }
        (RTM_NEWROUTE, NLM_F_MULTIPART, out)
    }

    #[test]
    fn list_decodes_and_filters_by_table() {
        let links = vec![vec![
            link_reply(1, "lo", 65536, NLM_F_MULTIPART),
            link_reply(4, "wg0", 1420, NLM_F_MULTIPART),
            done(0),
        ]];
        let routes = vec![vec![
            route_reply(
                [2, 0, 0, 0, 254, 3, 0, 1],
                &[
                    (RTA_TABLE, 254u32.to_ne_bytes().to_vec()),
                    (RTA_GATEWAY, vec![192, 168, 1, 1]),
                    (RTA_OIF, 4u32.to_ne_bytes().to_vec()),
                    (RTA_PRIORITY, 100u32.to_ne_bytes().to_vec()),
                ],
            ),
            route_reply(
                [2, 24, 0, 0, 0, 3, 253, 1],
                &[
                    (RTA_TABLE, 51820u32.to_ne_bytes().to_vec()),
                    (RTA_DST, vec![10, 0, 0, 0]),
                    (RTA_OIF, 4u32.to_ne_bytes().to_vec()),
                ],
            ),
            route_reply([2, 8, 0, 0, 255, 2, 254, 2], &[(RTA_DST, vec![127, 0, 0, 0])]),
            done(0),
        ]];
        let mut conn = Connection::new(FakeTransport::new(vec![links.clone(), routes.clone()]));
        let all = list(&mut conn, Family::V4, None).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0],
            Route {
                family: Family::V4,
                destination: IpPrefix::parse("0.0.0.0/0").unwrap(),
                table: 254,
                ifname: Some("wg0".into()),
                ifindex: Some(4),
                metric: Some(100),
                protocol: 3,
                scope: 0,
                kind: 1,
                gateway: Some("192.168.1.1".parse().unwrap()),
            }
        );
        assert_eq!(all[2].ifname, None);
        let request = &conn.transport().sent[1];
        assert_eq!(request[16..], [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

        let mut conn = Connection::new(FakeTransport::new(vec![links, routes]));
        let table = list(&mut conn, Family::V4, Some(51820)).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table[0].destination.to_string(), "10.0.0.0/24");
        assert_eq!((table[0].table, table[0].scope), (51820, 253));
    }

    #[test]
    fn get_reads_oif_gateway_and_route_mtu() {
        let mut metrics = Vec::new();
        attr::push_u32(&mut metrics, RTAX_MTU, 1400);
        let reply = vec![vec![
            route_reply(
                [2, 32, 0, 0, 254, 0, 0, 1],
                &[
                    (RTA_DST, vec![10, 9, 0, 5]),
                    (RTA_OIF, 4u32.to_ne_bytes().to_vec()),
                    (RTA_GATEWAY, vec![10, 9, 0, 1]),
                    (RTA_METRICS | 0x8000, metrics),
                ],
            ),
            ack(0),
        ]];
        let link = vec![vec![link_reply(4, "eth0", 1500, 0), ack(0)]];
        let mut conn = Connection::new(FakeTransport::new(vec![reply, link]));
        let lookup = get(&mut conn, "10.9.0.5".parse().unwrap(), Some(51820)).unwrap();
        assert_eq!(
            lookup,
            RouteLookup {
                ifname: Some("eth0".into()),
                ifindex: Some(4),
                gateway: Some("10.9.0.1".parse().unwrap()),
                route_mtu: Some(1400),
                link_mtu: Some(1500),
            }
        );
        let request = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([request[4], request[5]]), RTM_GETROUTE);
        assert_eq!(u16::from_ne_bytes([request[6], request[7]]), 0x1 | 0x4); // no dump
        let attrs = attr::parse(&request[16..], RTMSG_LEN, "route").unwrap();
        assert_eq!(
            attrs,
            vec![(RTA_DST, &[10, 9, 0, 5][..]), (RTA_MARK, &51820u32.to_ne_bytes()[..])]
        );
        assert_eq!(request[17], 32);
    }

    #[test]
    fn get_without_route_reports_the_errno() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(-libc::ENETUNREACH)]]]));
        let err = get(&mut conn, "fd00::1".parse().unwrap(), None).unwrap_err();
        assert_eq!(
            err.message,
            "Unable to get the route to fd00::1: Network is unreachable"
        );
        assert_eq!(err.errno_name(), Some("ENETUNREACH"));
    }
}
