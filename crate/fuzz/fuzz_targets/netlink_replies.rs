//! The netlink decoders (generic netlink `wireguard` dumps, rtnetlink links, addresses,
//! routes, rules, the family lookup and the error/done messages) fed arbitrary kernel
//! answers: a result or an error, never a panic and never a wait for more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wgkit::fuzzing::{netlink_exchange, NetlinkQuery};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let query = match which % 12 {
        0 => NetlinkQuery::ResolveFamily,
        1 | 2 | 3 => NetlinkQuery::GetDevice {
            family: 0x20 + (which as u16 >> 4),
        },
        4 => NetlinkQuery::ListLinks,
        5 => NetlinkQuery::GetLink,
        6 => NetlinkQuery::ListAddresses,
        7 => NetlinkQuery::ListRoutes { v6: which & 0x80 != 0 },
        8 => NetlinkQuery::RouteGet { v6: which & 0x80 != 0 },
        9 => NetlinkQuery::ListRules { v6: which & 0x80 != 0 },
        _ => NetlinkQuery::LinkSettings,
    };
    // Datagrams separated by the 4-byte marker "\xffDG\xff" (rare inside netlink messages).
    let mut answers = Vec::new();
    let mut rest = rest;
    while let Some(at) = rest.windows(4).position(|w| w == b"\xffDG\xff") {
        answers.push(rest[..at].to_vec());
        rest = &rest[at + 4..];
    }
    answers.push(rest.to_vec());
    let _ = netlink_exchange(query, answers);
});
