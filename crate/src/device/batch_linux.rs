//! Linux: `recvmmsg`/`sendmmsg`, UDP GSO (`UDP_SEGMENT`) on send and GRO on receive, and
//! IP_PKTINFO / IPV6_PKTINFO for the sticky source address, into and out of a [`Batch`].

use super::{Batch, BATCH, SLOT};
use crate::device::udp::{from_sockaddr, to_sockaddr, Socket};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

/// Receives a batch of datagrams from `socket` (see [`recv_mmsg`]).
#[inline]
pub(crate) fn receive(socket: &Socket, batch: &mut Batch) -> std::io::Result<usize> {
    recv_mmsg(socket.as_raw_fd(), batch)
}

/// Sends the datagrams `idx` of `batch` on `socket` (see [`send_segmented`]).
#[inline]
pub(crate) fn send(
    socket: &Socket,
    batch: &mut Batch,
    idx: &[usize],
    gso: &mut bool,
) -> (usize, usize, Option<std::io::Error>) {
    send_segmented(socket.as_raw_fd(), batch, idx, gso)
}

/// Room for an IP_PKTINFO / IPV6_PKTINFO control message and a `UDP_SEGMENT` / `UDP_GRO` one
/// (8-byte aligned).
const CTRL_WORDS: usize = 12;

// The C libraries disagree on some widths in these headers (glibc follows the kernel's
// `size_t`, musl POSIX's `socklen_t`/`int`): `msg_controllen`, `msg_iovlen` and `cmsg_len`
// are assigned with `as _` below, and `recvmmsg`/`sendmmsg` take their flags as `c_int` on
// glibc and `c_uint` on musl (`MSG_DONTWAIT as _`). The values are the same on both.
/// The control buffer's length.
const CONTROL_LEN: usize = CTRL_WORDS * 8;

/// `recvmmsg`/`sendmmsg` headers, allocated once per batch (zeroed) and re-pointed per call.
pub(super) struct Hdrs {
    names: [libc::sockaddr_storage; BATCH],
    iovs: [libc::iovec; BATCH],
    msgs: [libc::mmsghdr; BATCH],
    ctrl: [[u64; CTRL_WORDS]; BATCH],
    /// The first headers, set up for `recvmmsg` and untouched since except by it (a send
    /// re-points them: 0).
    recv_ready: usize,
    /// How many of those the last `recvmmsg` filled (their lengths need resetting).
    recv_used: usize,
}

impl Hdrs {
    pub(super) fn new() -> Box<Hdrs> {
        // SAFETY: all-zero sockaddr_storage/iovec/mmsghdr are valid (null pointers, zero
        // lengths); every pointer is set before a call uses it.
        Box::new(unsafe { std::mem::zeroed() })
    }
}

fn wait_writable(fd: RawFd, ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) };
}

/// Receives up to the batch capacity of datagrams with `recvmmsg` (non-blocking) into an
/// empty batch. Returns the number received (0 when nothing is pending).
pub(crate) fn recv_mmsg(fd: RawFd, batch: &mut Batch) -> std::io::Result<usize> {
    batch.clear();
    let count = batch.capacity().min(BATCH);
    let base = batch.data.as_mut_ptr();
    let h = &mut *batch.hdrs;
    // The kernel rewrites only the name and control lengths (and the flags) of the messages it
    // fills: reset those, and set the rest up once. A sparse packet, read on a CPU whose caches
    // went cold while it slept, then touches two headers instead of all 64.
    let (ready, used) = (h.recv_ready.min(count), h.recv_used);
    // (One more than were filled, should a failed attempt at the next have written anything.)
    for i in 0..(used + 1).min(ready) {
        h.msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msgs[i].msg_hdr.msg_controllen = CONTROL_LEN as _;
    }
    for i in ready..count {
        // SAFETY: slot i lies inside batch.data.
        h.iovs[i].iov_base = unsafe { base.add(i * SLOT) } as *mut libc::c_void;
        h.iovs[i].iov_len = SLOT;
        h.msgs[i].msg_hdr.msg_name = &mut h.names[i] as *mut _ as *mut libc::c_void;
        h.msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msgs[i].msg_hdr.msg_iov = &mut h.iovs[i];
        h.msgs[i].msg_hdr.msg_iovlen = 1;
        h.msgs[i].msg_hdr.msg_control = h.ctrl[i].as_mut_ptr() as *mut libc::c_void;
        h.msgs[i].msg_hdr.msg_controllen = CONTROL_LEN as _;
    }
    h.recv_ready = count;
    h.recv_used = 0;
    loop {
        // SAFETY: msgs points at `count` initialised headers whose buffers outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                h.msgs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(0),
                _ => return Err(e),
            }
        }
        let r = r as usize;
        h.recv_used = r;
        for i in 0..r {
            batch.lens[i] = h.msgs[i].msg_len as usize;
            batch.addrs[i] = from_sockaddr(&h.names[i]);
            // SAFETY: msg_control points at ctrl[i] (CONTROL_LEN bytes, set above), and the
            // kernel set msg_controllen to the part of it that it filled for this message.
            let (src, seg) = unsafe { read_cmsgs(&h.msgs[i].msg_hdr) };
            batch.srcs[i] = src;
            batch.segs[i] = seg;
        }
        batch.n = r;
        return Ok(r);
    }
}

/// Sends the packets `idx` of `batch` (each to its address) with `sendmmsg`. Waits briefly
/// when the socket buffer is full; returns (sent, dropped, last hard error).
pub(crate) fn send_mmsg(fd: RawFd, batch: &mut Batch, idx: &[usize]) -> (usize, usize, Option<std::io::Error>) {
    let mut sent = 0;
    let mut dropped = 0;
    let mut error = None;
    let base = batch.data.as_ptr();
    let h = &mut *batch.hdrs;
    h.recv_ready = 0;
    for chunk in idx.chunks(BATCH) {
        for (k, &i) in chunk.iter().enumerate() {
            let addr = batch.addrs[i].expect("send batch entries carry an address");
            let len = to_sockaddr(&addr, &mut h.names[k]);
            // SAFETY: slot i lies inside batch.data.
            h.iovs[k].iov_base = unsafe { base.add(i * SLOT) } as *mut libc::c_void;
            h.iovs[k].iov_len = batch.lens[i];
            h.msgs[k].msg_hdr.msg_name = &mut h.names[k] as *mut _ as *mut libc::c_void;
            h.msgs[k].msg_hdr.msg_namelen = len;
            h.msgs[k].msg_hdr.msg_iov = &mut h.iovs[k];
            h.msgs[k].msg_hdr.msg_iovlen = 1;
            h.msgs[k].msg_hdr.msg_flags = 0;
            // SAFETY: ctrl[k] has room for one pktinfo control message.
            unsafe { write_pktinfo(&mut h.ctrl[k], batch.srcs[i], &mut h.msgs[k].msg_hdr) };
        }
        let msgs = &mut h.msgs;
        let mut off = 0;
        let mut waits = 0;
        while off < chunk.len() {
            // SAFETY: msgs[off..chunk.len()] are initialised; buffers outlive the call.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr().add(off),
                    (chunk.len() - off) as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if r > 0 {
                off += r as usize;
                sent += r as usize;
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) if waits < 3 => {
                    waits += 1;
                    wait_writable(fd, 20);
                }
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    dropped += chunk.len() - off;
                    break;
                }
                _ if !msgs[off].msg_hdr.msg_control.is_null() => {
                    // The sticky source address is gone (EINVAL/EADDRNOTAVAIL): send from
                    // whatever the routing table picks; the peer's next packet re-learns it.
                    msgs[off].msg_hdr.msg_control = std::ptr::null_mut();
                    msgs[off].msg_hdr.msg_controllen = 0;
                }
                _ => {
                    // The first message failed (unreachable, EPERM from a firewall, …): skip it.
                    off += 1;
                    dropped += 1;
                    error = Some(e);
                }
            }
        }
    }
    (sent, dropped, error)
}

/// `UDP_SEGMENT` (linux/udp.h): the datagram size of a GSO send.
const UDP_SEGMENT: i32 = 103;
/// The kernel's limit on segments per GSO send (`UDP_MAX_SEGMENTS`).
const UDP_MAX_SEGMENTS: usize = 64;

/// Appends a `UDP_SEGMENT` control message after whatever `hdr` already carries.
///
/// # Safety
/// `buf` must be the control buffer `hdr` points at (or none yet) with room for both messages.
unsafe fn add_segment_size(buf: &mut [u64; CTRL_WORDS], size: u16, hdr: &mut libc::msghdr) {
    let used = if hdr.msg_control.is_null() {
        *buf = [0; CTRL_WORDS];
        0
    } else {
        // `size_t` on glibc (the cast is a no-op there), `socklen_t` on musl.
        #[allow(clippy::unnecessary_cast)]
        let used = hdr.msg_controllen as usize;
        used
    };
    let c = (buf.as_mut_ptr() as *mut u8).add(used) as *mut libc::cmsghdr;
    (*c).cmsg_level = libc::SOL_UDP;
    (*c).cmsg_type = UDP_SEGMENT;
    (*c).cmsg_len = libc::CMSG_LEN(2) as _;
    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, size);
    hdr.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
    hdr.msg_controllen = (used + libc::CMSG_SPACE(2) as usize) as _;
}

/// Sends the packets `idx` of `batch` like [`send_mmsg`], but runs of equal-size datagrams
/// to one address (the last may be shorter) leave as one `UDP_SEGMENT` send each: one trip
/// through the UDP/IP stack for up to 64 datagrams. When the kernel or the route refuses
/// segmentation (EIO, EINVAL, EOPNOTSUPP), `*gso` turns off and the rest goes out datagram
/// by datagram.
pub(crate) fn send_segmented(
    fd: RawFd,
    batch: &mut Batch,
    idx: &[usize],
    gso: &mut bool,
) -> (usize, usize, Option<std::io::Error>) {
    if !*gso || idx.len() < 2 {
        return send_mmsg(fd, batch, idx);
    }
    // Groups as (first position in idx, datagrams).
    let mut groups: [(usize, usize); BATCH] = [(0, 0); BATCH];
    let (mut sent, mut dropped, mut error) = (0, 0, None);
    let mut pos = 0;
    while pos < idx.len() {
        let base = batch.data.as_ptr();
        let h = &mut *batch.hdrs;
        h.recv_ready = 0;
        let mut ng = 0;
        let mut iov = 0;
        while pos < idx.len() && ng < BATCH && iov < BATCH {
            let first = idx[pos];
            let seg = batch.lens[first];
            let mut count = 1;
            let mut total = seg;
            while pos + count < idx.len() && count < UDP_MAX_SEGMENTS && iov + count < BATCH {
                let j = idx[pos + count];
                let len = batch.lens[j];
                let prev = batch.lens[idx[pos + count - 1]];
                if batch.addrs[j] != batch.addrs[first]
                    || batch.srcs[j] != batch.srcs[first]
                    || len > seg
                    || prev != seg
                    || total + len > 65000
                {
                    break;
                }
                total += len;
                count += 1;
            }
            let addr = batch.addrs[first].expect("send batch entries carry an address");
            let namelen = to_sockaddr(&addr, &mut h.names[ng]);
            for k in 0..count {
                let i = idx[pos + k];
                // SAFETY: slot i lies inside batch.data.
                h.iovs[iov + k].iov_base = unsafe { base.add(i * SLOT) } as *mut libc::c_void;
                h.iovs[iov + k].iov_len = batch.lens[i];
            }
            let m = &mut h.msgs[ng].msg_hdr;
            m.msg_name = &mut h.names[ng] as *mut _ as *mut libc::c_void;
            m.msg_namelen = namelen;
            m.msg_iov = &mut h.iovs[iov];
            m.msg_iovlen = count as _;
            m.msg_flags = 0;
            // SAFETY: ctrl[ng] has room for a pktinfo and a UDP_SEGMENT message.
            unsafe {
                write_pktinfo(&mut h.ctrl[ng], batch.srcs[first], m);
                if count > 1 {
                    add_segment_size(&mut h.ctrl[ng], seg as u16, m);
                }
            }
            groups[ng] = (pos, count);
            ng += 1;
            iov += count;
            pos += count;
        }
        let mut off = 0;
        let mut waits = 0;
        while off < ng {
            // SAFETY: msgs[off..ng] are initialised; their buffers outlive the call.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    h.msgs.as_mut_ptr().add(off),
                    (ng - off) as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if r > 0 {
                for g in &groups[off..off + r as usize] {
                    sent += g.1;
                }
                off += r as usize;
                continue;
            }
            let e = std::io::Error::last_os_error();
            let (gpos, gcount) = groups[off];
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) if waits < 3 => {
                    waits += 1;
                    wait_writable(fd, 20);
                }
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    dropped += groups[off..ng].iter().map(|g| g.1).sum::<usize>();
                    break;
                }
                Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) if gcount > 1 => {
                    // No segmentation here (EIO: the device cannot checksum it): stop trying
                    // and send the rest one datagram at a time.
                    *gso = false;
                    let (s, d, err) = send_mmsg(fd, batch, &idx[gpos..]);
                    return (sent + s, dropped + d, err.or(error));
                }
                _ => {
                    dropped += gcount;
                    error = Some(e);
                    off += 1;
                }
            }
        }
    }
    (sent, dropped, error)
}

/// `UDP_GRO` (linux/udp.h): receive coalesced datagrams; the control message gives their size.
pub(crate) const UDP_GRO: i32 = 104;

/// The local address from an IP_PKTINFO / IPV6_PKTINFO control message and the segment size
/// from a `UDP_GRO` one (0 when absent). A message too short for its type (the kernel truncates
/// the last one when the buffer is full, `MSG_CTRUNC`) is skipped.
///
/// # Safety
/// `hdr` must describe a control buffer the kernel filled: `msg_control` points at
/// `msg_controllen` readable bytes holding control messages.
unsafe fn read_cmsgs(hdr: &libc::msghdr) -> (Option<IpAddr>, usize) {
    let (mut src, mut seg) = (None, 0);
    let mut c = libc::CMSG_FIRSTHDR(hdr);
    while !c.is_null() {
        let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
        if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
            if let Some(info) = cmsg_data::<libc::in_pktinfo>(hdr, c) {
                src = Some(IpAddr::V4(Ipv4Addr::from(info.ipi_spec_dst.s_addr.to_ne_bytes())));
            }
        } else if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
            if let Some(info) = cmsg_data::<libc::in6_pktinfo>(hdr, c) {
                src = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
        } else if level == libc::SOL_UDP && kind == UDP_GRO {
            if let Some(size) = cmsg_data::<libc::c_int>(hdr, c) {
                seg = size.max(0) as usize;
            }
        }
        c = libc::CMSG_NXTHDR(hdr, c);
    }
    (src, seg)
}

/// The `T` control message `c` of `hdr` carries, if its length (and the buffer) holds one.
///
/// # Safety
/// `c` is a control message header inside the control buffer of `hdr` (from `CMSG_FIRSTHDR`
/// or `CMSG_NXTHDR`), whose `msg_controllen` bytes are readable; `T` is plain old data.
unsafe fn cmsg_data<T>(hdr: &libc::msghdr, c: *const libc::cmsghdr) -> Option<T> {
    let need = libc::CMSG_LEN(size_of::<T>() as u32) as usize;
    // (`size_t` on glibc, `socklen_t` on musl.)
    let (controllen, len): (usize, usize) = (hdr.msg_controllen as _, (*c).cmsg_len as _);
    let room = (hdr.msg_control as usize + controllen).saturating_sub(c as usize);
    if len < need || room < need {
        return None;
    }
    Some(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const T))
}

/// Points `hdr` at a control message choosing the source address `src` (none: no control).
///
/// # Safety
/// `buf` must outlive the send call that uses `hdr`.
unsafe fn write_pktinfo(buf: &mut [u64; CTRL_WORDS], src: Option<IpAddr>, hdr: &mut libc::msghdr) {
    hdr.msg_control = std::ptr::null_mut();
    hdr.msg_controllen = 0;
    let Some(src) = src else { return };
    let (level, kind, size) = match src {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, size_of::<libc::in_pktinfo>()),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, size_of::<libc::in6_pktinfo>()),
    };
    *buf = [0; CTRL_WORDS];
    hdr.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
    hdr.msg_controllen = libc::CMSG_SPACE(size as u32) as _;
    let c = libc::CMSG_FIRSTHDR(hdr);
    (*c).cmsg_level = level;
    (*c).cmsg_type = kind;
    (*c).cmsg_len = libc::CMSG_LEN(size as u32) as _;
    let data = libc::CMSG_DATA(c);
    match src {
        IpAddr::V4(a) => std::ptr::write_unaligned(
            data as *mut libc::in_pktinfo,
            libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            },
        ),
        IpAddr::V6(a) => std::ptr::write_unaligned(
            data as *mut libc::in6_pktinfo,
            libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr { s6_addr: a.octets() },
                ipi6_ifindex: 0,
            },
        ),
    }
}

/// Receives with [`recv_mmsg`] into `batch` until `want` datagrams came (or a second passed);
/// `each` maps each one.
#[cfg(test)]
fn receive_until<T>(fd: RawFd, batch: &mut Batch, want: usize, mut each: impl FnMut(&Batch, usize) -> T) -> Vec<T> {
    let mut got = Vec::new();
    for _ in 0..1000 {
        let n = recv_mmsg(fd, batch).unwrap();
        got.extend((0..n).map(|i| each(batch, i)));
        if got.len() >= want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn mmsg_round_trip_over_loopback() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let mut out = Batch::new(100);
        for i in 0..100u8 {
            out.push(&vec![i; 10 + i as usize], Some(to));
        }
        let idx: Vec<usize> = (0..100).collect();
        let (sent, dropped, err) = send_mmsg(a.as_raw_fd(), &mut out, &idx);
        assert_eq!((sent, dropped), (100, 0), "{err:?}");
        let mut inb = Batch::new(BATCH);
        let mut got = 0;
        for _ in 0..1000 {
            let n = recv_mmsg(b.as_raw_fd(), &mut inb).unwrap();
            for i in 0..n {
                let p = inb.packet(i);
                assert_eq!(p.len(), 10 + got);
                assert!(p.iter().all(|&x| x as usize == got));
                assert_eq!(inb.addr(i), Some(a.local_addr().unwrap()));
                got += 1;
            }
            if got == 100 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, 100);
    }
}

#[cfg(test)]
mod cmsg_tests {
    use super::*;

    fn space(data_len: usize) -> usize {
        // SAFETY: CMSG_SPACE only computes a length.
        unsafe { libc::CMSG_SPACE(data_len as u32) as usize }
    }

    fn len(data_len: usize) -> usize {
        // SAFETY: CMSG_LEN only computes a length.
        unsafe { libc::CMSG_LEN(data_len as u32) as usize }
    }

    fn first(hdr: &libc::msghdr) -> *mut libc::cmsghdr {
        // SAFETY: hdr's control pointer and length describe a live buffer (`control`).
        let c = unsafe { libc::CMSG_FIRSTHDR(hdr) };
        assert!(!c.is_null());
        c
    }

    /// A msghdr over `ctrl` with one control message of `level`/`kind` whose length says it
    /// carries `data_len` bytes, then `controllen` bytes of the buffer in use.
    fn control(
        ctrl: &mut [u64; CTRL_WORDS],
        level: i32,
        kind: i32,
        data_len: usize,
        controllen: usize,
    ) -> libc::msghdr {
        // The bytes a longer message would hold: a read past the length would see them.
        *ctrl = [u64::MAX; CTRL_WORDS];
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_control = ctrl.as_mut_ptr().cast();
        hdr.msg_controllen = controllen as _;
        let c = first(&hdr);
        // SAFETY: c is the first header of `ctrl`, which has room for it (controllen >= 16).
        unsafe {
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            (*c).cmsg_len = len(data_len) as _;
        }
        hdr
    }

    #[test]
    fn a_truncated_pktinfo_gives_no_source_address() {
        let mut ctrl = [0u64; CTRL_WORDS];
        // What the kernel leaves when the buffer ends inside an IPV6_PKTINFO: 4 of its 20 bytes.
        let space = space(4);
        let hdr = control(&mut ctrl, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, 4, space);
        // SAFETY: hdr describes `ctrl`, `space` bytes of control messages.
        assert_eq!(unsafe { read_cmsgs(&hdr) }, (None, 0));
        let hdr = control(&mut ctrl, libc::IPPROTO_IP, libc::IP_PKTINFO, 4, space);
        // SAFETY: as above.
        assert_eq!(unsafe { read_cmsgs(&hdr) }, (None, 0));
    }

    #[test]
    fn a_message_longer_than_the_buffer_in_use_is_not_read() {
        let mut ctrl = [0u64; CTRL_WORDS];
        // The header claims a whole in6_pktinfo, but only its first 4 data bytes are in use.
        let full = size_of::<libc::in6_pktinfo>();
        let hdr = control(&mut ctrl, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, full, len(4));
        // SAFETY: hdr describes `ctrl`; only its first CMSG_LEN(4) bytes count.
        assert_eq!(unsafe { read_cmsgs(&hdr) }, (None, 0));
    }

    #[test]
    fn whole_messages_are_read() {
        let mut ctrl = [0u64; CTRL_WORDS];
        let hdr = control(&mut ctrl, libc::SOL_UDP, UDP_GRO, 4, space(4));
        let c = first(&hdr);
        // SAFETY: c is the first header of `ctrl`, with room for its 4 data bytes.
        unsafe { std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::c_int, 1200) };
        // SAFETY: hdr describes `ctrl`, one UDP_GRO message.
        assert_eq!(unsafe { read_cmsgs(&hdr) }, (None, 1200));
        let space = space(size_of::<libc::in_pktinfo>());
        let hdr = control(
            &mut ctrl,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
            space,
        );
        let c = first(&hdr);
        let info = libc::in_pktinfo {
            ipi_ifindex: 1,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from_ne_bytes([10, 0, 0, 1]),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        // SAFETY: c is the first header of `ctrl`, with room for an in_pktinfo.
        unsafe { std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in_pktinfo, info) };
        // SAFETY: hdr describes `ctrl`, one IP_PKTINFO message.
        let read = unsafe { read_cmsgs(&hdr) };
        assert_eq!(read, (Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), 0));
    }
}

#[cfg(test)]
mod pktinfo_tests {
    use super::*;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    fn enable_pktinfo(fd: RawFd) {
        let one: i32 = 1;
        // SAFETY: valid int option.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                &one as *const i32 as *const libc::c_void,
                4,
            )
        };
        assert_eq!(r, 0);
    }

    /// Receives until `n` datagrams came; their local addresses.
    fn recv_srcs(fd: RawFd, batch: &mut Batch, n: usize) -> Vec<Option<IpAddr>> {
        receive_until(fd, batch, n, |b, i| b.src(i))
    }

    /// The headers are set up once and only the lengths the kernel rewrote are reset: a call
    /// that filled three messages without control data (no `IP_PKTINFO` yet, control length 0)
    /// must not leave the next call without room for it.
    #[test]
    fn each_receive_has_room_for_control_data_again() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut inb = Batch::new(BATCH);
        for i in 0..3u8 {
            a.send_to(&[i; 20], b.local_addr().unwrap()).unwrap();
        }
        assert_eq!(recv_srcs(b.as_raw_fd(), &mut inb, 3), vec![None; 3]);
        enable_pktinfo(b.as_raw_fd());
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        for round in 1..4 {
            for i in 0..round * 2 {
                a.send_to(&[i as u8; 20], b.local_addr().unwrap()).unwrap();
            }
            assert_eq!(recv_srcs(b.as_raw_fd(), &mut inb, round * 2), vec![local; round * 2]);
        }
    }

    /// The receiver learns the local address; the sender picks its source address, and a
    /// source that is not local falls back to the routing table's choice.
    #[test]
    fn sticky_source_round_trip() {
        let a = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let b = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        b.set_nonblocking(true).unwrap();
        enable_pktinfo(b.as_raw_fd());
        let to: SocketAddr = format!("127.0.0.9:{}", b.local_addr().unwrap().port()).parse().unwrap();
        let mut out = Batch::new(4);
        out.push_from(b"one", Some(to), Some("127.0.0.2".parse().unwrap()));
        out.push_from(b"two", Some(to), Some("192.0.2.77".parse().unwrap()));
        out.push_from(b"three", Some(to), None);
        let (sent, dropped, err) = send_mmsg(a.as_raw_fd(), &mut out, &[0, 1, 2]);
        assert_eq!((sent, dropped), (3, 0), "{err:?}");
        let mut inb = Batch::new(BATCH);
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = recv_mmsg(b.as_raw_fd(), &mut inb).unwrap();
            for i in 0..n {
                got.push((inb.packet(i).to_vec(), inb.addr(i).unwrap().ip(), inb.src(i)));
            }
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got.len(), 3);
        let local: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!(got[0], (b"one".to_vec(), "127.0.0.2".parse().unwrap(), Some(local)));
        assert_eq!(got[1].0, b"two");
        assert_ne!(got[1].1, "192.0.2.77".parse::<IpAddr>().unwrap());
        assert_eq!(got[2].2, Some(local));
    }
}

#[cfg(test)]
mod gso_tests {
    use super::*;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    fn receive_all(sock: &std::net::UdpSocket, want: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        receive_until(sock.as_raw_fd(), &mut Batch::new(BATCH), want, |b, i| {
            (b.packet(i).to_vec(), b.addr(i).unwrap())
        })
    }

    /// With `UDP_GRO` on the receiving socket, a segmented send arrives as fewer, larger
    /// messages; `datagrams` splits them back into the same datagrams, in order, and so does
    /// `datagrams_mut_in` for a range of messages.
    #[test]
    fn gro_receive_splits_coalesced_runs() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let one: i32 = 1;
        // SAFETY: valid int option.
        let r = unsafe {
            libc::setsockopt(
                b.as_raw_fd(),
                libc::SOL_UDP,
                UDP_GRO,
                &one as *const i32 as *const libc::c_void,
                4,
            )
        };
        assert_eq!(r, 0);
        let to = b.local_addr().unwrap();
        let mut out = Batch::new(BATCH);
        let sizes: Vec<usize> = (0..40).map(|k| if k == 29 { 333 } else { 1200 }).collect();
        for (k, &n) in sizes.iter().enumerate() {
            out.push(&vec![k as u8; n], Some(to));
        }
        let idx: Vec<usize> = (0..out.len()).collect();
        let mut gso = true;
        let (sent, dropped, err) = send_segmented(a.as_raw_fd(), &mut out, &idx, &mut gso);
        assert_eq!((sent, dropped), (sizes.len(), 0), "{err:?}");
        let mut inb = Batch::new(BATCH);
        let (mut got, mut messages) = (Vec::new(), 0);
        for _ in 0..1000 {
            let n = recv_mmsg(b.as_raw_fd(), &mut inb).unwrap();
            messages += n;
            let each: Vec<Vec<u8>> = (0..n).flat_map(|i| inb.datagrams(i).map(|d| d.to_vec())).collect();
            // Any range of messages, as one run of datagrams (the receive path decrypts
            // consecutive messages of one session together).
            for from in 0..n {
                let skip: usize = (0..from).map(|i| inb.datagrams(i).count()).sum();
                let run: Vec<Vec<u8>> = inb.datagrams_mut_in(from, n).map(|d| d.to_vec()).collect();
                assert_eq!(run[..], each[skip..]);
            }
            got.extend(each);
            if got.len() >= sizes.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let want: Vec<Vec<u8>> = (0..out.len()).map(|i| out.packet(i).to_vec()).collect();
        assert_eq!(got, want);
        assert!(
            messages < sizes.len(),
            "{messages} messages for {} datagrams",
            sizes.len()
        );
    }

    /// Runs of equal sizes to one address go out segmented, the rest one by one; the
    /// receiver gets every datagram, in order, with its own length — with GSO and without.
    #[test]
    fn segmented_send_delivers_every_datagram_in_order() {
        for gso_on in [true, false] {
            let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            b.set_nonblocking(true).unwrap();
            c.set_nonblocking(true).unwrap();
            let (tb, tc) = (b.local_addr().unwrap(), c.local_addr().unwrap());
            let sizes = [1200, 1200, 1200, 1200, 700, 1200, 1200, 80, 80, 90, 1200];
            let targets = [tb, tb, tb, tb, tb, tc, tc, tb, tb, tb, tb];
            let mut out = Batch::new(BATCH);
            for (k, (&n, &to)) in sizes.iter().zip(&targets).enumerate() {
                out.push(&vec![k as u8; n], Some(to));
            }
            // Plus a long run beyond the 64-segment limit.
            for k in 0..70 {
                if out.is_full() {
                    break;
                }
                out.push(&vec![100 + k as u8; 1000], Some(tb));
            }
            let idx: Vec<usize> = (0..out.len()).collect();
            let mut gso = gso_on;
            let (sent, dropped, err) = send_segmented(a.as_raw_fd(), &mut out, &idx, &mut gso);
            assert_eq!((sent, dropped), (out.len(), 0), "{err:?}");
            assert_eq!(gso, gso_on, "loopback takes UDP_SEGMENT");
            let want_b: Vec<Vec<u8>> = (0..out.len())
                .filter(|&i| out.addr(i) == Some(tb))
                .map(|i| out.packet(i).to_vec())
                .collect();
            let got_b: Vec<Vec<u8>> = receive_all(&b, want_b.len()).into_iter().map(|x| x.0).collect();
            assert_eq!(got_b, want_b);
            let got_c = receive_all(&c, 2);
            assert_eq!(got_c.len(), 2);
            assert!(got_c
                .iter()
                .all(|(p, from)| p.len() == 1200 && *from == a.local_addr().unwrap()));
        }
    }
}
