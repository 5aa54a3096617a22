//! Every platform but Linux: a batch is received with non-blocking `recv_from` calls until the
//! socket is empty or the batch full, and sent with one `send_to` per datagram. No GSO/GRO,
//! no sticky source (the OS picks the source address by its routes).

use super::{Batch, SLOT};
use crate::device::udp::{self, Socket};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

/// Nothing per batch: the datagram calls take their addresses directly.
pub(super) struct Hdrs;

impl Hdrs {
    pub(super) fn new() -> Box<Hdrs> {
        Box::new(Hdrs)
    }
}

/// How often a datagram the socket would not take is retried (after a short sleep) before it
/// is dropped, as the Linux side waits for room a few times.
const SEND_RETRIES: usize = 3;
const SEND_RETRY_WAIT: Duration = Duration::from_micros(200);

/// Receives up to the batch capacity of datagrams into the emptied batch; the number received
/// (0 when nothing is pending). `Err` only when the first receive fails.
pub(crate) fn receive(socket: &Socket, batch: &mut Batch) -> std::io::Result<usize> {
    batch.clear();
    while !batch.is_full() {
        match socket.recv_from(&mut batch.next_slot()[..SLOT - 64]) {
            Ok((len, from)) => batch.commit(len, Some(normalize(from))),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // An ICMP port unreachable for an earlier send (Windows reports it on the next
            // receive when SIO_UDP_CONNRESET could not be turned off): not about this socket.
            Err(e) if udp::is_stale_reset(&e) => continue,
            Err(_) if batch.len() > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(batch.len())
}

/// IPv4-mapped IPv6 sources are reported as IPv4, as on Linux.
fn normalize(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// Sends the datagrams `idx` of `batch` (each carries its address); returns (sent, dropped,
/// the last error). `gso` is left as it is: there is no segmentation offload here.
pub(crate) fn send(
    socket: &Socket,
    batch: &mut Batch,
    idx: &[usize],
    _gso: &mut bool,
) -> (usize, usize, Option<std::io::Error>) {
    let (mut sent, mut dropped, mut last) = (0, 0, None);
    for &i in idx {
        let Some(to) = batch.addr(i) else {
            dropped += 1;
            continue;
        };
        let mut retries = 0;
        loop {
            match socket.send_to(batch.packet(i), to) {
                Ok(_) => {
                    sent += 1;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock && retries < SEND_RETRIES => {
                    retries += 1;
                    std::thread::sleep(SEND_RETRY_WAIT);
                }
                Err(e) => {
                    dropped += 1;
                    last = Some(e);
                    break;
                }
            }
        }
    }
    (sent, dropped, last)
}

#[cfg(test)]
mod tests {
    use super::super::BATCH;
    use super::*;

    #[test]
    fn a_batch_crosses_loopback_in_order_with_its_addresses() {
        let socks = udp::Sockets::bind(0, 0, 1).unwrap();
        let sock = socks.socket(0, false).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_nonblocking(true).unwrap();
        let to = peer.local_addr().unwrap();
        let mut out = Batch::new(BATCH);
        for i in 0..40u8 {
            out.push(&[i; 100], Some(to));
        }
        let idx: Vec<usize> = (0..40).collect();
        let (sent, dropped, err) = send(sock, &mut out, &idx, &mut true);
        assert_eq!((sent, dropped), (40, 0), "{err:?}");
        let mut buf = [0u8; 200];
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < 40 && std::time::Instant::now() < deadline {
            match peer.recv_from(&mut buf) {
                Ok((n, _)) => {
                    got.push(buf[..n].to_vec());
                    peer.send_to(&buf[..n], ("127.0.0.1", socks.port)).unwrap();
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        assert_eq!(got.len(), 40);
        let mut inb = Batch::new(BATCH);
        let mut back = Vec::new();
        while back.len() < 40 && std::time::Instant::now() < deadline {
            let n = receive(sock, &mut inb).unwrap();
            back.extend((0..n).map(|i| (inb.packet(i).to_vec(), inb.addr(i).unwrap())));
            if n == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for (i, (p, from)) in back.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; 100]);
            assert_eq!(*from, to);
        }
        assert_eq!(back.len(), 40);
    }
}
