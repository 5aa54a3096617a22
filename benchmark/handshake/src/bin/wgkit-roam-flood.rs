//! Event source for the event-delivery benchmark: a WireGuard peer (boringtun `noise::Tunn`)
//! that completes a handshake with a device, then sends authenticated keepalives as fast as it
//! can, alternating between two UDP sockets. Every keepalive comes from a new source address,
//! so the device roams its endpoint and emits one `endpointChanged` event per packet.
//!
//! Usage: wgkit-roam-flood PEER_PRIVATE_HEX DEVICE_PUBLIC_HEX TARGET_ADDR SECONDS
//! Prints one JSON object: {"sent": N, "seconds": S, "per_second": R}.
//! Traffic goes only to TARGET_ADDR (the benchmark gives a loopback address in its namespace).

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn hex32(s: &str, what: &str) -> [u8; 32] {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        fail(&format!("{what}: expected 64 hex characters"));
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).unwrap_or("");
        out[i] = u8::from_str_radix(text, 16).unwrap_or_else(|_| fail(&format!("{what}: not hex")));
    }
    out
}

fn fail(message: &str) -> ! {
    eprintln!("wgkit-roam-flood: {message}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        fail("usage: wgkit-roam-flood PEER_PRIVATE_HEX DEVICE_PUBLIC_HEX TARGET_ADDR SECONDS");
    }
    let secret = StaticSecret::from(hex32(&args[0], "peer private key"));
    let device = PublicKey::from(hex32(&args[1], "device public key"));
    let target: SocketAddr = args[2].parse().unwrap_or_else(|_| fail("TARGET_ADDR: not ip:port"));
    let seconds: f64 = args[3].parse().unwrap_or_else(|_| fail("SECONDS: not a number"));
    let local = if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
    let sockets: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind(local).unwrap_or_else(|e| fail(&format!("bind: {e}"))))
        .collect();
    sockets[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| fail(&format!("timeout: {e}")));

    let mut tunn = Tunn::new(secret, device, None, None, 1, None);
    let (mut out, mut reply, mut keepalive) = ([0u8; 256], [0u8; 256], [0u8; 256]);
    let init = match tunn.format_handshake_initiation(&mut out, false) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => fail("no handshake initiation"),
    };
    sockets[0]
        .send_to(&init, target)
        .unwrap_or_else(|e| fail(&format!("send: {e}")));
    let (n, _) = sockets[0]
        .recv_from(&mut reply)
        .unwrap_or_else(|e| fail(&format!("no handshake response: {e}")));
    match tunn.decapsulate(Some(target.ip()), &reply[..n], &mut keepalive) {
        TunnResult::WriteToNetwork(p) => {
            sockets[0]
                .send_to(p, target)
                .unwrap_or_else(|e| fail(&format!("send: {e}")));
        }
        _ => fail("the device's handshake response was refused"),
    }

    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut sent: u64 = 0;
    while start.elapsed() < deadline {
        // Check the clock every 64 packets.
        for _ in 0..64 {
            let packet = match tunn.encapsulate(&[], &mut out) {
                TunnResult::WriteToNetwork(p) => p,
                _ => fail("no session to send keepalives with"),
            };
            // Socket 1 first: the handshake's keepalive came from socket 0.
            let socket = &sockets[(sent as usize + 1) % 2];
            if socket.send_to(packet, target).is_ok() {
                sent += 1;
            }
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{{\"sent\":{sent},\"seconds\":{el:.3},\"per_second\":{:.1}}}",
        sent as f64 / el
    );
}
