//! Allowed IPs: a longest-prefix-match binary trie per address family mapping prefixes to a
//! peer id, plus each peer's prefixes in insertion order (what `get` reports).
//!
//! Nodes live in an arena (`Vec`) and refer to their children by index, so lookups touch one
//! contiguous allocation and removal recycles nodes through a free list. Prefixes are stored
//! masked (host bits cleared), as the kernel does.

use crate::model::AllowedIp;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

const NONE: u32 = 0;

#[derive(Debug, Clone)]
struct Node<T> {
    child: [u32; 2],
    value: Option<T>,
}

/// A binary trie over left-aligned 128-bit keys (IPv4 addresses occupy the top 32 bits).
#[derive(Debug, Clone)]
struct Trie<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    bits: u8,
}

#[inline]
fn bit(key: u128, depth: u8) -> usize {
    ((key >> (127 - depth as u32)) & 1) as usize
}

impl<T: Copy + Eq> Trie<T> {
    fn new(bits: u8) -> Self {
        Trie {
            nodes: vec![Node {
                child: [NONE; 2],
                value: None,
            }],
            free: Vec::new(),
            bits,
        }
    }

    fn alloc(&mut self) -> u32 {
        let node = Node {
            child: [NONE; 2],
            value: None,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Sets the value of `key/cidr`, returning the previous one.
    fn insert(&mut self, key: u128, cidr: u8, value: T) -> Option<T> {
        let mut n = 0u32;
        for depth in 0..cidr {
            let b = bit(key, depth);
            let next = self.nodes[n as usize].child[b];
            n = if next == NONE {
                let c = self.alloc();
                self.nodes[n as usize].child[b] = c;
                c
            } else {
                next
            };
        }
        self.nodes[n as usize].value.replace(value)
    }

    /// Clears the value of `key/cidr` and prunes nodes left without value or children.
    fn remove(&mut self, key: u128, cidr: u8) -> Option<T> {
        let mut path = Vec::with_capacity(cidr as usize + 1);
        let mut n = 0u32;
        path.push(n);
        for depth in 0..cidr {
            n = self.nodes[n as usize].child[bit(key, depth)];
            if n == NONE {
                return None;
            }
            path.push(n);
        }
        let old = self.nodes[n as usize].value.take();
        // Prune from the leaf upwards; the root (path[0]) is never freed.
        for depth in (0..cidr).rev() {
            let node = path[depth as usize + 1];
            let nd = &self.nodes[node as usize];
            if nd.value.is_some() || nd.child != [NONE; 2] {
                break;
            }
            let parent = path[depth as usize];
            self.nodes[parent as usize].child[bit(key, depth)] = NONE;
            self.free.push(node);
        }
        old
    }

    fn get(&self, key: u128, cidr: u8) -> Option<T> {
        let mut n = 0u32;
        for depth in 0..cidr {
            n = self.nodes[n as usize].child[bit(key, depth)];
            if n == NONE {
                return None;
            }
        }
        self.nodes[n as usize].value
    }

    #[inline]
    fn lookup(&self, key: u128) -> Option<T> {
        let nodes = &self.nodes[..];
        let mut n = 0usize;
        let mut best = nodes[0].value;
        for depth in 0..self.bits {
            let next = nodes[n].child[bit(key, depth)];
            if next == NONE {
                break;
            }
            n = next as usize;
            if let Some(v) = nodes[n].value {
                best = Some(v);
            }
        }
        best
    }
}

fn key_of(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Prefix → peer id table with longest-prefix lookup.
#[derive(Debug, Clone)]
pub struct AllowedIps<T> {
    v4: Trie<T>,
    v6: Trie<T>,
    by_peer: HashMap<T, Vec<AllowedIp>>,
}

impl<T: Copy + Eq + Hash> Default for AllowedIps<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Eq + Hash> AllowedIps<T> {
    pub fn new() -> Self {
        AllowedIps {
            v4: Trie::new(32),
            v6: Trie::new(128),
            by_peer: HashMap::new(),
        }
    }

    fn trie(&mut self, addr: IpAddr) -> &mut Trie<T> {
        if addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }

    /// Maps `ip` (masked) to `peer`, taking it away from any other peer. Returns the previous
    /// owner when it was a different peer.
    pub fn insert(&mut self, ip: AllowedIp, peer: T) -> Option<T> {
        let ip = ip.masked();
        let prev = self.trie(ip.addr).insert(key_of(ip.addr), ip.cidr, peer);
        if prev == Some(peer) {
            return None;
        }
        if let Some(other) = prev {
            self.unlist(other, &ip);
        }
        self.by_peer.entry(peer).or_default().push(ip);
        prev
    }

    fn unlist(&mut self, peer: T, ip: &AllowedIp) {
        if let Some(list) = self.by_peer.get_mut(&peer) {
            list.retain(|x| x != ip);
            if list.is_empty() {
                self.by_peer.remove(&peer);
            }
        }
    }

    /// Removes `ip` (masked) only if `peer` owns it. Returns whether it was removed.
    pub fn remove_if_owned(&mut self, ip: AllowedIp, peer: T) -> bool {
        let ip = ip.masked();
        let key = key_of(ip.addr);
        if self.trie(ip.addr).get(key, ip.cidr) != Some(peer) {
            return false;
        }
        self.trie(ip.addr).remove(key, ip.cidr);
        self.unlist(peer, &ip);
        true
    }

    /// Removes every prefix of `peer`.
    pub fn remove_peer(&mut self, peer: T) {
        if let Some(list) = self.by_peer.remove(&peer) {
            for ip in list {
                self.trie(ip.addr).remove(key_of(ip.addr), ip.cidr);
            }
        }
    }

    /// The peer owning the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: IpAddr) -> Option<T> {
        match addr {
            IpAddr::V4(a) => self.v4.lookup((u32::from(a) as u128) << 96),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    /// The owner of exactly this prefix (masked).
    pub fn owner(&self, ip: AllowedIp) -> Option<T> {
        let ip = ip.masked();
        if ip.addr.is_ipv4() {
            self.v4.get(key_of(ip.addr), ip.cidr)
        } else {
            self.v6.get(key_of(ip.addr), ip.cidr)
        }
    }

    /// `peer`'s prefixes (masked) in insertion order.
    pub fn list(&self, peer: T) -> &[AllowedIp] {
        self.by_peer.get(&peer).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Total number of prefixes.
    pub fn len(&self) -> usize {
        self.by_peer.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{OsRng, RngCore};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> AllowedIp {
        AllowedIp::parse(s).unwrap()
    }
    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = AllowedIps::new();
        t.insert(ip("0.0.0.0/0"), 1u32);
        t.insert(ip("10.0.0.0/8"), 2);
        t.insert(ip("10.1.0.0/16"), 3);
        t.insert(ip("10.1.2.3/32"), 4);
        t.insert(ip("::/0"), 5);
        t.insert(ip("fd00::/8"), 6);
        assert_eq!(t.lookup(addr("192.168.1.1")), Some(1));
        assert_eq!(t.lookup(addr("10.9.9.9")), Some(2));
        assert_eq!(t.lookup(addr("10.1.9.9")), Some(3));
        assert_eq!(t.lookup(addr("10.1.2.3")), Some(4));
        assert_eq!(t.lookup(addr("10.1.2.4")), Some(3));
        assert_eq!(t.lookup(addr("2001:db8::1")), Some(5));
        assert_eq!(t.lookup(addr("fd12::1")), Some(6));
        t.remove_peer(1);
        assert_eq!(t.lookup(addr("192.168.1.1")), None);
        assert_eq!(t.lookup(addr("10.9.9.9")), Some(2));
    }

    #[test]
    fn host_bits_are_masked_and_moves_between_peers() {
        let mut t = AllowedIps::new();
        assert_eq!(t.insert(ip("10.0.0.77/24"), 1u32), None);
        assert_eq!(t.list(1), &[ip("10.0.0.0/24")]);
        assert_eq!(t.insert(ip("10.0.0.5/24"), 2), Some(1));
        assert!(t.list(1).is_empty());
        assert_eq!(t.list(2), &[ip("10.0.0.0/24")]);
        assert_eq!(t.lookup(addr("10.0.0.200")), Some(2));
        // Removal only when owned.
        assert!(!t.remove_if_owned(ip("10.0.0.0/24"), 1));
        assert_eq!(t.lookup(addr("10.0.0.200")), Some(2));
        assert!(t.remove_if_owned(ip("10.0.0.9/24"), 2));
        assert_eq!(t.lookup(addr("10.0.0.200")), None);
        assert!(t.is_empty());
    }

    #[test]
    fn insertion_order_is_kept() {
        let mut t = AllowedIps::new();
        for s in ["10.0.0.3/32", "fd00::/64", "10.0.0.1/32", "10.0.0.2/32"] {
            t.insert(ip(s), 7u32);
        }
        // Re-inserting an owned prefix keeps its position.
        t.insert(ip("10.0.0.1/32"), 7);
        let got: Vec<String> = t.list(7).iter().map(|x| x.to_string()).collect();
        assert_eq!(got, ["10.0.0.3/32", "fd00::/64", "10.0.0.1/32", "10.0.0.2/32"]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn nodes_are_recycled() {
        let mut t = AllowedIps::new();
        for _ in 0..100 {
            t.insert(ip("fd00:1:2:3:4:5:6:7/128"), 1u32);
            t.remove_peer(1);
        }
        assert_eq!(t.v6.nodes.len(), 129);
        assert_eq!(t.v6.free.len(), 128);
    }

    /// Brute-force reference: a list of (masked prefix, peer), scanned for the longest match.
    struct Reference(Vec<(AllowedIp, u32)>);

    impl Reference {
        fn contains(p: &AllowedIp, a: IpAddr) -> bool {
            if p.addr.is_ipv4() != a.is_ipv4() {
                return false;
            }
            AllowedIp { addr: a, cidr: p.cidr }.masked().addr == p.addr
        }
        fn lookup(&self, a: IpAddr) -> Option<u32> {
            self.0
                .iter()
                .filter(|(p, _)| Self::contains(p, a))
                .max_by_key(|(p, _)| p.cidr)
                .map(|(_, v)| *v)
        }
        fn insert(&mut self, p: AllowedIp, v: u32) {
            let p = p.masked();
            if let Some(e) = self.0.iter_mut().find(|(q, _)| *q == p) {
                e.1 = v;
            } else {
                self.0.push((p, v));
            }
        }
    }

    fn random_addr(v6: bool) -> IpAddr {
        // Few distinct high bits so that prefixes overlap often.
        if v6 {
            let hi = (OsRng.next_u32() % 4) as u128;
            let x = ((OsRng.next_u64() as u128) << 64) | OsRng.next_u64() as u128;
            IpAddr::V6(Ipv6Addr::from((hi << 126) | (x >> 2)))
        } else {
            let hi = OsRng.next_u32() % 4;
            IpAddr::V4(Ipv4Addr::from((hi << 30) | (OsRng.next_u32() >> 2)))
        }
    }

    #[test]
    fn randomized_against_brute_force() {
        for _round in 0..20 {
            let mut t = AllowedIps::new();
            let mut r = Reference(Vec::new());
            for _ in 0..300 {
                let v6 = OsRng.next_u32().is_multiple_of(2);
                let max = if v6 { 128 } else { 32 };
                let cidr = (OsRng.next_u32() % (max + 1)) as u8;
                let p = AllowedIp::new(random_addr(v6), cidr).unwrap();
                let peer = OsRng.next_u32() % 8;
                match OsRng.next_u32() % 10 {
                    0 => {
                        t.remove_peer(peer);
                        r.0.retain(|(_, v)| *v != peer);
                    }
                    1 | 2 => {
                        // Remove one of the existing prefixes, with a random claimed owner.
                        if !r.0.is_empty() {
                            let i = (OsRng.next_u32() as usize) % r.0.len();
                            let (q, owner) = r.0[i];
                            let removed = t.remove_if_owned(q, peer);
                            assert_eq!(removed, owner == peer);
                            if removed {
                                r.0.remove(i);
                            }
                        }
                    }
                    _ => {
                        t.insert(p, peer);
                        r.insert(p, peer);
                    }
                }
                for _ in 0..20 {
                    let a = random_addr(OsRng.next_u32().is_multiple_of(2));
                    assert_eq!(t.lookup(a), r.lookup(a), "lookup {a}");
                }
                for (q, v) in &r.0 {
                    assert_eq!(t.lookup(q.addr), r.lookup(q.addr));
                    assert_eq!(t.owner(*q), Some(*v));
                }
            }
            // Per-peer lists match the reference (as sets; order is insertion order).
            for peer in 0..8 {
                let mut a: Vec<AllowedIp> = t.list(peer).to_vec();
                let mut b: Vec<AllowedIp> = r.0.iter().filter(|(_, v)| *v == peer).map(|(p, _)| *p).collect();
                a.sort();
                b.sort();
                assert_eq!(a, b);
            }
        }
    }
}
