//! Sharing one worker's large batch of AEAD work with the device's other workers.
//!
//! A worker about to seal or open many packets under one key (a TSO super-packet split into 45
//! datagrams, a received GRO train) posts them in its own slot as chunks of [`CHUNK`] packets
//! and works through the chunks itself; any other worker of the device that is awake (between
//! batches of its own, or polling) claims chunks too. The owner returns only when every chunk is
//! done, and only then sends (or accepts) the packets, in their order: only the crypto runs in
//! parallel, so per-peer order never changes.
//!
//! When no other worker is awake, a post wakes one (its eventfd); that worker then polls for its
//! polling window and takes the following posts without another wake-up.
//!
//! Spreading pays where cores sit idle. Where every core is busy, a helper that the scheduler
//! preempts in the middle of a chunk holds the owner up for a time slice, so spreading is on by
//! default only with at least [`MIN_CPUS`] CPUs and two workers; `WGKIT_CRYPTO_SPREAD=1` or `0`
//! forces it on or off.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::waker::Waker;
use crate::aead;

/// Packets per chunk: one 16-lane pass of the AVX-512 code.
pub(crate) const CHUNK: usize = 16;
/// Smaller batches stay with their worker.
const MIN_CHUNKS: usize = 2;
/// CPUs needed for spreading to be on by default.
pub(crate) const MIN_CPUS: usize = 4;
/// Empty polls of the owner waiting for a helper's chunk before it yields its CPU (the helper
/// may have been preempted on this very CPU).
const SPINS_BEFORE_YIELD: u32 = 256;

#[derive(Clone, Copy)]
enum Op {
    Seal,
    Open,
}

/// The posted work, as raw parts of the owner's slices (valid until the owner ends the job).
#[derive(Clone, Copy)]
struct Job {
    op: Op,
    key: *const aead::Key,
    counters: *const u64,
    bufs: *mut &'static mut [u8],
    ok: *mut bool,
    len: usize,
}

impl Job {
    const EMPTY: Job = Job {
        op: Op::Seal,
        key: std::ptr::null(),
        counters: std::ptr::null(),
        bufs: std::ptr::null_mut(),
        ok: std::ptr::null_mut(),
        len: 0,
    };

    /// Seals or opens chunk `c`.
    ///
    /// # Safety
    /// The job's owner must be inside [`CryptoPool::run`] with this job posted, and chunk `c`
    /// claimed by the caller alone.
    unsafe fn run_chunk(&self, c: usize) {
        #[cfg(test)]
        if self.len == tests::PANICKING_JOB_LEN && c == 3 {
            panic!("fault injected into chunk 3");
        }
        let start = c * CHUNK;
        let end = (start + CHUNK).min(self.len);
        // SAFETY: the owner keeps key, counters, bufs and ok alive and untouched until every
        // chunk is done; chunks are disjoint ranges and each is claimed once.
        unsafe {
            let key = &*self.key;
            let counters = std::slice::from_raw_parts(self.counters.add(start), end - start);
            let bufs = std::slice::from_raw_parts_mut(self.bufs.add(start), end - start);
            match self.op {
                Op::Seal => aead::seal(key, counters, bufs),
                Op::Open => {
                    let ok = std::slice::from_raw_parts_mut(self.ok.add(start), end - start);
                    aead::open(key, counters, bufs, ok);
                }
            }
        }
    }
}

/// One worker's posting place.
struct Slot {
    /// A job is posted (its fields below are valid).
    active: AtomicBool,
    chunks: AtomicUsize,
    /// The next chunk to claim (may run past `chunks`).
    next: AtomicUsize,
    /// Chunks finished.
    done: AtomicUsize,
    /// Helpers between looking at this slot and leaving it.
    readers: AtomicUsize,
    /// A chunk's crypto panicked (its buffers are not to be trusted).
    poisoned: AtomicBool,
    job: UnsafeCell<Job>,
}

/// Counts a claimed chunk as done however its work ends, so that a panic (which stops the
/// device: `thread_guard.rs`) never leaves the job's owner waiting for it.
struct ChunkDone<'a>(&'a Slot);

impl Drop for ChunkDone<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::SeqCst);
        }
        self.0.done.fetch_add(1, Ordering::Release);
    }
}

/// Counts a helper out of a slot however it leaves.
struct Reader<'a>(&'a Slot);

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.0.readers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A posted job: until it is dropped — after the owner's own work, or while the owner unwinds
/// from a panic — helpers may hold pointers into the owner's buffers, so the drop waits for
/// every claimed chunk and every helper (claiming what is left unclaimed on a panic).
struct Posted<'a> {
    slot: &'a Slot,
    chunks: usize,
}

impl Drop for Posted<'_> {
    fn drop(&mut self) {
        let slot = self.slot;
        if std::thread::panicking() {
            let next = slot.next.swap(self.chunks, Ordering::AcqRel);
            if next < self.chunks {
                slot.done.fetch_add(self.chunks - next, Ordering::AcqRel);
            }
        }
        let mut spins = 0u32;
        while slot.done.load(Ordering::Acquire) < self.chunks {
            spins += 1;
            if spins.is_multiple_of(SPINS_BEFORE_YIELD) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        slot.active.store(false, Ordering::SeqCst);
        // A helper that counted itself in before `active` went false may still be about to
        // read `chunks` and `next`; the slot is reused only when it is gone.
        while slot.readers.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }
}

impl Slot {
    /// Claims and runs chunks of `job` (the posted job, of `chunks` chunks) until none is
    /// left; true if it ran any.
    ///
    /// # Safety
    /// `job` must stay posted in this slot until the call returns.
    unsafe fn work(&self, job: &Job, chunks: usize) -> bool {
        let mut ran = false;
        loop {
            let c = self.next.fetch_add(1, Ordering::AcqRel);
            if c >= chunks {
                return ran;
            }
            let _done = ChunkDone(self);
            // SAFETY: the job is posted (caller contract) and chunk `c` is claimed here alone.
            unsafe { job.run_chunk(c) };
            ran = true;
        }
    }
}

// SAFETY: `job` is written only by the slot's owner while no helper can read it (`active` is
// false and `readers` is 0), and read by helpers only while `active` is true; the pointers in it
// are used only under that protocol.
unsafe impl Sync for Slot {}
// SAFETY: as above; a slot holds no thread-bound state.
unsafe impl Send for Slot {}

/// The device's AEAD work sharing: one slot per worker.
pub(crate) struct CryptoPool {
    enabled: bool,
    slots: Box<[Slot]>,
    /// Per worker: out of `epoll_wait` (handling work or polling), so it will look at the slots
    /// soon without being woken.
    awake: Box<[AtomicBool]>,
    /// Per worker: the waker that wakes it.
    wakers: Vec<Waker>,
}

impl CryptoPool {
    /// A pool for `wakers.len()` workers; `enabled` as decided by [`spread_wanted`].
    pub(crate) fn new(wakers: Vec<Waker>, enabled: bool) -> CryptoPool {
        let n = wakers.len();
        CryptoPool {
            enabled: enabled && n > 1,
            slots: (0..n)
                .map(|_| Slot {
                    active: AtomicBool::new(false),
                    chunks: AtomicUsize::new(0),
                    next: AtomicUsize::new(0),
                    done: AtomicUsize::new(0),
                    readers: AtomicUsize::new(0),
                    poisoned: AtomicBool::new(false),
                    job: UnsafeCell::new(Job::EMPTY),
                })
                .collect(),
            awake: (0..n).map(|_| AtomicBool::new(true)).collect(),
            wakers,
        }
    }

    /// Seals `bufs` (see [`aead::seal`]), worker `me` and any awake helpers together.
    pub(crate) fn seal(&self, me: usize, key: &aead::Key, counters: &[u64], bufs: &mut [&mut [u8]]) {
        assert_eq!(counters.len(), bufs.len(), "one counter per buffer");
        if !self.spreads(bufs.len()) {
            return aead::seal(key, counters, bufs);
        }
        self.run(me, Op::Seal, key, counters, bufs, &mut []);
    }

    /// Opens `bufs` (see [`aead::open`]), worker `me` and any awake helpers together.
    pub(crate) fn open(&self, me: usize, key: &aead::Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
        assert_eq!(counters.len(), bufs.len(), "one counter per buffer");
        assert_eq!(ok.len(), bufs.len(), "one result per buffer");
        if !self.spreads(bufs.len()) {
            return aead::open(key, counters, bufs, ok);
        }
        self.run(me, Op::Open, key, counters, bufs, ok);
    }

    fn spreads(&self, packets: usize) -> bool {
        self.enabled && packets >= MIN_CHUNKS * CHUNK
    }

    fn run(&self, me: usize, op: Op, key: &aead::Key, counters: &[u64], bufs: &mut [&mut [u8]], ok: &mut [bool]) {
        let slot = &self.slots[me];
        let chunks = bufs.len().div_ceil(CHUNK);
        let job = Job {
            op,
            key,
            counters: counters.as_ptr(),
            bufs: bufs.as_mut_ptr().cast(),
            ok: ok.as_mut_ptr(),
            len: bufs.len(),
        };
        // SAFETY: `active` is false and no helper is inside the slot (the previous `run` waited
        // for `readers` to reach 0), so nothing reads `job` now.
        unsafe { *slot.job.get() = job };
        slot.next.store(0, Ordering::Relaxed);
        slot.done.store(0, Ordering::Relaxed);
        slot.poisoned.store(false, Ordering::Relaxed);
        slot.chunks.store(chunks, Ordering::Relaxed);
        // Publishes the stores above to helpers that see `active`.
        slot.active.store(true, Ordering::SeqCst);
        let posted = Posted { slot, chunks };
        self.wake_one(me);
        // SAFETY: the job is posted by this thread, which returns (or unwinds) only after
        // `posted` saw every chunk done and every helper gone.
        unsafe { slot.work(&job, chunks) };
        drop(posted);
        if slot.poisoned.swap(false, Ordering::SeqCst) {
            panic!("a crypto helper panicked while sealing or opening this worker's packets");
        }
    }

    /// Wakes one sleeping worker when none besides `me` is awake.
    fn wake_one(&self, me: usize) {
        let n = self.awake.len();
        if (0..n).any(|i| i != me && self.awake[i].load(Ordering::Relaxed)) {
            return;
        }
        self.wakers[(me + 1) % n].wake();
    }

    /// Worker `me` leaves (`false`, just before it sleeps in `epoll_wait`) or rejoins (`true`)
    /// the awake workers.
    pub(crate) fn set_awake(&self, me: usize, awake: bool) {
        if self.enabled {
            self.awake[me].store(awake, Ordering::Relaxed);
        }
    }

    /// Worker `me` takes chunks of the other workers' posted jobs; true if it did any.
    pub(crate) fn help(&self, me: usize) -> bool {
        if !self.enabled {
            return false;
        }
        let mut did = false;
        for (i, slot) in self.slots.iter().enumerate() {
            if i == me || !slot.active.load(Ordering::Acquire) {
                continue;
            }
            slot.readers.fetch_add(1, Ordering::SeqCst);
            let _reader = Reader(slot);
            if slot.active.load(Ordering::SeqCst) {
                let chunks = slot.chunks.load(Ordering::Relaxed);
                // SAFETY: `active` is true and this thread is counted in `readers`: the owner
                // neither rewrites the job nor returns before this thread leaves.
                let job = unsafe { *slot.job.get() };
                // SAFETY: as above, the job stays posted while this thread works on it.
                did |= unsafe { slot.work(&job, chunks) };
            }
        }
        did
    }
}

/// Whether a device with `workers` workers spreads crypto: `WGKIT_CRYPTO_SPREAD=1`/`0`, else
/// on with at least [`MIN_CPUS`] CPUs.
pub(crate) fn spread_wanted(workers: usize) -> bool {
    match std::env::var("WGKIT_CRYPTO_SPREAD").as_deref() {
        Ok("1") => workers > 1,
        Ok("0") => false,
        _ => workers > 1 && std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) >= MIN_CPUS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn wakers(n: usize) -> Vec<Waker> {
        (0..n).map(|_| Waker::new().unwrap()).collect()
    }

    /// Deterministic pseudo-random bytes (xorshift).
    fn fill(buf: &mut [u8], seed: &mut u64) {
        for b in buf {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *b = *seed as u8;
        }
    }

    /// Packets of `lens` bytes of plaintext, each with 16 bytes of tag room.
    fn packets(lens: &[usize], seed: &mut u64) -> Vec<Vec<u8>> {
        lens.iter()
            .map(|&l| {
                let mut p = vec![0u8; l + aead::TAG_LEN];
                fill(&mut p[..l], seed);
                p
            })
            .collect()
    }

    /// A job of this many packets panics in its chunk 3 (test builds only).
    pub(super) const PANICKING_JOB_LEN: usize = 7 * CHUNK + 5;

    /// A chunk that panics (on the owner or on a helper) never leaves anyone waiting: the
    /// owner's call panics and returns, the helpers go on, and the slot serves the next job.
    #[test]
    fn a_panicking_chunk_neither_hangs_nor_breaks_the_pool() {
        let pool = Arc::new(CryptoPool::new(wakers(2), true));
        let stop = Arc::new(AtomicBool::new(false));
        let helper = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut panics = 0;
                while !stop.load(Ordering::Relaxed) {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.help(1))).is_err() {
                        panics += 1;
                    }
                }
                panics
            })
        };
        let key = aead::Key::new(&[9u8; 32]);
        let mut seed = 1u64;
        for round in 0..50u64 {
            let mut bad = packets(&vec![100; PANICKING_JOB_LEN], &mut seed);
            let counters: Vec<u64> = (0..PANICKING_JOB_LEN as u64).collect();
            let mut refs: Vec<&mut [u8]> = bad.iter_mut().map(|p| &mut p[..]).collect();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.seal(0, &key, &counters, &mut refs)
            }));
            assert!(r.is_err(), "round {round}: the fault surfaced in the owner");
            // The slot is whole again: a normal job comes out as `aead` alone makes it.
            let plain = packets(&[64; 40], &mut seed);
            let counters: Vec<u64> = (0..40).collect();
            let mut expect = plain.clone();
            let mut refs: Vec<&mut [u8]> = expect.iter_mut().map(|p| &mut p[..]).collect();
            aead::seal(&key, &counters, &mut refs);
            let mut got = plain.clone();
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|p| &mut p[..]).collect();
            pool.seal(0, &key, &counters, &mut refs);
            assert_eq!(got, expect, "round {round}");
        }
        stop.store(true, Ordering::Relaxed);
        helper.join().expect("the helper thread survives its panics");
    }

    /// Three workers: this thread owns slot 0 and posts, two helper threads poll `help` until
    /// told to stop. Every batch must come out exactly as `aead` alone seals and opens it, with
    /// tampered packets refused one by one, whatever share the helpers took.
    #[test]
    fn spread_work_matches_one_thread() {
        let pool = Arc::new(CryptoPool::new(wakers(3), true));
        let stop = Arc::new(AtomicBool::new(false));
        let helped = Arc::new(AtomicUsize::new(0));
        let helpers: Vec<_> = (1..3)
            .map(|me| {
                let (pool, stop, helped) = (pool.clone(), stop.clone(), helped.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if pool.help(me) {
                            helped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let key = aead::Key::new(&[7u8; 32]);
        // 400 rounds at least, and on until a helper has taken a chunk: on a loaded machine the
        // owner may finish a few hundred runs alone before a helper gets a CPU.
        let started = std::time::Instant::now();
        for round in 0u64.. {
            if round >= 400 && helped.load(Ordering::Relaxed) > 0 {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the helpers never took a chunk"
            );
            let n = [32, 33, 45, 64, 100][round as usize % 5];
            let lens: Vec<usize> = (0..n)
                .map(|i| [0, 1, 63, 64, 65, 1420, 1424][(i + round as usize) % 7])
                .collect();
            let counters: Vec<u64> = (0..n as u64).map(|i| round * 1000 + i).collect();
            let plain = packets(&lens, &mut seed);

            let mut expect = plain.clone();
            let mut refs: Vec<&mut [u8]> = expect.iter_mut().map(|p| &mut p[..]).collect();
            aead::seal(&key, &counters, &mut refs);

            let mut got = plain.clone();
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|p| &mut p[..]).collect();
            pool.seal(0, &key, &counters, &mut refs);
            assert_eq!(got, expect, "round {round}: sealed bytes differ");

            // Tamper with every seventh packet, then open.
            for (i, p) in got.iter_mut().enumerate() {
                if i % 7 == 3 {
                    let last = p.len() - 1;
                    p[last] ^= 0x40;
                }
            }
            let mut ok = vec![false; n];
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|p| &mut p[..]).collect();
            pool.open(0, &key, &counters, &mut refs, &mut ok);
            for (i, (o, (g, p))) in ok.iter().zip(got.iter().zip(&plain)).enumerate() {
                assert_eq!(*o, i % 7 != 3, "round {round}: packet {i} verdict");
                if *o {
                    assert_eq!(g[..lens[i]], p[..lens[i]], "round {round}: packet {i} plaintext");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for h in helpers {
            h.join().unwrap();
        }
    }

    /// Small batches, a disabled pool and a one-worker pool all stay on the caller's thread
    /// and give the same bytes.
    #[test]
    fn small_or_disabled_runs_inline() {
        let raw = wakers(2);
        let on = CryptoPool::new(raw.clone(), true);
        let off = CryptoPool::new(raw.clone(), false);
        let single = CryptoPool::new(raw[..1].to_vec(), true);
        assert!(on.spreads(2 * CHUNK) && !on.spreads(2 * CHUNK - 1));
        assert!(!off.spreads(1000) && !single.spreads(1000));
        assert!(!off.help(1) && !single.help(0));
        let key = aead::Key::new(&[3u8; 32]);
        let mut seed = 42;
        let lens = vec![100; 40];
        let counters: Vec<u64> = (0..40).collect();
        let plain = packets(&lens, &mut seed);
        let mut expect = plain.clone();
        let mut refs: Vec<&mut [u8]> = expect.iter_mut().map(|p| &mut p[..]).collect();
        aead::seal(&key, &counters, &mut refs);
        for pool in [&on, &off, &single] {
            let mut got = plain.clone();
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|p| &mut p[..]).collect();
            // With nobody helping, the owner does every chunk itself.
            pool.seal(0, &key, &counters, &mut refs);
            assert_eq!(got, expect);
        }
    }

    /// A post wakes a sleeping worker (its waker) only when no other worker is awake.
    #[test]
    fn wakes_a_sleeper_only_when_nobody_is_awake() {
        let fds = wakers(2);
        let pool = CryptoPool::new(fds.clone(), true);
        let pending = |w: &Waker| {
            let set = w.is_set();
            w.reset();
            set
        };
        pool.wake_one(0);
        assert!(!pending(&fds[1]), "worker 1 is awake: no wake-up");
        pool.set_awake(1, false);
        pool.wake_one(0);
        assert!(pending(&fds[1]), "worker 1 sleeps: woken");
        assert!(!pending(&fds[0]), "the poster is never woken");
    }
}
