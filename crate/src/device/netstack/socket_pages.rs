//! Memory of the TCP sockets' buffers that is resident only while it holds data. Each socket's
//! receive and send buffers are one anonymous mapping of their full size (the receive buffer is
//! the window, 4 MiB by default): the system gives a page when it is first written, so an idle
//! socket costs what it wrote. The stack's thread trims ([`SocketPages::trim`], every
//! [`TRIM_EVERY`]) a buffer that stayed unused for a whole period and is empty: its pages go
//! back to the system (the ring holds nothing that matters, so what they read as after does not
//! matter either).
//! A busy connection is never trimmed, and a trimmed buffer faults its pages in again as it is
//! used. On Windows the same with VirtualAlloc: committed demand-zero pages, reset and taken out
//! of the working set to trim.

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use std::collections::HashMap;
use std::io;
use std::time::Duration;

/// How often the stack's thread looks for buffers to trim.
pub(crate) const TRIM_EVERY: Duration = Duration::from_millis(500);

/// One socket's buffers: `[receive | send]`, the send part starting on a page boundary.
struct Mapping {
    ptr: *mut u8,
    len: usize,
    receive: usize,
    send_at: usize,
    send: usize,
}

// SAFETY: the mapping is plain memory owned by this value; it is only touched through the
// stack's mutex (by smoltcp through the slices below, or by `trim`).
unsafe impl Send for Mapping {}

#[cfg(unix)]
mod os {
    use std::io;

    pub(super) fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 {
            p as usize
        } else {
            4096
        }
    }

    /// Zeroed pages, resident only once written.
    pub(super) fn map(len: usize) -> io::Result<*mut u8> {
        // SAFETY: an anonymous private mapping at an address the system picks; no existing
        // memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Where transparent huge pages are on for all memory, one byte written would make a
        // whole huge page resident: an idle socket would cost megabytes.
        #[cfg(target_os = "linux")]
        // SAFETY: advice on the mapping just made; it changes no contents.
        unsafe {
            libc::madvise(p, len, libc::MADV_NOHUGEPAGE);
        }
        Ok(p.cast())
    }

    /// # Safety
    /// `ptr..ptr+len` is a mapping made by [`map`], not used after this.
    pub(super) unsafe fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: the caller's contract: the whole mapping, unused from now on.
        unsafe {
            libc::munmap(ptr.cast(), len);
        }
    }

    /// Gives the pages of `ptr..ptr+len` back (they read as zeros after).
    ///
    /// # Safety
    /// The range is page-aligned, inside a live mapping made by [`map`], and nobody holds a
    /// reference into it for the duration of the call.
    pub(super) unsafe fn discard(ptr: *mut u8, len: usize) {
        // SAFETY: the caller's contract; MADV_DONTNEED on private anonymous memory only
        // replaces its pages with zero pages.
        unsafe {
            libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED);
        }
    }

    /// How many pages of `ptr..ptr+len` (page-aligned, inside a live mapping) are resident.
    #[cfg(test)]
    pub(super) fn resident_pages(ptr: *mut u8, len: usize) -> usize {
        let pages = len.div_ceil(page_size());
        let mut vec = vec![0u8; pages];
        // SAFETY: the range is a live mapping (the caller's); `vec` has one byte per page.
        let r = unsafe { libc::mincore(ptr.cast(), len, vec.as_mut_ptr().cast()) };
        assert_eq!(r, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 != 0).count()
    }
}

#[cfg(windows)]
mod os {
    use std::io;
    use windows_sys::Win32::System::Memory::{
        VirtualAlloc, VirtualFree, VirtualUnlock, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, MEM_RESET, PAGE_READWRITE,
    };

    pub(super) fn page_size() -> usize {
        // Every Windows target wgkit builds for has 4 KiB pages; a larger real page size only
        // makes `discard` give back less.
        4096
    }

    /// Committed zero pages, resident only once written (Windows backs committed memory with
    /// demand-zero pages).
    pub(super) fn map(len: usize) -> io::Result<*mut u8> {
        // SAFETY: a new region at an address the system picks; no existing memory is affected.
        let p = unsafe { VirtualAlloc(std::ptr::null(), len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) };
        if p.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(p.cast())
    }

    /// # Safety
    /// `ptr` is a region made by [`map`], not used after this.
    pub(super) unsafe fn unmap(ptr: *mut u8, _len: usize) {
        // SAFETY: the caller's contract; MEM_RELEASE frees the whole region (size 0).
        unsafe {
            VirtualFree(ptr.cast(), 0, MEM_RELEASE);
        }
    }

    /// Gives the pages of `ptr..ptr+len` back: MEM_RESET says their contents no longer
    /// matter (they are never written to the paging file and read as anything after) and
    /// VirtualUnlock of pages that are not locked takes them out of the working set. They stay
    /// committed, so a later write never faults.
    ///
    /// # Safety
    /// The range is page-aligned, inside a live region made by [`map`], and nobody holds a
    /// reference into it for the duration of the call.
    pub(super) unsafe fn discard(ptr: *mut u8, len: usize) {
        // SAFETY: the caller's contract; neither call changes what is committed.
        unsafe {
            VirtualAlloc(ptr.cast(), len, MEM_RESET, PAGE_READWRITE);
            VirtualUnlock(ptr.cast(), len);
        }
    }

    /// How many pages of `ptr..ptr+len` (page-aligned, inside a live region) are in the
    /// working set.
    #[cfg(test)]
    pub(super) fn resident_pages(ptr: *mut u8, len: usize) -> usize {
        use windows_sys::Win32::System::ProcessStatus::{
            K32QueryWorkingSetEx, PSAPI_WORKING_SET_EX_BLOCK, PSAPI_WORKING_SET_EX_INFORMATION,
        };
        use windows_sys::Win32::System::Threading::GetCurrentProcess;
        let mut info: Vec<PSAPI_WORKING_SET_EX_INFORMATION> = (0..len.div_ceil(page_size()))
            .map(|i| PSAPI_WORKING_SET_EX_INFORMATION {
                VirtualAddress: ptr.wrapping_add(i * page_size()).cast(),
                VirtualAttributes: PSAPI_WORKING_SET_EX_BLOCK { Flags: 0 },
            })
            .collect();
        let bytes = std::mem::size_of_val(info.as_slice()) as u32;
        // SAFETY: `info` is an array of `bytes` bytes of the structure the call fills in.
        let ok = unsafe { K32QueryWorkingSetEx(GetCurrentProcess(), info.as_mut_ptr().cast(), bytes) };
        assert_ne!(ok, 0, "QueryWorkingSetEx: {}", io::Error::last_os_error());
        // SAFETY: `Flags` covers the whole union; bit 0 is `Valid` (in the working set).
        info.iter()
            .filter(|i| unsafe { i.VirtualAttributes.Flags } & 1 != 0)
            .count()
    }
}

impl Mapping {
    /// Fails (`OutOfMemory`) for sizes whose page-rounded sum does not fit a `usize`: the
    /// slices over the mapping must never be longer than it.
    fn new(receive: usize, send: usize) -> io::Result<Mapping> {
        let page = os::page_size();
        let round = |n: usize| n.div_ceil(page).max(1).checked_mul(page);
        let too_large = || io::Error::new(io::ErrorKind::OutOfMemory, "TCP buffers too large to map");
        let send_at = round(receive).ok_or_else(too_large)?;
        let len = round(send).and_then(|s| send_at.checked_add(s)).ok_or_else(too_large)?;
        let ptr = os::map(len)?;
        Ok(Mapping {
            ptr,
            len,
            receive,
            send_at,
            send,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: made by `os::map` with this length; its socket was dropped first (see
        // `SocketPages::remove` and `StackState`'s drop).
        unsafe { os::unmap(self.ptr, self.len) }
    }
}

/// Where a buffer stands for the trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Nothing resident to give back (never written, or trimmed and unused since).
    Clean,
    /// Used since the last look.
    Used,
    /// Unused for a whole period: trimmed at the next look that finds it empty.
    Resting,
}

struct Entry {
    mapping: Mapping,
    receive: Use,
    send: Use,
}

/// The buffers of every TCP socket of a stack, by socket.
#[derive(Default)]
pub(crate) struct SocketPages {
    entries: HashMap<SocketHandle, Entry>,
    /// Buffers not [`Use::Clean`]: when 0, the stack's thread needs no trim timer.
    pending: usize,
}

fn pending_of(e: &Entry) -> usize {
    (e.receive != Use::Clean) as usize + (e.send != Use::Clean) as usize
}

impl SocketPages {
    /// A socket with `receive` and `send` bytes of buffers, added to `sockets`; `setup`
    /// prepares it (listen, connect) before it is added, and its error leaves nothing behind.
    pub(crate) fn add_socket<E>(
        &mut self,
        sockets: &mut SocketSet<'static>,
        receive: usize,
        send: usize,
        setup: impl FnOnce(&mut tcp::Socket<'static>) -> Result<(), E>,
    ) -> io::Result<Result<SocketHandle, E>> {
        let mapping = Mapping::new(receive, send)?;
        // SAFETY: the two ranges are disjoint parts of the mapping (`Mapping::new`: receive <=
        // send_at, send_at + send <= len, without overflow), zero-initialised by `os::map`
        // and read-write; the mapping outlives the socket:
        // the socket is dropped before its entry (`remove`, `StackState`'s drop), and on the
        // error path below (`socket` is declared after `mapping`, so it is dropped first).
        let (rx, tx) = unsafe {
            (
                std::slice::from_raw_parts_mut(mapping.ptr, mapping.receive),
                std::slice::from_raw_parts_mut(mapping.ptr.add(mapping.send_at), mapping.send),
            )
        };
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        if let Err(e) = setup(&mut socket) {
            return Ok(Err(e));
        }
        let handle = sockets.add(socket);
        self.entries.insert(
            handle,
            Entry {
                mapping,
                receive: Use::Clean,
                send: Use::Clean,
            },
        );
        Ok(Ok(handle))
    }

    /// Removes a TCP socket from `sockets`, then unmaps its buffers.
    pub(crate) fn remove(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        drop(sockets.remove(handle));
        if let Some(e) = self.entries.remove(&handle) {
            self.pending -= pending_of(&e);
        }
    }

    fn mark(&mut self, handle: SocketHandle, receive: bool) {
        if let Some(e) = self.entries.get_mut(&handle) {
            let u = if receive { &mut e.receive } else { &mut e.send };
            if *u == Use::Clean {
                self.pending += 1;
            }
            *u = Use::Used;
        }
    }

    /// The socket's user took data out of its receive buffer.
    pub(crate) fn received(&mut self, handle: SocketHandle) {
        self.mark(handle, true);
    }

    /// The socket's user queued data in its send buffer.
    pub(crate) fn sent(&mut self, handle: SocketHandle) {
        self.mark(handle, false);
    }

    /// Whether some buffer may have pages to give back (the thread then looks every
    /// [`TRIM_EVERY`]).
    pub(crate) fn pending(&self) -> bool {
        self.pending > 0
    }

    /// Gives back the pages of the buffers unused for a whole period and empty now; the
    /// ones used since the last call wait for the next.
    pub(crate) fn trim(&mut self, sockets: &mut SocketSet<'static>) {
        if self.pending == 0 {
            return;
        }
        let mut pending = 0;
        for (&h, e) in self.entries.iter_mut() {
            if e.receive == Use::Clean && e.send == Use::Clean {
                continue;
            }
            let s = sockets.get::<tcp::Socket>(h);
            // Received octets past a hole sit in the receive buffer's free space.
            let receive_empty = s.recv_queue() == 0 && !s.has_out_of_order();
            let send_empty = s.send_queue() == 0;
            let m = &e.mapping;
            e.receive = match e.receive {
                Use::Used => Use::Resting,
                Use::Resting if receive_empty => {
                    // SAFETY: the receive range of a live mapping (page-aligned start, whole
                    // pages: the send range starts at the next page); the stack's lock is held,
                    // so smoltcp is not using the buffer, which holds no data.
                    unsafe { os::discard(m.ptr, m.send_at) };
                    Use::Clean
                }
                u => u,
            };
            e.send = match e.send {
                Use::Used => Use::Resting,
                Use::Resting if send_empty => {
                    // SAFETY: the send range (page-aligned, whole pages to the mapping's end)
                    // of a live mapping that holds no data; the stack's lock is held.
                    unsafe { os::discard(m.ptr.add(m.send_at), m.len - m.send_at) };
                    Use::Clean
                }
                u => u,
            };
            pending += pending_of(e);
        }
        self.pending = pending;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(n: usize) -> usize {
        n * os::page_size()
    }

    /// Writes a byte to every page of `ptr..ptr+len`.
    fn touch(ptr: *mut u8, len: usize) {
        for off in (0..len).step_by(os::page_size()) {
            // SAFETY: inside a live mapping (the callers pass a mapping's range).
            unsafe { ptr.add(off).write_volatile(0xa5) };
        }
    }

    #[test]
    fn a_mapping_puts_the_send_buffer_on_its_own_pages() {
        let m = Mapping::new(pages(2) + 1, 10).unwrap();
        assert_eq!(m.send_at, pages(3), "receive rounded up to whole pages");
        assert_eq!(m.len, pages(4));
        assert_eq!((m.receive, m.send), (pages(2) + 1, 10));
        let empty = Mapping::new(0, 0).unwrap();
        assert_eq!((empty.send_at, empty.len), (pages(1), pages(2)), "at least a page each");
    }

    #[test]
    fn pages_are_resident_once_written_and_given_back_by_discard() {
        let m = Mapping::new(pages(8), pages(8)).unwrap();
        assert_eq!(os::resident_pages(m.ptr, m.len), 0, "nothing resident before a write");
        touch(m.ptr, m.len);
        assert_eq!(os::resident_pages(m.ptr, m.len), 16);
        // SAFETY: the receive range of the live mapping; nothing references it.
        unsafe { os::discard(m.ptr, m.send_at) };
        assert_eq!(os::resident_pages(m.ptr, m.send_at), 0, "the receive pages went back");
        let send = m.ptr.wrapping_add(m.send_at);
        assert_eq!(os::resident_pages(send, pages(8)), 8, "the send pages stayed");
        touch(m.ptr, m.send_at);
        assert_eq!(
            os::resident_pages(m.ptr, m.len),
            16,
            "discarded pages work again when written"
        );
    }

    fn entry_use(p: &SocketPages, h: SocketHandle) -> (Use, Use) {
        let e = &p.entries[&h];
        (e.receive, e.send)
    }

    #[test]
    fn a_buffer_is_trimmed_after_a_whole_unused_period_and_only_then() {
        let mut sockets = SocketSet::new(Vec::new());
        let mut p = SocketPages::default();
        let h = p
            .add_socket(&mut sockets, pages(4), pages(4), |_| Ok::<(), ()>(()))
            .unwrap()
            .unwrap();
        assert!(!p.pending(), "a new socket has nothing to give back");
        assert_eq!(entry_use(&p, h), (Use::Clean, Use::Clean));

        p.sent(h);
        assert!(p.pending());
        let send = p.entries[&h].mapping.ptr.wrapping_add(p.entries[&h].mapping.send_at);
        touch(send, pages(4));
        p.trim(&mut sockets);
        assert_eq!(
            entry_use(&p, h),
            (Use::Clean, Use::Resting),
            "used in this period: kept"
        );
        p.sent(h);
        p.trim(&mut sockets);
        assert_eq!(entry_use(&p, h), (Use::Clean, Use::Resting), "used again: kept again");
        assert_eq!(os::resident_pages(send, pages(4)), 4);
        p.trim(&mut sockets);
        assert_eq!(
            entry_use(&p, h),
            (Use::Clean, Use::Clean),
            "a whole period unused: trimmed"
        );
        assert_eq!(os::resident_pages(send, pages(4)), 0);
        assert!(!p.pending(), "the thread needs no trim timer any more");

        p.received(h);
        p.trim(&mut sockets);
        p.trim(&mut sockets);
        assert_eq!(entry_use(&p, h), (Use::Clean, Use::Clean));
        assert!(!p.pending());
    }

    #[test]
    fn removing_a_socket_forgets_what_it_had_pending() {
        let mut sockets = SocketSet::new(Vec::new());
        let mut p = SocketPages::default();
        let a = p
            .add_socket(&mut sockets, pages(1), pages(1), |_| Ok::<(), ()>(()))
            .unwrap()
            .unwrap();
        let b = p
            .add_socket(&mut sockets, pages(1), pages(1), |_| Ok::<(), ()>(()))
            .unwrap()
            .unwrap();
        p.sent(a);
        p.received(a);
        p.sent(b);
        p.remove(&mut sockets, a);
        assert!(p.pending(), "b still has a buffer in use");
        p.remove(&mut sockets, b);
        assert!(!p.pending());
        assert_eq!(sockets.iter().count(), 0);
        p.received(a); // a handle that is gone is ignored
        assert!(!p.pending());
    }

    #[test]
    fn a_failed_setup_leaves_no_socket_and_no_entry() {
        let mut sockets = SocketSet::new(Vec::new());
        let mut p = SocketPages::default();
        let r = p
            .add_socket(&mut sockets, pages(1), pages(1), |_| Err("refused"))
            .unwrap();
        assert_eq!(r.unwrap_err(), "refused");
        assert_eq!(sockets.iter().count(), 0);
        assert!(p.entries.is_empty());
    }

    #[test]
    fn buffers_whose_rounded_size_overflows_are_refused() {
        for (receive, send) in [
            (usize::MAX, 4096),
            (4096, usize::MAX),
            (usize::MAX / 2 + 1, usize::MAX / 2 + 1),
        ] {
            let e = Mapping::new(receive, send)
                .err()
                .expect("an overflowing size is refused");
            assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "{receive} + {send}");
        }
    }
}
