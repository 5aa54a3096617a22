//! Writes the seed corpora of the fuzz targets to `corpus/<target>/` from real traffic: the
//! datagrams of real handshakes and data messages between the keys `receive_datagrams`
//! uses, a cookie reply of a device under load, the kernel's own rtnetlink dumps of this
//! machine, and full UAPI requests and replies. Run from crate/fuzz:
//! `cargo run --release --example make_seeds` (the seeds are committed; rerun to refresh).

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, Device, DeviceConfig, Peer, PeerConfig, Timespec};
use wgkit::uapi::get_writer::format_get_reply;
use wgkit::uapi::set_request::format_set_request;

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    fs::write(dir.join(name), data).expect("write a seed");
}

fn tunn(private: &Key, to: &Key, index: u32, limiter: Option<Arc<RateLimiter>>) -> Tunn {
    Tunn::new(
        StaticSecret::from(*private.as_bytes()),
        PublicKey::from(*to.public_key().as_bytes()),
        None,
        None,
        index,
        limiter,
    )
}

/// One datagram through `t`: what it answers on the network, and whether it was tunnel data.
fn feed(t: &mut Tunn, datagram: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![0u8; 2048];
    let mut replies = Vec::new();
    let mut input = datagram.to_vec();
    loop {
        match t.decapsulate(None, &input, &mut out) {
            TunnResult::WriteToNetwork(d) => {
                replies.push(d.to_vec());
                input.clear();
            }
            _ => return replies,
        }
    }
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend((body.len() as u16).to_le_bytes());
    r.extend(body);
    r
}

fn icmp_echo_v4() -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 36, 0, 1, 0, 0, 64, 1, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1];
    p.extend([
        8, 0, 0, 0, 0x12, 0x34, 0, 1, b'w', b'g', b'k', b'i', b't', b'f', b'z', b'!',
    ]);
    p
}

fn tcp_syn_v4() -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 40, 0, 2, 0x40, 0, 64, 6, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1];
    p.extend([
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    p
}

fn udp_v6() -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
    p.extend([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend([0x30, 0x39, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4]);
    p
}

fn receive_seeds() {
    let device_key = Key::from_bytes([0x41; 32]);
    let peer_key = Key::from_bytes([0x42; 32]);
    let mut peer = tunn(&peer_key, &device_key, 1, None);
    let mut device = tunn(&device_key, &peer_key, 9, None);
    let mut out = vec![0u8; 2048];
    let TunnResult::WriteToNetwork(init) = peer.format_handshake_initiation(&mut out, true) else {
        panic!("an initiation")
    };
    let init = init.to_vec();
    let response = feed(&mut device, &init).remove(0);
    let keepalive = feed(&mut peer, &response).remove(0);
    let mut data = Vec::new();
    for inner in [icmp_echo_v4(), tcp_syn_v4(), udp_v6()] {
        let mut out = vec![0u8; 2048];
        if let TunnResult::WriteToNetwork(d) = peer.encapsulate(&inner, &mut out) {
            data.push(d.to_vec());
        }
    }
    // A device under load answers an initiation with a cookie reply.
    let loaded = Arc::new(RateLimiter::new(
        &PublicKey::from(*device_key.public_key().as_bytes()),
        0,
    ));
    let mut fresh = tunn(&peer_key, &device_key, 2, None);
    let mut out2 = vec![0u8; 2048];
    let TunnResult::WriteToNetwork(init2) = fresh.format_handshake_initiation(&mut out2, true) else {
        panic!("an initiation")
    };
    let init2 = init2.to_vec();
    let mut cookie_buf = vec![0u8; 256];
    let cookie = match loaded.verify_packet(Some([127, 0, 0, 1].into()), &init2, &mut cookie_buf) {
        Err(TunnResult::WriteToNetwork(c)) => c.to_vec(),
        _ => panic!("a device under load answers with a cookie reply"),
    };

    let raw = |d: &[u8]| record(0, d);
    write("receive_datagrams", "handshake-initiation", &raw(&init));
    write("receive_datagrams", "handshake-response", &raw(&response));
    write("receive_datagrams", "keepalive", &raw(&keepalive));
    write("receive_datagrams", "cookie-reply", &raw(&cookie));
    for (i, d) in data.iter().enumerate() {
        write("receive_datagrams", &format!("data-{i}"), &raw(d));
        write(
            "receive_datagrams",
            &format!("data-{i}-truncated"),
            &raw(&d[..d.len() / 2]),
        );
    }
    write("receive_datagrams", "initiation-truncated", &raw(&init[..100]));
    let mut session = Vec::new();
    for inner in [icmp_echo_v4(), tcp_syn_v4(), udp_v6()] {
        session.extend(record(1, &inner));
    }
    session.extend(record(2, &icmp_echo_v4()));
    session.extend(record(3, &[]));
    session.extend(record(4, &[60]));
    session.extend(record(5, &[]));
    session.extend(record(6, &[4, 1, 2, 3]));
    session.extend(record(7, &[]));
    write("receive_datagrams", "every-kind", &session);
}

fn uapi_seeds() {
    let mut p = PeerConfig::new(Key::from_bytes([0xaa; 32]));
    p.preshared_key = Some(Key::from_bytes([0x11; 32]));
    p.endpoint = Some("[fe80::1%2]:51820".parse().unwrap());
    p.persistent_keepalive_interval = Some(25);
    p.replace_allowed_ips = true;
    p.allowed_ips = ["10.0.0.0/8", "fd00::/64", "192.168.1.7/32"]
        .iter()
        .enumerate()
        .map(|(i, s)| AllowedIpChange {
            ip: AllowedIp::parse(s).unwrap(),
            remove: i == 2,
        })
        .collect();
    p.protocol_version = Some(1);
    let mut gone = PeerConfig::new(Key::from_bytes([0xbb; 32]));
    gone.remove = true;
    let mut update = PeerConfig::new(Key::from_bytes([0xcc; 32]));
    update.update_only = true;
    update.endpoint = Some("192.0.2.1:1".parse().unwrap());
    let config = DeviceConfig {
        private_key: Some(Key::from_bytes([0x40; 32])),
        listen_port: Some(51820),
        fwmark: Some(0x1234),
        replace_peers: true,
        peers: vec![p, gone, update],
    };
    let text = format_set_request(&config).unwrap();
    write(
        "uapi_set",
        "full-request",
        text.strip_prefix("set=1\n").unwrap().as_bytes(),
    );
    write("uapi_set", "empty-request", b"\n");

    let mut a = Peer::new(Key::from_bytes([0xaa; 32]));
    a.preshared_key = Some(Key::from_bytes([0x11; 32]));
    a.endpoint = Some("[2001:db8::1]:51820".parse().unwrap());
    a.last_handshake = Some(Timespec {
        sec: 1700000000,
        nsec: 5,
    });
    a.rx_bytes = 20;
    a.tx_bytes = 10;
    a.persistent_keepalive_interval = 25;
    a.allowed_ips = vec![
        AllowedIp::parse("10.0.0.0/8").unwrap(),
        AllowedIp::parse("fd00::/64").unwrap(),
    ];
    let private = Key::from_bytes([0x40; 32]);
    let d = Device {
        name: "wgfz0".into(),
        ifindex: None,
        public_key: Some(private.public_key()),
        private_key: Some(private),
        listen_port: 51820,
        fwmark: 7,
        peers: vec![a, Peer::new(Key::from_bytes([0xbb; 32]))],
    };
    write("uapi_get_round_trip", "full-reply", format_get_reply(&d).as_bytes());
    write("uapi_get_round_trip", "errno-reply", b"errno=-19\n\n");
}

/// One rtnetlink dump of this machine's kernel, as it answered (sequence numbers set to 0,
/// which the fuzz transport replaces by the request's).
fn kernel_dump(message_type: u16, header: &[u8]) -> Vec<Vec<u8>> {
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every buffer
    // passed is valid for the length given.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        assert!(fd >= 0, "netlink socket");
        let mut req = Vec::new();
        req.extend(((16 + header.len()) as u32).to_ne_bytes());
        req.extend(message_type.to_ne_bytes());
        req.extend((0x301u16).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
        req.extend(1u32.to_ne_bytes());
        req.extend(0u32.to_ne_bytes());
        req.extend(header);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        let sent = libc::sendto(
            fd,
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        assert_eq!(sent, req.len() as isize, "netlink send");
        let mut datagrams = Vec::new();
        let mut buf = vec![0u8; 65536];
        'recv: loop {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            assert!(n > 0, "netlink receive");
            let mut d = buf[..n as usize].to_vec();
            let mut off = 0;
            let mut done = false;
            while off + 16 <= d.len() {
                let len = u32::from_ne_bytes(d[off..off + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(d[off + 4..off + 6].try_into().unwrap());
                d[off + 8..off + 12].fill(0);
                done |= kind == 3 || kind == 2;
                if len < 16 {
                    break;
                }
                off += (len + 3) & !3;
            }
            datagrams.push(d);
            if done || datagrams.len() > 8 {
                break 'recv;
            }
        }
        libc::close(fd);
        datagrams
    }
}

fn netlink_seeds() {
    const MARK: &[u8] = b"\xffDG\xff";
    let join = |which: u8, dgs: &[Vec<u8>]| {
        let mut out = vec![which];
        for (i, d) in dgs.iter().enumerate() {
            if i > 0 {
                out.extend(MARK);
            }
            out.extend(d);
        }
        out
    };
    let links = kernel_dump(18, &[0; 16]); // RTM_GETLINK, ifinfomsg
    let addrs = kernel_dump(22, &[0; 8]); // RTM_GETADDR, ifaddrmsg
    let routes = kernel_dump(26, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // RTM_GETROUTE, rtmsg AF_INET
    let rules = kernel_dump(34, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // RTM_GETRULE, AF_INET
                                                                        // Only the first datagram of each dump: small seeds.
    let first = |d: &Vec<Vec<u8>>| vec![d[0][..d[0].len().min(4096)].to_vec()];
    write("netlink_replies", "links", &join(4, &first(&links)));
    write("netlink_replies", "link", &join(5, &first(&links)));
    let mut link_then_addrs = first(&links);
    link_then_addrs.extend(first(&addrs));
    write("netlink_replies", "addresses", &join(6, &link_then_addrs));
    write("netlink_replies", "routes", &join(7, &first(&routes)));
    write("netlink_replies", "rules", &join(9, &first(&rules)));
    // An error answer (ENODEV) and a done with an error code.
    let mut err = Vec::new();
    err.extend(36u32.to_ne_bytes());
    err.extend(2u16.to_ne_bytes());
    err.extend(0u16.to_ne_bytes());
    err.extend([0; 8]);
    err.extend((-19i32).to_ne_bytes());
    err.extend([0; 16]);
    write("netlink_replies", "error", &join(1, &[err]));
}

fn main() {
    receive_seeds();
    uapi_seeds();
    netlink_seeds();
    println!("seeds written to corpus/");
}
