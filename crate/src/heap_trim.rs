//! Giving freed heap memory back to the OS after a large change or a large `get`.
//!
//! Applying a change with many peers allocates its parsed request, the staged copy of the peer
//! table and the allowed IPs, and frees most of it again. glibc's allocator keeps freed memory
//! in its arenas, so without a trim that transient peak stays resident for the life of the
//! process (a 1,000,000-peer `wg setconf` peaks at about 3.7 GiB and keeps 1.8 GB after the
//! trim). `malloc_trim` returns
//! free pages of every arena. Other C libraries: nothing to do here.

/// Changes (and UAPI `get` replies) with at least this many peers are followed by a trim (it walks the heap: a few
/// milliseconds for a large one).
pub(crate) const TRIM_FROM_PEERS: usize = 4096;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_free_memory() {
    // SAFETY: malloc_trim only reorganises the allocator's own free lists; no pointer of ours
    // is involved and it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}
