//! Every platform but Linux: no latency lanes. They steer packets with BPF programs on the
//! TUN queues and on an SO_REUSEPORT group, which only Linux has; here every worker takes
//! every kind of packet.

use super::tun::LaneQueue;
use super::udp::Sockets;
use std::sync::atomic::AtomicI32;

/// No worker is a lane.
pub(crate) fn lanes(_workers: usize) -> usize {
    0
}

/// Thread ids matter only to the lanes' scheduling.
pub(crate) fn current_tid() -> i32 {
    0
}

/// The lanes' control (never made here: [`LaneControl::new`] finds no lanes).
pub(crate) enum LaneControl {}

impl LaneControl {
    pub(crate) fn new(workers: usize, _tun: Option<LaneQueue>) -> Option<LaneControl> {
        debug_assert_eq!(lanes(workers), 0);
        None
    }

    pub(crate) fn tick(&mut self, _: u64, _: u64, _: &Sockets, _: bool, _: &[AtomicI32]) {
        match *self {}
    }
}
