//! The data-plane threads: per-worker loops (waiting in `poller.rs`: epoll on Linux) moving
//! batches between the worker's inner side (TUN queue or netstack link) and UDP sockets, and
//! the timer thread.

use super::batch::{self, Batch, BATCH};
use super::cpu_latency::CpuLatency;
use super::crypto_pool::CryptoPool;
use super::events::EventSink;
use super::icmp::{self, IcmpLimiter};
use super::inner::Inner;
use super::lanes::{self, LaneControl};
use super::peer::{padded_len, Peer, PeerState};
use super::poller::{Poller, MAX_EVENTS};
use super::tun::offload::{self, VnetHdr};
use super::tun::VnetReader;
use super::udp::Sockets;
use super::{Counters, Shared, TIMER_TICK};
use crate::aead;
use crate::error::Error;
use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn, TunnResult};
use parking_lot::MutexGuard;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOK_INNER: u64 = 0;
const TOK_WAKE: u64 = 1;
const TOK_UDP4: u64 = 2;
const TOK_UDP6: u64 = 3;

/// Upper bound on queued packets flushed after one handshake (boringtun queues ≤ 256).
const MAX_FLUSH: usize = 512;
/// A data message's header (type, receiver index, counter) and its AEAD tag.
const DATA_HEADER: usize = 16;
const TAG: usize = 16;
/// Padding never adds more than this to a packet (WireGuard pads to a multiple of 16).
const PADDING_ROOM: usize = 16;

/// An outgoing datagram batch bound to a socket set.
pub(crate) struct Io {
    pub(crate) socks: Arc<Sockets>,
    gen: u64,
    worker: usize,
    pub(crate) out: Batch,
    idx4: Vec<usize>,
    idx6: Vec<usize>,
    /// UDP GSO (`UDP_SEGMENT`) per family until the kernel refuses it once.
    gso: [bool; 2],
    /// The run of data packets in `out` (slots `seal_start..`) still to be sealed under
    /// `seal_key`, with their counters.
    seal_key: [u8; 32],
    seal_start: usize,
    seal_counters: Vec<u64>,
    /// Empty between runs: the run's payloads while it is sealed (kept for its allocation).
    seal_bufs: Vec<&'static mut [u8]>,
    crypto: Arc<CryptoPool>,
}

impl Io {
    pub(crate) fn new(shared: &Shared, worker: usize) -> Io {
        let gen = shared.socket_gen.load(Ordering::SeqCst);
        Io {
            socks: shared.sockets.read().clone(),
            gen,
            worker,
            out: Batch::new(BATCH),
            idx4: Vec::with_capacity(BATCH),
            idx6: Vec::with_capacity(BATCH),
            gso: [udp_gso_wanted(); 2],
            seal_key: [0; 32],
            seal_start: 0,
            seal_counters: Vec::with_capacity(BATCH),
            seal_bufs: Vec::with_capacity(BATCH),
            crypto: shared.crypto.clone(),
        }
    }

    /// Whether this holds the device's current socket set.
    fn sockets_current(&self, shared: &Shared) -> bool {
        shared.socket_gen.load(Ordering::SeqCst) == self.gen
    }

    /// Picks up a new socket set after a port change; returns the old one if replaced.
    fn refresh(&mut self, shared: &Shared) -> Option<Arc<Sockets>> {
        if self.sockets_current(shared) {
            return None;
        }
        // The sockets are replaced before the generation moves, so these are at least as new.
        self.gen = shared.socket_gen.load(Ordering::SeqCst);
        Some(std::mem::replace(&mut self.socks, shared.sockets.read().clone()))
    }

    /// Makes room for one more datagram.
    #[inline]
    pub(crate) fn reserve(&mut self, shared: &Shared) {
        if self.out.is_full() {
            self.flush(shared);
        }
    }

    /// Sends everything queued: one `sendmmsg` per address family.
    pub(crate) fn flush(&mut self, shared: &Shared) {
        if self.out.len() == 0 {
            return;
        }
        self.seal_pending();
        self.idx4.clear();
        self.idx6.clear();
        for i in 0..self.out.len() {
            match self.out.addr(i) {
                Some(SocketAddr::V4(_)) => self.idx4.push(i),
                Some(SocketAddr::V6(_)) => self.idx6.push(i),
                None => {}
            }
        }
        let c = &shared.counters;
        for (v6, idx) in [(false, &self.idx4), (true, &self.idx6)] {
            if idx.is_empty() {
                continue;
            }
            match self.socks.socket(self.worker, v6) {
                Some(sock) => {
                    let (sent, dropped, _err) = batch::send(sock, &mut self.out, idx, &mut self.gso[v6 as usize]);
                    Counters::add(&c.tx_datagrams, sent);
                    Counters::add(&c.dropped_io, dropped);
                }
                None => Counters::add(&c.dropped_io, idx.len()),
            }
        }
        self.out.clear();
    }

    /// Commits the data packet for `peer` whose plaintext (`payload_len` bytes, padded) the
    /// caller wrote behind room for the header in the next slot: the header goes in now, the
    /// payload is sealed in place (with the rest of its run) just before the batch is sent.
    #[allow(clippy::too_many_arguments)]
    fn commit_data(
        &mut self,
        key: &[u8; 32],
        receiver: u32,
        counter: u64,
        payload_len: usize,
        to: SocketAddr,
        peer: &Peer,
        ps: &mut PeerState,
        now: Instant,
    ) {
        let n = self.out.len();
        if !self.seal_counters.is_empty() && (self.seal_key != *key || self.seal_start + self.seal_counters.len() != n)
        {
            self.seal_pending();
        }
        if self.seal_counters.is_empty() {
            self.seal_key = *key;
            self.seal_start = n;
        }
        let slot = self.out.next_slot();
        slot[..4].copy_from_slice(&4u32.to_le_bytes());
        slot[4..8].copy_from_slice(&receiver.to_le_bytes());
        slot[8..16].copy_from_slice(&counter.to_le_bytes());
        self.commit_to(DATA_HEADER + payload_len + TAG, to, peer, ps, now);
        self.seal_counters.push(counter);
    }

    /// Seals the run of data packets queued by [`Io::push_data`] since the last call.
    fn seal_pending(&mut self) {
        if self.seal_counters.is_empty() {
            return;
        }
        let key = aead::Key::new(&self.seal_key);
        let end = self.seal_start + self.seal_counters.len();
        let mut bufs = recycle(std::mem::take(&mut self.seal_bufs));
        bufs.extend(
            self.out
                .packets_mut(self.seal_start, end)
                .map(|p| &mut p[DATA_HEADER..]),
        );
        self.crypto.seal(self.worker, &key, &self.seal_counters, &mut bufs);
        self.seal_bufs = recycle(bufs);
        self.seal_counters.clear();
    }

    /// Commits a datagram written at the start of the next slot and sent to `peer`.
    #[inline]
    fn commit_to(&mut self, len: usize, to: SocketAddr, peer: &Peer, ps: &mut PeerState, now: Instant) {
        let kind = self.out.next_slot()[0];
        let src = if ps.endpoint == Some(to) { ps.endpoint_src } else { None };
        self.out.commit_from(len, Some(to), src);
        peer.add_tx(len);
        ps.sent(kind, now);
    }
}

/// Polling without sleeping for a while after the last work (see [`spin_wanted`]), yielding
/// the CPU on every empty poll so that whatever else is runnable there (the other workers,
/// iperf3, the kernel's threads) goes first.
struct Spinner {
    window: Duration,
    /// Work since the last empty poll: the window restarts at the next one (so that a busy
    /// loop reads no clock).
    worked: bool,
    until: Option<Instant>,
}

impl Spinner {
    fn new(window: Duration) -> Spinner {
        Spinner {
            window,
            worked: false,
            until: None,
        }
    }

    fn active(&self) -> bool {
        self.worked || self.until.is_some()
    }

    /// Work arrived: poll again for the window after it.
    fn busy(&mut self) {
        self.worked = !self.window.is_zero();
    }

    /// Nothing ready: keep polling or, past the window, go to sleep. A yield that let
    /// another thread run means the CPU is wanted (bulk traffic, iperf3, the other workers):
    /// polling would only take time from them, so the worker sleeps at once.
    fn idle(&mut self) {
        if !self.active() {
            return;
        }
        let now = Instant::now();
        if std::mem::take(&mut self.worked) {
            self.until = Some(now + self.window);
        }
        let Some(t) = self.until else { return };
        if now >= t {
            self.until = None;
            return;
        }
        // sched_yield on Unix, SwitchToThread on Windows.
        std::thread::yield_now();
        if now.elapsed() > CONTENDED_YIELD {
            self.until = None;
        }
    }
}

/// How long a worker keeps polling (without sleeping in `epoll_wait`) after it last had work:
/// a reply that arrives within this window costs no wake-up — on a VM, waking a thread whose
/// CPU has halted takes tens of microseconds. `WGKIT_SPIN_US` (0 = never spin).
fn spin_wanted() -> Duration {
    let us = std::env::var("WGKIT_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SPIN_US);
    Duration::from_micros(us)
}

const DEFAULT_SPIN_US: u64 = 1000;
/// A `sched_yield` that took longer than this ran another thread.
const CONTENDED_YIELD: Duration = Duration::from_micros(20);

/// UDP GSO is on unless `WGKIT_UDP_GSO=0` (for measurements and as an escape hatch).
fn udp_gso_wanted() -> bool {
    std::env::var("WGKIT_UDP_GSO").map(|v| v != "0").unwrap_or(true)
}

/// Sends what boringtun queued while a handshake was pending.
fn drain_queue(io: &mut Io, shared: &Shared, peer: &Peer, ps: &mut PeerState, now: Instant) {
    let Some(ep) = ps.endpoint else { return };
    for _ in 0..MAX_FLUSH {
        io.reserve(shared);
        let Some(t) = ps.tunn.as_mut() else { return };
        let len = match t.decapsulate(None, &[], io.out.next_slot()) {
            TunnResult::WriteToNetwork(p) => p.len(),
            _ => return,
        };
        io.commit_to(len, ep, peer, ps, now);
    }
}

/// Watches (or, with `add` false, stops watching) worker `worker`'s sockets of `socks`.
fn watch_sockets(poller: &mut Poller, socks: &Sockets, worker: usize, add: bool) -> std::io::Result<()> {
    for (v6, token) in [(false, TOK_UDP4), (true, TOK_UDP6)] {
        if let Some(sock) = socks.socket(worker, v6) {
            match add {
                true => poller.add_socket(sock, token)?,
                false => poller.remove_socket(sock),
            }
        }
    }
    Ok(())
}

struct Worker {
    inner: Inner,
    /// Reads (and splits) when the queue carries `virtio_net_hdr`s.
    vnet_reader: Option<VnetReader>,
    tun_in: Batch,
    /// ICMP errors for packets that cannot be sent, written back into the TUN.
    icmp_out: Batch,
    icmp_limit: IcmpLimiter,
    udp_in: Batch,
    tun_out: Batch,
    io: Io,
    run: RunScratch,
}

/// What the inbound path needs per run of data messages (a UDP GRO train), kept between runs
/// so that a run allocates nothing. The vectors of slices are empty between runs.
#[derive(Default)]
struct RunScratch {
    /// The run's datagrams.
    datagrams: Vec<&'static mut [u8]>,
    /// The sealed payloads of those that passed the replay check.
    payloads: Vec<&'static mut [u8]>,
    counters: Vec<u64>,
    /// Per datagram: still to be delivered (replay check, then tag, then replay window).
    live: Vec<bool>,
    live_counters: Vec<u64>,
    /// Per payload: the tag verified.
    opened: Vec<bool>,
}

/// Empties `v` and hands its allocation on for slices of another lifetime (an in-place
/// `collect` of nothing: no allocation, no copy).
fn recycle<'b>(mut v: Vec<&mut [u8]>) -> Vec<&'b mut [u8]> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'b mut [u8] { unreachable!("the vector is empty") })
        .collect()
}

/// A worker thread: until the device stops, wait on epoll and move one batch per ready
/// descriptor.
pub(crate) fn run(shared: Arc<Shared>, id: usize, inner: Inner) {
    // The lanes are the last workers.
    if let Some(tid) = (id + shared.lane_tids.len())
        .checked_sub(shared.threads)
        .and_then(|k| shared.lane_tids.get(k))
    {
        tid.store(lanes::current_tid(), Ordering::Relaxed);
    }
    let mut w = Worker {
        vnet_reader: inner.vnet_reader(),
        inner,
        tun_in: Batch::new(BATCH),
        icmp_out: Batch::new(8),
        icmp_limit: IcmpLimiter::new(),
        udp_in: Batch::new(BATCH),
        tun_out: Batch::new(BATCH),
        io: Io::new(&shared, id),
        run: RunScratch::default(),
    };
    // Declared after `w`, so dropped before it: no socket of `w.io` closes while the poller
    // still watches it (`poller_portable.rs`).
    let mut poller = match Poller::new() {
        Ok(p) => p,
        Err(e) => {
            shared.report(Error::from_io(&e, "Unable to create the worker's poller"));
            return;
        }
    };
    let waker = shared.wakers[id].clone();
    let setup = w
        .inner
        .watch(&mut poller, TOK_INNER)
        .and_then(|_| poller.add_waker(&waker, TOK_WAKE))
        .and_then(|_| watch_sockets(&mut poller, &w.io.socks, id, true));
    if let Err(e) = setup {
        shared.report(Error::from_io(&e, "Unable to watch the worker's sources"));
        return;
    }
    let mut ready = [0u64; MAX_EVENTS];
    let mut spin = Spinner::new(spin_wanted());
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.crypto.help(id) {
            spin.busy();
        }
        let timeout = if spin.active() { Some(Duration::ZERO) } else { None };
        if timeout.is_none() {
            shared.crypto.set_awake(id, false);
        }
        let n = poller.wait(&mut ready, timeout);
        if timeout.is_none() {
            shared.crypto.set_awake(id, true);
        }
        let n = match n {
            Ok(0) => {
                spin.idle();
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                shared.report(Error::from_io(&e, "Waiting for packets"));
                return;
            }
        };
        spin.busy();
        for &token in &ready[..n] {
            match token {
                TOK_WAKE => {
                    waker.reset();
                    if let Some(old) = w.io.refresh(&shared) {
                        let _ = watch_sockets(&mut poller, &old, id, false);
                        if let Err(e) = watch_sockets(&mut poller, &w.io.socks, id, true) {
                            shared.report(Error::from_io(&e, "Unable to watch the new UDP sockets"));
                        }
                    }
                }
                TOK_INNER => {
                    if let Err(e) = w.outbound(&shared) {
                        // The interface is gone or broken: stop polling it, say so.
                        w.inner.unwatch(&mut poller);
                        shared.report(Error::from_io(&e, format!("Reading from TUN `{}'", shared.name)));
                    }
                }
                TOK_UDP4 | TOK_UDP6 => {
                    if let Err(e) = w.inbound(&shared, token == TOK_UDP6) {
                        shared.report(Error::from_io(&e, "Receiving from the UDP socket"));
                    }
                }
                _ => {}
            }
        }
    }
}

impl Worker {
    /// TUN → route → pad → encrypt → `sendmmsg`.
    fn outbound(&mut self, shared: &Shared) -> std::io::Result<()> {
        if self.vnet_reader.is_some() {
            return self.outbound_offload(shared);
        }
        let n = self.inner.read_burst(&mut self.tun_in)?;
        Counters::add(&shared.counters.tun_rx_packets, n);
        let Worker {
            tun_in,
            io,
            icmp_out,
            icmp_limit,
            inner,
            ..
        } = self;
        send_packets(shared, tun_in, io, icmp_out, icmp_limit, inner);
        io.flush(shared);
        Ok(())
    }

    /// With offloads: each (super-)packet read from the TUN is routed once and, when its peer
    /// has an endpoint and a session, split straight into the outgoing batch behind room for
    /// the data header (sealed in runs just before sending); anything else is split into
    /// `tun_in` and goes packet by packet through [`send_packets`] (ICMP errors, handshakes).
    fn outbound_offload(&mut self, shared: &Shared) -> std::io::Result<()> {
        let mtu = shared.mtu.load(Ordering::Relaxed);
        let (mut segments, mut malformed) = (0, 0);
        let Worker {
            vnet_reader: Some(reader),
            tun_in,
            io,
            icmp_out,
            icmp_limit,
            inner,
            ..
        } = self
        else {
            return Ok(());
        };
        let mut result = Ok(());
        // Bounded per wake-up so that the sockets get their turn (epoll is level-triggered).
        for reads in 0..BATCH {
            let (hdr, len) = match inner.read_vnet(reader) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    if reads == 0 {
                        result = Err(e);
                    }
                    break;
                }
            };
            let pkt = reader.packet_mut(len);
            match send_direct(shared, io, &hdr, pkt, mtu) {
                Direct::Sent(n) => segments += n,
                Direct::Malformed(n) => {
                    segments += n;
                    malformed += 1;
                }
                Direct::Declined => {
                    let mut first = 0;
                    loop {
                        tun_in.clear();
                        let split = offload::split(&hdr, pkt, first, tun_in);
                        segments += tun_in.len();
                        send_packets(shared, tun_in, io, icmp_out, icmp_limit, inner);
                        match split {
                            Ok(Some(next)) => first = next,
                            Ok(None) => break,
                            Err(_) => {
                                malformed += 1;
                                break;
                            }
                        }
                    }
                }
            }
        }
        io.flush(shared);
        let c = &shared.counters;
        Counters::add(&c.tun_rx_packets, segments);
        Counters::add(&c.dropped_invalid, malformed);
        result
    }

    /// `recvmmsg` → dispatch by message type → decrypt → source filter → TUN.
    fn inbound(&mut self, shared: &Shared, v6: bool) -> std::io::Result<()> {
        let Some(sock) = self.io.socks.socket(self.io.worker, v6) else {
            return Ok(());
        };
        let n = batch::receive(sock, &mut self.udp_in)?;
        if n == 0 {
            return Ok(());
        }
        let c = &shared.counters;
        let mut datagrams = 0;
        let events = shared.events.as_ref();
        let now = Instant::now();
        let (mut invalid, mut filtered, mut cookies) = (0, 0, 0);
        let Worker {
            udp_in,
            tun_out,
            io,
            inner: side,
            run,
            ..
        } = self;
        tun_out.clear();
        {
            let st = shared.state.read();
            let mut held: Option<(u32, &Arc<Peer>, MutexGuard<PeerState>)> = None;
            let mut next = 0;
            while next < n {
                let i = next;
                next += 1;
                let local = udp_in.src(i);
                let Some(src) = udp_in.addr(i) else {
                    invalid += 1;
                    continue;
                };
                // Data messages to one session from one address (UDP GRO trains, or lone
                // ones, received one after another): decrypted together, in place, so the
                // batch AEAD's 16-packet groups are full.
                if let Some(idx) = data_run(udp_in, i) {
                    while next < n
                        && data_run(udp_in, next) == Some(idx)
                        && udp_in.addr(next) == Some(src)
                        && udp_in.src(next) == local
                    {
                        next += 1;
                    }
                    let count = (i..next).map(|k| udp_in.datagrams(k).count()).sum();
                    datagrams += count;
                    // The peer's index; the low 8 bits say which of its sessions.
                    let peer_idx = idx >> 8;
                    if held.as_ref().map(|h| h.0) != Some(peer_idx) {
                        held = None;
                        let Some(p) = st.by_index.get(&peer_idx) else {
                            invalid += count;
                            continue;
                        };
                        held = Some((peer_idx, p, p.state.lock()));
                    }
                    let Some((_, peer, ps)) = held.as_mut() else { continue };
                    let Some(t) = ps.tunn.as_mut() else {
                        invalid += count;
                        continue;
                    };
                    let Some(key) = t.data_receive_key(idx).map(aead::Key::new) else {
                        invalid += count;
                        continue;
                    };
                    let RunScratch {
                        datagrams,
                        payloads,
                        counters,
                        live,
                        live_counters,
                        opened,
                    } = &mut *run;
                    let mut ds = recycle(std::mem::take(datagrams));
                    ds.extend(udp_in.datagrams_mut_in(i, next));
                    counters.clear();
                    counters.extend(ds.iter().map(|d| data_counter(d)));
                    // Replay check first (no crypto for replays), then open the rest at once.
                    live.clear();
                    live.resize(count, false);
                    t.data_counters_acceptable(idx, counters, live);
                    {
                        let mut bufs = recycle(std::mem::take(payloads));
                        live_counters.clear();
                        for ((d, &c), _) in ds.iter_mut().zip(counters.iter()).zip(live.iter()).filter(|(_, &l)| l) {
                            bufs.push(&mut d[DATA_HEADER..]);
                            live_counters.push(c);
                        }
                        opened.clear();
                        opened.resize(bufs.len(), false);
                        io.crypto.open(io.worker, &key, live_counters, &mut bufs, opened);
                        let mut ok = opened.iter();
                        for l in live.iter_mut().filter(|l| **l) {
                            *l = ok.next().copied().unwrap_or(false);
                        }
                        *payloads = recycle(bufs);
                    }
                    // The replay window takes the authenticated ones in order, under one lock.
                    t.accept_data_counters(idx, counters, live);
                    for (d, &l) in ds.iter_mut().zip(live.iter()) {
                        if !l {
                            // A replay or a failed tag.
                            invalid += 1;
                            continue;
                        }
                        let wire_len = d.len();
                        let Some(t) = ps.tunn.as_mut() else { break };
                        let (packet, inner) = match t.accept_marked_data(&mut d[DATA_HEADER..wire_len - TAG]) {
                            TunnResult::WriteToTunnelV4(p, a) => (&*p, Some(IpAddr::V4(a))),
                            TunnResult::WriteToTunnelV6(p, a) => (&*p, Some(IpAddr::V6(a))),
                            TunnResult::Done => (&[][..], None),
                            _ => {
                                invalid += 1;
                                continue;
                            }
                        };
                        accepted(peer, ps, wire_len, src, local, now, events);
                        let Some(inner) = inner else { continue };
                        if st.allowed.lookup(inner) != Some(peer.index) {
                            filtered += 1;
                            continue;
                        }
                        if tun_out.is_full() {
                            flush_inner(shared, side, tun_out);
                        }
                        if side.offloads() {
                            tun_out.push_coalescing(packet);
                        } else {
                            tun_out.push(packet, None);
                        }
                    }
                    *datagrams = recycle(ds);
                    continue;
                }
                // One datagram, or a run of them received as one (UDP GRO).
                for d in udp_in.datagrams(i) {
                    datagrams += 1;
                    if d.len() < 4 {
                        invalid += 1;
                        continue;
                    }
                    let kind = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                    if kind == 4 && d.len() >= 32 {
                        // Data: route by receiver index.
                        let idx = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) >> 8;
                        if held.as_ref().map(|h| h.0) != Some(idx) {
                            held = None;
                            let Some(p) = st.by_index.get(&idx) else {
                                invalid += 1;
                                continue;
                            };
                            held = Some((idx, p, p.state.lock()));
                        }
                        let Some((_, peer, ps)) = held.as_mut() else { continue };
                        let Some(t) = ps.tunn.as_mut() else {
                            invalid += 1;
                            continue;
                        };
                        if tun_out.is_full() {
                            flush_inner(shared, side, tun_out);
                        }
                        let (len, inner) = match t.decapsulate(Some(src.ip()), d, tun_out.next_slot()) {
                            TunnResult::WriteToTunnelV4(p, a) => (p.len(), Some(IpAddr::V4(a))),
                            TunnResult::WriteToTunnelV6(p, a) => (p.len(), Some(IpAddr::V6(a))),
                            TunnResult::Done => (0, None),
                            _ => {
                                invalid += 1;
                                continue;
                            }
                        };
                        accepted(peer, ps, d.len(), src, local, now, events);
                        if let Some(inner) = inner {
                            if st.allowed.lookup(inner) == Some(peer.index) {
                                if side.offloads() {
                                    tun_out.commit_coalescing(len);
                                } else {
                                    tun_out.commit(len, None);
                                }
                            } else {
                                filtered += 1;
                            }
                        }
                        continue;
                    }
                    held = None;
                    // Handshake messages: mac1 and the device-wide rate limit first.
                    let (Some(limiter), Some((sk, pk))) = (&st.handshake_limiter, &st.statics) else {
                        invalid += 1;
                        continue;
                    };
                    let mut cookie = [0u8; 64];
                    let (peer, initiation) = match (kind, d.len()) {
                        (1, 148) | (2, 92) => match limiter.verify_packet(Some(src.ip()), d, &mut cookie) {
                            Ok(Packet::HandshakeInit(h)) => (
                                parse_handshake_anon(sk, pk, &h)
                                    .ok()
                                    .and_then(|half| st.by_key.get(&half.peer_static_public)),
                                true,
                            ),
                            Ok(Packet::HandshakeResponse(r)) => (st.by_index.get(&(r.receiver_idx >> 8)), false),
                            Err(TunnResult::WriteToNetwork(reply)) => {
                                io.reserve(shared);
                                io.out.push_from(reply, Some(src), local);
                                cookies += 1;
                                continue;
                            }
                            _ => (None, false),
                        },
                        (3, 64) => {
                            let idx = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) >> 8;
                            if let Some(p) = st.by_index.get(&idx) {
                                let mut ps = p.state.lock();
                                if let Some(t) = ps.tunn.as_mut() {
                                    let mut scratch = [0u8; 256];
                                    if let TunnResult::Err(_) = t.decapsulate(Some(src.ip()), d, &mut scratch) {
                                        invalid += 1;
                                    }
                                }
                            } else {
                                invalid += 1;
                            }
                            continue;
                        }
                        _ => (None, false),
                    };
                    let Some(peer) = peer else {
                        invalid += 1;
                        continue;
                    };
                    let mut ps = peer.state.lock();
                    let Some(t) = ps.tunn.as_mut() else {
                        invalid += 1;
                        continue;
                    };
                    io.reserve(shared);
                    let len = match t.decapsulate(Some(src.ip()), d, io.out.next_slot()) {
                        TunnResult::WriteToNetwork(p) => p.len(),
                        _ => 0,
                    };
                    if len == 0 {
                        invalid += 1;
                        continue;
                    }
                    peer.add_rx(d.len());
                    ps.authenticated_from(src, local, now, &peer.public_key, events);
                    io.commit_to(len, src, peer, &mut ps, now);
                    if initiation {
                        ps.awaiting_confirmation = true;
                    } else {
                        ps.handshake_completed(true, &peer.public_key, events);
                    }
                    drain_queue(io, shared, peer, &mut ps, now);
                }
            }
        }
        Counters::add(&c.rx_datagrams, datagrams);
        Counters::add(&c.dropped_invalid, invalid);
        Counters::add(&c.dropped_source_filter, filtered);
        Counters::add(&c.cookie_replies_sent, cookies);
        io.flush(shared);
        flush_inner(shared, side, tun_out);
        Ok(())
    }
}

/// Routes, pads and encrypts the plain IP packets in `tun_in` into `io` (not flushed),
/// answering packets that cannot be sent with ICMP errors.
fn send_packets(
    shared: &Shared,
    tun_in: &mut Batch,
    io: &mut Io,
    icmp_out: &mut Batch,
    icmp_limit: &mut IcmpLimiter,
    inner: &Inner,
) {
    let n = tun_in.len();
    if n == 0 {
        return;
    }
    let mtu = shared.mtu.load(Ordering::Relaxed);
    let now = Instant::now();
    let mut no_route = 0;
    icmp_out.clear();
    // Drops a packet that cannot be sent, answering with an ICMP error.
    let mut unreachable = |packet: &[u8], no_route: &mut usize| {
        *no_route += 1;
        if !icmp_limit.allow(now) {
            return;
        }
        if icmp_out.is_full() {
            flush_inner(shared, inner, icmp_out);
        }
        if let Some(len) = icmp::unreachable(packet, icmp_out.next_slot()) {
            icmp_out.commit(len, None);
        }
    };
    {
        let st = shared.state.read();
        let mut held: Option<(u32, &Arc<Peer>, MutexGuard<PeerState>)> = None;
        // Bulk flows send runs of packets to one destination: look each run up once.
        let mut last: Option<(IpAddr, Option<u32>)> = None;
        for i in 0..n {
            let len = tun_in.packet(i).len();
            let Some(dst) = Tunn::dst_address(tun_in.packet(i)) else {
                no_route += 1;
                continue;
            };
            let route = match last {
                Some((d, r)) if d == dst => r,
                _ => {
                    let r = st.allowed.lookup(dst);
                    last = Some((dst, r));
                    r
                }
            };
            let Some(idx) = route else {
                unreachable(tun_in.packet(i), &mut no_route);
                continue;
            };
            if held.as_ref().map(|h| h.0) != Some(idx) {
                held = None;
                let Some(p) = st.by_index.get(&idx) else {
                    unreachable(tun_in.packet(i), &mut no_route);
                    continue;
                };
                held = Some((idx, p, p.state.lock()));
            }
            let Some((_, peer, ps)) = held.as_mut() else { continue };
            let (Some(ep), true) = (ps.endpoint, ps.tunn.is_some()) else {
                unreachable(tun_in.packet(i), &mut no_route);
                continue;
            };
            let padded = padded_len(len, mtu);
            let slot = tun_in.slot_mut(i);
            slot[len..padded].fill(0);
            io.reserve(shared);
            let Some(t) = ps.tunn.as_mut() else { continue };
            if let Some(send) = t.reserve_data_send(padded) {
                let (receiver, counter, key) = (send.receiver_index, send.counter, *send.key);
                io.out.next_slot()[DATA_HEADER..DATA_HEADER + padded].copy_from_slice(&slot[..padded]);
                io.commit_data(&key, receiver, counter, padded, ep, peer, ps, now);
                continue;
            }
            // No session yet: boringtun queues the packet and starts a handshake.
            let out_len = match t.encapsulate(&slot[..padded], io.out.next_slot()) {
                TunnResult::WriteToNetwork(p) => p.len(),
                _ => 0,
            };
            if out_len > 0 {
                io.commit_to(out_len, ep, peer, ps, now);
            }
        }
    }
    Counters::add(&shared.counters.dropped_no_route, no_route);
    if icmp_out.len() > 0 {
        flush_inner(shared, inner, icmp_out);
    }
}

/// What [`send_direct`] did with a packet read from the TUN.
enum Direct {
    /// Split into this many data packets in the outgoing batch.
    Sent(usize),
    /// Malformed offload metadata, after this many segments went out.
    Malformed(usize),
    /// Not sendable straight away (no route, endpoint or session): nothing was done.
    Declined,
}

/// Splits a packet read from the TUN straight into `io`'s batch as data packets of its
/// destination's peer, when that peer has an endpoint and a current session.
fn send_direct(shared: &Shared, io: &mut Io, hdr: &VnetHdr, pkt: &mut [u8], mtu: usize) -> Direct {
    let Some(dst) = Tunn::dst_address(pkt) else {
        return Direct::Declined;
    };
    let st = shared.state.read();
    let Some(peer) = st.allowed.lookup(dst).and_then(|idx| st.by_index.get(&idx)) else {
        return Direct::Declined;
    };
    let mut ps = peer.state.lock();
    let (Some(ep), true) = (ps.endpoint, ps.tunn.as_ref().is_some_and(|t| t.has_data_session())) else {
        return Direct::Declined;
    };
    let mut sink = DataSink {
        io,
        peer,
        ps: &mut ps,
        ep,
        mtu,
        now: Instant::now(),
        sent: 0,
    };
    let mut first = 0;
    loop {
        match offload::split(hdr, pkt, first, &mut sink) {
            Ok(None) => return Direct::Sent(sink.sent),
            Ok(Some(next)) => {
                sink.io.flush(shared);
                first = next;
            }
            Err(_) => return Direct::Malformed(sink.sent),
        }
    }
}

/// The splitter's output when it writes straight into the outgoing batch: each segment lands
/// behind room for the data header and is committed as a data packet of `peer`.
struct DataSink<'a> {
    io: &'a mut Io,
    peer: &'a Peer,
    ps: &'a mut PeerState,
    ep: SocketAddr,
    mtu: usize,
    now: Instant,
    sent: usize,
}

impl offload::Sink for DataSink<'_> {
    fn next_buf(&mut self) -> Option<&mut [u8]> {
        if self.io.out.is_full() {
            return None;
        }
        let slot = self.io.out.next_slot();
        // Room behind the packet for padding and the tag.
        let end = slot.len() - PADDING_ROOM - TAG;
        Some(&mut slot[DATA_HEADER..end])
    }

    fn done(&mut self, len: usize) {
        let padded = padded_len(len, self.mtu);
        let Some(send) = self.ps.tunn.as_mut().and_then(|t| t.reserve_data_send(padded)) else {
            // Checked before splitting, and the session cannot change while `ps` is locked.
            return;
        };
        let (receiver, counter, key) = (send.receiver_index, send.counter, *send.key);
        self.io.out.next_slot()[DATA_HEADER + len..DATA_HEADER + padded].fill(0);
        self.io
            .commit_data(&key, receiver, counter, padded, self.ep, self.peer, self.ps, self.now);
        self.sent += 1;
    }
}

/// The receiver index when received slot `i` holds only data messages, all to one session.
fn data_run(batch: &Batch, i: usize) -> Option<u32> {
    let mut idx = None;
    for d in batch.datagrams(i) {
        if d.len() < DATA_HEADER + TAG || d[..4] != [4, 0, 0, 0] {
            return None;
        }
        let r = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        match idx {
            None => idx = Some(r),
            Some(x) if x != r => return None,
            _ => {}
        }
    }
    idx
}

/// A data message's counter (its nonce).
fn data_counter(d: &[u8]) -> u64 {
    u64::from_le_bytes(d[8..16].try_into().expect("8 bytes"))
}

/// Bookkeeping for a data message that authenticated: receive counters, roaming, and the
/// responder's confirmation of a new session.
fn accepted(
    peer: &Peer,
    ps: &mut PeerState,
    wire_len: usize,
    src: SocketAddr,
    local: Option<IpAddr>,
    now: Instant,
    events: Option<&EventSink>,
) {
    peer.add_rx(wire_len);
    ps.authenticated_from(src, local, now, &peer.public_key, events);
    if ps.awaiting_confirmation {
        ps.handshake_completed(false, &peer.public_key, events);
    }
}

fn flush_inner(shared: &Shared, inner: &Inner, out: &mut Batch) {
    let (ok, failed) = inner.write(out);
    Counters::add(&shared.counters.tun_tx_packets, ok);
    Counters::add(&shared.counters.dropped_io, failed);
    out.clear();
}

/// The timer thread: every 250 ms run boringtun's timers for every peer (retries, rekeys,
/// passive keepalives), send persistent keepalives, mark stale peers; every second reset
/// the handshake rate limiter. It also drives the latency lanes and the low-latency mode's CPU
/// latency request, if any. Between ticks it lets go of replaced sockets at once: a port
/// change waits until every thread has (`config.rs`).
pub(crate) fn timer_loop(shared: Arc<Shared>, mut cpu_latency: Option<CpuLatency>, mut lane: Option<LaneControl>) {
    let mut io = Io::new(&shared, 0);
    let mut tick: u64 = 0;
    let mut next_tick = Instant::now() + TIMER_TICK;
    // Sockets replaced since the last tick (the lanes steer the new ones).
    let mut renewed = false;
    loop {
        {
            let (m, cv) = &shared.stop_cv;
            let mut stopped = m.lock();
            // A port change bumps the socket generation, then notifies under this lock: checked
            // here under it, the change cannot slip in between the check and the wait.
            if !*stopped && io.sockets_current(&shared) {
                cv.wait_until(&mut stopped, next_tick);
            }
            if *stopped {
                return;
            }
        }
        renewed |= io.refresh(&shared).is_some();
        let now = Instant::now();
        if now < next_tick {
            continue;
        }
        next_tick = now + TIMER_TICK;
        tick += 1;
        {
            let st = shared.state.read();
            if tick.is_multiple_of(4) {
                if let Some(l) = &st.handshake_limiter {
                    l.reset_count();
                }
                // Follow MTU changes made with `ip link` (padding never exceeds the MTU).
                if shared.has_interface {
                    if let Ok(mtu) = super::tun::get_mtu_on(&io.socks, &shared.name) {
                        shared.mtu.store(mtu as usize, Ordering::Relaxed);
                    }
                }
            }
        }
        let bytes = sweep_peers(&shared, &mut io, now);
        io.flush(&shared);
        let c = &shared.counters;
        if let Some(lane) = lane.as_mut() {
            let datagrams = c.rx_datagrams.load(Ordering::Relaxed) + c.tx_datagrams.load(Ordering::Relaxed);
            lane.tick(datagrams, bytes, &io.socks, renewed, &shared.lane_tids);
        }
        renewed = false;
        if let Some(latency) = cpu_latency.as_mut() {
            let packets = c.tun_rx_packets.load(Ordering::Relaxed) + c.tun_tx_packets.load(Ordering::Relaxed);
            if let Err(e) = latency.tick(packets) {
                shared.report(e);
            }
        }
    }
}

/// Peers the timer visits per hold of the peer table's read lock.
const SWEEP_CHUNK: usize = 1024;

/// One tick's pass over the peers: boringtun's timers (handshake retries, expiry), persistent
/// keepalives, staleness. Returns the bytes the peers have moved so far (for the lanes).
///
/// The table's read lock is held for one chunk of peers at a time, only to copy their handles:
/// a pass can take long (every due handshake retry costs Diffie-Hellmans: a million peers with
/// unreachable endpoints keep the thread busy), and a held read lock would make a change
/// (`apply`, which takes the write lock) and, behind it, the workers wait for the whole pass.
/// A peer removed or added during the pass may be skipped or visited twice in it.
fn sweep_peers(shared: &Shared, io: &mut Io, now: Instant) -> u64 {
    let events = shared.events.as_ref();
    let mut bytes = 0u64;
    let mut chunk: Vec<Arc<Peer>> = Vec::with_capacity(SWEEP_CHUNK);
    let mut start = 0;
    loop {
        chunk.clear();
        {
            let st = shared.state.read();
            let end = st.peers.len().min(start + SWEEP_CHUNK);
            if start >= end {
                return bytes;
            }
            chunk.extend_from_slice(&st.peers[start..end]);
            start = end;
        }
        for peer in &chunk {
            bytes += peer.rx_bytes.load(Ordering::Relaxed) + peer.tx_bytes.load(Ordering::Relaxed);
            let mut ps = peer.state.lock();
            let ep = ps.endpoint;
            io.reserve(shared);
            let Some(t) = ps.tunn.as_mut() else { continue };
            let r = match t.update_timers(io.out.next_slot()) {
                TunnResult::WriteToNetwork(p) => Ok(p.len()),
                TunnResult::Err(WireGuardError::ConnectionExpired) => Err(true),
                _ => Err(false),
            };
            match (r, ep) {
                (Ok(len), Some(ep)) => io.commit_to(len, ep, peer, &mut ps, now),
                (Err(true), _) => ps.expired(&peer.public_key, events),
                _ => {}
            }
            let ka = Duration::from_secs(ps.keepalive as u64);
            if ps.keepalive > 0 && now.saturating_duration_since(ps.last_traversal) >= ka {
                io.reserve(shared);
                let len = match (ps.tunn.as_mut(), ep) {
                    (Some(t), Some(_)) => match t.encapsulate(&[], io.out.next_slot()) {
                        TunnResult::WriteToNetwork(p) => p.len(),
                        _ => 0,
                    },
                    _ => 0,
                };
                match ep {
                    Some(ep) if len > 0 => io.commit_to(len, ep, peer, &mut ps, now),
                    _ => ps.last_traversal = now,
                }
            }
            ps.check_stale(now, &peer.public_key, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{recycle, Spinner};
    use std::time::Duration;

    #[test]
    fn the_spinner_polls_for_its_window_after_work_then_sleeps() {
        let mut off = Spinner::new(Duration::ZERO);
        off.busy();
        assert!(!off.active(), "a zero window never polls");
        off.idle();
        assert!(!off.active());

        let window = Duration::from_millis(20);
        let mut s = Spinner::new(window);
        assert!(!s.active(), "asleep before any work");
        s.busy();
        assert!(s.active(), "polls after work");
        // The window starts at the first empty poll; past it (or after a yield that ran
        // another thread) the worker sleeps.
        s.idle();
        std::thread::sleep(window + Duration::from_millis(5));
        s.idle();
        assert!(!s.active(), "asleep past the window");
        s.busy();
        assert!(s.active(), "work restarts the window");
    }

    /// The inbound path's scratch vectors keep their allocation from run to run.
    #[test]
    fn a_recycled_vector_keeps_its_allocation() {
        let (mut a, mut b) = ([1u8; 8], [2u8; 8]);
        let mut v: Vec<&mut [u8]> = Vec::with_capacity(64);
        v.push(&mut a);
        v.push(&mut b);
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let w: Vec<&'static mut [u8]> = recycle(v);
        assert!(w.is_empty());
        assert_eq!((w.as_ptr() as usize, w.capacity()), (ptr, cap));
    }
}
