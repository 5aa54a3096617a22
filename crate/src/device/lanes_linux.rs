//! The latency lane: small packets skip the queues that bulk traffic fills.
//!
//! Under load, a tunnel's queues are the TUN queue that the sending TCP stack fills (its skbs
//! are orphaned there, so TCP Small Queues do not bound it) and the receiving UDP socket, where
//! the peer's super-packets wait for decryption. A ping, a TCP ACK or a keystroke that shares
//! them waits behind megabytes. With two workers or more, while bulk traffic flows
//! ([`LaneControl`]), the device keeps its last workers for small packets: one lane per
//! [`WORKERS_PER_LANE`] workers, at least one ([`lanes`]), so that on a machine with many cores
//! the small packets of many flows (every bulk flow's ACKs among them) do not all wait for one
//! worker. With `bulk` workers before the lanes:
//! - the TUN gets a steering program (`TUNSETSTEERINGEBPF`): a packet of at most
//!   [`SMALL_INNER`] bytes goes to lane `hash % lanes`, a larger one to queue `hash % bulk`
//!   (the packet's flow hash, so that a flow keeps its queue);
//! - the UDP sockets' reuseport group gets a classic BPF program (`SO_ATTACH_REUSEPORT_CBPF`):
//!   a WireGuard data message of at most [`SMALL_DATAGRAM`] bytes goes to lane
//!   `hash(source) % lanes`, a larger one to socket `hash(source) % bulk`, anything else
//!   (handshakes, cookies) to the kernel's own choice among all sockets;
//! - the lanes' workers have a short time slice, so that waking one preempts a bulk thread at
//!   once instead of at the end of that thread's slice (kernels ≥ 6.12).
//!
//! Without bulk traffic the lane is off and every worker takes every kind of packet, as before:
//! a device carrying only small packets (voice, games, DNS for many peers) keeps all its
//! workers for them, and idle CPUs are not asked to preempt (a short slice on idle CPUs makes
//! the lane's worker preempt the very thread that woke it, which cost an idle ping 50–100 µs).
//!
//! Packets of one peer then reach its receiver on two sockets, so their order can change by as
//! many packets as the bulk socket holds; the receiving window is 8,192 counters wide, about
//! the kernel's and wireguard-go's (vendored boringtun, `WGKIT.md`). Each part is best effort:
//! the TUN program needs `CAP_BPF` (or `CAP_SYS_ADMIN`) and kernel ≥ 4.16, and where one cannot
//! be set the device works without it. `WGKIT_LATENCY_LANE=0` turns the lane off.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use super::udp::Sockets;

/// Inner packets of at most this many bytes take the lane (ACKs with options, pings, DNS
/// queries, voice frames, keystrokes).
pub(crate) const SMALL_INNER: u32 = 256;
/// The largest data message carrying a [`SMALL_INNER`] packet: header, padded packet, tag.
pub(crate) const SMALL_DATAGRAM: u32 = 16 + SMALL_INNER + 16;
/// The time slice asked for the lane's worker (ns); the kernel's smallest.
const LANE_SLICE_NS: u64 = 100_000;
/// The environment variable that turns the lane off ("0").
const ENV: &str = "WGKIT_LATENCY_LANE";
/// Workers per lane worker: small packets are at most a quarter of a busy device's work (a TCP
/// stream's ACKs run at about one per two full segments the other way).
pub(crate) const WORKERS_PER_LANE: usize = 4;

/// How many of a device's `workers` are lanes (the last ones): none with one worker or with the
/// lane turned off, else one per [`WORKERS_PER_LANE`], at least one.
pub(crate) fn lanes(workers: usize) -> usize {
    let on = std::env::var(ENV).map(|v| v.trim() != "0").unwrap_or(true);
    if !on || workers < 2 {
        return 0;
    }
    (workers / WORKERS_PER_LANE).max(1)
}

// ---- TUN: an eBPF socket filter program whose return value is the queue ----

/// One eBPF instruction (`struct bpf_insn`).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    (code as u64) | (((src << 4 | dst) as u64) << 8) | ((off as u16 as u64) << 16) | ((imm as u32 as u64) << 32)
}

const BPF_LDX_MEM_W: u8 = 0x61;
const BPF_LD_ABS_B: u8 = 0x30;
const BPF_LD_ABS_H: u8 = 0x28;
const BPF_LD_ABS_W: u8 = 0x20;
const BPF_LD_IND_W: u8 = 0x40;
const BPF_MOV64_X: u8 = 0xbf;
const BPF_XOR64_X: u8 = 0xaf;
const BPF_AND32_K: u8 = 0x54;
const BPF_LSH32_K: u8 = 0x64;
const BPF_RSH32_K: u8 = 0x74;
const BPF_MUL32_K: u8 = 0x24;
const BPF_JEQ_K: u8 = 0x15;
const BPF_JNE_K: u8 = 0x55;
const BPF_JA: u8 = 0x05;
const BPF_JGT_K: u8 = 0x25;
const BPF_MOD32_K: u8 = 0x94;
const BPF_ADD32_K: u8 = 0x04;
const BPF_EXIT: u8 = 0x95;
/// Offsets in `struct __sk_buff`.
const SKB_LEN: i16 = 0;
const SKB_HASH: i16 = 68;

/// The TUN steering program for `queues` queues, the last `lanes` (at least one, fewer than
/// `queues`) being the lanes.
///
/// It picks by the packet's flow hash: the sending socket's (`skb->hash`, set by TCP), or where
/// there is none (forwarded packets, pings, unconnected UDP) one of its own over the addresses
/// and, for TCP and UDP, the ports (not for an IPv4 fragment, so that a datagram's fragments
/// keep one queue; an IPv6 fragment's next header is not TCP or UDP anyway). The packet starts at its IP header (a TUN without
/// `IFF_TAP`); the legacy packet loads end the program with 0 past its end.
pub(crate) fn tun_program(queues: u32, lanes: u32) -> Vec<u64> {
    let bulk = (queues - lanes) as i32;
    let mut p = Vec::new();
    let mut jump_to_mix = Vec::new();
    // r6 = ctx (the packet loads need it there), r7 = skb->hash
    p.push(insn(BPF_MOV64_X, 6, 1, 0, 0));
    p.push(insn(BPF_LDX_MEM_W, 7, 1, SKB_HASH, 0));
    let have_hash = p.len();
    p.push(0); // if r7 != 0 goto pick (patched below)

    // No socket hash: hash the packet. r0 = its IP version.
    p.push(insn(BPF_LD_ABS_B, 0, 0, 0, 0));
    p.push(insn(BPF_RSH32_K, 0, 0, 0, 4));
    let is_v6 = p.len();
    p.push(0); // if r0 == 6 goto v6 (patched below)

    // IPv4: addresses at 12 and 16, protocol at 9, ports after IHL words. A fragment (MF or an
    // offset) hashes its addresses only, so that every fragment of a datagram keeps one queue.
    p.push(insn(BPF_LD_ABS_W, 0, 0, 0, 12));
    p.push(insn(BPF_MOV64_X, 7, 0, 0, 0));
    p.push(insn(BPF_LD_ABS_W, 0, 0, 0, 16));
    p.push(insn(BPF_XOR64_X, 7, 0, 0, 0));
    p.push(insn(BPF_LD_ABS_H, 0, 0, 0, 6));
    p.push(insn(BPF_AND32_K, 0, 0, 0, 0x3fff));
    let fragment = p.len();
    p.push(0); // if r0 != 0 goto mix (patched below)
    let ports_v4 = [
        insn(BPF_LD_ABS_B, 0, 0, 0, 0),
        insn(BPF_AND32_K, 0, 0, 0, 0x0f),
        insn(BPF_LSH32_K, 0, 0, 0, 2),
        insn(BPF_MOV64_X, 8, 0, 0, 0),
        insn(BPF_LD_IND_W, 0, 8, 0, 0),
    ];
    hash_ports(&mut p, &mut jump_to_mix, 9, &ports_v4);
    jump_to_mix.push(p.len());
    p.push(0); // goto mix

    // IPv6: addresses at 8..40, next header at 6, ports at 40 (no extension headers).
    let v6 = p.len();
    for offset in (8..40).step_by(4) {
        p.push(insn(BPF_LD_ABS_W, 0, 0, 0, offset));
        p.push(insn(BPF_XOR64_X, 7, 0, 0, 0));
    }
    hash_ports(&mut p, &mut jump_to_mix, 6, &[insn(BPF_LD_ABS_W, 0, 0, 0, 40)]);

    // Mix the bits (multiplicative hashing keeps the high ones).
    let mix = p.len();
    p.push(insn(BPF_MUL32_K, 7, 0, 0, 0x9e37_79b1_u32 as i32));
    p.push(insn(BPF_RSH32_K, 7, 0, 0, 16));
    // Pick: small packets to lane hash % lanes, the rest to queue hash % bulk.
    let pick = p.len();
    p.push(insn(BPF_LDX_MEM_W, 2, 6, SKB_LEN, 0));
    p.push(insn(BPF_MOV64_X, 0, 7, 0, 0));
    p.push(insn(BPF_JGT_K, 2, 0, 3, SMALL_INNER as i32));
    p.push(insn(BPF_MOD32_K, 0, 0, 0, lanes as i32));
    p.push(insn(BPF_ADD32_K, 0, 0, 0, bulk));
    p.push(insn(BPF_EXIT, 0, 0, 0, 0));
    p.push(insn(BPF_MOD32_K, 0, 0, 0, bulk));
    p.push(insn(BPF_EXIT, 0, 0, 0, 0));
    let off = |from: usize, to: usize| (to - from - 1) as i16;
    p[have_hash] = insn(BPF_JNE_K, 7, 0, off(have_hash, pick), 0);
    p[is_v6] = insn(BPF_JEQ_K, 0, 0, off(is_v6, v6), 6);
    p[fragment] = insn(BPF_JNE_K, 0, 0, off(fragment, mix), 0);
    for j in jump_to_mix {
        p[j] = insn(BPF_JA, 0, 0, off(j, mix), 0);
    }
    p
}

/// Appends to `p`: unless the byte at `protocol_at` says TCP or UDP, a jump to the mixing step
/// (its index goes to `to_mix`); else `load_ports` (leaving both ports in r0) XORed into r7.
fn hash_ports(p: &mut Vec<u64>, to_mix: &mut Vec<usize>, protocol_at: i32, load_ports: &[u64]) {
    p.push(insn(BPF_LD_ABS_B, 0, 0, 0, protocol_at));
    p.push(insn(BPF_JEQ_K, 0, 0, 2, libc::IPPROTO_TCP));
    p.push(insn(BPF_JEQ_K, 0, 0, 1, libc::IPPROTO_UDP));
    to_mix.push(p.len());
    p.push(0); // goto mix
    p.extend_from_slice(load_ports);
    p.push(insn(BPF_XOR64_X, 7, 0, 0, 0));
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// `TUNSETSTEERINGEBPF`: `_IOR('T', 224, int)`.
const TUNSETSTEERINGEBPF: libc::c_ulong = 0x8004_54e0;

/// Loads `program` as a socket filter; the descriptor holds it.
fn load_ebpf(program: &[u64]) -> io::Result<OwnedFd> {
    let license = c"GPL";
    // `union bpf_attr` for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, then zeros.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SOCKET_FILTER.to_ne_bytes());
    attr[4..8].copy_from_slice(&(program.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(program.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr of the size passed; the pointers outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Loads the TUN steering program for `queues` queues, the last `lanes` being the lanes.
pub(crate) fn tun_steering(queues: usize, lanes: usize) -> io::Result<OwnedFd> {
    load_ebpf(&tun_program(queues as u32, lanes as u32))
}

/// Attaches `program` to the TUN of `queue_fd` (any of its queues), or detaches whatever is
/// attached (`None`: the kernel's own queue choice again).
pub(crate) fn steer_tun(queue_fd: RawFd, program: Option<&OwnedFd>) -> io::Result<()> {
    let raw: libc::c_int = program.map_or(-1, |p| p.as_raw_fd());
    // The request is a `c_ulong` on glibc and a `c_int` on musl (`as _`; the same bits).
    // SAFETY: the ioctl reads one int; the TUN keeps its own reference to the program.
    if unsafe { libc::ioctl(queue_fd, TUNSETSTEERINGEBPF as _, &raw) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// ---- UDP: a classic BPF program whose return value indexes the reuseport group ----

const LD_B_ABS: u16 = 0x30;
const LD_H_ABS: u16 = 0x28;
const LD_H_IND: u16 = 0x48;
const LD_W_ABS: u16 = 0x20;
const LD_W_LEN: u16 = 0x80;
const LDX_B_MSH: u16 = 0xb1;
const ST: u16 = 0x02;
const LDX_MEM: u16 = 0x61;
const LD_MEM: u16 = 0x60;
const ALU_XOR_X: u16 = 0xac;
const ALU_ADD_K: u16 = 0x04;
const ALU_MUL_K: u16 = 0x24;
const ALU_RSH_K: u16 = 0x74;
const ALU_MOD_K: u16 = 0x94;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const RET_K: u16 = 0x06;
const RET_A: u16 = 0x16;
/// `SKF_NET_OFF`: loads relative to the network header.
const NET: u32 = (-0x10_0000i32) as u32;
/// WireGuard's data message type.
const MESSAGE_DATA: u32 = 4;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The reuseport program for `sockets` sockets of one family, the last `lanes` (at least one,
/// fewer than `sockets`) being the lanes. The program sees the UDP payload; its length is the
/// whole train for a GRO batch.
pub(crate) fn udp_program(sockets: u32, lanes: u32, v6: bool) -> Vec<libc::sock_filter> {
    let bulk = sockets - lanes;
    let mut p = vec![
        op(LD_B_ABS, 0, 0, 0),
        op(JEQ_K, 1, 0, MESSAGE_DATA),
        // Handshakes and cookies: out of range, so the kernel picks among all sockets.
        op(RET_K, 0, 0, u32::MAX),
    ];
    // A hash of the source address and port, in M[1]: one source keeps its socket.
    if v6 {
        p.push(op(LD_W_ABS, 0, 0, NET.wrapping_add(8)));
        for word in 1..4 {
            p.push(op(ST, 0, 0, 0));
            p.push(op(LD_W_ABS, 0, 0, NET.wrapping_add(8 + 4 * word)));
            p.push(op(LDX_MEM, 0, 0, 0));
            p.push(op(ALU_XOR_X, 0, 0, 0));
        }
        p.push(op(ST, 0, 0, 0));
        // The source port, after a header without extensions.
        p.push(op(LD_H_ABS, 0, 0, NET.wrapping_add(40)));
    } else {
        p.push(op(LD_W_ABS, 0, 0, NET.wrapping_add(12)));
        p.push(op(ST, 0, 0, 0));
        p.push(op(LDX_B_MSH, 0, 0, NET));
        p.push(op(LD_H_IND, 0, 0, NET));
    }
    p.extend([
        op(LDX_MEM, 0, 0, 0),
        op(ALU_XOR_X, 0, 0, 0),
        op(ALU_MUL_K, 0, 0, 0x9e37_79b1),
        op(ALU_RSH_K, 0, 0, 16),
        op(ST, 0, 0, 1),
        op(LD_W_LEN, 0, 0, 0),
        op(JGT_K, 4, 0, SMALL_DATAGRAM),
        // Small: lane hash % lanes.
        op(LD_MEM, 0, 0, 1),
        op(ALU_MOD_K, 0, 0, lanes),
        op(ALU_ADD_K, 0, 0, bulk),
        op(RET_A, 0, 0, 0),
        // Bulk: socket hash % bulk.
        op(LD_MEM, 0, 0, 1),
        op(ALU_MOD_K, 0, 0, bulk),
        op(RET_A, 0, 0, 0),
    ]);
    p
}

/// `SO_ATTACH_REUSEPORT_CBPF`.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// The reuseport program that leaves every choice to the kernel (its 4-tuple hash).
fn kernel_choice_program() -> Vec<libc::sock_filter> {
    vec![op(RET_K, 0, 0, u32::MAX)]
}

/// Attaches `program` to the reuseport group of `socket`.
fn attach_reuseport(socket: RawFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `program`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            socket,
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            &fprog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Steers the reuseport groups of `sockets` (one per family, members bound in worker order):
/// the programs for `lanes` lanes, or with none the kernel's own choice.
pub(crate) fn steer_udp(sockets: &Sockets, lanes: usize) -> io::Result<()> {
    let n = sockets.pairs.len() as u32;
    let Some(first) = sockets.pairs.first() else {
        return Ok(());
    };
    let on = lanes > 0;
    let v4 = if on {
        udp_program(n, lanes as u32, false)
    } else {
        kernel_choice_program()
    };
    attach_reuseport(first.v4.as_raw_fd(), &v4)?;
    if let Some(v6) = &first.v6 {
        let p = if on {
            udp_program(n, lanes as u32, true)
        } else {
            kernel_choice_program()
        };
        attach_reuseport(v6.as_raw_fd(), &p)?;
    }
    Ok(())
}

// ---- The lane's worker: a short slice while the device is busy ----

/// `struct sched_attr` (SCHED_OTHER with a requested slice in `sched_runtime`).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Sets the slice of thread `tid` (0 = the kernel's default), keeping its nice value.
fn set_slice(tid: i32, ns: u64) -> io::Result<()> {
    // SAFETY: plain syscall; errno is cleared first because -1 is a valid nice value.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t)
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: ns,
        deadline: 0,
        period: 0,
    };
    // SAFETY: attr is a valid sched_attr of the size it declares.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, tid, &attr as *const SchedAttr, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's id, for [`LaneControl::tick`].
pub(crate) fn current_tid() -> i32 {
    // SAFETY: plain syscall.
    unsafe { libc::gettid() }
}

/// Datagrams sent and received in one timer tick (250 ms) from which traffic can count as bulk:
/// 8,000 a second, far above pings, keepalives or a voice call.
const BULK_DATAGRAMS_PER_TICK: u64 = 2_000;
/// The mean datagram size (bytes) from which traffic counts as bulk: a flood of small packets
/// is served best by every worker.
const BULK_MEAN_BYTES: u64 = 512;
/// Ticks without bulk before the lane is turned off.
const QUIET_TICKS: u32 = 4;

/// Whether bulk traffic flows, from the device's totals at each timer tick.
#[derive(Default)]
pub(crate) struct BulkDetector {
    datagrams: u64,
    bytes: u64,
    on: bool,
    quiet: u32,
}

impl BulkDetector {
    /// Takes the totals so far (datagrams and bytes both ways); returns whether the lane
    /// should be on: from the first tick with bulk until [`QUIET_TICKS`] ticks without.
    pub(crate) fn tick(&mut self, datagrams: u64, bytes: u64) -> bool {
        // Totals fall when peers are removed: count such a tick as quiet.
        let d = datagrams.saturating_sub(self.datagrams);
        let b = bytes.saturating_sub(self.bytes);
        (self.datagrams, self.bytes) = (datagrams, bytes);
        if d >= BULK_DATAGRAMS_PER_TICK && b >= d * BULK_MEAN_BYTES {
            self.on = true;
            self.quiet = 0;
        } else if self.on {
            self.quiet += 1;
            self.on = self.quiet < QUIET_TICKS;
        }
        self.on
    }
}

/// Turns the lanes on and off. Driven by the timer thread; nothing on the data path.
pub(crate) struct LaneControl {
    workers: usize,
    lanes: usize,
    /// A duplicate of one of the TUN's queue descriptors.
    tun: Option<OwnedFd>,
    /// The TUN program, loaded the first time the lane turns on.
    tun_program: Option<OwnedFd>,
    /// Loading it failed (no `CAP_BPF`): the TUN is not steered.
    tun_refused: bool,
    bulk: BulkDetector,
    on: bool,
}

impl LaneControl {
    /// The control of a device with `workers` workers, if it has lanes.
    pub(crate) fn new(workers: usize, tun: Option<OwnedFd>) -> Option<LaneControl> {
        let lanes = lanes(workers);
        if lanes == 0 {
            return None;
        }
        Some(LaneControl {
            workers,
            lanes,
            tun,
            tun_program: None,
            tun_refused: false,
            bulk: BulkDetector::default(),
            on: false,
        })
    }

    /// Once per timer tick, with the device's totals, its sockets (`renewed` when they were
    /// just replaced) and the lane workers' thread ids (0 for one that does not run yet).
    pub(crate) fn tick(&mut self, datagrams: u64, bytes: u64, sockets: &Sockets, renewed: bool, tids: &[AtomicI32]) {
        let on = self.bulk.tick(datagrams, bytes);
        let lanes = if on { self.lanes } else { 0 };
        if on != self.on {
            self.on = on;
            self.steer_tun();
            let _ = steer_udp(sockets, lanes);
            for tid in tids.iter().map(|t| t.load(Ordering::Relaxed)).filter(|&t| t != 0) {
                let _ = set_slice(tid, if on { LANE_SLICE_NS } else { 0 });
            }
        } else if on && renewed {
            let _ = steer_udp(sockets, lanes);
        }
    }

    fn steer_tun(&mut self) {
        let Some(tun) = &self.tun else { return };
        if self.on && self.tun_program.is_none() && !self.tun_refused {
            match tun_steering(self.workers, self.lanes) {
                Ok(p) => self.tun_program = Some(p),
                Err(_) => self.tun_refused = true,
            }
        }
        if let Some(p) = &self.tun_program {
            let _ = steer_tun(tun.as_raw_fd(), self.on.then_some(p));
        }
    }

    /// Whether the lane is on.
    #[cfg(test)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tun::Tun;
    use std::net::{IpAddr, UdpSocket};

    fn sh(cmd: &str) {
        let st = std::process::Command::new("sh").args(["-c", cmd]).status().unwrap();
        assert!(st.success(), "{cmd}");
    }

    /// Runs `f` on a thread of its own in a new network namespace with `lo` up. The namespace
    /// goes away with the thread and its descriptors, whatever `f` does.
    fn in_new_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let t = std::thread::spawn(move || {
            // SAFETY: moves only this thread (and the processes it starts) to a new namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare (needs root)");
            sh("ip link set lo up");
            f()
        });
        t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// Which of the workers' sockets (of one family) holds a datagram now; drains them all.
    fn receivers(socks: &Sockets, v6: bool) -> Vec<usize> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for (i, p) in socks.pairs.iter().enumerate() {
            let fd = if v6 {
                p.v6.as_ref().unwrap().as_raw_fd()
            } else {
                p.v4.as_raw_fd()
            };
            // SAFETY: reading into a local buffer of the size passed.
            while unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) } > 0 {
                got.push(i);
            }
        }
        got
    }

    fn message(kind: u8, len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[0] = kind;
        m
    }

    fn clients(v6: bool) -> Vec<UdpSocket> {
        let any = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
        (0..48).map(|_| UdpSocket::bind(any).unwrap()).collect()
    }

    fn to(socks: &Sockets, v6: bool) -> (&'static str, u16) {
        (if v6 { "::1" } else { "127.0.0.1" }, socks.port)
    }

    /// The sockets that small data messages from 48 sources reached.
    fn small_receivers(socks: &Sockets, v6: bool) -> [bool; 3] {
        let mut used = [false; 3];
        for c in clients(v6) {
            c.send_to(&message(4, 96), to(socks, v6)).unwrap();
            let got = receivers(socks, v6);
            assert_eq!(got.len(), 1);
            used[got[0]] = true;
        }
        used
    }

    fn check_udp_steering(socks: &Sockets, v6: bool) {
        let mut bulk_used = [false; 3];
        let mut handshakes_used = [false; 3];
        for c in clients(v6) {
            for len in [32, 128, SMALL_DATAGRAM as usize] {
                c.send_to(&message(4, len), to(socks, v6)).unwrap();
                assert_eq!(
                    receivers(socks, v6),
                    vec![2],
                    "a {len}-byte data message takes the lane"
                );
            }
            c.send_to(&message(4, SMALL_DATAGRAM as usize + 16), to(socks, v6))
                .unwrap();
            let first = receivers(socks, v6);
            assert_eq!(first.len(), 1);
            assert_ne!(first[0], 2, "bulk never takes the lane");
            for _ in 0..3 {
                c.send_to(&message(4, 1452), to(socks, v6)).unwrap();
                assert_eq!(receivers(socks, v6), first, "one source's bulk stays on one socket");
            }
            bulk_used[first[0]] = true;
            c.send_to(&message(1, 148), to(socks, v6)).unwrap();
            let h = receivers(socks, v6);
            assert_eq!(h.len(), 1);
            handshakes_used[h[0]] = true;
        }
        assert_eq!(bulk_used, [true, true, false], "bulk spreads over the other sockets");
        assert_eq!(
            handshakes_used,
            [true, true, true],
            "handshakes spread over all sockets"
        );
    }

    #[test]
    fn small_data_messages_take_the_lane_socket_and_bulk_spreads_over_the_others() {
        in_new_netns(|| {
            let socks = Sockets::bind(0, 0, 3).unwrap();
            assert_eq!(small_receivers(&socks, false), [true, true, true], "no program yet");
            steer_udp(&socks, 1).unwrap();
            check_udp_steering(&socks, false);
            assert!(socks.pairs[0].v6.is_some(), "IPv6 on lo");
            check_udp_steering(&socks, true);
            steer_udp(&socks, 0).unwrap();
            assert_eq!(small_receivers(&socks, false), [true, true, true], "lane off");
            assert_eq!(small_receivers(&socks, true), [true, true, true], "lane off");
        });
    }

    #[test]
    fn one_lane_per_four_workers_and_none_for_one_worker() {
        assert_eq!(lanes(1), 0);
        assert!(LaneControl::new(1, None).is_none());
        let counts: Vec<usize> = [2, 3, 4, 7, 8, 12, 16, 64].into_iter().map(lanes).collect();
        assert_eq!(counts, [1, 1, 1, 1, 2, 3, 4, 16]);
    }

    /// With 8 workers (two lanes): which sockets small data messages and bulk from 48 sources
    /// reached, each source's traffic staying on one socket of its kind.
    fn check_two_lanes(socks: &Sockets, v6: bool) {
        let (mut small_used, mut bulk_used) = ([false; 8], [false; 8]);
        for c in clients(v6) {
            let mut seen = Vec::new();
            for (len, lane) in [
                (96, true),
                (SMALL_DATAGRAM as usize, true),
                (1452, false),
                (1452, false),
                (64, true),
            ] {
                c.send_to(&message(4, len), to(socks, v6)).unwrap();
                let got = receivers(socks, v6);
                assert_eq!(got.len(), 1);
                assert_eq!(got[0] >= 6, lane, "a {len}-byte data message on socket {}", got[0]);
                seen.push(got[0]);
                if lane {
                    small_used[got[0]] = true;
                } else {
                    bulk_used[got[0]] = true;
                }
            }
            assert!(
                seen[0] == seen[1] && seen[1] == seen[4],
                "one source, one lane: {seen:?}"
            );
            assert_eq!(seen[2], seen[3], "one source, one bulk socket");
        }
        assert_eq!(small_used, [false, false, false, false, false, false, true, true]);
        assert_eq!(bulk_used, [true, true, true, true, true, true, false, false]);
    }

    #[test]
    fn eight_workers_spread_small_data_messages_over_two_lanes() {
        in_new_netns(|| {
            let socks = Sockets::bind(0, 0, 8).unwrap();
            let mut lane = LaneControl::new(8, None).unwrap();
            lane.tick(100_000, 100_000 * 1452, &socks, false, &[]);
            assert!(lane.is_on());
            check_two_lanes(&socks, false);
            check_two_lanes(&socks, true);
        });
    }

    /// Flows from 48 unconnected UDP sockets (no socket hash: the program hashes addresses and
    /// ports) through an 8-queue TUN with two lanes: each flow's small packets keep one lane, its
    /// large ones one bulk queue, and the flows spread over all of them.
    fn check_tun_flows(tun: &Tun, local: &str, dst: IpAddr) {
        let (mut small_used, mut bulk_used) = ([false; 8], [false; 8]);
        let to = std::net::SocketAddr::new(dst, 9);
        for _ in 0..48 {
            let s = UdpSocket::bind(local).unwrap();
            let mut queues = Vec::new();
            for payload in [20, 1000, 150, 1000] {
                s.send_to(&vec![0u8; payload], to).unwrap();
                let got = tun_reads_to(tun, dst);
                assert_eq!(got.len(), 1, "{got:?}");
                queues.push(got[0].0);
            }
            assert!(
                queues[0] >= 6 && queues[0] == queues[2],
                "small on one lane: {queues:?}"
            );
            assert!(
                queues[1] < 6 && queues[1] == queues[3],
                "large on one bulk queue: {queues:?}"
            );
            small_used[queues[0]] = true;
            bulk_used[queues[1]] = true;
        }
        assert_eq!(
            small_used,
            [false, false, false, false, false, false, true, true],
            "{dst}"
        );
        assert_eq!(bulk_used, [true, true, true, true, true, true, false, false], "{dst}");
    }

    /// An 8-queue TUN named `name`, set up by `ip` commands `setup`, steered with two lanes (the
    /// program goes with it).
    fn tun_with_two_lanes(name: &str, setup: &str) -> (Tun, OwnedFd) {
        let tun = Tun::create(name, 8).unwrap();
        sh(setup);
        let program = tun_steering(8, 2).unwrap();
        steer_tun(tun.fd(0), Some(&program)).unwrap();
        (tun, program)
    }

    /// Datagrams larger than the TUN's MTU from 24 sockets: every fragment of one datagram
    /// reaches the same bulk queue (a fragment carries no ports; the first one's would differ).
    #[test]
    fn the_fragments_of_a_datagram_keep_one_queue() {
        in_new_netns(|| {
            let (tun, _program) = tun_with_two_lanes(
                "wglanef",
                "ip addr add 10.203.0.1/24 dev wglanef && ip link set wglanef mtu 1400 up",
            );
            let mut used = [false; 8];
            for _ in 0..24 {
                let s = UdpSocket::bind("10.203.0.1:0").unwrap();
                s.send_to(&[0u8; 3000], "10.203.0.2:9").unwrap();
                let got = tun_reads(&tun, [10, 203, 0, 2]);
                assert_eq!(got.len(), 3, "three fragments: {got:?}");
                assert!(got.iter().all(|&(q, _)| q == got[0].0 && q < 6), "{got:?}");
                used[got[0].0] = true;
            }
            // Addresses only: one pair of hosts, one queue.
            assert_eq!(used.iter().filter(|&&u| u).count(), 1, "{used:?}");
        });
    }

    #[test]
    fn eight_tun_queues_spread_small_flows_over_two_lanes() {
        in_new_netns(|| {
            let (tun, _program) = tun_with_two_lanes(
                "wglane8",
                "ip addr add 10.202.0.1/24 dev wglane8 && ip -6 addr add fd00:202::1/64 dev wglane8 nodad \
                 && ip link set wglane8 up",
            );
            check_tun_flows(&tun, "10.202.0.1:0", "10.202.0.2".parse().unwrap());
            check_tun_flows(&tun, "[fd00:202::1]:0", "fd00:202::2".parse().unwrap());
        });
    }

    /// The queue each IPv4 packet to `dst` waiting on the TUN was read from, with its length.
    fn tun_reads(tun: &Tun, dst: [u8; 4]) -> Vec<(usize, usize)> {
        tun_reads_to(tun, IpAddr::from(dst))
    }

    /// The queue each packet to `dst` waiting on the TUN was read from, with its length.
    fn tun_reads_to(tun: &Tun, dst: IpAddr) -> Vec<(usize, usize)> {
        let skip = if tun.vnet_hdr { 10 } else { 0 };
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        for q in 0..tun.queues.len() {
            loop {
                // SAFETY: reading into a local buffer of the size passed.
                let n = unsafe { libc::read(tun.fd(q), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                let p = &buf[skip..n as usize];
                match dst {
                    IpAddr::V4(d) if p[0] >> 4 == 4 && p[16..20] == d.octets() => {
                        got.push((q, u16::from_be_bytes([p[2], p[3]]) as usize));
                    }
                    IpAddr::V6(d) if p[0] >> 4 == 6 && p[24..40] == d.octets() => {
                        got.push((q, 40 + u16::from_be_bytes([p[4], p[5]]) as usize));
                    }
                    _ => {}
                }
            }
        }
        got
    }

    const TUN_DST: [u8; 4] = [10, 201, 0, 2];

    /// A 3-queue TUN at 10.201.0.1/24 and a socket sending through it.
    fn tun_with_socket() -> (Tun, UdpSocket) {
        let tun = Tun::create("wglane", 3).unwrap();
        sh("ip addr add 10.201.0.1/24 dev wglane && ip link set wglane up");
        (tun, UdpSocket::bind("10.201.0.1:0").unwrap())
    }

    /// The queues that small packets from 24 sources reached.
    fn small_tun_queues(tun: &Tun) -> Vec<usize> {
        let mut queues: Vec<usize> = (0..24)
            .map(|_| {
                let s = UdpSocket::bind("10.201.0.1:0").unwrap();
                s.send_to(&[0u8; 40], "10.201.0.2:9").unwrap();
                let got = tun_reads(tun, TUN_DST);
                assert_eq!(got.len(), 1, "{got:?}");
                got[0].0
            })
            .collect();
        queues.sort();
        queues.dedup();
        queues
    }

    #[test]
    fn the_tun_sends_small_packets_to_the_lane_queue() {
        in_new_netns(|| {
            let (tun, s) = tun_with_socket();
            let program = tun_steering(3, 1).unwrap();
            steer_tun(tun.fd(0), Some(&program)).unwrap();
            for (payload, lane_expected) in [(20, true), (228, true), (229, false), (1000, false)] {
                s.send_to(&vec![0u8; payload], "10.201.0.2:9").unwrap();
                let got = tun_reads(&tun, TUN_DST);
                assert_eq!(got.len(), 1, "{got:?}");
                let (queue, len) = got[0];
                assert_eq!(len, payload + 28);
                assert_eq!(queue == 2, lane_expected, "{len}-byte packet on queue {queue}");
            }
            assert_eq!(small_tun_queues(&tun), vec![2]);
            steer_tun(tun.fd(0), None).unwrap();
            assert!(small_tun_queues(&tun).len() > 1, "the kernel's choice again");
        });
    }

    #[test]
    fn bulk_turns_the_lane_on_and_quiet_ticks_turn_it_off() {
        let mut d = BulkDetector::default();
        let (mut dg, mut by) = (0u64, 0u64);
        let mut tick = |d: &mut BulkDetector, n: u64, size: u64| {
            dg += n;
            by += n * size;
            d.tick(dg, by)
        };
        assert!(!tick(&mut d, 40, 128), "pings");
        assert!(
            !tick(&mut d, 20_000, 120),
            "a flood of small packets keeps every worker"
        );
        assert!(!tick(&mut d, BULK_DATAGRAMS_PER_TICK - 1, 1452), "below the rate");
        assert!(tick(&mut d, BULK_DATAGRAMS_PER_TICK, 1452), "bulk");
        // ACKs one way, segments the other: the mean decides.
        assert!(tick(&mut d, 30_000, 760));
        for _ in 0..QUIET_TICKS - 1 {
            assert!(tick(&mut d, 10, 128), "kept through short pauses");
        }
        assert!(!tick(&mut d, 10, 128), "off once quiet");
        assert!(tick(&mut d, 50_000, 1452));
        // Totals that fall (peers removed) count as quiet, not as a huge tick.
        assert!(d.tick(0, 0));
    }

    /// The slice the control sets is checked end to end in `crate/tests/device_wgkit.rs`.
    #[test]
    fn the_control_steers_both_sides_while_bulk_flows() {
        in_new_netns(|| {
            let (tun, _s) = tun_with_socket();
            let socks = Sockets::bind(0, 0, 3).unwrap();
            let mut lane = LaneControl::new(3, Some(tun.queues[0].try_clone().unwrap())).unwrap();
            let (mut dg, mut by) = (0u64, 0u64);
            let mut tick = |lane: &mut LaneControl, n: u64, socks: &Sockets, renewed: bool| {
                dg += n;
                by += n * 1452;
                lane.tick(dg, by, socks, renewed, &[]);
            };
            tick(&mut lane, 10, &socks, false);
            assert!(!lane.is_on());
            assert!(small_tun_queues(&tun).len() > 1);
            assert_eq!(small_receivers(&socks, false), [true, true, true]);
            tick(&mut lane, 100_000, &socks, false);
            assert!(lane.is_on());
            assert_eq!(small_tun_queues(&tun), vec![2]);
            assert_eq!(small_receivers(&socks, false), [false, false, true]);
            assert_eq!(small_receivers(&socks, true), [false, false, true]);
            // New sockets (a port change) while the lane is on are steered at the next tick.
            let renewed = Sockets::bind(0, 0, 3).unwrap();
            tick(&mut lane, 100_000, &renewed, true);
            assert_eq!(small_receivers(&renewed, false), [false, false, true]);
            for _ in 0..QUIET_TICKS {
                tick(&mut lane, 0, &renewed, false);
            }
            assert!(!lane.is_on());
            assert_eq!(small_receivers(&renewed, false), [true, true, true]);
            assert!(small_tun_queues(&tun).len() > 1);
        });
    }
}
