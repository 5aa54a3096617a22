//! The link between the device's workers and its TCP/IP stack: two bounded packet queues.
//! Outbound (stack → workers, to encrypt) sets a waker (`waker.rs`) that every worker's poller
//! watches, as it would a TUN queue; inbound (decrypted, workers → stack) wakes the stack's
//! thread. Packet buffers are recycled, so a steady flow allocates nothing.

use crate::device::batch::{Batch, SLOT};
use crate::device::waker::Waker;
use crate::error::Result;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;

/// Packets each queue holds at most; more are dropped (as a full TUN queue drops them).
pub(crate) const QUEUE_PACKETS: usize = 4096;
/// Recycled buffers kept for reuse.
const POOL_BUFFERS: usize = 1024;

pub(crate) struct Link {
    outbound: Mutex<VecDeque<Vec<u8>>>,
    /// Set while `outbound` has packets.
    ready: Waker,
    inbound: Mutex<VecDeque<Vec<u8>>>,
    /// The stack's thread waits here for inbound packets and for its sockets' users.
    pub(crate) wake: Wake,
    pool: Mutex<Vec<Vec<u8>>>,
}

/// A flag and a condition variable: [`Wake::notify`] never blocks and is never lost.
#[derive(Default)]
pub(crate) struct Wake {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    pub(crate) fn notify(&self) {
        let mut p = self.pending.lock();
        if !*p {
            *p = true;
            self.cv.notify_one();
        }
    }

    /// Waits until notified or `timeout` passes (`None`: no limit); consumes the notification.
    pub(crate) fn wait(&self, timeout: Option<std::time::Duration>) {
        let mut p = self.pending.lock();
        if !*p {
            match timeout {
                Some(t) => {
                    self.cv.wait_for(&mut p, t);
                }
                None => self.cv.wait(&mut p),
            }
        }
        *p = false;
    }
}

impl Link {
    pub(crate) fn new() -> Result<Link> {
        Ok(Link {
            outbound: Mutex::new(VecDeque::new()),
            ready: Waker::new()?,
            inbound: Mutex::new(VecDeque::new()),
            wake: Wake::default(),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Set while there are packets for the workers.
    pub(crate) fn ready(&self) -> &Waker {
        &self.ready
    }

    fn signal(&self) {
        self.ready.wake();
    }

    fn unsignal(&self) {
        self.ready.reset();
    }

    /// A buffer of `len` bytes (contents unspecified), recycled when possible.
    pub(crate) fn buffer(&self, len: usize) -> Vec<u8> {
        let mut b = self.pool.lock().pop().unwrap_or_default();
        b.resize(len, 0);
        b
    }

    pub(crate) fn recycle(&self, b: Vec<u8>) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL_BUFFERS {
            pool.push(b);
        }
    }

    /// Stack side: queues a packet for the workers. `false` when the queue is full (dropped).
    pub(crate) fn send(&self, packet: Vec<u8>) -> bool {
        let mut q = self.outbound.lock();
        if q.len() >= QUEUE_PACKETS {
            drop(q);
            self.recycle(packet);
            return false;
        }
        let was_empty = q.is_empty();
        q.push_back(packet);
        drop(q);
        if was_empty {
            self.signal();
        }
        true
    }

    /// Stack side: packets queued for the workers and not yet taken.
    pub(crate) fn outbound_len(&self) -> usize {
        self.outbound.lock().len()
    }

    /// Stack side: the next decrypted packet, if any.
    pub(crate) fn receive(&self) -> Option<Vec<u8>> {
        self.inbound.lock().pop_front()
    }

    /// Worker side: moves up to a batch of the stack's packets into the emptied batch.
    pub(crate) fn take_outbound(&self, batch: &mut Batch) -> usize {
        batch.clear();
        self.unsignal();
        let mut q = self.outbound.lock();
        let held_back = q.len() >= super::phy::BURST;
        while !batch.is_full() {
            let Some(p) = q.pop_front() else { break };
            // Room for padding and the data header stays behind the packet (as with a TUN).
            if p.len() <= SLOT - 64 {
                batch.next_slot()[..p.len()].copy_from_slice(&p);
                batch.commit(p.len(), None);
            }
            self.recycle(p);
        }
        let more = !q.is_empty();
        drop(q);
        if more {
            self.signal();
        }
        // The stack stopped sending at a full burst: it may go on now.
        if held_back {
            self.wake.notify();
        }
        batch.len()
    }

    /// Worker side: hands every packet of the batch to the stack; returns (delivered,
    /// dropped because the stack's queue is full).
    pub(crate) fn deliver(&self, batch: &mut Batch) -> (usize, usize) {
        let n = batch.len();
        if n == 0 {
            return (0, 0);
        }
        let bufs: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let p = batch.packet(i);
                let mut b = self.buffer(p.len());
                b.copy_from_slice(p);
                b
            })
            .collect();
        batch.clear();
        let mut q = self.inbound.lock();
        let room = QUEUE_PACKETS.saturating_sub(q.len()).min(n);
        let mut rest = bufs.into_iter();
        q.extend(rest.by_ref().take(room));
        drop(q);
        let dropped = n - room;
        for b in rest {
            self.recycle(b);
        }
        self.wake.notify();
        (room, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_cross_the_link_in_order_and_the_ready_signal_follows_the_queue() {
        let link = Link::new().unwrap();
        let readable = |l: &Link| l.ready().is_set();
        assert!(!readable(&link));
        for i in 0..100u8 {
            assert!(link.send(vec![i; 40 + i as usize]));
        }
        assert!(readable(&link));
        let mut batch = Batch::new(64);
        assert_eq!(link.take_outbound(&mut batch), 64);
        assert!(readable(&link), "36 packets are still queued");
        assert_eq!(batch.packet(0), &[0u8; 40][..]);
        assert_eq!(batch.packet(63), &[63u8; 103][..]);
        assert_eq!(link.take_outbound(&mut batch), 36);
        assert_eq!(batch.packet(0), &[64u8; 104][..]);
        assert!(!readable(&link));

        let (ok, dropped) = link.deliver(&mut batch);
        assert_eq!((ok, dropped), (36, 0));
        assert_eq!(link.receive().unwrap(), vec![64u8; 104]);
    }

    #[test]
    fn a_full_queue_drops_instead_of_growing() {
        let link = Link::new().unwrap();
        for _ in 0..QUEUE_PACKETS {
            assert!(link.send(vec![1; 20]));
        }
        assert!(!link.send(vec![1; 20]));
        let mut batch = Batch::new(8);
        for i in 0..8 {
            batch.push(&[i; 20], None);
        }
        for _ in 0..QUEUE_PACKETS / 8 {
            let mut b = Batch::new(8);
            for i in 0..8 {
                b.push(&[i; 20], None);
            }
            assert_eq!(link.deliver(&mut b), (8, 0));
        }
        assert_eq!(link.deliver(&mut batch), (0, 8));
    }
}
