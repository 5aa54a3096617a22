//! `Rtnl`: one rtnetlink socket in a network namespace, with the operations an interface
//! manager needs (wg-quick's `ip address`, `ip link`, `ip route`, `ip rule`). Each method
//! is one of the modules `address`, `link_settings`, `route` and `rule`; sysctls are in
//! `sysctl` (they need no socket).
//!
//! The socket is created in the target namespace by a helper thread (see `netns`) and
//! every request on it acts there, from whichever thread uses it.

use super::address::{self, Address};
use super::link_settings::{self, LinkChange, LinkSettings};
use super::netns::{open_transport, NetnsTarget};
use super::prefix::{Family, IpPrefix};
use super::route::{self, Route, RouteLookup, RouteSpec};
use super::rule::{self, Rule, RuleSpec};
use super::socket::Connection;
use crate::error::Result;
use std::net::IpAddr;

pub struct Rtnl {
    conn: Connection,
}

impl Rtnl {
    /// Opens an rtnetlink socket in `netns`, or in the caller's namespace for `None`.
    pub fn open(netns: Option<&NetnsTarget>) -> Result<Rtnl> {
        let transport = open_transport(netns, netlink_sys::protocols::NETLINK_ROUTE)?;
        Ok(Rtnl {
            conn: Connection::new(transport),
        })
    }

    /// `ip address show dev IFNAME`.
    pub fn list_addresses(&mut self, ifname: &str) -> Result<Vec<Address>> {
        address::list(&mut self.conn, ifname)
    }

    /// `ip address add PREFIX dev IFNAME` (EEXIST if present).
    pub fn add_address(&mut self, ifname: &str, prefix: &IpPrefix) -> Result<()> {
        address::add(&mut self.conn, ifname, prefix)
    }

    /// `ip address del PREFIX dev IFNAME` (EADDRNOTAVAIL if absent).
    pub fn delete_address(&mut self, ifname: &str, prefix: &IpPrefix) -> Result<()> {
        address::delete(&mut self.conn, ifname, prefix)
    }

    /// Index, name, kind, MTU and up flag of a link (ENODEV if missing).
    pub fn get_link(&mut self, ifname: &str) -> Result<LinkSettings> {
        link_settings::get(&mut self.conn, ifname)
    }

    /// `ip link set dev IFNAME [mtu M] [up|down]`.
    pub fn set_link(&mut self, ifname: &str, change: &LinkChange) -> Result<()> {
        link_settings::set(&mut self.conn, ifname, change)
    }

    /// `ip link set dev IFNAME netns TARGET`.
    pub fn move_link(&mut self, ifname: &str, target: &NetnsTarget) -> Result<()> {
        link_settings::move_to(&mut self.conn, ifname, target)
    }

    /// `ip link del dev IFNAME`, refused (EOPNOTSUPP) unless the link's kind is in `kinds`
    /// when a list is given.
    pub fn delete_link(&mut self, ifname: &str, kinds: Option<&[String]>) -> Result<()> {
        link_settings::delete(&mut self.conn, ifname, kinds)
    }

    /// `ip -4|-6 route show [table T]` (all tables without `table`).
    pub fn list_routes(&mut self, family: Family, table: Option<u32>) -> Result<Vec<Route>> {
        route::list(&mut self.conn, family, table)
    }

    /// `ip route add CIDR dev IFNAME [table T] [metric M]`.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<()> {
        route::add(&mut self.conn, spec)
    }

    /// `ip route del CIDR dev IFNAME [table T] [metric M]`.
    pub fn delete_route(&mut self, spec: &RouteSpec) -> Result<()> {
        route::delete(&mut self.conn, spec)
    }

    /// `ip route get ADDRESS [mark M]`, plus the output link's MTU.
    pub fn route_get(&mut self, address: IpAddr, fwmark: Option<u32>) -> Result<RouteLookup> {
        route::get(&mut self.conn, address, fwmark)
    }

    /// `ip -4|-6 rule show`.
    pub fn list_rules(&mut self, family: Family) -> Result<Vec<Rule>> {
        rule::list(&mut self.conn, family)
    }

    /// `ip -4|-6 rule add ...` (EEXIST if an identical rule with the same priority exists).
    pub fn add_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        rule::add(&mut self.conn, spec)
    }

    /// `ip -4|-6 rule del ...` (ENOENT if no rule matches).
    pub fn delete_rule(&mut self, spec: &RuleSpec) -> Result<()> {
        rule::delete(&mut self.conn, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtnl_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Rtnl>();
    }
}
