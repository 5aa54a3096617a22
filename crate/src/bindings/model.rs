//! JS shapes of the device model and their conversion to and from `crate::model`.
//!
//! Public keys cross as base64 strings; secret keys cross as 32-byte buffers that the facade
//! wraps in `Key` objects (and wipes) at once. Counters cross as BigInt. Every conversion
//! error names the field it is about (`peers[3].endpoint`).

use crate::error::{Error, Result};
use crate::keys::Key;
use crate::model::{AllowedIp, AllowedIpChange, Device, DeviceConfig, Peer, PeerConfig};
use crate::uapi::value::{format_endpoint, parse_endpoint};
use napi::bindgen_prelude::{BigInt, Buffer};
use napi_derive::napi;

#[napi(object)]
pub struct JsDevice {
    pub name: String,
    pub ifindex: Option<u32>,
    pub public_key: Option<String>,
    pub private_key: Option<Buffer>,
    pub listen_port: u32,
    pub fwmark: u32,
    pub peers: Vec<JsPeer>,
}

#[napi(object)]
pub struct JsPeer {
    pub public_key: String,
    pub preshared_key: Option<Buffer>,
    pub endpoint: Option<String>,
    pub persistent_keepalive_interval: u32,
    /// Seconds since the epoch; absent when no handshake completed.
    pub last_handshake_sec: Option<i64>,
    pub last_handshake_nsec: Option<i64>,
    pub rx_bytes: BigInt,
    pub tx_bytes: BigInt,
    pub allowed_ips: Vec<String>,
    pub protocol_version: u32,
}

#[napi(object)]
pub struct JsDeviceConfig {
    /// 32 bytes; all zeros removes the key.
    pub private_key: Option<Buffer>,
    pub listen_port: Option<u32>,
    pub fwmark: Option<u32>,
    pub replace_peers: Option<bool>,
    pub peers: Option<Vec<JsPeerConfig>>,
}

#[napi(object)]
pub struct JsPeerConfig {
    /// Base64.
    pub public_key: String,
    pub remove: Option<bool>,
    pub update_only: Option<bool>,
    /// 32 bytes; all zeros removes the key.
    pub preshared_key: Option<Buffer>,
    /// Numeric `ip:port` or `[ipv6%scope]:port` (hostnames are resolved by the facade).
    pub endpoint: Option<String>,
    pub persistent_keepalive_interval: Option<u32>,
    pub replace_allowed_ips: Option<bool>,
    /// `ip/cidr`, or `-ip/cidr` to remove one prefix from this peer.
    pub allowed_ips: Option<Vec<String>>,
    pub protocol_version: Option<u32>,
}

pub fn device_to_js(device: Device) -> JsDevice {
    JsDevice {
        name: device.name,
        ifindex: device.ifindex,
        public_key: device.public_key.as_ref().map(Key::to_base64),
        private_key: device.private_key.as_ref().map(secret_to_js),
        listen_port: device.listen_port as u32,
        fwmark: device.fwmark,
        peers: device.peers.into_iter().map(peer_to_js).collect(),
    }
}

fn peer_to_js(peer: Peer) -> JsPeer {
    JsPeer {
        public_key: peer.public_key.to_base64(),
        preshared_key: peer.preshared_key.as_ref().map(secret_to_js),
        endpoint: peer.endpoint.as_ref().map(format_endpoint),
        persistent_keepalive_interval: peer.persistent_keepalive_interval as u32,
        last_handshake_sec: peer.last_handshake.map(|t| t.sec),
        last_handshake_nsec: peer.last_handshake.map(|t| t.nsec),
        rx_bytes: BigInt::from(peer.rx_bytes),
        tx_bytes: BigInt::from(peer.tx_bytes),
        allowed_ips: peer.allowed_ips.iter().map(AllowedIp::to_string).collect(),
        protocol_version: peer.protocol_version,
    }
}

fn secret_to_js(key: &Key) -> Buffer {
    Buffer::from(key.as_bytes().to_vec())
}

pub fn device_config_from_js(js: JsDeviceConfig) -> Result<DeviceConfig> {
    let private_key = js.private_key.map(|b| secret_from_js(&b, "privateKey")).transpose()?;
    let listen_port = js.listen_port.map(|p| u16_field(p, "listenPort")).transpose()?;
    let peers = js
        .peers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, p)| peer_config_from_js(p, &format!("peers[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    Ok(DeviceConfig {
        private_key,
        listen_port,
        fwmark: js.fwmark,
        replace_peers: js.replace_peers.unwrap_or(false),
        peers,
    })
}

fn peer_config_from_js(js: JsPeerConfig, path: &str) -> Result<PeerConfig> {
    let public_key = Key::from_base64(&js.public_key).map_err(|e| at(e, &format!("{path}.publicKey")))?;
    let mut peer = PeerConfig::new(public_key);
    peer.remove = js.remove.unwrap_or(false);
    peer.update_only = js.update_only.unwrap_or(false);
    peer.preshared_key = js
        .preshared_key
        .map(|b| secret_from_js(&b, &format!("{path}.presharedKey")))
        .transpose()?;
    peer.endpoint = js
        .endpoint
        .map(|e| {
            parse_endpoint(&e).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{path}.endpoint: not a numeric `ip:port' or `[ipv6]:port': `{e}'"
                ))
            })
        })
        .transpose()?;
    peer.persistent_keepalive_interval = js
        .persistent_keepalive_interval
        .map(|k| u16_field(k, &format!("{path}.persistentKeepaliveInterval")))
        .transpose()?;
    peer.replace_allowed_ips = js.replace_allowed_ips.unwrap_or(false);
    peer.allowed_ips = js
        .allowed_ips
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let (remove, cidr) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.strip_prefix('+').unwrap_or(text)),
            };
            let ip = AllowedIp::parse(cidr).map_err(|e| at(e, &format!("{path}.allowedIPs[{i}]")))?;
            Ok(AllowedIpChange { ip, remove })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(v) = js.protocol_version {
        if v != 1 {
            return Err(Error::invalid_argument(format!(
                "{path}.protocolVersion: only protocol version 1 exists"
            )));
        }
    }
    peer.protocol_version = js.protocol_version;
    Ok(peer)
}

fn secret_from_js(bytes: &[u8], path: &str) -> Result<Key> {
    Key::from_slice(bytes).map_err(|e| at(e, path))
}

fn u16_field(value: u32, path: &str) -> Result<u16> {
    u16::try_from(value).map_err(|_| Error::invalid_argument(format!("{path}: {value} is not in 0-65535")))
}

/// Prefixes an error message with the field it is about.
fn at(mut err: Error, path: &str) -> Error {
    err.message = format!("{path}: {}", err.message);
    err
}
