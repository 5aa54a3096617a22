//! Allowed IPs: a longest-prefix-match, path-compressed binary trie per address family
//! mapping prefixes to a peer id, plus each peer's prefixes in insertion order (what `get`
//! reports).
//!
//! Every node holds a prefix (`key/cidr`); a node exists only where a prefix is stored or
//! where two subtrees branch, so a lookup visits at most one node per branching point (not
//! one per bit) — the same shape as the kernel's and wireguard-go's tables. Nodes live in an
//! arena (`Vec`) and refer to their children by index; removal recycles nodes through a free
//! list. Prefixes are stored masked (host bits cleared), as the kernel does.

use crate::model::AllowedIp;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<T> {
    /// Left-aligned, masked to `cidr` bits.
    key: u128,
    cidr: u8,
    child: [u32; 2],
    value: Option<T>,
}

/// A path-compressed binary trie over left-aligned 128-bit keys (IPv4 addresses occupy the
/// top 32 bits).
#[derive(Debug, Clone)]
struct Trie<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    root: u32,
}

#[inline]
fn bit(key: u128, depth: u8) -> usize {
    ((key >> (127 - depth as u32)) & 1) as usize
}

#[inline]
fn mask(key: u128, cidr: u8) -> u128 {
    if cidr == 0 {
        0
    } else {
        key & (u128::MAX << (128 - cidr as u32))
    }
}

/// Whether `key` lies inside `prefix/cidr`.
#[inline]
fn contains(prefix: u128, cidr: u8, key: u128) -> bool {
    cidr == 0 || (prefix ^ key) >> (128 - cidr as u32) == 0
}

impl<T: Copy + Eq> Trie<T> {
    fn new() -> Self {
        Trie {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NONE,
        }
    }

    fn alloc(&mut self, key: u128, cidr: u8, value: Option<T>) -> u32 {
        let node = Node {
            key: mask(key, cidr),
            cidr,
            child: [NONE; 2],
            value,
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

    fn release(&mut self, n: u32) {
        self.nodes[n as usize].value = None;
        self.nodes[n as usize].child = [NONE; 2];
        self.free.push(n);
    }

    /// Points the link that led to `old` (from `parent`, or the root) at `new`.
    fn relink(&mut self, parent: u32, old_key: u128, new: u32) {
        if parent == NONE {
            self.root = new;
        } else {
            let p = &mut self.nodes[parent as usize];
            let b = bit(old_key, p.cidr);
            p.child[b] = new;
        }
    }

    /// Sets the value of `key/cidr` (key masked), returning the previous one.
    fn insert(&mut self, key: u128, cidr: u8, value: T) -> Option<T> {
        let key = mask(key, cidr);
        let mut parent = NONE;
        let mut n = self.root;
        while n != NONE {
            let nd = &self.nodes[n as usize];
            if nd.cidr > cidr || !contains(nd.key, nd.cidr, key) {
                break;
            }
            if nd.cidr == cidr {
                return self.nodes[n as usize].value.replace(value);
            }
            parent = n;
            n = nd.child[bit(key, nd.cidr)];
        }
        let new = self.alloc(key, cidr, Some(value));
        if n == NONE {
            self.relink(parent, key, new);
            return None;
        }
        // `n` sits where the new prefix goes: the new node either becomes its parent or they
        // branch below a new, valueless node at their common prefix.
        let (nkey, ncidr) = (self.nodes[n as usize].key, self.nodes[n as usize].cidr);
        let common = ((nkey ^ key).leading_zeros() as u8).min(cidr).min(ncidr);
        if common == cidr {
            self.nodes[new as usize].child[bit(nkey, cidr)] = n;
            self.relink(parent, key, new);
        } else {
            let branch = self.alloc(key, common, None);
            self.nodes[branch as usize].child[bit(nkey, common)] = n;
            self.nodes[branch as usize].child[bit(key, common)] = new;
            self.relink(parent, key, branch);
        }
        None
    }

    /// Clears the value of `key/cidr` and removes nodes that no longer store or branch.
    fn remove(&mut self, key: u128, cidr: u8) -> Option<T> {
        let key = mask(key, cidr);
        let mut grand = NONE;
        let mut parent = NONE;
        let mut n = self.root;
        while n != NONE {
            let nd = &self.nodes[n as usize];
            if nd.cidr > cidr || !contains(nd.key, nd.cidr, key) {
                return None;
            }
            if nd.cidr == cidr {
                break;
            }
            grand = parent;
            parent = n;
            n = nd.child[bit(key, nd.cidr)];
        }
        if n == NONE {
            return None;
        }
        let old = self.nodes[n as usize].value.take()?;
        let children = self.nodes[n as usize].child;
        match children {
            [NONE, NONE] => {
                self.relink(parent, key, NONE);
                self.release(n);
                // A valueless parent left with one child no longer branches: splice it out.
                if parent != NONE && self.nodes[parent as usize].value.is_none() {
                    let pc = self.nodes[parent as usize].child;
                    let only = if pc[0] == NONE { pc[1] } else { pc[0] };
                    let pkey = self.nodes[parent as usize].key;
                    self.relink(grand, pkey, only);
                    self.release(parent);
                }
            }
            [c, NONE] | [NONE, c] => {
                self.relink(parent, key, c);
                self.release(n);
            }
            _ => {}
        }
        Some(old)
    }

    fn get(&self, key: u128, cidr: u8) -> Option<T> {
        let key = mask(key, cidr);
        let mut n = self.root;
        while n != NONE {
            let nd = &self.nodes[n as usize];
            if nd.cidr > cidr || !contains(nd.key, nd.cidr, key) {
                return None;
            }
            if nd.cidr == cidr {
                return nd.value;
            }
            n = nd.child[bit(key, nd.cidr)];
        }
        None
    }

    #[inline]
    fn lookup(&self, key: u128, bits: u8) -> Option<T> {
        let nodes = &self.nodes[..];
        let mut best = None;
        let mut n = self.root;
        while n != NONE {
            let nd = &nodes[n as usize];
            if !contains(nd.key, nd.cidr, key) {
                break;
            }
            if nd.value.is_some() {
                best = nd.value;
            }
            if nd.cidr >= bits {
                break;
            }
            n = nd.child[bit(key, nd.cidr)];
        }
        best
    }

    #[cfg(test)]
    fn live_nodes(&self) -> usize {
        self.nodes.len() - self.free.len()
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
            v4: Trie::new(),
            v6: Trie::new(),
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
            IpAddr::V4(a) => self.v4.lookup((u32::from(a) as u128) << 96, 32),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), 128),
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
    fn nodes_are_recycled_and_compressed() {
        let mut t = AllowedIps::new();
        for _ in 0..100 {
            t.insert(ip("fd00:1:2:3:4:5:6:7/128"), 1u32);
            t.insert(ip("fd00:1:2:3:4:5:6:8/128"), 2u32);
            t.insert(ip("fd00::/16"), 3u32);
            // Two leaves and their branch point, plus the /16: 4 nodes, not 128 per path.
            assert_eq!(t.v6.live_nodes(), 4);
            t.remove_peer(1);
            t.remove_peer(2);
            t.remove_peer(3);
            assert_eq!(t.v6.live_nodes(), 0);
        }
        assert!(t.v6.nodes.len() <= 4);
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
            // Compression: at most one branch node per stored prefix.
            assert!(t.v4.live_nodes() + t.v6.live_nodes() <= 2 * r.0.len() + 1);
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
