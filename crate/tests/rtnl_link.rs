//! Link settings in throw-away namespaces: get, MTU, up/down, moving a link to another
//! namespace by name, path and descriptor, the kind guard of delete (needs root).

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

mod rtnl_support;

use rtnl_support::*;
use std::os::fd::AsRawFd;
use wgkit::error::ErrorCode;
use wgkit::netlink::{LinkChange, NetnsTarget, Rtnl};

#[test]
fn get_set_mtu_and_up() {
    let ns = TempNs::new("link");
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();

    let link = rtnl.get_link("v0").unwrap();
    assert_eq!(link.name, "v0");
    assert_eq!(link.kind.as_deref(), Some("veth"));
    assert_eq!(link.mtu, 1500);
    assert!(!link.up);
    let lo = rtnl.get_link("lo").unwrap();
    assert_eq!((lo.index, lo.kind, lo.up), (1, None, true));

    rtnl.set_link(
        "v0",
        &LinkChange {
            mtu: Some(1420),
            up: Some(true),
        },
    )
    .unwrap();
    let link = rtnl.get_link("v0").unwrap();
    assert_eq!((link.mtu, link.up), (1420, true));
    let json = ns.ip(&["-j", "link", "show", "dev", "v0"]);
    assert!(
        json_has(&json, &[r#""ifname":"v0""#, r#""UP""#, r#""mtu":1420"#]),
        "{json}"
    );
    assert!(json.contains(&format!(r#""ifindex":{}"#, link.index)), "{json}");

    rtnl.set_link(
        "v0",
        &LinkChange {
            mtu: None,
            up: Some(false),
        },
    )
    .unwrap();
    assert!(!rtnl.get_link("v0").unwrap().up);
    assert!(!ns.ip(&["-j", "link", "show", "dev", "v0"]).contains(r#""UP""#));

    // Kernel refusals carry the errno and say what failed.
    let err = rtnl
        .set_link(
            "v0",
            &LinkChange {
                mtu: Some(10),
                up: None,
            },
        )
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("EINVAL"));
    assert!(
        err.message.starts_with("Unable to set mtu 10 on interface v0: "),
        "{}",
        err.message
    );
    let err = rtnl.get_link("nosuch0").unwrap_err();
    assert_eq!(
        (err.code, err.errno_name()),
        (ErrorCode::DeviceNotFound, Some("ENODEV"))
    );
    let err = rtnl
        .set_link(
            "nosuch0",
            &LinkChange {
                mtu: None,
                up: Some(true),
            },
        )
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("ENODEV"));
    assert_eq!(
        rtnl.get_link("sixteen-chars-xx").unwrap_err().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn move_link_by_name_path_and_fd() {
    let a = TempNs::new("mva");
    let b = TempNs::new("mvb");
    a.ip(&["link", "add", "m0", "type", "veth", "peer", "name", "m1"]);
    a.ip(&["link", "add", "m2", "type", "veth", "peer", "name", "m3"]);
    let _home = StaysHome::new();
    let mut in_a = Rtnl::open(Some(&a.target())).unwrap();
    let mut in_b = Rtnl::open(Some(&b.target())).unwrap();

    in_a.move_link("m0", &NetnsTarget::Name(b.name.clone())).unwrap();
    assert_eq!(in_a.get_link("m0").unwrap_err().errno_name(), Some("ENODEV"));
    assert_eq!(in_b.get_link("m0").unwrap().kind.as_deref(), Some("veth"));
    assert!(b.ip(&["-j", "link", "show"]).contains(r#""ifname":"m0""#));

    in_a.move_link("m1", &NetnsTarget::Path(b.path())).unwrap();
    assert!(in_b.get_link("m1").is_ok());

    let file = std::fs::File::open(b.path()).unwrap();
    in_a.move_link("m2", &NetnsTarget::Fd(file.as_raw_fd())).unwrap();
    assert!(in_b.get_link("m2").is_ok());
    // The descriptor was only borrowed.
    assert!(std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).is_ok());

    // And back again, from the other side.
    in_b.move_link("m2", &NetnsTarget::Path(a.path())).unwrap();
    assert!(in_a.get_link("m2").is_ok());

    let err = in_a
        .move_link("m3", &NetnsTarget::Name("wgkit-no-such-netns".into()))
        .unwrap_err();
    assert_eq!(err.errno_name(), Some("ENOENT"));
    let err = in_a.move_link("nosuch0", &NetnsTarget::Path(b.path())).unwrap_err();
    assert_eq!(err.errno_name(), Some("ENODEV"));
    assert!(
        err.message
            .starts_with("Unable to move interface nosuch0 to network namespace /var/run/netns/"),
        "{}",
        err.message
    );
}

#[test]
fn delete_with_a_kind_guard() {
    let ns = TempNs::new("del");
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    let allowed = vec!["wireguard".to_string(), "tun".to_string()];

    let err = rtnl.delete_link("d0", Some(&allowed)).unwrap_err();
    assert_eq!(err.errno_name(), Some("EOPNOTSUPP"));
    assert_eq!(
        err.message,
        "Unable to delete interface d0: it is of kind `veth', not one of the allowed kinds (wireguard, tun)"
    );
    let err = rtnl.delete_link("lo", Some(&allowed)).unwrap_err();
    assert!(err.message.contains("of no kind"), "{}", err.message);
    assert!(rtnl.get_link("d0").is_ok() && rtnl.get_link("lo").is_ok());

    rtnl.delete_link("br0", Some(&["bridge".to_string()])).unwrap();
    assert_eq!(rtnl.get_link("br0").unwrap_err().errno_name(), Some("ENODEV"));
    rtnl.delete_link("d0", None).unwrap();
    // Deleting one end of a veth pair deletes both.
    assert!(rtnl.get_link("d1").is_err());
    assert_eq!(ns.ip(&["-br", "link"]).lines().count(), 1);

    let err = rtnl.delete_link("d0", None).unwrap_err();
    assert_eq!(err.errno_name(), Some("ENODEV"));
    assert_eq!(err.message, "Unable to delete interface d0: No such device");
}

#[test]
fn tun_links_have_kind_tun() {
    let ns = TempNs::new("tun");
    ns.ip(&["tuntap", "add", "dev", "t0", "mode", "tun"]);
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    assert_eq!(rtnl.get_link("t0").unwrap().kind.as_deref(), Some("tun"));
    rtnl.delete_link("t0", Some(&["wireguard".to_string(), "tun".to_string()]))
        .unwrap();
    assert_eq!(rtnl.get_link("t0").unwrap_err().errno_name(), Some("ENODEV"));
}
