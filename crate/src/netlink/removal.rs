//! Detecting `WGALLOWEDIP_F_REMOVE_ME` (removing one allowed IP from one peer), new in
//! Linux 6.16. Older kernels reject `WGALLOWEDIP_A_FLAGS` as an unknown attribute with a
//! bare EINVAL, so a change that removes single IPs is checked first and refused with a
//! clear message instead.
//!
//! How support is found out:
//! 1. A kernel release of 6.16 or later has it (it is mainline; nothing removes it).
//! 2. Older releases may carry a backport, so they are probed on the device itself. The
//!    obvious probe, an `UPDATE_ONLY` peer that does not exist, does not work: the kernel
//!    returns before it parses that peer's allowed IPs (netlink.c `set_peer`), so old and
//!    new kernels both say yes. Allowed IPs are only parsed for a peer that exists, so the
//!    probe is one message with two entries for a fresh random key K: K with one allowed
//!    IP flagged REMOVE_ME, then K with `WGPEER_F_REMOVE_ME`. A supporting kernel creates
//!    K, ignores the removal (K owns nothing) and deletes K: net effect none. An old kernel
//!    creates K, fails with EINVAL on the flag and stops, so K is deleted by a second
//!    message. K has no endpoint and no allowed IPs and nobody holds its private key, so
//!    it can carry no traffic while it exists.

use super::socket::{Connection, Transport};
use super::wireguard;
use super::DeviceRef;
use crate::error::{Error, ErrorCode, Result};
use crate::keys::Key;
use crate::model::AllowedIp;
use netlink_packet_wireguard::{
    WireguardAttribute, WireguardCmd, WireguardPeer, WireguardPeerAttribute, WireguardPeerFlags,
};
use std::net::Ipv4Addr;

/// The message given when a change removes single allowed IPs on an older kernel.
pub const REMOVAL_NEEDS_LINUX_6_16: &str = "removing a single allowed IP needs Linux 6.16 or later";

pub fn unsupported_error() -> Error {
    Error::new(
        ErrorCode::InvalidArgument,
        format!("{REMOVAL_NEEDS_LINUX_6_16}; this kernel does not support WGALLOWEDIP_F_REMOVE_ME"),
    )
}

/// Whether the kernel release (`uname -r`) is at least 6.16; `None` if unreadable.
pub fn release_has_removal(release: &str) -> Option<bool> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= (6, 16))
}

fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether `WGALLOWEDIP_F_REMOVE_ME` works; see the module documentation.
pub fn probe<T: Transport>(conn: &mut Connection<T>, family: u16, device: &DeviceRef) -> Result<bool> {
    if kernel_release().as_deref().and_then(release_has_removal) == Some(true) {
        return Ok(true);
    }
    active_probe(conn, family, device)
}

/// The probe on the device (step 2 of the module documentation).
pub fn active_probe<T: Transport>(conn: &mut Connection<T>, family: u16, device: &DeviceRef) -> Result<bool> {
    device.validate()?;
    let selector = match device {
        DeviceRef::Name(name) => WireguardAttribute::IfName(name.clone()),
        DeviceRef::Index(index) => WireguardAttribute::IfIndex(*index),
    };
    let probe_key = *Key::generate_private().public_key().as_bytes();
    let any = AllowedIp::new(Ipv4Addr::UNSPECIFIED.into(), 0)?;
    let create_and_remove_ip = WireguardPeer(vec![
        WireguardPeerAttribute::PublicKey(probe_key),
        WireguardPeerAttribute::AllowedIps(vec![wireguard::allowed_ip_element(&any, true)]),
    ]);
    let remove_peer = WireguardPeer(vec![
        WireguardPeerAttribute::PublicKey(probe_key),
        WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe),
    ]);
    let context = format!("Unable to probe interface {device} for allowed-IP removal");
    let probe = wireguard::encode(
        WireguardCmd::SetDevice,
        vec![
            selector.clone(),
            WireguardAttribute::Peers(vec![create_and_remove_ip, remove_peer.clone()]),
        ],
    );
    match conn.request(family, 0, &probe, &context) {
        Ok(_) => Ok(true),
        Err(error) if error.errno == Some(libc::EINVAL) => {
            let cleanup = wireguard::encode(
                WireguardCmd::SetDevice,
                vec![selector, WireguardAttribute::Peers(vec![remove_peer])],
            );
            conn.request(family, 0, &cleanup, &context).map_err(|e| Error {
                message: format!(
                    "{}; the probe peer {} may remain on the device",
                    e.message,
                    Key::from_bytes(probe_key).to_base64()
                ),
                ..e
            })?;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::socket::fake::{ack, FakeTransport};
    use netlink_packet_wireguard::{WireguardAllowedIpAttr, WireguardAllowedIpFlags};

    #[test]
    fn release_numbers() {
        assert_eq!(release_has_removal("6.16.0"), Some(true));
        assert_eq!(release_has_removal("6.18.44-fc-v669"), Some(true));
        assert_eq!(release_has_removal("7.0-rc1"), Some(true));
        assert_eq!(release_has_removal("6.15.9-arch1"), Some(false));
        assert_eq!(release_has_removal("5.10.0-28-amd64"), Some(false));
        assert_eq!(release_has_removal("garbage"), None);
    }

    fn sent_peers(payload: &[u8]) -> Vec<WireguardPeer> {
        let (_, attrs) = wireguard::decode(payload).unwrap();
        match &attrs[1] {
            WireguardAttribute::Peers(p) => p.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn supporting_kernel_accepts_the_probe_in_one_message() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        assert!(active_probe(&mut conn, 0x1d, &DeviceRef::from("wg0")).unwrap());
        let sent = conn.transport().sent_payloads();
        assert_eq!(sent.len(), 1);
        let peers = sent_peers(&sent[0]);
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0][0], peers[1][0], "the same probe key twice");
        let WireguardPeerAttribute::AllowedIps(ips) = &peers[0][1] else {
            panic!()
        };
        assert!(ips[0].contains(&WireguardAllowedIpAttr::Flags(WireguardAllowedIpFlags::RemoveMe)));
        assert_eq!(peers[1][1], WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe));
    }

    #[test]
    fn old_kernel_rejects_and_the_probe_peer_is_removed() {
        let answers = vec![vec![vec![ack(-libc::EINVAL)]], vec![vec![ack(0)]]];
        let mut conn = Connection::new(FakeTransport::new(answers));
        assert!(!active_probe(&mut conn, 0x1d, &DeviceRef::from("wg0")).unwrap());
        let sent = conn.transport().sent_payloads();
        assert_eq!(sent.len(), 2);
        let cleanup = sent_peers(&sent[1]);
        assert_eq!(cleanup.len(), 1);
        assert_eq!(cleanup[0][0], sent_peers(&sent[0])[0][0]);
        assert_eq!(
            cleanup[0][1],
            WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe)
        );
        assert!(unsupported_error().message.starts_with(REMOVAL_NEEDS_LINUX_6_16));
    }

    #[test]
    fn other_errors_are_returned() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(-libc::ENODEV)]]]));
        let err = active_probe(&mut conn, 0x1d, &DeviceRef::from("wg9")).unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceNotFound);
        assert_eq!(conn.transport().sent.len(), 1);
    }
}
