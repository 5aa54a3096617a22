//! `WG_CMD_SET_DEVICE`: applying a change, split into messages by a byte budget the way
//! wg's `kernel_set_device` does (ipc-linux.h). wgctrl-go splits by counts instead (32 peers,
//! 256 IPs) without measuring bytes; measuring is the safe choice.
//!
//! - Every message starts with the device selector (`WGDEVICE_A_IFNAME` or `_IFINDEX`).
//! - Device attributes (private key, listen port, fwmark, `WGDEVICE_F_REPLACE_PEERS`) go
//!   only in the first message; repeating REPLACE_PEERS would wipe what came before.
//! - Peers are added while they fit. A peer whose header (key, flags, preshared key,
//!   endpoint, keepalive, protocol version) does not fit starts the next message.
//! - Allowed IPs are added while they fit. When one does not fit, the message is closed
//!   and the next one resumes the same peer with only its public key and continues the
//!   list from that IP. REPLACE_ALLOWEDIPS, the preshared key, the endpoint and the
//!   keepalive go only in a peer's first fragment (repeating REPLACE_ALLOWEDIPS would drop
//!   the IPs sent before).
//! - A continuation fragment carries `WGPEER_F_UPDATE_ONLY`. The peer exists by then (the
//!   first fragment created or updated it), so the flag changes nothing, except when the
//!   peer was removed concurrently between two messages: then the rest of its IPs is
//!   dropped instead of re-creating a peer without its key, endpoint or keepalive. This
//!   also keeps a user's UPDATE_ONLY on every fragment, as wgctrl-go does. A removed peer
//!   (`WGPEER_F_REMOVE_ME`) is sent with its key and that flag only, and never continues.
//! - Every message is sent with `NLM_F_ACK` and its ACK awaited before the next one. The
//!   kernel applies each message as it goes and stops at the first error, keeping what it
//!   applied; nothing is rolled back. A failure after the first message is therefore
//!   reported as `ErrorCode::PartiallyApplied`, naming the failed message.

use super::socket::{Connection, Transport};
use super::wireguard;
use super::DeviceRef;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{DeviceConfig, PeerConfig};
use netlink_packet_core::Emitable;
use netlink_packet_wireguard::{
    WireguardAttribute, WireguardCmd, WireguardDeviceFlags, WireguardPeer, WireguardPeerAttribute, WireguardPeerFlags,
};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};

/// wg's buffer: `mnl_ideal_socket_buffer_size()` = min(page size, 8192).
pub const MESSAGE_BUDGET: usize = 8192;
const NLMSG_HEADER_LEN: usize = 16;
const NLA_HEADER_LEN: usize = 4;

/// One message of a split change.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub attributes: Vec<WireguardAttribute>,
    /// Indices into `DeviceConfig::peers` of the peers it touches.
    pub peers: Option<RangeInclusive<usize>>,
}

impl Fragment {
    /// The size of the whole netlink message.
    pub fn message_len(&self) -> usize {
        NLMSG_HEADER_LEN + wireguard::encoded_len(&self.attributes)
    }
}

/// Sends `config` to the device, message by message; `cancel` is checked between messages.
pub fn set_device<T: Transport>(
    conn: &mut Connection<T>,
    family: u16,
    device: &DeviceRef,
    config: &DeviceConfig,
    budget: usize,
    cancel: &AtomicBool,
) -> Result<()> {
    let fragments = split(device, config, budget)?;
    let total = fragments.len();
    let context = format!("Unable to modify interface {device}");
    for (index, fragment) in fragments.into_iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            let error = Error::from_errno(libc::ECANCELED, format!("{context}: cancelled"));
            return Err(fragment_error(error, index, total, &None));
        }
        debug_assert!(fragment.message_len() <= budget);
        let peers = fragment.peers.clone();
        let payload = wireguard::encode(WireguardCmd::SetDevice, fragment.attributes);
        if let Err(error) = conn.request(family, 0, &payload, &context) {
            return Err(fragment_error(error, index, total, &peers));
        }
    }
    Ok(())
}

/// Names the failed message; after the first one, the error becomes PartiallyApplied.
fn fragment_error(error: Error, index: usize, total: usize, peers: &Option<RangeInclusive<usize>>) -> Error {
    if total == 1 {
        return error;
    }
    let peers = match peers {
        Some(range) if range.start() == range.end() => format!(", peer {}", range.start() + 1),
        Some(range) => format!(", peers {} to {}", range.start() + 1, range.end() + 1),
        None => String::new(),
    };
    if index == 0 {
        return Error {
            message: format!(
                "{} (message 1 of {total}{peers}; no later message was sent)",
                error.message
            ),
            ..error
        };
    }
    Error {
        code: ErrorCode::PartiallyApplied,
        message: format!(
            "{} (message {} of {total}{peers}); the change was partially applied: the {index} earlier \
             message(s) stayed applied",
            error.message,
            index + 1
        ),
        errno: error.errno,
    }
}

/// Splits a change into messages of at most `budget` bytes.
pub fn split(device: &DeviceRef, config: &DeviceConfig, budget: usize) -> Result<Vec<Fragment>> {
    device.validate()?;
    validate(config)?;
    let selector = match device {
        DeviceRef::Name(name) => WireguardAttribute::IfName(name.clone()),
        DeviceRef::Index(index) => WireguardAttribute::IfIndex(*index),
    };
    let peers = &config.peers;
    let mut fragments = Vec::new();
    let (mut peer_index, mut ip_index, mut resuming) = (0, 0, false);
    loop {
        let before = (peer_index, ip_index, resuming);
        let mut attributes = vec![selector.clone()];
        if fragments.is_empty() {
            attributes.extend(device_attributes(config));
        }
        let mut size = NLMSG_HEADER_LEN + wireguard::encoded_len(&attributes) + NLA_HEADER_LEN;
        if size > budget {
            return Err(too_small(budget));
        }
        let mut out = Vec::new();
        let mut touched: Option<RangeInclusive<usize>> = None;
        while peer_index < peers.len() {
            let peer = &peers[peer_index];
            let mut attrs = peer_header(peer, resuming);
            let header_len = NLA_HEADER_LEN + attrs.as_slice().buffer_len();
            if size + header_len > budget {
                break;
            }
            size += header_len;
            touched = Some(touched.map_or(peer_index..=peer_index, |r| *r.start()..=peer_index));

            let pending = if peer.remove {
                &[][..]
            } else {
                &peer.allowed_ips[ip_index..]
            };
            let mut elements = Vec::new();
            let mut nest_len = NLA_HEADER_LEN;
            for change in pending {
                let element = wireguard::allowed_ip_element(&change.ip, change.remove);
                if size + nest_len + element.buffer_len() > budget {
                    break;
                }
                nest_len += element.buffer_len();
                elements.push(element);
            }
            let written = elements.len();
            if written > 0 {
                attrs.push(WireguardPeerAttribute::AllowedIps(elements));
                size += nest_len;
            }
            out.push(WireguardPeer(attrs));
            if written < pending.len() {
                ip_index += written;
                resuming = true;
                break;
            }
            (peer_index, ip_index, resuming) = (peer_index + 1, 0, false);
        }
        if !out.is_empty() {
            attributes.push(WireguardAttribute::Peers(out));
        }
        let first = fragments.is_empty();
        fragments.push(Fragment {
            attributes,
            peers: touched,
        });
        if peer_index >= peers.len() {
            return Ok(fragments);
        }
        if !first && before == (peer_index, ip_index, resuming) {
            return Err(too_small(budget));
        }
    }
}

fn too_small(budget: usize) -> Error {
    Error::invalid_argument(format!("A netlink message of {budget} bytes cannot hold a single peer"))
}

fn validate(config: &DeviceConfig) -> Result<()> {
    for peer in &config.peers {
        if let Some(version) = peer.protocol_version.filter(|v| *v != 1) {
            return Err(Error::invalid_argument(format!(
                "Protocol version {version} is not supported; it must be 1"
            )));
        }
        for change in &peer.allowed_ips {
            let max = match change.ip.addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            };
            if change.ip.cidr > max {
                return Err(Error::invalid_argument(format!(
                    "AllowedIP is not in the correct format: `{}'",
                    change.ip
                )));
            }
        }
    }
    Ok(())
}

fn device_attributes(config: &DeviceConfig) -> Vec<WireguardAttribute> {
    let mut attrs = Vec::new();
    if let Some(key) = &config.private_key {
        attrs.push(WireguardAttribute::PrivateKey(*key.as_bytes()));
    }
    if let Some(port) = config.listen_port {
        attrs.push(WireguardAttribute::ListenPort(port));
    }
    if let Some(mark) = config.fwmark {
        attrs.push(WireguardAttribute::Fwmark(mark));
    }
    if config.replace_peers {
        attrs.push(WireguardAttribute::Flags(WireguardDeviceFlags::ReplacePeers));
    }
    attrs
}

/// The attributes of a peer before its allowed IPs. `resuming`: a continuation fragment.
fn peer_header(peer: &PeerConfig, resuming: bool) -> Vec<WireguardPeerAttribute> {
    let mut attrs = vec![WireguardPeerAttribute::PublicKey(*peer.public_key.as_bytes())];
    if resuming {
        attrs.push(WireguardPeerAttribute::Flags(WireguardPeerFlags::UpdateOnly));
        return attrs;
    }
    if peer.remove {
        attrs.push(WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe));
        return attrs;
    }
    let mut flags = WireguardPeerFlags::empty();
    if peer.replace_allowed_ips {
        flags |= WireguardPeerFlags::ReplaceAllowedIps;
    }
    if peer.update_only {
        flags |= WireguardPeerFlags::UpdateOnly;
    }
    if !flags.is_empty() {
        attrs.push(WireguardPeerAttribute::Flags(flags));
    }
    if let Some(key) = &peer.preshared_key {
        attrs.push(WireguardPeerAttribute::PresharedKey(*key.as_bytes()));
    }
    if let Some(endpoint) = peer.endpoint {
        attrs.push(WireguardPeerAttribute::Endpoint(endpoint));
    }
    if let Some(seconds) = peer.persistent_keepalive_interval {
        attrs.push(WireguardPeerAttribute::PersistentKeepalive(seconds));
    }
    if let Some(version) = peer.protocol_version {
        attrs.push(WireguardPeerAttribute::ProtocolVersion(version));
    }
    attrs
}

/// Whether an attribute is one of a peer's "first fragment only" settings.
#[cfg(test)]
fn is_first_fragment_only(attr: &WireguardPeerAttribute) -> bool {
    match attr {
        WireguardPeerAttribute::PresharedKey(_)
        | WireguardPeerAttribute::Endpoint(_)
        | WireguardPeerAttribute::PersistentKeepalive(_)
        | WireguardPeerAttribute::ProtocolVersion(_) => true,
        WireguardPeerAttribute::Flags(f) => f.contains(WireguardPeerFlags::ReplaceAllowedIps),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
