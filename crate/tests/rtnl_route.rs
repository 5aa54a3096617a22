//! Routes in a throw-away namespace: add, list and delete in main and in table 51820 with a
//! metric, IPv4 and IPv6, default routes; `route get` with the route MTU and the link MTU,
//! and with a fwmark (needs root).

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

mod rtnl_support;

use rtnl_support::*;
use wgkit::error::ErrorCode;
use wgkit::netlink::{Family, IpPrefix, Route, RouteSpec, Rtnl, RuleSpec};

fn spec(destination: &str, ifname: &str, table: Option<u32>, metric: Option<u32>) -> RouteSpec {
    RouteSpec {
        destination: IpPrefix::parse(destination).unwrap(),
        ifname: ifname.into(),
        table,
        metric,
    }
}

fn find<'a>(routes: &'a [Route], destination: &str) -> Option<&'a Route> {
    routes.iter().find(|r| r.destination.to_string() == destination)
}

#[test]
fn add_list_delete_in_main_and_in_a_table() {
    let ns = TempNs::new("route");
    ns.veth("r0", "r1");
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    let index = rtnl.get_link("r0").unwrap().index;

    rtnl.add_route(&spec("10.20.0.0/16", "r0", None, None)).unwrap();
    rtnl.add_route(&spec("10.30.0.0/24", "r0", Some(51820), Some(7)))
        .unwrap();
    rtnl.add_route(&spec("0.0.0.0/0", "r0", Some(51820), None)).unwrap();
    rtnl.add_route(&spec("fd20::/64", "r0", None, None)).unwrap();
    rtnl.add_route(&spec("::/0", "r0", Some(51820), Some(5))).unwrap();

    let main = rtnl.list_routes(Family::V4, Some(254)).unwrap();
    let route = find(&main, "10.20.0.0/16").expect("10.20.0.0/16 in main");
    assert_eq!(route.ifname.as_deref(), Some("r0"));
    assert_eq!(route.ifindex, Some(index));
    assert_eq!((route.table, route.protocol, route.scope, route.kind), (254, 3, 253, 1));
    assert_eq!((route.metric, route.gateway), (None, None));
    assert!(find(&main, "10.30.0.0/24").is_none());

    let table = rtnl.list_routes(Family::V4, Some(51820)).unwrap();
    assert_eq!(table.len(), 2, "{table:?}");
    let route = find(&table, "10.30.0.0/24").unwrap();
    assert_eq!((route.table, route.metric), (51820, Some(7)));
    assert!(find(&table, "0.0.0.0/0").is_some());

    let v6 = rtnl.list_routes(Family::V6, Some(51820)).unwrap();
    assert_eq!(v6.len(), 1, "{v6:?}");
    assert_eq!(v6[0].destination.to_string(), "::/0");
    assert_eq!((v6[0].family, v6[0].metric), (Family::V6, Some(5)));
    let v6_main = rtnl.list_routes(Family::V6, Some(254)).unwrap();
    assert_eq!(find(&v6_main, "fd20::/64").unwrap().metric, Some(1024));

    // All tables: local routes (table 255) are there too.
    let all = rtnl.list_routes(Family::V4, None).unwrap();
    assert!(all.iter().any(|r| r.table == 255), "{all:?}");
    assert!(all.iter().all(|r| r.family == Family::V4));

    let json = ns.ip(&["-j", "-4", "route", "show", "table", "51820"]);
    assert!(
        json_has(&json, &[r#""dst":"10.30.0.0/24""#, r#""dev":"r0""#, r#""metric":7"#]),
        "{json}"
    );
    assert!(json_has(&json, &[r#""dst":"default""#, r#""dev":"r0""#]), "{json}");
    let json = ns.ip(&["-j", "-6", "route", "show", "table", "51820"]);
    assert!(
        json_has(&json, &[r#""dst":"default""#, r#""dev":"r0""#, r#""metric":5"#]),
        "{json}"
    );

    let err = rtnl
        .add_route(&spec("10.30.0.0/24", "r0", Some(51820), Some(7)))
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("EEXIST"));
    assert!(
        err.message
            .starts_with("Unable to add route 10.30.0.0/24 dev r0 table 51820 metric 7: File exists"),
        "{}",
        err.message
    );

    rtnl.delete_route(&spec("10.30.0.0/24", "r0", Some(51820), Some(7)))
        .unwrap();
    rtnl.delete_route(&spec("0.0.0.0/0", "r0", Some(51820), None)).unwrap();
    rtnl.delete_route(&spec("::/0", "r0", Some(51820), Some(5))).unwrap();
    rtnl.delete_route(&spec("10.20.0.0/16", "r0", None, None)).unwrap();
    rtnl.delete_route(&spec("fd20::/64", "r0", None, None)).unwrap();
    assert!(rtnl.list_routes(Family::V4, Some(51820)).unwrap().is_empty());
    assert!(rtnl.list_routes(Family::V6, Some(51820)).unwrap().is_empty());
    assert!(find(&rtnl.list_routes(Family::V4, Some(254)).unwrap(), "10.20.0.0/16").is_none());
    assert_eq!(ns.ip(&["-4", "route", "show", "table", "51820"]).trim(), "");

    let err = rtnl
        .delete_route(&spec("10.30.0.0/24", "r0", Some(51820), None))
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("ESRCH"));
    let err = rtnl.add_route(&spec("10.30.0.1/24", "r0", None, None)).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    let err = rtnl
        .add_route(&spec("10.30.0.0/24", "nosuch0", None, None))
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("ENODEV"));
}

#[test]
fn route_get_reports_route_and_link_mtu() {
    let ns = TempNs::new("rget");
    ns.veth("g0", "g1");
    ns.ip(&["link", "set", "g0", "mtu", "1600"]);
    ns.ip(&["address", "add", "192.168.50.1/24", "dev", "g1"]);
    ns.ip(&["route", "add", "10.9.0.0/24", "dev", "g0", "mtu", "1400"]);
    ns.ip(&["-6", "route", "add", "fd09::/64", "dev", "g0", "mtu", "1300"]);
    ns.ip(&["route", "add", "10.10.0.0/24", "via", "192.168.50.254", "dev", "g1"]);
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    let g0 = rtnl.get_link("g0").unwrap();

    let lookup = rtnl.route_get("10.9.0.5".parse().unwrap(), None).unwrap();
    assert_eq!(lookup.ifname.as_deref(), Some("g0"));
    assert_eq!(lookup.ifindex, Some(g0.index));
    assert_eq!(
        (lookup.route_mtu, lookup.link_mtu, lookup.gateway),
        (Some(1400), Some(1600), None)
    );

    let lookup = rtnl.route_get("fd09::5".parse().unwrap(), None).unwrap();
    assert_eq!((lookup.ifname.as_deref(), lookup.route_mtu), (Some("g0"), Some(1300)));

    let lookup = rtnl.route_get("10.10.0.9".parse().unwrap(), None).unwrap();
    assert_eq!(lookup.ifname.as_deref(), Some("g1"));
    assert_eq!(lookup.gateway, Some("192.168.50.254".parse().unwrap()));
    assert_eq!((lookup.route_mtu, lookup.link_mtu), (None, Some(1500)));

    // With a fwmark: a rule sends marked packets to table 7, which routes via g1.
    rtnl.add_route(&spec("10.9.0.0/24", "g1", Some(7), None)).unwrap();
    let mut rule = RuleSpec::not_fwmark(Family::V4, 7, 0x99);
    rule.invert = false;
    rtnl.add_rule(&rule).unwrap();
    let marked = rtnl.route_get("10.9.0.5".parse().unwrap(), Some(0x99)).unwrap();
    assert_eq!(marked.ifname.as_deref(), Some("g1"));
    let unmarked = rtnl.route_get("10.9.0.5".parse().unwrap(), Some(0x98)).unwrap();
    assert_eq!(unmarked.ifname.as_deref(), Some("g0"));

    let err = rtnl.route_get("203.0.113.1".parse().unwrap(), None).unwrap_err();
    assert_eq!(err.errno_name(), Some("ENETUNREACH"));
    assert!(
        err.message
            .starts_with("Unable to get the route to 203.0.113.1: Network is unreachable"),
        "{}",
        err.message
    );
}
