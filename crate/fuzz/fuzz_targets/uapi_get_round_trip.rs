//! The UAPI `get=1` reply: any device written by the server's writer is read back equal by
//! the client's parser; and any bytes given to the parser give a device or an error.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, Device, Peer, Timespec};
use wgkit::uapi::get_reply::read_get_reply;
use wgkit::uapi::get_writer::format_get_reply;
use wgkit::uapi::lines::LineReader;

fn key(u: &mut Unstructured) -> arbitrary::Result<Key> {
    // Mostly distinct keys, sometimes the all-zero key.
    Ok(Key::from_bytes(if u.ratio(1, 8)? { [0; 32] } else { u.arbitrary()? }))
}

fn endpoint(u: &mut Unstructured) -> arbitrary::Result<SocketAddr> {
    Ok(if u.arbitrary()? {
        SocketAddr::V4(SocketAddrV4::new(u32::arbitrary(u)?.into(), u.arbitrary()?))
    } else {
        // The reply carries no flow label; the scope id it does.
        SocketAddr::V6(SocketAddrV6::new(
            u128::arbitrary(u)?.into(),
            u.arbitrary()?,
            0,
            u.arbitrary()?,
        ))
    })
}

fn allowed_ip(u: &mut Unstructured) -> arbitrary::Result<AllowedIp> {
    let addr = if u.arbitrary()? {
        IpAddr::V4(u32::arbitrary(u)?.into())
    } else {
        IpAddr::V6(u128::arbitrary(u)?.into())
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    Ok(AllowedIp::new(addr, u.int_in_range(0..=max)?).expect("cidr in range"))
}

fn time(u: &mut Unstructured) -> arbitrary::Result<i64> {
    u.int_in_range(0..=i64::MAX)
}

/// A device as a UAPI server reports it: keys derived, zero keys absent, no ifindex.
fn device(u: &mut Unstructured) -> arbitrary::Result<Device> {
    let private = key(u)?;
    let mut peers = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let mut p = Peer::new(key(u)?);
        p.preshared_key = Some(key(u)?).filter(|k| !k.is_zero());
        p.endpoint = if u.arbitrary()? { Some(endpoint(u)?) } else { None };
        p.persistent_keepalive_interval = u.arbitrary()?;
        p.last_handshake = Some(Timespec {
            sec: time(u)?,
            nsec: time(u)?,
        })
        .filter(|t| *t != Timespec::default());
        p.rx_bytes = u.arbitrary()?;
        p.tx_bytes = u.arbitrary()?;
        for _ in 0..u.int_in_range(0..=5)? {
            p.allowed_ips.push(allowed_ip(u)?);
        }
        p.protocol_version = u.int_in_range(1..=u32::MAX)?;
        peers.push(p);
    }
    Ok(Device {
        name: "wgfz0".into(),
        ifindex: None,
        public_key: (!private.is_zero()).then(|| private.public_key()),
        private_key: (!private.is_zero()).then_some(private),
        listen_port: u.arbitrary()?,
        fwmark: u.arbitrary()?,
        peers,
    })
}

fuzz_target!(|data: &[u8]| {
    // The same bytes as a raw reply, in small and large reads.
    for max_line in [64, 4096] {
        let mut r = LineReader::new(data, max_line);
        let _ = read_get_reply(&mut r, "wgfz0");
    }
    let mut u = Unstructured::new(data);
    let Ok(d) = device(&mut u) else { return };
    let text = format_get_reply(&d);
    let mut r = LineReader::new(text.as_bytes(), 4096);
    assert_eq!(read_get_reply(&mut r, "wgfz0").expect("read back the reply"), d);
});
