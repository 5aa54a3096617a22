//! Sysctls as a network namespace sees them, and the promise that no operation with a
//! namespace target moves the calling thread (needs root).

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

mod rtnl_support;

use rtnl_support::*;
use std::os::fd::AsRawFd;
use wgkit::error::ErrorCode;
use wgkit::netlink::{sysctl, Family, IpPrefix, LinkChange, NetnsTarget, RouteSpec, Rtnl, RuleSpec};

const SRC_VALID_MARK: &str = "net/ipv4/conf/all/src_valid_mark";

#[test]
fn sysctl_write_in_a_namespace_leaves_the_host_alone() {
    let ns = TempNs::new("sysctl");
    let _home = StaysHome::new();
    let host_before = std::fs::read_to_string(format!("/proc/sys/{SRC_VALID_MARK}")).unwrap();
    let target = ns.target();

    assert_eq!(sysctl::read(Some(&target), SRC_VALID_MARK).unwrap(), "0");
    sysctl::write(Some(&target), SRC_VALID_MARK, "1").unwrap();
    assert_eq!(sysctl::read(Some(&target), SRC_VALID_MARK).unwrap(), "1");
    assert_eq!(ns.exec(&["cat", &format!("/proc/sys/{SRC_VALID_MARK}")]).trim(), "1");
    // By path and by descriptor as well, with the /proc/sys/ prefix.
    let by_path = NetnsTarget::Path(ns.path());
    assert_eq!(
        sysctl::read(Some(&by_path), &format!("/proc/sys/{SRC_VALID_MARK}")).unwrap(),
        "1"
    );
    let file = std::fs::File::open(ns.path()).unwrap();
    sysctl::write(Some(&NetnsTarget::Fd(file.as_raw_fd())), SRC_VALID_MARK, "0\n").unwrap();
    assert_eq!(sysctl::read(Some(&target), SRC_VALID_MARK).unwrap(), "0");

    // The host kept its value throughout.
    let host_after = std::fs::read_to_string(format!("/proc/sys/{SRC_VALID_MARK}")).unwrap();
    assert_eq!(host_before, host_after);
    assert_eq!(sysctl::read(None, SRC_VALID_MARK).unwrap(), host_before.trim());

    // Per-link entries exist only where the link does.
    ns.ip(&["link", "add", "s0", "type", "veth", "peer", "name", "s1"]);
    assert_eq!(
        sysctl::read(Some(&target), "net/ipv6/conf/s0/disable_ipv6").unwrap(),
        "0"
    );
    let err = sysctl::read(None, "net/ipv6/conf/s0/disable_ipv6");
    if !std::path::Path::new("/sys/class/net/s0").exists() {
        assert_eq!(err.unwrap_err().errno_name(), Some("ENOENT"));
    }

    let err = sysctl::write(Some(&target), SRC_VALID_MARK, "nonsense").unwrap_err();
    assert_eq!(err.errno_name(), Some("EINVAL"));
    assert!(
        err.message.starts_with("Unable to write `nonsense' to /proc/sys/"),
        "{}",
        err.message
    );
    let err = sysctl::read(Some(&target), "net/../../etc/passwd").unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    let err = sysctl::read(Some(&NetnsTarget::Name("wgkit-no-such-netns".into())), SRC_VALID_MARK).unwrap_err();
    assert_eq!(err.errno_name(), Some("ENOENT"));
}

#[test]
fn namespace_targets_never_move_the_calling_thread() {
    let ns = TempNs::new("home");
    ns.veth("h0", "h1");
    let before = thread_netns();
    let check = |what: &str| assert_eq!(thread_netns(), before, "after {what}");
    let targets = [
        ns.target(),
        NetnsTarget::Path(ns.path()),
        NetnsTarget::Path("/proc/self/ns/net".into()),
    ];
    for target in &targets {
        let mut rtnl = Rtnl::open(Some(target)).unwrap();
        check("open");
        let _ = rtnl.list_addresses("lo").unwrap();
        check("list_addresses");
        let _ = rtnl.get_link("lo").unwrap();
        check("get_link");
        let _ = rtnl.list_routes(Family::V4, None).unwrap();
        check("list_routes");
        let _ = rtnl.list_rules(Family::V6).unwrap();
        check("list_rules");
        let _ = rtnl.route_get("127.0.0.1".parse().unwrap(), None).unwrap();
        check("route_get");
        let _ = sysctl::read(Some(target), SRC_VALID_MARK).unwrap();
        check("sysctl read");
    }
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    rtnl.add_address("h0", &IpPrefix::parse("10.44.0.1/24").unwrap())
        .unwrap();
    rtnl.set_link(
        "h0",
        &LinkChange {
            mtu: Some(1400),
            up: Some(true),
        },
    )
    .unwrap();
    let route = RouteSpec {
        destination: IpPrefix::parse("10.45.0.0/24").unwrap(),
        ifname: "h0".into(),
        table: Some(51820),
        metric: None,
    };
    rtnl.add_route(&route).unwrap();
    rtnl.delete_route(&route).unwrap();
    rtnl.add_rule(&RuleSpec::suppress_main(Family::V4)).unwrap();
    rtnl.delete_rule(&RuleSpec::suppress_main(Family::V4)).unwrap();
    sysctl::write(Some(&ns.target()), SRC_VALID_MARK, "1").unwrap();
    // Failures too.
    assert!(Rtnl::open(Some(&NetnsTarget::Path("/proc/self/status".into()))).is_err());
    check("the changes");
}
