//! One TUN queue's packet I/O: bursts of non-blocking reads into a [`Batch`], reads of
//! `virtio_net_hdr` super-packets, and batch writes (with GSO headers for coalesced packets).

use super::offload::{VnetHdr, VNET_HDR_LEN};
use crate::device::batch::{Batch, SLOT};
use crate::device::poller::Poller;
use std::os::fd::RawFd;

/// Reads up to the batch capacity of packets from a non-blocking TUN queue into an empty
/// batch. Returns the number read; `Err` only for errors other than EAGAIN/EINTR when nothing
/// was read.
pub(crate) fn read_tun(fd: RawFd, batch: &mut Batch) -> std::io::Result<usize> {
    batch.clear();
    while !batch.is_full() {
        let slot = batch.next_slot();
        // Leave room for padding and WireGuard overhead in the same slot.
        let room = SLOT - 64;
        // SAFETY: slot has at least `room` writable bytes.
        let r = unsafe { libc::read(fd, slot.as_mut_ptr() as *mut libc::c_void, room) };
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
        batch.commit(r as usize, None);
    }
    Ok(batch.len())
}

/// Reads from a TUN queue that carries `virtio_net_hdr`s: super-packets are split into
/// segments (`offload::split`); one that does not fit the batch stays pending and is
/// finished by the next call.
pub(crate) struct VnetReader {
    buf: Vec<u8>,
}

impl VnetReader {
    pub(crate) fn new() -> VnetReader {
        VnetReader {
            buf: vec![0u8; VNET_HDR_LEN + 65536],
        }
    }

    /// Reads one packet (non-blocking): its `virtio_net_hdr` and the length of the packet
    /// behind it ([`VnetReader::packet_mut`]); `None` when the queue is empty.
    pub(crate) fn read_one(&mut self, fd: RawFd) -> std::io::Result<Option<(VnetHdr, usize)>> {
        loop {
            // SAFETY: buf is a valid writable buffer of its length.
            let r = unsafe { libc::read(fd, self.buf.as_mut_ptr() as *mut libc::c_void, self.buf.len()) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Ok(None),
                    _ => return Err(e),
                }
            }
            let r = r as usize;
            if r <= VNET_HDR_LEN {
                return Ok(None);
            }
            return Ok(Some((VnetHdr::decode(&self.buf[..VNET_HDR_LEN]), r - VNET_HDR_LEN)));
        }
    }

    /// The packet [`VnetReader::read_one`] read last (`len` bytes).
    pub(crate) fn packet_mut(&mut self, len: usize) -> &mut [u8] {
        &mut self.buf[VNET_HDR_LEN..VNET_HDR_LEN + len]
    }
}

/// A TUN queue descriptor and whether it carries `virtio_net_hdr`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TunFd {
    pub(crate) fd: RawFd,
    pub(crate) vnet_hdr: bool,
}

/// What the worker does with its queue (`inner.rs`).
impl TunFd {
    pub(crate) fn watch(&self, poller: &mut Poller, token: u64) -> std::io::Result<()> {
        poller.add_fd(self.fd, token)
    }

    pub(crate) fn unwatch(&self, poller: &mut Poller) {
        poller.remove_fd(self.fd)
    }

    #[inline]
    pub(crate) fn read_burst(&self, batch: &mut Batch) -> std::io::Result<usize> {
        read_tun(self.fd, batch)
    }

    #[inline]
    pub(crate) fn write(&self, batch: &mut Batch) -> (usize, usize) {
        let (ok, failed, _err) = write_tun(self.fd, batch, self.vnet_hdr);
        (ok, failed)
    }

    #[inline]
    pub(crate) fn offloads(&self) -> bool {
        self.vnet_hdr
    }

    /// A reader of offloaded super-packets, when the queue carries `virtio_net_hdr`s.
    pub(crate) fn vnet_reader(&self) -> Option<VnetReader> {
        self.vnet_hdr.then(VnetReader::new)
    }

    #[inline]
    pub(crate) fn read_vnet(&self, reader: &mut VnetReader) -> std::io::Result<Option<(VnetHdr, usize)>> {
        reader.read_one(self.fd)
    }
}

/// Writes every packet of `batch` to the TUN queue (after its `virtio_net_hdr` when
/// `vnet_hdr`: GSO for coalesced packets, all-zero otherwise); returns (written, failed, last error).
pub(crate) fn write_tun(fd: RawFd, batch: &mut Batch, vnet_hdr: bool) -> (usize, usize, Option<std::io::Error>) {
    batch.end_coalescing();
    let mut ok = 0;
    let mut failed = 0;
    let mut error = None;
    let mut vh = [0u8; VNET_HDR_LEN];
    let skip = if vnet_hdr { 0 } else { 1 };
    for i in 0..batch.len() {
        let p = batch.packet(i);
        if vnet_hdr {
            batch.coalesced(i).header(p).encode(&mut vh);
        }
        let iov = [
            libc::iovec {
                iov_base: vh.as_ptr() as *mut libc::c_void,
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            },
        ];
        loop {
            // SAFETY: both iovecs point at valid readable buffers.
            let r = unsafe { libc::writev(fd, iov[skip..].as_ptr(), (2 - skip) as libc::c_int) };
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
