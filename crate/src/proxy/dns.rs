//! A small DNS client that asks through the tunnel: A and AAAA queries over the netstack's
//! UDP to the configuration's DNS servers (wg-quick's `DNS =`), each server tried in turn with
//! one retry, and TCP to the same server when an answer comes back truncated. IPv4 answers
//! come first. Names that are addresses are returned as they are.

use crate::device::Netstack;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

pub(crate) struct Resolver {
    net: Netstack,
    servers: Vec<IpAddr>,
    /// How long one server gets for one attempt.
    pub(crate) attempt: Duration,
}

fn failed(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg)
}

impl Resolver {
    pub(crate) fn new(net: Netstack, servers: Vec<IpAddr>) -> Resolver {
        Resolver {
            net,
            servers,
            attempt: Duration::from_millis(1500),
        }
    }

    /// The addresses of `name` (IPv4 first), or an error saying why there are none.
    pub(crate) fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if !super::spec::is_host_name(name) {
            return Err(failed(format!("`{name}' is not a host name")));
        }
        if self.servers.is_empty() {
            return Err(failed(format!(
                "Cannot resolve `{name}': the configuration names no DNS server"
            )));
        }
        let mut last = None;
        for &server in &self.servers {
            for _ in 0..2 {
                match self.ask(server, name) {
                    Ok(Answer::Addresses(a)) if !a.is_empty() => return Ok(a),
                    Ok(Answer::Addresses(_)) => {
                        return Err(failed(format!("`{name}' has no address (DNS server {server})")))
                    }
                    Ok(Answer::NoSuchName) => {
                        return Err(failed(format!("`{name}' does not exist (DNS server {server})")))
                    }
                    Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => last = Some(e),
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
        }
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        Err(failed(format!(
            "Cannot resolve `{name}': no DNS server answered ({why})"
        )))
    }

    fn ask(&self, server: IpAddr, name: &str) -> io::Result<Answer> {
        let to = SocketAddr::new(server, 53);
        let sock = self.net.udp_bind(SocketAddr::new(unspecified(server), 0))?;
        let mut ids = [0u8; 4];
        getrandom(&mut ids);
        let id_a = u16::from_be_bytes([ids[0], ids[1]]);
        let id_aaaa = id_a.wrapping_add(1);
        let deadline = Instant::now() + self.attempt;
        let qa = query(id_a, name, TYPE_A);
        let qaaaa = query(id_aaaa, name, TYPE_AAAA);
        sock.send_to_until(&qa, to, Some(deadline))?;
        sock.send_to_until(&qaaaa, to, Some(deadline))?;
        let mut v4: Option<Answer> = None;
        let mut v6: Option<Answer> = None;
        let mut buf = vec![0u8; 4096];
        while v4.is_none() || v6.is_none() {
            let (n, from) = match sock.recv_from_until(&mut buf, Some(deadline)) {
                Ok(r) => r,
                // One family answered with addresses and the other did not in time: use them.
                Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => match (v4.take(), v6.take()) {
                    (Some(Answer::Addresses(a)), _) | (_, Some(Answer::Addresses(a))) if !a.is_empty() => {
                        return Ok(Answer::Addresses(a))
                    }
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            };
            if from != to {
                continue;
            }
            let Some(reply) = parse(&buf[..n]) else { continue };
            let (slot, q, id, ty) = if reply.id == id_a && v4.is_none() {
                (&mut v4, &qa, id_a, TYPE_A)
            } else if reply.id == id_aaaa && v6.is_none() {
                (&mut v6, &qaaaa, id_aaaa, TYPE_AAAA)
            } else {
                continue;
            };
            let reply = if reply.truncated {
                match self.ask_tcp(to, q, deadline) {
                    Ok(r) if r.id == id => r,
                    Ok(_) => return Err(io::Error::other("The DNS server answered another query over TCP")),
                    Err(e) => return Err(e),
                }
            } else {
                reply
            };
            *slot = Some(reply.answer(ty)?);
        }
        Ok(match (v4, v6) {
            (Some(Answer::Addresses(mut a)), Some(Answer::Addresses(b))) => {
                a.extend(b);
                Answer::Addresses(a)
            }
            (Some(Answer::Addresses(a)), _) | (_, Some(Answer::Addresses(a))) => Answer::Addresses(a),
            _ => Answer::NoSuchName,
        })
    }

    fn ask_tcp(&self, to: SocketAddr, q: &[u8], deadline: Instant) -> io::Result<Reply> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(500));
        let s = self.net.tcp_connect(to, Some(left))?;
        let deadline = Instant::now() + left;
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(q);
        s.write_all_until(&msg, Some(deadline))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if got.len() >= 2 {
                let len = u16::from_be_bytes([got[0], got[1]]) as usize;
                if got.len() >= 2 + len {
                    return parse(&got[2..2 + len])
                        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "A malformed DNS answer over TCP"));
                }
            }
            let n = s.read_until(&mut buf, Some(deadline))?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "The DNS server closed the TCP connection",
                ));
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}

enum Answer {
    Addresses(Vec<IpAddr>),
    NoSuchName,
}

struct Reply {
    id: u16,
    truncated: bool,
    rcode: u8,
    addresses: Vec<IpAddr>,
}

impl Reply {
    fn answer(self, _ty: u16) -> io::Result<Answer> {
        match self.rcode {
            0 => Ok(Answer::Addresses(self.addresses)),
            3 => Ok(Answer::NoSuchName),
            r => Err(io::Error::other(format!("The DNS server answered with error code {r}"))),
        }
    }
}

/// A recursive query for `name`'s records of type `ty`.
pub(crate) fn query(id: u16, name: &str, ty: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&ty.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// Skips a (possibly compressed) name at `at`; the offset after it.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)? as usize;
        match len & 0xC0 {
            0xC0 => return (at + 2 <= m.len()).then_some(at + 2),
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + len,
            _ => return None,
        }
    }
}

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

/// A response's id, flags and A/AAAA records (any owner: the server follows CNAMEs).
fn parse(m: &[u8]) -> Option<Reply> {
    let id = u16_at(m, 0)?;
    let flags = u16_at(m, 2)?;
    if flags & 0x8000 == 0 {
        return None;
    }
    let qd = u16_at(m, 4)?;
    let an = u16_at(m, 6)?;
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(m, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..an {
        at = skip_name(m, at)?;
        let ty = u16_at(m, at)?;
        let class = u16_at(m, at + 2)?;
        let len = u16_at(m, at + 8)? as usize;
        let data = m.get(at + 10..at + 10 + len)?;
        at += 10 + len;
        if class != CLASS_IN {
            continue;
        }
        match (ty, len) {
            (TYPE_A, 4) => addresses.push(IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3]))),
            (TYPE_AAAA, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                addresses.push(IpAddr::V6(Ipv6Addr::from(o)));
            }
            _ => {}
        }
    }
    Some(Reply {
        id,
        truncated: flags & 0x0200 != 0,
        rcode: (flags & 0x000F) as u8,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_compression_and_a_cname_gives_the_addresses() {
        let mut m = query(7, "www.example.test", TYPE_A);
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 2; // two answers
                  // www.example.test CNAME example.test (pointer to offset 16 = "example.test")
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, 16]);
        m.extend_from_slice(&[0xC0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
        let r = parse(&m).unwrap();
        assert_eq!(r.id, 7);
        assert!(!r.truncated);
        assert_eq!(r.addresses, vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))]);
    }

    #[test]
    fn truncated_or_cut_messages_never_panic() {
        let mut m = query(9, "a.test", TYPE_AAAA);
        m[2] = 0x83;
        m[7] = 1;
        m.extend_from_slice(&[0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        m.extend_from_slice(&[0xfd; 16]);
        assert_eq!(parse(&m).unwrap().addresses.len(), 1);
        assert!(parse(&m).unwrap().truncated);
        for cut in 0..m.len() {
            let _ = parse(&m[..cut]);
        }
        // A name whose label length has the reserved 0x40/0x80 bits is refused.
        let mut bad = m.clone();
        bad[12] = 0x41;
        assert!(parse(&bad).is_none());
    }
}
