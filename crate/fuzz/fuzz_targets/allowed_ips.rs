//! The allowed-IPs trie against a naive model: a list of (masked prefix, peer), longest
//! match by scanning it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wgkit::device::AllowedIps;
use wgkit::model::AllowedIp;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert { ip: Ip, cidr: u8, peer: u8 },
    RemoveIfOwned { ip: Ip, cidr: u8, peer: u8 },
    RemovePeer { peer: u8 },
    Lookup { ip: Ip },
}

/// Addresses from a small space (so prefixes overlap often) or any address.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ip {
    SmallV4(u8, u8),
    V4(u32),
    SmallV6(u8, u8),
    V6(u128),
}

impl Ip {
    fn addr(self) -> IpAddr {
        match self {
            Ip::SmallV4(a, b) => IpAddr::V4(Ipv4Addr::new(10, a & 3, b & 0xc3, b)),
            Ip::V4(a) => IpAddr::V4(a.into()),
            Ip::SmallV6(a, b) => IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                a as u16 & 3,
                0,
                0,
                b as u16 & 0xc3,
                b as u16,
            )),
            Ip::V6(a) => IpAddr::V6(a.into()),
        }
    }
}

fn prefix(ip: Ip, cidr: u8) -> AllowedIp {
    let addr = ip.addr();
    let max = if addr.is_ipv4() { 33 } else { 129 };
    AllowedIp::new(addr, cidr % max).expect("cidr within the family")
}

fn bits(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(a) => (false, (u32::from(a) as u128) << 96),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn contains(p: &AllowedIp, addr: IpAddr) -> bool {
    let (v6p, pb) = bits(p.addr);
    let (v6a, ab) = bits(addr);
    if v6p != v6a {
        return false;
    }
    let mask = if p.cidr == 0 {
        0
    } else {
        u128::MAX << (128 - p.cidr as u32)
    };
    pb & mask == ab & mask
}

fuzz_target!(|ops: Vec<Op>| {
    let mut trie: AllowedIps<u8> = AllowedIps::new();
    // Insertion order per peer is what `list` reports.
    let mut model: Vec<(AllowedIp, u8)> = Vec::new();
    for op in ops {
        match op {
            Op::Insert { ip, cidr, peer } => {
                let p = prefix(ip, cidr).masked();
                let prev = model.iter().position(|(q, _)| *q == p);
                let expected = match prev {
                    Some(i) if model[i].1 == peer => None,
                    Some(i) => {
                        let old = model.remove(i).1;
                        model.push((p, peer));
                        Some(old)
                    }
                    None => {
                        model.push((p, peer));
                        None
                    }
                };
                assert_eq!(trie.insert(p, peer), expected, "insert {p} for {peer}");
            }
            Op::RemoveIfOwned { ip, cidr, peer } => {
                let p = prefix(ip, cidr);
                let m = p.masked();
                let at = model.iter().position(|(q, o)| *q == m && *o == peer);
                if let Some(i) = at {
                    model.remove(i);
                }
                assert_eq!(trie.remove_if_owned(p, peer), at.is_some(), "remove {p} of {peer}");
            }
            Op::RemovePeer { peer } => {
                model.retain(|(_, o)| *o != peer);
                trie.remove_peer(peer);
            }
            Op::Lookup { ip } => {
                let addr = ip.addr();
                let expected = model
                    .iter()
                    .filter(|(p, _)| contains(p, addr))
                    .max_by_key(|(p, _)| p.cidr)
                    .map(|(_, o)| *o);
                assert_eq!(trie.lookup(addr), expected, "lookup {addr}");
            }
        }
        assert_eq!(trie.len(), model.len());
        assert_eq!(trie.is_empty(), model.is_empty());
    }
    for (p, o) in &model {
        assert_eq!(trie.owner(*p), Some(*o), "owner of {p}");
    }
    for peer in 0..=255u8 {
        let listed: Vec<AllowedIp> = model.iter().filter(|(_, o)| *o == peer).map(|(p, _)| *p).collect();
        assert_eq!(trie.list(peer), &listed[..], "list of {peer}");
    }
});
