//! The proxy's counters per listener kind: connections accepted, open, refused at the limit,
//! failed to reach their target, and bytes each way. `/metrics` shows them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The kinds of listener, in the order the metrics list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Socks5,
    Http,
    LocalTcp,
    LocalUdp,
    RemoteTcp,
    Stdio,
}

impl Listener {
    pub(crate) const ALL: [Listener; 6] = [
        Listener::Socks5,
        Listener::Http,
        Listener::LocalTcp,
        Listener::LocalUdp,
        Listener::RemoteTcp,
        Listener::Stdio,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Listener::Socks5 => "socks5",
            Listener::Http => "http",
            Listener::LocalTcp => "local-tcp",
            Listener::LocalUdp => "local-udp",
            Listener::RemoteTcp => "remote-tcp",
            Listener::Stdio => "stdio",
        }
    }
}

#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct Gauge(AtomicI64);

impl Gauge {
    pub(crate) fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub(crate) struct ListenerCounters {
    pub(crate) accepted: Counter,
    pub(crate) active: Gauge,
    pub(crate) rejected: Counter,
    pub(crate) failed: Counter,
    /// Bytes from the host side into the tunnel.
    pub(crate) to_tunnel: Counter,
    /// Bytes from the tunnel to the host side.
    pub(crate) from_tunnel: Counter,
}

#[derive(Default)]
pub(crate) struct Counters {
    per: [ListenerCounters; 6],
}

impl Counters {
    pub(crate) fn get(&self, l: Listener) -> &ListenerCounters {
        &self.per[l as usize]
    }
}
