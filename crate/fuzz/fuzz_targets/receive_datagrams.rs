//! The receive path of a real device (the netstack kind: no TUN, no privilege): arbitrary
//! datagrams sent to its UDP port over loopback by a peer it knows and has a session with.
//! The input is a list of records `kind, len (u16 LE), bytes`; by kind, the bytes are sent
//! as they are, or as the inner packet of a valid data message (addresses fitted to the
//! tunnel so the stack sees them), or corrupted after encryption, or a fresh handshake
//! initiation (whole or truncated) from the peer or from a stranger, or a replay, or a
//! typed message header with arbitrary rest; a sync record pings through the tunnel and
//! waits for the answer. Any panic in the device's threads aborts the process (libFuzzer's
//! hook), so it is found even though the device would report it as an error event.
#![no_main]

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use libfuzzer_sys::fuzz_target;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use wgkit::device::{Device, DeviceOptions, NetstackOptions};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

const DEVICE_V4: [u8; 4] = [10, 77, 0, 1];
const PEER_V4: [u8; 4] = [10, 77, 0, 2];
const DEVICE_V6: [u8; 16] = [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const PEER_V6: [u8; 16] = [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

struct Rig {
    dev: Device,
    sock: UdpSocket,
    to: SocketAddr,
    peer: Tunn,
    stranger: Tunn,
    last: Vec<u8>,
    buf: Vec<u8>,
}

fn tunn(private: &Key, to: &Key, index: u32) -> Tunn {
    Tunn::new(
        StaticSecret::from(*private.as_bytes()),
        PublicKey::from(*to.public_key().as_bytes()),
        None,
        None,
        index,
        None,
    )
}

fn rig() -> &'static Mutex<Rig> {
    static RIG: OnceLock<Mutex<Rig>> = OnceLock::new();
    RIG.get_or_init(|| {
        let (dev, net) = Device::create_netstack(
            "wgfzrx",
            DeviceOptions::default(),
            NetstackOptions {
                addresses: vec![(DEVICE_V4.into(), 24), (DEVICE_V6.into(), 64)],
                ..Default::default()
            },
        )
        .expect("create a netstack device");
        std::mem::forget(net);
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the peer's socket");
        sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let device_key = Key::from_bytes([0x41; 32]);
        let peer_key = Key::from_bytes([0x42; 32]);
        let mut p = PeerConfig::new(peer_key.public_key());
        p.endpoint = Some(sock.local_addr().unwrap());
        p.allowed_ips = ["10.77.0.2/32", "fd77::2/128"]
            .iter()
            .map(|s| AllowedIpChange {
                ip: AllowedIp::parse(s).unwrap(),
                remove: false,
            })
            .collect();
        dev.apply(DeviceConfig {
            private_key: Some(device_key.clone()),
            peers: vec![p],
            ..Default::default()
        })
        .expect("configure the device");
        let to = SocketAddr::new("127.0.0.1".parse().unwrap(), dev.snapshot().listen_port);
        let mut rig = Rig {
            dev,
            sock,
            to,
            peer: tunn(&peer_key, &device_key, 1),
            stranger: tunn(&Key::from_bytes([0x43; 32]), &device_key, 2),
            last: Vec::new(),
            buf: vec![0u8; 70000],
        };
        rig.handshake();
        Mutex::new(rig)
    })
}

impl Rig {
    fn send(&mut self, datagram: &[u8]) {
        self.last = datagram.to_vec();
        let _ = self.sock.send_to(datagram, self.to);
    }

    /// Our side of the exchange for one received datagram; true for a packet from the tunnel.
    fn take(&mut self, datagram: &[u8]) -> bool {
        let mut out = vec![0u8; 70000];
        let mut input = datagram.to_vec();
        loop {
            match self.peer.decapsulate(None, &input, &mut out) {
                TunnResult::WriteToNetwork(reply) => {
                    let reply = reply.to_vec();
                    let _ = self.sock.send_to(&reply, self.to);
                    input.clear();
                }
                TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => return true,
                TunnResult::Done | TunnResult::Err(_) => return false,
            }
        }
    }

    /// Handles whatever the device sent, waiting up to `wait` for a tunnelled packet.
    fn drain(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut buf = std::mem::take(&mut self.buf);
        let mut got = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = if got || left.is_zero() {
                Duration::from_millis(1)
            } else {
                left
            };
            self.sock.set_read_timeout(Some(timeout)).unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => got |= self.take(&buf[..n]),
                Err(_) => break,
            }
        }
        self.buf = buf;
        got
    }

    fn timers(&mut self) {
        let mut out = vec![0u8; 2048];
        if let TunnResult::WriteToNetwork(d) = self.peer.update_timers(&mut out) {
            let d = d.to_vec();
            let _ = self.sock.send_to(&d, self.to);
        }
    }

    fn handshake(&mut self) {
        for _ in 0..20 {
            let mut out = vec![0u8; 2048];
            if let TunnResult::WriteToNetwork(d) = self.peer.format_handshake_initiation(&mut out, true) {
                let d = d.to_vec();
                self.send(&d);
            }
            if self.ping(Duration::from_millis(500)) {
                return;
            }
        }
        panic!("no session with the device");
    }

    /// Encrypts `inner` for the device; `None` without a session.
    fn seal(&mut self, inner: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; inner.len() + 64];
        match self.peer.encapsulate(inner, &mut out) {
            TunnResult::WriteToNetwork(d) => Some(d.to_vec()),
            _ => None,
        }
    }

    /// An ICMP echo through the tunnel; true when the answer came back.
    fn ping(&mut self, wait: Duration) -> bool {
        let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0];
        p.extend(PEER_V4);
        p.extend(DEVICE_V4);
        p.extend([8, 0, 0, 0, 0x12, 0x34, 0, 1]);
        fit_addresses(&mut p);
        match self.seal(&p) {
            Some(d) => {
                self.send(&d);
                self.drain(wait)
            }
            None => {
                self.drain(Duration::from_millis(50));
                false
            }
        }
    }
}

fn checksum(data: &[u8], mut acc: u32) -> u16 {
    for c in data.chunks(2) {
        acc += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Makes an IP packet come from the peer's tunnel address to the device's, with a valid IPv4
/// header checksum and ICMP checksum, so the stack gets past its first checks.
fn fit_addresses(p: &mut [u8]) {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            p[12..16].copy_from_slice(&PEER_V4);
            p[16..20].copy_from_slice(&DEVICE_V4);
            let ihl = ((p[0] & 0xf) as usize * 4).clamp(20, p.len());
            p[10..12].fill(0);
            let c = checksum(&p[..ihl], 0);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            if p[9] == 1 && p.len() >= ihl + 4 {
                p[ihl + 2..ihl + 4].fill(0);
                let c = checksum(&p[ihl..], 0);
                p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
            }
        }
        Some(6) if p.len() >= 40 => {
            p[8..24].copy_from_slice(&PEER_V6);
            p[24..40].copy_from_slice(&DEVICE_V6);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rig = rig().lock().unwrap_or_else(|e| e.into_inner());
    rig.timers();
    let mut rest = data;
    let mut records = 0;
    while rest.len() >= 3 && records < 32 {
        records += 1;
        let kind = rest[0];
        let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let body = rest[3..3 + len].to_vec();
        rest = &rest[3 + len..];
        let mut out = vec![0u8; 2048];
        match kind % 8 {
            0 => rig.send(&body),
            1 | 2 => {
                let mut inner = body.clone();
                fit_addresses(&mut inner);
                if let Some(mut d) = rig.seal(&inner) {
                    if kind % 8 == 2 {
                        let at = *body.first().unwrap_or(&0) as usize % d.len();
                        d[at] ^= 1 << (kind >> 5);
                    }
                    rig.send(&d);
                }
            }
            3 | 4 => {
                let first = if kind % 8 == 3 {
                    rig.peer.format_handshake_initiation(&mut out, true)
                } else {
                    rig.stranger.format_handshake_initiation(&mut out, true)
                };
                if let TunnResult::WriteToNetwork(d) = first {
                    let mut d = d.to_vec();
                    if let Some(&cut) = body.first() {
                        d.truncate(cut as usize);
                    }
                    rig.send(&d);
                }
            }
            5 => {
                let last = rig.last.clone();
                rig.send(&last);
            }
            6 => {
                let mut d = vec![body.first().map_or(1, |b| b % 5), 0, 0, 0];
                d.extend(body.get(1..).unwrap_or(&[]));
                rig.send(&d);
            }
            _ => {
                rig.ping(Duration::from_millis(200));
            }
        }
    }
    rig.drain(Duration::ZERO);
    // The device still answers; if a record broke the session (a new handshake), make one.
    if !rig.ping(Duration::from_millis(300)) {
        rig.handshake();
    }
    assert!(!rig.dev.snapshot().peers.is_empty());
});
