//! A utun's packet I/O. The control socket is a datagram socket holding one packet per
//! datagram behind its address-family header (`frame.rs`); there is no way to read or write
//! several packets in one call, so a burst is one `recvmsg` per packet into the next slot of a
//! [`Batch`] until the socket is empty (EAGAIN) or the batch full, and a write is one `writev`
//! per packet. The header goes to and comes from a separate 4-byte buffer, so packets land at
//! the start of their slots, where the device core expects them, without a copy.
//!
//! Nothing here is macOS-specific beyond the framing: the tests run it on Linux over a
//! datagram socket pair standing in for the kernel's end.

use super::frame::{accept_inbound, Family, HEADER_LEN};
use crate::device::batch::{Batch, SLOT};
use std::os::fd::RawFd;

/// Reads up to the batch capacity of packets from the non-blocking control socket into the
/// (emptied) batch, headers stripped. Returns the number read; `Err` only for errors other
/// than EAGAIN/EINTR when nothing was read. Datagrams that are not an IPv4 or IPv6 packet
/// under a header naming its family, and packets too large for a slot (truncated), are
/// dropped.
pub(crate) fn read_burst(fd: RawFd, batch: &mut Batch) -> std::io::Result<usize> {
    batch.clear();
    let mut header = [0u8; HEADER_LEN];
    while !batch.is_full() {
        let slot = batch.next_slot();
        // Leave room for padding and WireGuard overhead in the same slot.
        let room = SLOT - 64;
        let mut iov = [
            libc::iovec {
                iov_base: header.as_mut_ptr() as *mut libc::c_void,
                iov_len: HEADER_LEN,
            },
            libc::iovec {
                iov_base: slot.as_mut_ptr() as *mut libc::c_void,
                iov_len: room,
            },
        ];
        // SAFETY: an all-zero msghdr is valid (no name, no control data); it points at the
        // two iovecs, which point at writable buffers of their lengths, for this call only.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: msg and the buffers it points at outlive the call.
        let r = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => break,
                _ if batch.len() > 0 => break,
                _ => return Err(e),
            }
        }
        if r == 0 {
            break;
        }
        let r = r as usize;
        if msg.msg_flags & libc::MSG_TRUNC != 0 || r <= HEADER_LEN {
            continue;
        }
        let len = r - HEADER_LEN;
        if !accept_inbound(header, &slot[..len]) {
            continue;
        }
        batch.commit(len, None);
    }
    Ok(batch.len())
}

/// Writes every packet of `batch` (plain IP packets: a utun has no offloads) to the control
/// socket behind the header of its family; returns (written, failed, last error). A packet
/// that is neither IPv4 nor IPv6 fails without a write (and without an error).
pub(crate) fn write_batch(fd: RawFd, batch: &Batch) -> (usize, usize, Option<std::io::Error>) {
    let mut ok = 0;
    let mut failed = 0;
    let mut error = None;
    for i in 0..batch.len() {
        let packet = batch.packet(i);
        let Some(family) = Family::of_packet(packet) else {
            failed += 1;
            continue;
        };
        let header = family.header();
        let iov = [
            libc::iovec {
                iov_base: header.as_ptr() as *mut libc::c_void,
                iov_len: HEADER_LEN,
            },
            libc::iovec {
                iov_base: packet.as_ptr() as *mut libc::c_void,
                iov_len: packet.len(),
            },
        ];
        loop {
            // SAFETY: both iovecs point at valid readable buffers of their lengths.
            let r = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) };
            if r >= 0 {
                ok += 1;
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            failed += 1;
            error = Some(e);
            break;
        }
    }
    (ok, failed, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A non-blocking datagram socket pair: (the device's end, the kernel's end).
    fn pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds is a writable array of the two ints socketpair fills.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0);
        for fd in fds {
            // SAFETY: fd is a descriptor just created; F_GETFL/F_SETFL take an int.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
            }
        }
        // SAFETY: both descriptors are fresh and owned here.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    fn send(fd: &OwnedFd, datagram: &[u8]) {
        // SAFETY: datagram is a readable buffer of its length.
        let r = unsafe {
            libc::send(
                fd.as_raw_fd(),
                datagram.as_ptr() as *const libc::c_void,
                datagram.len(),
                0,
            )
        };
        assert_eq!(r, datagram.len() as isize, "{}", std::io::Error::last_os_error());
    }

    /// The next datagram on `fd`, or `None` when there is none.
    fn recv(fd: &OwnedFd) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 70000];
        // SAFETY: buf is a writable buffer of its length.
        let r = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if r < 0 {
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN));
            return None;
        }
        buf.truncate(r as usize);
        Some(buf)
    }

    fn framed(family: Family, packet: &[u8]) -> Vec<u8> {
        [&family.header()[..], packet].concat()
    }

    /// An IPv4 (version 4) or IPv6 (version 6) packet of `len` bytes marked with `tag`.
    fn packet(version: u8, len: usize, tag: u8) -> Vec<u8> {
        let mut p = vec![tag; len];
        p[0] = version << 4;
        p
    }

    #[test]
    fn burst_strips_headers_until_the_socket_is_empty() {
        let (dev, kernel) = pair();
        let v4 = packet(4, 60, 1);
        let v6 = packet(6, 1280, 2);
        send(&kernel, &framed(Family::Inet, &v4));
        send(&kernel, &framed(Family::Inet6, &v6));
        let mut batch = Batch::new(8);
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 2);
        assert_eq!(batch.packet(0), &v4[..]);
        assert_eq!(batch.packet(1), &v6[..]);
        // Empty socket: nothing, no error, and the batch is emptied.
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 0);
        assert_eq!(batch.len(), 0);
    }

    #[test]
    fn burst_stops_at_the_batch_capacity() {
        let (dev, kernel) = pair();
        for tag in 0..5 {
            send(&kernel, &framed(Family::Inet, &packet(4, 100, tag)));
        }
        let mut batch = Batch::new(3);
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 3);
        assert_eq!(batch.packet(2), &packet(4, 100, 2)[..]);
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 2);
        assert_eq!(batch.packet(0), &packet(4, 100, 3)[..]);
        assert_eq!(batch.packet(1), &packet(4, 100, 4)[..]);
    }

    #[test]
    fn burst_drops_what_is_not_a_framed_packet() {
        let (dev, kernel) = pair();
        let good = packet(6, 40, 9);
        send(&kernel, &[0, 0]); // shorter than a header
        send(&kernel, &Family::Inet.header()); // a header alone
        send(&kernel, &framed(Family::Inet, &packet(6, 40, 3))); // header and version disagree
        send(&kernel, &[&[0u8, 0, 0, 10][..], &good].concat()); // Linux's AF_INET6
        send(&kernel, &framed(Family::Inet6, &packet(6, SLOT - 63, 4))); // one byte too big
        send(&kernel, &framed(Family::Inet6, &good));
        let mut batch = Batch::new(8);
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 1);
        assert_eq!(batch.packet(0), &good[..]);
    }

    #[test]
    fn burst_takes_the_largest_packet_a_slot_holds() {
        let (dev, kernel) = pair();
        let big = packet(4, SLOT - 64, 7);
        send(&kernel, &framed(Family::Inet, &big));
        let mut batch = Batch::new(1);
        assert_eq!(read_burst(dev.as_raw_fd(), &mut batch).unwrap(), 1);
        assert_eq!(batch.packet(0), &big[..]);
    }

    #[test]
    fn burst_reports_errors_when_nothing_was_read() {
        let mut batch = Batch::new(2);
        let e = read_burst(-1, &mut batch).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn writes_put_the_family_header_in_front() {
        let (dev, kernel) = pair();
        let v4 = packet(4, 20, 5);
        let v6 = packet(6, 1500, 6);
        let mut batch = Batch::new(8);
        batch.push(&v4, None);
        batch.push(&[], None);
        batch.push(&v6, None);
        batch.push(&packet(5, 20, 0), None);
        let (ok, failed, error) = write_batch(dev.as_raw_fd(), &batch);
        assert_eq!((ok, failed), (2, 2));
        assert!(error.is_none());
        assert_eq!(recv(&kernel).unwrap(), framed(Family::Inet, &v4));
        assert_eq!(recv(&kernel).unwrap(), framed(Family::Inet6, &v6));
        assert_eq!(recv(&kernel), None);
    }

    #[test]
    fn writes_count_what_the_socket_refuses() {
        let (dev, _kernel) = pair();
        let size: libc::c_int = 4096;
        // SAFETY: SO_SNDBUF takes an int.
        unsafe {
            libc::setsockopt(
                dev.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let mut batch = Batch::new(64);
        for tag in 0..64 {
            batch.push(&packet(4, 1400, tag), None);
        }
        let (ok, failed, error) = write_batch(dev.as_raw_fd(), &batch);
        assert_eq!(ok + failed, 64);
        assert!(ok > 0 && failed > 0, "{ok} written, {failed} failed");
        assert_eq!(error.unwrap().raw_os_error(), Some(libc::EAGAIN));
    }
}
