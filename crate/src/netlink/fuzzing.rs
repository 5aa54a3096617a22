//! Entry point for the fuzz targets (`crate/fuzz/`) into the netlink decoders: one request
//! of each kind answered by arbitrary "kernel" datagrams. Not an API.

use super::socket::{Connection, Transport};
use super::{address, genl, get, link, link_settings, route, rule, DeviceRef, Family};
use std::collections::VecDeque;
use std::io;

/// What is asked of the "kernel".
#[derive(Debug, Clone, Copy)]
pub enum Query {
    ResolveFamily,
    GetDevice { family: u16 },
    ListLinks,
    GetLink,
    ListAddresses,
    ListRoutes { v6: bool },
    RouteGet { v6: bool },
    ListRules { v6: bool },
    LinkSettings,
}

/// Replays the given datagrams as the kernel's answers, in order; then every receive fails
/// with EAGAIN. A message whose sequence number is 0 gets the request's number, so that
/// inputs can answer any request.
struct Replay {
    answers: VecDeque<Vec<u8>>,
    seq: u32,
}

impl Transport for Replay {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.seq = datagram
            .get(8..12)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        Ok(())
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        let mut datagram = self
            .answers
            .pop_front()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EAGAIN))?;
        let mut offset = 0;
        while offset + 16 <= datagram.len() {
            let length = u32::from_ne_bytes(datagram[offset..offset + 4].try_into().expect("4")) as usize;
            if length < 16 {
                break;
            }
            let seq = &mut datagram[offset + 8..offset + 12];
            if seq == [0; 4] {
                seq.copy_from_slice(&self.seq.to_ne_bytes());
            }
            offset = match offset.checked_add((length + 3) & !3) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(datagram)
    }
}

/// Runs `query` against `answers`; `Ok` when it decoded a result, `Err` with the error's
/// message otherwise. Either way nothing may panic.
pub fn exchange(query: Query, answers: Vec<Vec<u8>>) -> Result<(), String> {
    let mut conn = Connection::new(Replay {
        answers: answers.into(),
        seq: 0,
    });
    let device = DeviceRef::Name("wgfz0".into());
    let family = |v6: bool| if v6 { Family::V6 } else { Family::V4 };
    let result = match query {
        Query::ResolveFamily => genl::resolve_family(&mut conn, "wireguard").map(drop),
        Query::GetDevice { family } => get::get_device(&mut conn, family, &device).map(drop),
        Query::ListLinks => link::list_wireguard(&mut conn).map(drop),
        Query::GetLink => link::get_link(&mut conn, &device).map(drop),
        Query::ListAddresses => address::list(&mut conn, "wgfz0").map(drop),
        Query::ListRoutes { v6 } => route::list(&mut conn, family(v6), None).map(drop),
        Query::RouteGet { v6 } => {
            let addr = if v6 { "2001:db8::1".parse() } else { "192.0.2.1".parse() };
            route::get(&mut conn, addr.expect("literal address"), Some(1)).map(drop)
        }
        Query::ListRules { v6 } => rule::list(&mut conn, family(v6)).map(drop),
        Query::LinkSettings => link_settings::get(&mut conn, "wgfz0").map(drop),
    };
    result.map_err(|e| e.message)
}
