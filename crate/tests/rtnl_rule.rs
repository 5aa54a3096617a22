//! wg-quick's two policy routing rules, for both families, in a throw-away namespace:
//! `not fwmark T table T` and `table main suppress_prefixlength 0`; add, list, duplicates,
//! delete (needs root).

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

mod rtnl_support;

use rtnl_support::*;
use wgkit::error::ErrorCode;
use wgkit::netlink::{Family, Rtnl, RuleSpec, FR_ACT_TO_TBL};

#[test]
fn wg_quick_rules_for_both_families() {
    let ns = TempNs::new("rule");
    let _home = StaysHome::new();
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();

    for family in [Family::V4, Family::V6] {
        let before = rtnl.list_rules(family).unwrap();
        assert!(
            before.iter().any(|r| r.table == 254 && r.priority == Some(32766)),
            "{before:?}"
        );
        if family == Family::V4 {
            // The local rule has priority 0 (the kernel leaves FRA_PRIORITY out).
            assert_eq!((before[0].priority, before[0].table), (Some(0), 255));
        }

        rtnl.add_rule(&RuleSpec::not_fwmark(family, 51820, 51820)).unwrap();
        rtnl.add_rule(&RuleSpec::suppress_main(family)).unwrap();

        let rules = rtnl.list_rules(family).unwrap();
        assert_eq!(rules.len(), before.len() + 2, "{rules:?}");
        let fwmark = rules.iter().find(|r| r.table == 51820).expect("the fwmark rule");
        assert_eq!(fwmark.family, family);
        assert_eq!((fwmark.fwmark, fwmark.fwmask), (Some(51820), Some(u32::MAX)));
        assert!(fwmark.invert);
        assert_eq!((fwmark.suppress_prefix_len, fwmark.action), (None, FR_ACT_TO_TBL));
        let suppress = rules
            .iter()
            .find(|r| r.suppress_prefix_len == Some(0))
            .expect("the suppress rule");
        assert_eq!((suppress.table, suppress.invert, suppress.fwmark), (254, false, None));
        // Added without a priority, each lands just below the previous first rule, so
        // the suppress rule comes first, as wg-quick wants.
        assert!(suppress.priority < fwmark.priority, "{rules:?}");

        let version = format!("-{}", family.version());
        let json = ns.ip(&["-j", &version, "rule", "show"]);
        assert!(
            json_has(&json, &[r#""not":null"#, r#""fwmark":"0xca6c""#, r#""table":"51820""#]),
            "{json}"
        );
        assert!(
            json_has(&json, &[r#""table":"main""#, r#""suppress_prefixlen":0"#]),
            "{json}"
        );

        // As with `ip rule add`, a rule without a priority gets a new one, so adding it again
        // makes a second copy (wg-quick deletes until none is left); the same rule with the
        // same priority is EEXIST.
        rtnl.add_rule(&RuleSpec::suppress_main(family)).unwrap();
        let copies = rtnl.list_rules(family).unwrap();
        assert_eq!(copies.iter().filter(|r| r.suppress_prefix_len == Some(0)).count(), 2);
        let mut same = RuleSpec::suppress_main(family);
        same.priority = suppress.priority;
        let err = rtnl.add_rule(&same).unwrap_err();
        assert_eq!(err.errno_name(), Some("EEXIST"));
        assert!(
            err.message.starts_with(&format!(
                "Unable to add rule {version} table 254 suppress_prefixlength 0 priority {}: File exists",
                suppress.priority.unwrap()
            )),
            "{}",
            err.message
        );
        rtnl.delete_rule(&RuleSpec::suppress_main(family)).unwrap();

        rtnl.delete_rule(&RuleSpec::not_fwmark(family, 51820, 51820)).unwrap();
        rtnl.delete_rule(&RuleSpec::suppress_main(family)).unwrap();
        assert_eq!(rtnl.list_rules(family).unwrap(), before);
        let json = ns.ip(&["-j", &version, "rule", "show"]);
        assert!(
            !json.contains("51820") && !json.contains("suppress_prefixlen"),
            "{json}"
        );

        let err = rtnl.delete_rule(&RuleSpec::suppress_main(family)).unwrap_err();
        assert_eq!(err.errno_name(), Some("ENOENT"));
    }
}

#[test]
fn explicit_priority_and_small_tables() {
    let ns = TempNs::new("rulep");
    let mut rtnl = Rtnl::open(Some(&ns.target())).unwrap();
    let spec = RuleSpec {
        family: Family::V4,
        table: 100,
        fwmark: Some(0x10),
        invert: false,
        suppress_prefix_len: None,
        priority: Some(1000),
    };
    rtnl.add_rule(&spec).unwrap();
    assert_eq!(rtnl.add_rule(&spec).unwrap_err().errno_name(), Some("EEXIST"));
    let rules = rtnl.list_rules(Family::V4).unwrap();
    let rule = rules.iter().find(|r| r.priority == Some(1000)).unwrap();
    assert_eq!((rule.table, rule.fwmark, rule.invert), (100, Some(0x10), false));
    assert!(json_has(
        &ns.ip(&["-j", "rule", "show"]),
        &[r#""priority":1000"#, r#""fwmark":"0x10""#, r#""table":"100""#]
    ));
    rtnl.delete_rule(&spec).unwrap();
    assert!(rtnl
        .list_rules(Family::V4)
        .unwrap()
        .iter()
        .all(|r| r.priority != Some(1000)));

    let mut bad = RuleSpec::suppress_main(Family::V4);
    bad.suppress_prefix_len = Some(64);
    assert_eq!(rtnl.add_rule(&bad).unwrap_err().code, ErrorCode::InvalidArgument);
}
