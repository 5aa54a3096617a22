//! smoltcp's view of the link: an IP-medium device whose received packets are the decrypted
//! ones the workers queued and whose transmitted packets go to the workers to encrypt.

use super::link::Link;
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Packets queued towards the workers past which the stack stops sending for this poll.
pub(crate) const BURST: usize = 256;

pub(crate) struct Phy {
    pub(crate) link: Arc<Link>,
    pub(crate) mtu: Arc<AtomicUsize>,
    /// Packets the stack sent that the workers' queue had no room for.
    pub(crate) dropped: u64,
}

pub(crate) struct Rx(Vec<u8>, Arc<Link>);
pub(crate) struct Tx<'a>(&'a mut Phy);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        self.1.recycle(self.0);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = self.0.link.buffer(len);
        let r = f(&mut b);
        if !self.0.link.send(b) {
            self.0.dropped += 1;
        }
        r
    }
}

impl phy::Device for Phy {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.link.receive()?;
        // Replies (ACKs) always go out: a full queue drops them in `send`.
        Some((Rx(p, self.link.clone()), Tx(self)))
    }

    /// Nothing more to send this poll while the workers have [`BURST`] packets to take:
    /// the stack's sockets keep the rest, so a large window leaves in bursts the path can
    /// carry instead of all at once (a peer slower than this side drops a whole window's
    /// burst, and without SACK each loss costs a round of recovery).
    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        if self.link.outbound_len() >= BURST {
            return None;
        }
        Some(Tx(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu.load(Ordering::Relaxed);
        // Everything received was authenticated by the AEAD: an inner checksum adds nothing
        // (the kernel's WireGuard marks decrypted packets CHECKSUM_UNNECESSARY too). Sent
        // packets carry correct checksums, for peers whose stacks verify them.
        let mut sums = ChecksumCapabilities::default();
        sums.ipv4 = Checksum::Tx;
        sums.tcp = Checksum::Tx;
        sums.udp = Checksum::Tx;
        sums.icmpv4 = Checksum::Tx;
        sums.icmpv6 = Checksum::Tx;
        caps.checksum = sums;
        caps
    }
}
