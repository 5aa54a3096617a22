//! rtnetlink and sysctl for the interface manager (`crate::netlink::Rtnl`,
//! `crate::netlink::sysctl`): addresses, link settings, routes, rules, `/proc/sys` in a
//! namespace. Conversion only. Every call is async, may target a network namespace (a name
//! under /var/run/netns, a path containing `/`, or a descriptor) and takes an AbortSignal;
//! input is parsed inside the task, so invalid input rejects the Promise with
//! ERR_WGKIT_INVALID_ARGUMENT before anything is sent.

use super::kernel::{netns_target, to_target};
use crate::bindings::task::{spawn, Blocking};
use crate::error::{Error, Result};
use crate::netlink::{
    sysctl, Address, Family, IpPrefix, LinkChange, LinkSettings, Route, RouteLookup, RouteSpec, Rtnl, Rule, RuleSpec,
};
use napi::bindgen_prelude::{AbortSignal, AsyncTask, Either, ToNapiValue, TypeName};
use napi_derive::napi;
use std::net::IpAddr;

/// Runs `work` on the libuv pool with an rtnetlink socket opened in the namespace.
fn with_rtnl<T, J>(
    netns: Option<Either<String, i32>>,
    work: impl FnOnce(&mut Rtnl) -> Result<T> + Send + 'static,
    convert: fn(T) -> J,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<T, J>>
where
    T: Send + 'static,
    J: ToNapiValue + TypeName,
{
    let netns = netns_target(netns);
    spawn(move || work(&mut Rtnl::open(netns.as_ref())?), convert, signal)
}

/// [`with_rtnl`] for a change that returns nothing (the Promise resolves to `undefined`).
fn change_rtnl(
    netns: Option<Either<String, i32>>,
    work: impl FnOnce(&mut Rtnl) -> Result<()> + Send + 'static,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    with_rtnl(netns, work, |()| (), signal)
}

fn parse_address(text: &str) -> Result<IpAddr> {
    text.parse()
        .map_err(|_| Error::invalid_argument(format!("Invalid IP address `{text}'")))
}

#[napi(object, use_nullable = true)]
pub struct JsRtnlAddress {
    #[napi(ts_type = "4 | 6")]
    pub family: u32,
    pub address: String,
    pub prefix_length: u32,
}

#[napi(object, use_nullable = true)]
pub struct JsRtnlLink {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub mtu: u32,
    pub up: bool,
}

#[napi(object)]
pub struct JsRtnlLinkChange {
    pub mtu: Option<u32>,
    pub up: Option<bool>,
}

#[napi(object, use_nullable = true)]
pub struct JsRtnlRoute {
    #[napi(ts_type = "4 | 6")]
    pub family: u32,
    /// CIDR; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: String,
    pub table: u32,
    pub ifname: Option<String>,
    pub ifindex: Option<u32>,
    /// RTA_PRIORITY.
    pub metric: Option<u32>,
    /// rtm_protocol (RTPROT_*).
    pub protocol: u32,
    /// rtm_scope (RT_SCOPE_*).
    pub scope: u32,
    /// rtm_type (RTN_*).
    #[napi(js_name = "type")]
    pub kind: u32,
    pub gateway: Option<String>,
}

#[napi(object)]
pub struct JsRtnlRouteSpec {
    /// CIDR without host bits; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: String,
    pub ifname: String,
    /// Defaults to main (254).
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

#[napi(object, use_nullable = true)]
pub struct JsRtnlRouteLookup {
    pub ifname: Option<String>,
    pub ifindex: Option<u32>,
    pub gateway: Option<String>,
    /// RTAX_MTU of the route, if it has one.
    pub route_mtu: Option<u32>,
    /// The output link's MTU.
    pub link_mtu: Option<u32>,
}

#[napi(object, use_nullable = true)]
pub struct JsRtnlRule {
    #[napi(ts_type = "4 | 6")]
    pub family: u32,
    pub priority: Option<u32>,
    pub table: u32,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub invert: bool,
    pub suppress_prefix_length: Option<u32>,
    /// FR_ACT_* (1: lookup in table).
    pub action: u32,
}

#[napi(object)]
pub struct JsRtnlRuleSpec {
    #[napi(ts_type = "4 | 6")]
    pub family: u32,
    pub table: u32,
    pub fwmark: Option<u32>,
    pub invert: Option<bool>,
    pub suppress_prefix_length: Option<u32>,
    pub priority: Option<u32>,
}

fn addresses_to_js(addresses: Vec<Address>) -> Vec<JsRtnlAddress> {
    addresses
        .into_iter()
        .map(|a| JsRtnlAddress {
            family: a.family.version(),
            address: a.address.to_string(),
            prefix_length: a.prefix_len as u32,
        })
        .collect()
}

fn link_to_js(link: LinkSettings) -> JsRtnlLink {
    JsRtnlLink {
        index: link.index,
        name: link.name,
        kind: link.kind,
        mtu: link.mtu,
        up: link.up,
    }
}

fn routes_to_js(routes: Vec<Route>) -> Vec<JsRtnlRoute> {
    routes
        .into_iter()
        .map(|r| JsRtnlRoute {
            family: r.family.version(),
            destination: r.destination.to_string(),
            table: r.table,
            ifname: r.ifname,
            ifindex: r.ifindex,
            metric: r.metric,
            protocol: r.protocol as u32,
            scope: r.scope as u32,
            kind: r.kind as u32,
            gateway: r.gateway.map(|g| g.to_string()),
        })
        .collect()
}

fn lookup_to_js(lookup: RouteLookup) -> JsRtnlRouteLookup {
    JsRtnlRouteLookup {
        ifname: lookup.ifname,
        ifindex: lookup.ifindex,
        gateway: lookup.gateway.map(|g| g.to_string()),
        route_mtu: lookup.route_mtu,
        link_mtu: lookup.link_mtu,
    }
}

fn rules_to_js(rules: Vec<Rule>) -> Vec<JsRtnlRule> {
    rules
        .into_iter()
        .map(|r| JsRtnlRule {
            family: r.family.version(),
            priority: r.priority,
            table: r.table,
            fwmark: r.fwmark,
            fwmask: r.fwmask,
            invert: r.invert,
            suppress_prefix_length: r.suppress_prefix_len,
            action: r.action as u32,
        })
        .collect()
}

fn route_spec(spec: JsRtnlRouteSpec) -> Result<RouteSpec> {
    Ok(RouteSpec {
        destination: IpPrefix::parse(&spec.destination)?,
        ifname: spec.ifname,
        table: spec.table,
        metric: spec.metric,
    })
}

fn rule_spec(spec: JsRtnlRuleSpec) -> Result<RuleSpec> {
    Ok(RuleSpec {
        family: Family::from_version(spec.family)?,
        table: spec.table,
        fwmark: spec.fwmark,
        invert: spec.invert.unwrap_or(false),
        suppress_prefix_len: spec.suppress_prefix_length,
        priority: spec.priority,
    })
}

/// `ip address show dev IFNAME`.
#[napi(ts_return_type = "Promise<JsRtnlAddress[]>")]
pub fn rtnl_list_addresses(
    ifname: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Vec<Address>, Vec<JsRtnlAddress>>> {
    with_rtnl(netns, move |rtnl| rtnl.list_addresses(&ifname), addresses_to_js, signal)
}

/// `ip address add CIDR dev IFNAME` (a bare address is a /32 or /128; EEXIST if present).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_add_address(
    ifname: String,
    cidr: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(
        netns,
        move |rtnl| {
            let prefix = IpPrefix::parse(&cidr)?;
            rtnl.add_address(&ifname, &prefix)
        },
        signal,
    )
}

/// `ip address del CIDR dev IFNAME` (EADDRNOTAVAIL if absent).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_delete_address(
    ifname: String,
    cidr: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(
        netns,
        move |rtnl| {
            let prefix = IpPrefix::parse(&cidr)?;
            rtnl.delete_address(&ifname, &prefix)
        },
        signal,
    )
}

/// Index, name, kind (null for physical links and lo), MTU and up flag; ENODEV if missing.
#[napi(ts_return_type = "Promise<JsRtnlLink>")]
pub fn rtnl_get_link(
    ifname: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<LinkSettings, JsRtnlLink>> {
    with_rtnl(netns, move |rtnl| rtnl.get_link(&ifname), link_to_js, signal)
}

/// `ip link set dev IFNAME [mtu M] [up|down]`.
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_set_link(
    ifname: String,
    change: JsRtnlLinkChange,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    let change = LinkChange {
        mtu: change.mtu,
        up: change.up,
    };
    change_rtnl(netns, move |rtnl| rtnl.set_link(&ifname, &change), signal)
}

/// `ip link set dev IFNAME netns TARGET` (a name, a path containing `/`, or a descriptor).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_move_link(
    ifname: String,
    target: Either<String, i32>,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    let destination = to_target(target);
    change_rtnl(netns, move |rtnl| rtnl.move_link(&ifname, &destination), signal)
}

/// `ip link del dev IFNAME`; with `kinds`, a link of another kind is refused (EOPNOTSUPP).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_delete_link(
    ifname: String,
    kinds: Option<Vec<String>>,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(netns, move |rtnl| rtnl.delete_link(&ifname, kinds.as_deref()), signal)
}

/// `ip -4|-6 route show [table T]` (every table when `table` is null).
#[napi(ts_return_type = "Promise<JsRtnlRoute[]>")]
pub fn rtnl_list_routes(
    #[napi(ts_arg_type = "4 | 6")] family: u32,
    table: Option<u32>,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Vec<Route>, Vec<JsRtnlRoute>>> {
    with_rtnl(
        netns,
        move |rtnl| rtnl.list_routes(Family::from_version(family)?, table),
        routes_to_js,
        signal,
    )
}

/// `ip route add CIDR dev IFNAME [table T] [metric M]` (protocol boot, scope link).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_add_route(
    route: JsRtnlRouteSpec,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(netns, move |rtnl| rtnl.add_route(&route_spec(route)?), signal)
}

/// `ip route del CIDR dev IFNAME [table T] [metric M]` (ESRCH if no route matches).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_delete_route(
    route: JsRtnlRouteSpec,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(netns, move |rtnl| rtnl.delete_route(&route_spec(route)?), signal)
}

/// `ip route get ADDRESS [mark FWMARK]`, with the route MTU and the output link's MTU.
#[napi(ts_return_type = "Promise<JsRtnlRouteLookup>")]
pub fn rtnl_route_get(
    address: String,
    fwmark: Option<u32>,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<RouteLookup, JsRtnlRouteLookup>> {
    with_rtnl(
        netns,
        move |rtnl| {
            let address = parse_address(&address)?;
            rtnl.route_get(address, fwmark)
        },
        lookup_to_js,
        signal,
    )
}

/// `ip -4|-6 rule show`.
#[napi(ts_return_type = "Promise<JsRtnlRule[]>")]
pub fn rtnl_list_rules(
    #[napi(ts_arg_type = "4 | 6")] family: u32,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Vec<Rule>, Vec<JsRtnlRule>>> {
    with_rtnl(
        netns,
        move |rtnl| rtnl.list_rules(Family::from_version(family)?),
        rules_to_js,
        signal,
    )
}

/// `ip -4|-6 rule add [not] [fwmark M] table T [suppress_prefixlength N] [priority P]`.
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_add_rule(
    rule: JsRtnlRuleSpec,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(netns, move |rtnl| rtnl.add_rule(&rule_spec(rule)?), signal)
}

/// `ip -4|-6 rule del ...`: the first rule matching the selectors (ENOENT if none).
#[napi(ts_return_type = "Promise<void>")]
pub fn rtnl_delete_rule(
    rule: JsRtnlRuleSpec,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    change_rtnl(netns, move |rtnl| rtnl.delete_rule(&rule_spec(rule)?), signal)
}

/// `/proc/sys/PATH` as the namespace sees it, trimmed.
#[napi(ts_return_type = "Promise<string>")]
pub fn sysctl_read(
    path: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<String, String>> {
    let netns = netns_target(netns);
    spawn(move || sysctl::read(netns.as_ref(), &path), |value| value, signal)
}

/// Writes `/proc/sys/PATH` in the namespace.
#[napi(ts_return_type = "Promise<void>")]
pub fn sysctl_write(
    path: String,
    value: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    let netns = netns_target(netns);
    spawn(move || sysctl::write(netns.as_ref(), &path, &value), |()| (), signal)
}
