//! Copying one connection both ways between a host stream and a tunnel stream: two threads
//! (this one and one more), a bounded buffer each way, half-close carried across (the end of
//! one direction becomes a FIN on the other side, the other direction goes on), an error on
//! either side ending both, and the bytes counted.

use super::connections::Slot;
use super::counters::Counter;
use super::Context;
use crate::device::TcpStream as TunnelStream;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

/// Bytes held in flight per direction.
pub(crate) const BUFFER: usize = 256 << 10;

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

/// Relays `host` <-> `tunnel` until both directions ended; `early` is what the host already
/// sent (read past a proxy request's head) and goes into the tunnel first. Returns the bytes
/// (into the tunnel, out of it).
pub(crate) fn relay(
    ctx: &Arc<Context>,
    slot: &Slot,
    host: std::net::TcpStream,
    tunnel: TunnelStream,
    early: &[u8],
) -> io::Result<(u64, u64)> {
    let tunnel = Arc::new(tunnel);
    slot.watch_host(&host)?;
    slot.watch_tunnel(&tunnel)?;
    let _ = host.set_nodelay(true);
    let _ = host.set_read_timeout(None);
    let counters = slot.counters();
    if !early.is_empty() {
        if let Err(e) = tunnel.write_all_until(early, None) {
            let _ = tunnel.abort();
            return Err(e);
        }
        counters.to_tunnel.add(early.len() as u64);
    }
    let mut host_writer = host.try_clone()?;
    let back_tunnel = tunnel.clone();
    let back_ctx = ctx.clone();
    let listener = slot.listener;
    let back = ctx.spawn("relay-back", move || {
        let c = back_ctx.counters.get(listener);
        let r = out_of_tunnel(&back_tunnel, &mut host_writer, &c.from_tunnel);
        match &r {
            Ok(_) => {
                let _ = host_writer.shutdown(Shutdown::Write);
            }
            Err(_) => {
                let _ = host_writer.shutdown(Shutdown::Both);
                let _ = back_tunnel.abort();
            }
        }
        r
    })?;
    let mut host_reader = &host;
    let up = into_tunnel(&mut host_reader, &tunnel, &counters.to_tunnel);
    if up.is_err() {
        let _ = host.shutdown(Shutdown::Both);
        let _ = tunnel.abort();
    }
    let down = back
        .join()
        .unwrap_or_else(|| Err(io::Error::other("The relay thread panicked")));
    // Both ways ended: wait (briefly) for the tunnel to take the last bytes before the stream
    // is dropped, so the FIN follows them.
    let _ = tunnel.flush_until(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
    Ok((up? + early.len() as u64, down?))
}
