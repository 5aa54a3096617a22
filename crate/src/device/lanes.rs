//! The latency lane: small packets skip the queues that bulk traffic fills.
//!
//! Under load, a tunnel's queues are the TUN queue that the sending TCP stack fills (its skbs
//! are orphaned there, so TCP Small Queues do not bound it) and the receiving UDP socket, where
//! the peer's super-packets wait for decryption. A ping, a TCP ACK or a keystroke that shares
//! them waits behind megabytes. With two workers or more, the device keeps its last worker for
//! small packets:
//! - the TUN gets a steering program (`TUNSETSTEERINGEBPF`): a packet of at most
//!   [`SMALL_INNER`] bytes goes to the lane's queue, a larger one to `hash % (workers - 1)`;
//! - the UDP sockets' reuseport group gets a classic BPF program (`SO_ATTACH_REUSEPORT_CBPF`):
//!   a WireGuard data message of at most [`SMALL_DATAGRAM`] bytes goes to the lane's socket, a
//!   larger one to `hash(source) % (workers - 1)`, anything else (handshakes, cookies) to the
//!   kernel's own choice among all sockets;
//! - while the device is busy, the lane's worker has a short time slice, so that waking it
//!   preempts a bulk thread at once instead of at the end of that thread's slice (kernels
//!   ≥ 6.12; [`LaneSlice`]).
//!
//! Packets of one peer then reach its receiver on two sockets, so their order can change by as
//! many packets as the bulk socket holds; the receiving window is 8,192 counters wide, about
//! the kernel's and wireguard-go's (vendored boringtun, `WGKIT.md`). Each part is best effort: the TUN program needs
//! `CAP_BPF` (or `CAP_SYS_ADMIN`) and kernel ≥ 4.16, and where one cannot be set the device
//! works as before. `WGKIT_LATENCY_LANE=0` turns the lane off.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Inner packets of at most this many bytes take the lane (ACKs with options, pings, DNS
/// queries, voice frames, keystrokes).
pub(crate) const SMALL_INNER: u32 = 256;
/// The largest data message carrying a [`SMALL_INNER`] packet: header, padded packet, tag.
pub(crate) const SMALL_DATAGRAM: u32 = 16 + SMALL_INNER + 16;
/// The time slice asked for the lane's worker (ns); the kernel's smallest.
const LANE_SLICE_NS: u64 = 100_000;
/// The environment variable that turns the lane off ("0").
const ENV: &str = "WGKIT_LATENCY_LANE";

/// The lane's worker for a device with `workers` workers, if it has one.
pub(crate) fn lane(workers: usize) -> Option<usize> {
    let on = std::env::var(ENV).map(|v| v.trim() != "0").unwrap_or(true);
    (on && workers >= 2).then(|| workers - 1)
}

// ---- TUN: an eBPF socket filter program whose return value is the queue ----

/// One eBPF instruction (`struct bpf_insn`).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    (code as u64) | (((src << 4 | dst) as u64) << 8) | ((off as u16 as u64) << 16) | ((imm as u32 as u64) << 32)
}

const BPF_LDX_MEM_W: u8 = 0x61;
const BPF_JGT_K: u8 = 0x25;
const BPF_MOV64_K: u8 = 0xb7;
const BPF_MOD32_K: u8 = 0x94;
const BPF_EXIT: u8 = 0x95;
/// Offsets in `struct __sk_buff`.
const SKB_LEN: i16 = 0;
const SKB_HASH: i16 = 68;

/// The TUN steering program for `queues` queues (at least 2), the lane being the last.
pub(crate) fn tun_program(queues: u32) -> Vec<u64> {
    // The lane's index is also the count of bulk queues before it.
    let lane = queues as i32 - 1;
    vec![
        insn(BPF_LDX_MEM_W, 0, 1, SKB_LEN, 0),
        insn(BPF_JGT_K, 0, 0, 2, SMALL_INNER as i32),
        insn(BPF_MOV64_K, 0, 0, 0, lane),
        insn(BPF_EXIT, 0, 0, 0, 0),
        insn(BPF_LDX_MEM_W, 0, 1, SKB_HASH, 0),
        insn(BPF_MOD32_K, 0, 0, 0, lane),
        insn(BPF_EXIT, 0, 0, 0, 0),
    ]
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

/// Steers the TUN's queues (any queue's descriptor) for `queues` queues.
pub(crate) fn steer_tun(queue_fd: RawFd, queues: usize) -> io::Result<()> {
    let prog = load_ebpf(&tun_program(queues as u32))?;
    let raw: libc::c_int = std::os::fd::AsRawFd::as_raw_fd(&prog);
    // SAFETY: the ioctl reads one int; the TUN keeps its own reference to the program.
    if unsafe { libc::ioctl(queue_fd, TUNSETSTEERINGEBPF, &raw) } < 0 {
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
const ALU_XOR_X: u16 = 0xac;
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

/// The reuseport program for `sockets` sockets (at least 2) of one family, the lane being the
/// last. The program sees the UDP payload; its length is the whole train for a GRO batch.
pub(crate) fn udp_program(sockets: u32, v6: bool) -> Vec<libc::sock_filter> {
    // The lane's index is also the count of bulk sockets before it.
    let lane = sockets - 1;
    let mut p = vec![
        op(LD_B_ABS, 0, 0, 0),
        op(JEQ_K, 1, 0, MESSAGE_DATA),
        // Handshakes and cookies: out of range, so the kernel picks among all sockets.
        op(RET_K, 0, 0, u32::MAX),
        op(LD_W_LEN, 0, 0, 0),
        op(JGT_K, 1, 0, SMALL_DATAGRAM),
        op(RET_K, 0, 0, lane),
    ];
    // Bulk: hash the source address and port into the first `bulk` sockets.
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
        op(ALU_MOD_K, 0, 0, lane),
        op(RET_A, 0, 0, 0),
    ]);
    p
}

/// `SO_ATTACH_REUSEPORT_CBPF`.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// Steers the reuseport group of `socket` (its `sockets` members bound in worker order).
pub(crate) fn steer_udp(socket: RawFd, sockets: usize, v6: bool) -> io::Result<()> {
    let program = udp_program(sockets as u32, v6);
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

/// The calling thread's id, for [`LaneSlice`].
pub(crate) fn current_tid() -> i32 {
    // SAFETY: plain syscall.
    unsafe { libc::gettid() }
}

/// Datagrams sent and received in one timer tick (250 ms) above which the device counts as
/// busy: 8,000 a second, far above pings, keepalives or a voice call, far below bulk traffic.
const BUSY_DATAGRAMS_PER_TICK: u64 = 2_000;
/// Quiet ticks before the default slice is restored.
const QUIET_TICKS: u32 = 4;

/// Gives the lane's worker a short slice while bulk traffic keeps the CPUs busy, so that
/// waking it preempts a bulk thread at once instead of at the end of that thread's slice, and
/// the default slice otherwise: on idle CPUs a short slice only makes the lane's worker
/// preempt the thread that woke it (the sender of a ping, say) in the middle of its work,
/// which costs an idle round trip about 50 µs on this VM. Driven by the timer thread.
pub(crate) struct LaneSlice {
    last: u64,
    short: bool,
    quiet: u32,
}

impl LaneSlice {
    pub(crate) fn new() -> LaneSlice {
        LaneSlice {
            last: 0,
            short: false,
            quiet: 0,
        }
    }

    /// Called once per tick with the lane worker's id (0 = not started) and the count of
    /// datagrams through the device so far. Best effort: kernels before 6.12 ignore the slice.
    pub(crate) fn tick(&mut self, tid: i32, datagrams: u64) {
        let busy = datagrams.wrapping_sub(self.last) >= BUSY_DATAGRAMS_PER_TICK;
        self.last = datagrams;
        if tid == 0 {
            return;
        }
        if busy {
            self.quiet = 0;
            if !self.short {
                self.short = set_slice(tid, LANE_SLICE_NS).is_ok();
            }
        } else if self.short {
            self.quiet += 1;
            if self.quiet >= QUIET_TICKS && set_slice(tid, 0).is_ok() {
                self.short = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tun::Tun;
    use crate::device::udp::Sockets;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

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

    fn check_udp_steering(socks: &Sockets, v6: bool) {
        let (local, any) = if v6 {
            ("::1", "[::1]:0")
        } else {
            ("127.0.0.1", "127.0.0.1:0")
        };
        let to = (local, socks.port);
        let clients: Vec<UdpSocket> = (0..48).map(|_| UdpSocket::bind(any).unwrap()).collect();
        let mut bulk_used = [false; 3];
        let mut handshakes_used = [false; 3];
        for c in &clients {
            for len in [32, 128, SMALL_DATAGRAM as usize] {
                c.send_to(&message(4, len), to).unwrap();
                assert_eq!(
                    receivers(socks, v6),
                    vec![2],
                    "a {len}-byte data message takes the lane"
                );
            }
            c.send_to(&message(4, SMALL_DATAGRAM as usize + 16), to).unwrap();
            let first = receivers(socks, v6);
            assert_eq!(first.len(), 1);
            assert_ne!(first[0], 2, "bulk never takes the lane");
            for _ in 0..3 {
                c.send_to(&message(4, 1452), to).unwrap();
                assert_eq!(receivers(socks, v6), first, "one source's bulk stays on one socket");
            }
            bulk_used[first[0]] = true;
            c.send_to(&message(1, 148), to).unwrap();
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
            check_udp_steering(&socks, false);
            assert!(socks.pairs[0].v6.is_some(), "IPv6 on lo");
            check_udp_steering(&socks, true);
        });
    }

    #[test]
    fn one_worker_has_no_lane() {
        assert_eq!(lane(1), None);
        assert_eq!(lane(2), Some(1));
        in_new_netns(|| {
            let socks = Sockets::bind(0, 0, 1).unwrap();
            let c = UdpSocket::bind("127.0.0.1:0").unwrap();
            c.send_to(&message(4, 64), ("127.0.0.1", socks.port)).unwrap();
            assert_eq!(receivers(&socks, false), vec![0]);
        });
    }

    /// The queue each IPv4 packet to `dst` waiting on the TUN was read from, with its length.
    fn tun_reads(tun: &Tun, dst: [u8; 4]) -> Vec<(usize, usize)> {
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
                if p[0] >> 4 == 4 && p[16..20] == dst {
                    got.push((q, u16::from_be_bytes([p[2], p[3]]) as usize));
                }
            }
        }
        got
    }

    #[test]
    fn the_tun_sends_small_packets_to_the_lane_queue() {
        in_new_netns(|| {
            let tun = Tun::create("wglane", 3).unwrap();
            sh("ip addr add 10.201.0.1/24 dev wglane && ip link set wglane up");
            let s = UdpSocket::bind("10.201.0.1:0").unwrap();
            let dst = [10, 201, 0, 2];
            for (payload, lane_expected) in [(20, true), (228, true), (229, false), (1000, false)] {
                s.send_to(&vec![0u8; payload], "10.201.0.2:9").unwrap();
                let got = tun_reads(&tun, dst);
                assert_eq!(got.len(), 1, "{got:?}");
                let (queue, len) = got[0];
                assert_eq!(len, payload + 28);
                assert_eq!(queue == 2, lane_expected, "{len}-byte packet on queue {queue}");
            }
        });
    }

    /// The slice (`sched_runtime`) of thread `tid`, or None before kernel 6.12 (no custom
    /// slices for SCHED_OTHER).
    fn slice_of(tid: i32) -> Option<u64> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut v = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|x| x.parse::<u32>().unwrap_or(0));
        if (v.next().unwrap(), v.next().unwrap()) < (6, 12) {
            return None;
        }
        let mut attr = [0u64; 7];
        // SAFETY: sched_getattr writes at most the 56 bytes passed.
        let r = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, attr.as_mut_ptr(), 56, 0) };
        assert_eq!(r, 0);
        Some(attr[3])
    }

    #[test]
    fn the_lane_worker_has_a_short_slice_only_while_the_device_is_busy() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(current_tid()).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let mut lane = LaneSlice::new();
        let mut total = 0;
        let mut tick = |lane: &mut LaneSlice, n: u64| {
            total += n;
            lane.tick(tid, total);
            slice_of(tid)
        };
        let default = slice_of(tid);
        assert_ne!(default, Some(LANE_SLICE_NS));
        // Pings and keepalives: no change.
        assert_eq!(tick(&mut lane, 40), default);
        // Bulk traffic: short.
        let short = Some(LANE_SLICE_NS).filter(|_| default.is_some());
        assert_eq!(tick(&mut lane, BUSY_DATAGRAMS_PER_TICK), short);
        for _ in 0..QUIET_TICKS - 1 {
            assert_eq!(tick(&mut lane, 10), short, "kept through short pauses");
        }
        assert_eq!(tick(&mut lane, 10), default, "back to the default when quiet");
        assert_eq!(tick(&mut lane, 5 * BUSY_DATAGRAMS_PER_TICK), short);
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
