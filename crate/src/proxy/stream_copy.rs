//! Blocking copies between a reader or writer of the caller's (the `--stdio` streams, which
//! cannot be polled everywhere) and a tunnel stream, a bounded buffer each: used by
//! `stdio.rs`, one thread per direction. Sockets go through the relay threads instead
//! (`relay.rs`).

use super::counters::Counter;
use crate::device::TcpStream as TunnelStream;
use std::io::{self, Read, Write};

/// Bytes held in flight per direction.
const BUFFER: usize = 64 << 10;

/// Copies `from` into the tunnel until its end, then half-closes the tunnel stream.
pub(crate) fn into_tunnel(from: &mut dyn Read, to: &TunnelStream, count: &Counter) -> io::Result<u64> {
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all_until(&buf[..n], None)?;
        count.add(n as u64);
        total += n as u64;
    }
    to.shutdown_write()?;
    Ok(total)
}

/// Copies the tunnel stream into `to` until its end (the caller half-closes `to`).
pub(crate) fn out_of_tunnel(from: &TunnelStream, to: &mut dyn Write, count: &Counter) -> io::Result<u64> {
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = from.read_until(&mut buf, None)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        to.flush()?;
        count.add(n as u64);
        total += n as u64;
    }
    Ok(total)
}
