//! The embedded userspace WireGuard device: a TUN interface, UDP sockets and boringtun's
//! `noise` state machines (handshakes, sessions, timers, cookies), driven by the device's own
//! OS threads. No async runtime, no JS, nothing on the libuv pool.
//!
//! **Threads.** `threads` workers, each owning one TUN queue (`IFF_MULTI_QUEUE`), one IPv4 and
//! one IPv6 UDP socket on the shared listen port (`SO_REUSEPORT`: each peer's flow stays on
//! one socket, so on one worker and in order, apart from the latency lane below) and an epoll
//! instance; plus one timer thread (250 ms ticks: boringtun timers, persistent keepalive, stale peers, MTU changes;
//! every second the handshake rate limiter's reset). The TUN and the sockets are created in
//! the target namespace by a short-lived helper thread (`netns.rs`).
//!
//! **Latency lane.** With two workers or more, while bulk traffic flows, the last ones (one per
//! four workers, at least one) take the small packets (at most 256 bytes inside: ACKs, pings,
//! DNS, voice), steered there by flow by BPF programs on the TUN and on the sockets' reuseport
//! group, while bulk goes to the others (`lanes.rs`; the timer thread turns it on and off).
//! Under a saturating TCP stream a ping's p50 went from 1.45–1.93 ms to 0.50–0.62 ms,
//! throughput unchanged.
//!
//! **Batches.** Packets move in vectors (`batch.rs`): a burst of TUN reads → route (one trie
//! lookup per run of equal destinations) → pad to 16 → encrypt → one `sendmmsg`; one
//! `recvmmsg` → dispatch by type/receiver index → decrypt → inner-source filter → TUN
//! writes. Buffers are allocated once per worker and reused.
//!
//! **Crypto.** boringtun's `Tunn` owns the sessions, but data packets are sealed and opened
//! outside it, many at a time: the vendored boringtun (`crate/vendor/boringtun/WGKIT.md`)
//! hands out a counter and the key per packet and takes back the replay/timer bookkeeping
//! after decryption, and [`crate::aead`] encrypts 16 packets per pass with AVX-512 (ring's
//! one-packet code on other CPUs, or with `WGKIT_AEAD=ring`). Outbound packets of one key are
//! written with their headers and sealed as one run just before `sendmmsg`; inbound, every
//! datagram of a received message is opened in place in the receive buffer. A run of 32 or more
//! packets is shared with the device's other workers in chunks of 16 (`crypto_pool.rs`): the
//! owner sends or accepts the packets, in order, once every chunk is done. Sharing is on by
//! default with 4 or more CPUs (`WGKIT_CRYPTO_SPREAD=1`/`0` forces it): with a free core it
//! seals 45-packet runs 1.35× as fast, but on 2 busy cores a single stream ran 5–12 % slower
//! (the helpers' wake-ups, and a helper preempted mid-chunk holds the owner up).
//!
//! **Offloads.** The TUN carries `virtio_net_hdr`s with TSO on (`offload.rs`): TCP
//! super-packets read from it are routed once and split into MTU-sized segments straight
//! into the outgoing batch (behind room for the data header), and
//! decrypted segments of one flow are coalesced into one GSO write. Encrypted datagrams leave
//! in `UDP_SEGMENT` runs (one stack traversal for up to 64), with fallback to plain datagrams
//! when the kernel refuses; received runs of datagrams arrive as one buffer (`UDP_GRO`) and
//! are decrypted in place as slices. TUN UDP segmentation (USO) is requested where the kernel
//! has it. `WGKIT_TUN_OFFLOAD=0` / `WGKIT_UDP_GSO=0` / `WGKIT_UDP_GRO=0` turn them off.
//!
//! **Polling.** After work, a worker polls epoll (yielding between polls) for
//! `WGKIT_SPIN_US` (default 1000 µs) before it sleeps, so replies within that window cost
//! no thread wake-up (expensive when the CPU has halted, as on VMs). A yield that ran
//! another thread ends the polling at once: the CPU is wanted elsewhere.
//!
//! **Low-latency mode** (`cpu_latency.rs`, off by default): with `cpu_latency_us` (or
//! `WGKIT_CPU_LATENCY_US`) the timer thread holds a PM QoS CPU latency request while packets
//! pass through the interface and drops it after a quiet second. With 0, idle CPUs poll
//! instead of halting, so the thread hand-offs of a packet's path never wake a halted CPU.
//!
//! **Locking.** The peer table (`State`: keys, peers, allowed IPs) sits behind one `RwLock`
//! that the data path takes for reading once per batch and `apply` takes for writing; each
//! peer's `Tunn` sits behind its own `Mutex`, taken once per run of consecutive packets for
//! that peer. Order is always table → one peer.
//!
//! **Protocol details on top of boringtun.** Plaintext padding to a multiple of 16 (capped at
//! the MTU); CSPRNG 24-bit peer indices, handshakes routed by `receiver_index >> 8` (and
//! initiations by the decrypted static key); one device-wide `RateLimiter` (cookie replies
//! under load); kernel-style persistent keepalive (reset by any authenticated traffic, sent
//! at once when turned on); roaming to the latest authenticated source; sticky source
//! address (IP_PKTINFO); inner-source filtering by allowed IPs; ICMP unreachable for
//! packets without a peer, endpoint or key.

mod allowed_ips;
mod batch;
mod config;
mod cpu_latency;
#[cfg(target_os = "linux")]
#[path = "cpu_latency_linux.rs"]
mod cpu_latency_path;
#[cfg(not(target_os = "linux"))]
#[path = "cpu_latency_unsupported.rs"]
mod cpu_latency_path;
mod crypto_pool;
mod events;
mod first_initiations;
#[doc(hidden)]
pub mod fuzzing;
mod icmp;
mod inner;
#[cfg(target_os = "linux")]
#[path = "lanes_linux.rs"]
mod lanes;
#[cfg(not(target_os = "linux"))]
#[path = "lanes_portable.rs"]
mod lanes;
#[cfg(target_os = "linux")]
#[path = "netns_linux.rs"]
mod netns;
#[cfg(not(target_os = "linux"))]
#[path = "netns_portable.rs"]
mod netns;
pub mod netstack;
mod peer;
mod poller;
mod prepared;
mod tun;
mod udp;
/// The macOS utun inner side (`tun/` takes it on macOS); its portable parts are unit-tested on
/// every Unix.
#[cfg(any(target_os = "macos", all(test, unix)))]
mod utun;
mod waker;
mod worker;

pub use allowed_ips::AllowedIps;
#[cfg(all(test, target_os = "linux"))]
pub(crate) use config::fault;
pub use events::{event_channel, DeviceEvent, EventSink, STALE_AFTER};
pub use netns::Netns;

use crate::error::{Error, ErrorCode, Result};
use crate::keys::Key;
use crate::model;
use crate::thread_guard::spawn_guarded;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519::{PublicKey, StaticSecret};
use inner::Inner;
use netns::NetnsHandle;
pub use netstack::{Netstack, NetstackOptions, TcpBuffers, TcpListener, TcpStream, UdpSocket};
use parking_lot::{Condvar, Mutex, RwLock};
use peer::Peer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tun::{LaneQueue, Tun};
use udp::Sockets;
use waker::Waker;

/// Handshake messages per second the device verifies before demanding cookies (boringtun's
/// device uses the same figure).
pub const HANDSHAKE_RATE_LIMIT: u64 = 100;
/// The timer tick.
pub const TIMER_TICK: Duration = Duration::from_millis(250);
/// The most peers a device holds by default: the kernel's `MAX_PEERS_PER_DEVICE` (2^20).
pub const MAX_PEERS: usize = 1 << 20;
/// Default MTU (wireguard-go's and wg-quick's).
pub const DEFAULT_MTU: u32 = 1420;

/// How to create a device.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// The network namespace for the TUN interface and the UDP sockets; `None` = the calling
    /// thread's.
    pub netns: Option<Netns>,
    /// Interface MTU.
    pub mtu: u32,
    /// Worker threads (and TUN queues); 0 = one per CPU, at most 4.
    pub threads: usize,
    /// Initial listen port; 0 = random.
    pub listen_port: u16,
    /// Initial fwmark; 0 = off.
    pub fwmark: u32,
    /// Where events go; `None` = nowhere.
    pub events: Option<EventSink>,
    /// Low-latency mode (`cpu_latency.rs`): while packets pass through the interface, ask the
    /// kernel to keep every CPU able to wake within this many microseconds (0 = idle CPUs
    /// poll); dropped after a second without packets. `None` = the `WGKIT_CPU_LATENCY_US`
    /// environment variable, else off.
    pub cpu_latency_us: Option<u32>,
    /// The most peers the device holds ([`MAX_PEERS`] by default); a change that would give it
    /// more fails with E2BIG ("Argument list too long", as the kernel's) and changes nothing.
    pub max_peers: usize,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            netns: None,
            mtu: DEFAULT_MTU,
            threads: 0,
            listen_port: 0,
            fwmark: 0,
            events: None,
            cpu_latency_us: None,
            max_peers: MAX_PEERS,
        }
    }
}

/// Data-plane counters (packets are WireGuard datagrams on the UDP side, IP packets on the
/// TUN side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub rx_datagrams: u64,
    pub tx_datagrams: u64,
    pub tun_rx_packets: u64,
    pub tun_tx_packets: u64,
    /// Outbound packets with no peer for their destination (or no endpoint/key).
    pub dropped_no_route: u64,
    /// Decrypted packets whose inner source is not an allowed IP of the sending peer.
    pub dropped_source_filter: u64,
    /// Datagrams that failed to parse, authenticate or decrypt, or named no known peer.
    pub dropped_invalid: u64,
    /// Datagrams the socket would not take, TUN writes that failed.
    pub dropped_io: u64,
    pub cookie_replies_sent: u64,
    pub events_dropped: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) rx_datagrams: AtomicU64,
    pub(crate) tx_datagrams: AtomicU64,
    pub(crate) tun_rx_packets: AtomicU64,
    pub(crate) tun_tx_packets: AtomicU64,
    pub(crate) dropped_no_route: AtomicU64,
    pub(crate) dropped_source_filter: AtomicU64,
    pub(crate) dropped_invalid: AtomicU64,
    pub(crate) dropped_io: AtomicU64,
    pub(crate) cookie_replies_sent: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: usize) {
        if n > 0 {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// The device's configuration and peer table.
pub(crate) struct State {
    pub(crate) private_key: Option<Key>,
    pub(crate) public_key: Option<Key>,
    pub(crate) statics: Option<(StaticSecret, PublicKey)>,
    /// Verifies mac1 and limits handshakes device-wide (cookie replies under load).
    pub(crate) handshake_limiter: Option<Arc<RateLimiter>>,
    /// Given to every Tunn: checks mac1 again but never limits (the device already did).
    pub(crate) tunn_limiter: Option<Arc<RateLimiter>>,
    pub(crate) listen_port: u16,
    pub(crate) fwmark: u32,
    /// Insertion order, as `get` reports.
    pub(crate) peers: Vec<Arc<Peer>>,
    pub(crate) by_key: HashMap<[u8; 32], Arc<Peer>>,
    pub(crate) by_index: HashMap<u32, Arc<Peer>>,
    pub(crate) allowed: AllowedIps<u32>,
}

impl State {
    /// What new tunnels are built from, while the device has a private key.
    pub(crate) fn identity(&self) -> Option<peer::Identity> {
        match (&self.statics, &self.tunn_limiter) {
            (Some((secret, public)), Some(limiter)) => Some(peer::Identity {
                secret: secret.clone(),
                public: *public,
                limiter: limiter.clone(),
            }),
            _ => None,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) mtu: Arc<AtomicUsize>,
    /// The inside is a kernel interface (TUN), whose MTU `ip link` may change.
    pub(crate) has_interface: bool,
    pub(crate) threads: usize,
    /// The thread ids of the latency lanes' workers, the last workers (`lanes.rs`): 0 until
    /// each runs.
    pub(crate) lane_tids: Box<[std::sync::atomic::AtomicI32]>,
    pub(crate) state: RwLock<State>,
    pub(crate) sockets: RwLock<Arc<Sockets>>,
    pub(crate) socket_gen: AtomicU64,
    pub(crate) events: Option<EventSink>,
    pub(crate) counters: Counters,
    pub(crate) stop: AtomicBool,
    pub(crate) stop_cv: (Mutex<bool>, Condvar),
    pub(crate) wakers: Vec<Waker>,
    /// Large AEAD batches shared between the workers (`crypto_pool.rs`).
    pub(crate) crypto: Arc<crypto_pool::CryptoPool>,
    pub(crate) netns: NetnsHandle,
    pub(crate) apply_lock: Mutex<()>,
    /// `DeviceOptions::max_peers`.
    pub(crate) max_peers: usize,
}

impl Shared {
    pub(crate) fn wake_workers(&self) {
        for w in &self.wakers {
            w.wake();
        }
    }

    pub(crate) fn report(&self, error: Error) {
        if let Some(e) = &self.events {
            e.emit(DeviceEvent::Error(error));
        }
    }
}

/// An embedded WireGuard device. Dropping it closes it.
pub struct Device {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    inside: Mutex<Option<Inside>>,
}

/// What the device owns inside the tunnel.
enum Inside {
    /// The TUN interface: held, not used (it is removed when its last queue closes).
    Tun { _interface: Tun },
    /// The TCP/IP stack's thread, and the MTU it reads.
    Stack(netstack::StackThread, Arc<AtomicUsize>),
}

/// The worker threads `options` asks for (0: one per CPU, at most `auto_max`), after checking
/// the MTU.
fn worker_count(options: &DeviceOptions, auto_max: usize) -> Result<usize> {
    if !(576..=65535).contains(&options.mtu) {
        return Err(Error::invalid_argument(format!("MTU {} is out of range", options.mtu)));
    }
    Ok(if options.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(auto_max)
    } else {
        options.threads.min(64)
    })
}

impl Device {
    /// Creates the TUN interface `name` (empty = kernel's choice) and the UDP sockets in the
    /// requested namespace and starts the device's threads. The device starts without a
    /// private key and without peers; configure it with [`Device::apply`]. On macOS the
    /// interface is a utun (`utun/`): `name` is `utunN` or empty.
    pub fn create(name: &str, options: DeviceOptions) -> Result<Device> {
        // A macOS utun has one socket for every worker (no multi-queue): one worker unless
        // asked for more (`utun/tun_side.rs`).
        let auto_max = if cfg!(target_os = "macos") { 1 } else { 4 };
        let threads = worker_count(&options, auto_max)?;
        let netns = NetnsHandle::open(options.netns.as_ref())?;
        let name_owned = name.to_string();
        let mtu = options.mtu;
        let (port, mark) = (options.listen_port, options.fwmark);
        let (opened, sockets) = netns.run(move || {
            let opened = tun::open(&name_owned, threads, mtu)?;
            let sockets = Sockets::bind(port, mark, threads)?;
            Ok((opened, sockets))
        })?;
        let inners = opened.queues.into_iter().map(Inner::Tun).collect();
        Device::start(
            opened.name,
            options,
            threads,
            netns,
            sockets,
            inners,
            opened.lane_queue,
            Inside::Tun { _interface: opened.tun },
        )
    }

    /// Creates a device whose inside is a TCP/IP stack in the process ([`Netstack`]): no
    /// interface, so no privilege is needed. `name` names its threads and its UAPI socket.
    /// The UDP sockets are bound in the requested namespace (the calling thread's by default).
    pub fn create_netstack(name: &str, options: DeviceOptions, stack: NetstackOptions) -> Result<(Device, Netstack)> {
        crate::uapi::validate_name(name)?;
        let threads = worker_count(&options, 1)?;
        let netns = NetnsHandle::open(options.netns.as_ref())?;
        let (port, mark) = (options.listen_port, options.fwmark);
        let sockets = netns.run(move || Sockets::bind(port, mark, threads))?;
        let link = Arc::new(netstack::Link::new()?);
        let mtu = Arc::new(AtomicUsize::new(options.mtu as usize));
        let (thread, handle) =
            netstack::StackThread::start(name, link.clone(), mtu.clone(), &stack, options.events.clone())?;
        let inners = (0..threads).map(|_| Inner::Stack(link.clone())).collect();
        let device = Device::start(
            name.to_string(),
            options,
            threads,
            netns,
            sockets,
            inners,
            None,
            Inside::Stack(thread, mtu),
        )?;
        Ok((device, handle))
    }

    /// Starts the workers (one per inner queue) and the timer around a ready inside.
    #[allow(clippy::too_many_arguments)]
    fn start(
        name: String,
        options: DeviceOptions,
        threads: usize,
        netns: NetnsHandle,
        sockets: Sockets,
        inners: Vec<Inner>,
        lane_tun: Option<LaneQueue>,
        inside: Inside,
    ) -> Result<Device> {
        let cpu_latency = match options.cpu_latency_us {
            Some(us) => Some(cpu_latency::validate(us as i64, "cpuLatencyUs")?),
            None => cpu_latency::from_env()?,
        }
        .map(cpu_latency::CpuLatency::for_this_platform)
        .transpose()?;
        let wakers = (0..threads).map(|_| Waker::new()).collect::<Result<Vec<_>>>()?;
        let crypto = Arc::new(crypto_pool::CryptoPool::new(
            wakers.clone(),
            crypto_pool::spread_wanted(threads),
        ));
        let listen_port = sockets.port;
        let mtu = match &inside {
            Inside::Stack(_, mtu) => mtu.clone(),
            Inside::Tun { .. } => Arc::new(AtomicUsize::new(options.mtu as usize)),
        };
        let shared = Arc::new(Shared {
            name,
            mtu,
            has_interface: matches!(inside, Inside::Tun { .. }),
            threads,
            lane_tids: (0..lanes::lanes(threads)).map(|_| Default::default()).collect(),
            state: RwLock::new(State {
                private_key: None,
                public_key: None,
                statics: None,
                handshake_limiter: None,
                tunn_limiter: None,
                listen_port,
                fwmark: options.fwmark,
                peers: Vec::new(),
                by_key: HashMap::new(),
                by_index: HashMap::new(),
                allowed: AllowedIps::new(),
            }),
            sockets: RwLock::new(Arc::new(sockets)),
            socket_gen: AtomicU64::new(0),
            events: options.events,
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            stop_cv: (Mutex::new(false), Condvar::new()),
            wakers,
            crypto,
            netns,
            apply_lock: Mutex::new(()),
            max_peers: options.max_peers,
        });
        let device = Device {
            shared: shared.clone(),
            threads: Mutex::new(Vec::new()),
            inside: Mutex::new(None),
        };
        let mut handles = Vec::new();
        let spawn_result = (|| -> Result<()> {
            for (i, inner) in inners.into_iter().enumerate() {
                let s = shared.clone();
                let guard = shared.clone();
                let h = spawn_guarded(
                    format!("wg-{}-{}", shared.name, i),
                    move |thread, message| stop_after_panic(&guard, thread, message),
                    move || worker::run(s, i, inner),
                )
                .map_err(|e| Error::from_io(&e, "Unable to start a device thread"))?;
                handles.push(h);
            }
            let s = shared.clone();
            let lane = lanes::LaneControl::new(threads, lane_tun);
            let guard = shared.clone();
            let h = spawn_guarded(
                format!("wg-{}-timer", shared.name),
                move |thread, message| stop_after_panic(&guard, thread, message),
                move || worker::timer_loop(s, cpu_latency, lane),
            )
            .map_err(|e| Error::from_io(&e, "Unable to start the timer thread"))?;
            handles.push(h);
            Ok(())
        })();
        *device.threads.lock() = handles;
        *device.inside.lock() = Some(inside);
        // On failure, dropping `device` stops whatever started and removes the interface.
        spawn_result.map(|_| device)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The MTU used for padding decisions (as set at creation or with [`Device::set_mtu`]).
    pub fn mtu(&self) -> u32 {
        self.shared.mtu.load(Ordering::Relaxed) as u32
    }

    /// Changes the interface MTU.
    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        if !(576..=65535).contains(&mtu) {
            return Err(Error::invalid_argument(format!("MTU {mtu} is out of range")));
        }
        if self.shared.has_interface {
            let name = self.shared.name.clone();
            self.shared.netns.run(move || tun::set_mtu(&name, mtu))?;
        }
        self.shared.mtu.store(mtu as usize, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the interface MTU from the kernel (it may have been changed with `ip link`) and
    /// adopts it for padding.
    pub fn refresh_mtu(&self) -> Result<u32> {
        if !self.shared.has_interface {
            return Ok(self.mtu());
        }
        let name = self.shared.name.clone();
        let mtu = self.shared.netns.run(move || tun::get_mtu(&name))?;
        self.shared.mtu.store(mtu as usize, Ordering::Relaxed);
        Ok(mtu)
    }

    /// Applies a change with `wg set` semantics. The whole change is validated first and
    /// applied atomically: on error the device is unchanged. Sessions of peers whose keys
    /// did not change are kept.
    pub fn apply(&self, config: model::DeviceConfig) -> Result<()> {
        if self.is_closed() {
            return Err(Error::new(ErrorCode::DeviceNotFound, "The device is closed"));
        }
        config::apply(&self.shared, config)
    }

    /// The device as `get` reports it.
    pub fn snapshot(&self) -> model::Device {
        config::snapshot(&self.shared)
    }

    pub fn stats(&self) -> DeviceStats {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DeviceStats {
            rx_datagrams: l(&c.rx_datagrams),
            tx_datagrams: l(&c.tx_datagrams),
            tun_rx_packets: l(&c.tun_rx_packets),
            tun_tx_packets: l(&c.tun_tx_packets),
            dropped_no_route: l(&c.dropped_no_route),
            dropped_source_filter: l(&c.dropped_source_filter),
            dropped_invalid: l(&c.dropped_invalid),
            dropped_io: l(&c.dropped_io),
            cookie_replies_sent: l(&c.cookie_replies_sent),
            events_dropped: self.shared.events.as_ref().map(|e| e.dropped()).unwrap_or(0),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Reports an internal error (a panic) on thread `thread` of this process, such as a
    /// UAPI server thread, and stops the device as if one of its own threads had panicked.
    pub fn stop_after_panic(&self, thread: &str, message: &str) {
        stop_after_panic(&self.shared, thread, message);
    }

    /// Stops the threads and removes the interface. Idempotent.
    pub fn close(&self) {
        let _ = signal_stop(&self.shared);
        let handles: Vec<_> = self.threads.lock().drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
        // Closing the last queue removes the interface; the stack's users are told it closed.
        if let Some(Inside::Stack(mut t, _)) = self.inside.lock().take() {
            t.stop();
        }
    }
}

/// Sets the stop flag and wakes every device thread; false if the flag was already set.
fn signal_stop(shared: &Shared) -> bool {
    let was_running = !shared.stop.swap(true, Ordering::SeqCst);
    {
        let (m, cv) = &shared.stop_cv;
        *m.lock() = true;
        cv.notify_all();
    }
    shared.wake_workers();
    was_running
}

/// A thread panicked: an error event (System), the device stops (its other threads end,
/// `close` joins them), and a last error event (DeviceNotFound, as for a closed device) says
/// so, once (not after `close`, nor for a second panic). `get` keeps working on the stopped
/// device.
fn stop_after_panic(shared: &Shared, thread: &str, message: &str) {
    shared.report(Error::new(
        ErrorCode::System,
        format!("internal error in thread {thread}: {message}"),
    ));
    if !signal_stop(shared) {
        return;
    }
    shared.report(Error::new(
        ErrorCode::DeviceNotFound,
        format!(
            "device {} stopped after an internal error in thread {thread}",
            shared.name
        ),
    ));
}

impl Drop for Device {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("name", &self.shared.name).finish()
    }
}
