//! Interface addresses in a throw-away namespace: add, list, delete for IPv4 and IPv6,
//! EEXIST on a duplicate, ENODEV for a missing link (needs root).

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

mod rtnl_support;

use rtnl_support::*;
use wgkit::error::ErrorCode;
use wgkit::netlink::{Family, IpPrefix, Rtnl};

fn p(text: &str) -> IpPrefix {
    IpPrefix::parse(text).unwrap()
}

#[test]
fn add_list_delete_v4_and_v6() {
    let ns = TempNs::new("addr");
    ns.veth("v0", "v1");
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();

    rtnl.add_address("v0", &p("10.0.0.1/24")).unwrap();
    rtnl.add_address("v0", &p("fd00::1/64")).unwrap();
    rtnl.add_address("v0", &p("10.0.0.7")).unwrap();

    let listed: Vec<(Family, String)> = rtnl
        .list_addresses("v0")
        .unwrap()
        .into_iter()
        .map(|a| (a.family, a.prefix().to_string()))
        .collect();
    assert!(listed.contains(&(Family::V4, "10.0.0.1/24".into())), "{listed:?}");
    assert!(listed.contains(&(Family::V4, "10.0.0.7/32".into())), "{listed:?}");
    assert!(listed.contains(&(Family::V6, "fd00::1/64".into())), "{listed:?}");
    // The other end of the veth has only its link-local IPv6 address (if any).
    assert!(rtnl
        .list_addresses("v1")
        .unwrap()
        .iter()
        .all(|a| a.family == Family::V6));

    let json = ns.ip(&["-j", "address", "show", "dev", "v0"]);
    assert!(
        json_has(
            &json,
            &[r#""family":"inet""#, r#""local":"10.0.0.1""#, r#""prefixlen":24"#]
        ),
        "{json}"
    );
    assert!(
        json_has(&json, &[r#""local":"10.0.0.7""#, r#""prefixlen":32"#]),
        "{json}"
    );
    assert!(
        json_has(
            &json,
            &[r#""family":"inet6""#, r#""local":"fd00::1""#, r#""prefixlen":64"#]
        ),
        "{json}"
    );

    let err = rtnl.add_address("v0", &p("10.0.0.1/24")).unwrap_err();
    assert_eq!(err.errno_name(), Some("EEXIST"));
    // The kernel's extended ACK may follow: ` (kernel: "ipv4: Address already assigned")`.
    assert!(
        err.message
            .starts_with("Unable to add address 10.0.0.1/24 to v0: File exists"),
        "{}",
        err.message
    );
    let err = rtnl.add_address("v0", &p("fd00::1/64")).unwrap_err();
    assert_eq!(err.errno_name(), Some("EEXIST"));

    rtnl.delete_address("v0", &p("10.0.0.1/24")).unwrap();
    rtnl.delete_address("v0", &p("fd00::1/64")).unwrap();
    let left: Vec<String> = rtnl
        .list_addresses("v0")
        .unwrap()
        .into_iter()
        .map(|a| a.prefix().to_string())
        .collect();
    assert!(!left.contains(&"10.0.0.1/24".to_string()), "{left:?}");
    assert!(!left.contains(&"fd00::1/64".to_string()), "{left:?}");
    assert!(left.contains(&"10.0.0.7/32".to_string()), "{left:?}");
    let json = ns.ip(&["-j", "address", "show", "dev", "v0"]);
    assert!(
        !json.contains(r#""local":"10.0.0.1""#) && !json.contains(r#""local":"fd00::1""#),
        "{json}"
    );

    let err = rtnl.delete_address("v0", &p("10.0.0.1/24")).unwrap_err();
    assert_eq!(err.errno_name(), Some("EADDRNOTAVAIL"));
    assert!(
        err.message
            .starts_with("Unable to delete address 10.0.0.1/24 from v0: "),
        "{}",
        err.message
    );
}

#[test]
fn missing_link_and_bad_names() {
    let ns = TempNs::new("addrerr");
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    let err = rtnl.add_address("nosuch0", &p("10.0.0.1/24")).unwrap_err();
    assert_eq!(err.code, ErrorCode::DeviceNotFound);
    assert_eq!(err.errno_name(), Some("ENODEV"));
    assert_eq!(
        err.message,
        "Unable to add address 10.0.0.1/24 to nosuch0: No such device"
    );
    assert_eq!(rtnl.list_addresses("nosuch0").unwrap_err().errno_name(), Some("ENODEV"));
    let err = rtnl.add_address("bad/name", &p("10.0.0.1/24")).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    // Loopback in a fresh namespace: 127.0.0.1/8 and ::1/128.
    let lo: Vec<String> = rtnl
        .list_addresses("lo")
        .unwrap()
        .into_iter()
        .map(|a| a.prefix().to_string())
        .collect();
    assert_eq!(lo, ["127.0.0.1/8", "::1/128"]);
}
