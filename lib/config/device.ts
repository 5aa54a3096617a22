/**
 * A running device's state as a configuration: what `wg showconf` prints, as an object.
 * `formatWgConfig(configFromDevice(info))` is byte for byte `wg showconf`'s output.
 */
import type { DeviceInfo } from '../types.js';
import type { WgConfig, WgInterfaceSection, WgPeerSection } from './model.js';

/**
 * Applies showconf's rules: a zero port or fwmark, a missing key, an empty allowed-IP list, a
 * missing endpoint and a zero keepalive are left out. The private and preshared keys are
 * revealed as base64 (as showconf shows them).
 */
export function configFromDevice(device: DeviceInfo): WgConfig {
  const iface: WgInterfaceSection = {};
  if (device.listenPort !== 0) iface.listenPort = device.listenPort;
  if (device.fwmark !== 0) iface.fwMark = device.fwmark;
  if (device.privateKey !== null) iface.privateKey = device.privateKey.toBase64();
  const peers = device.peers.map((info) => {
    const peer: WgPeerSection = { publicKey: info.publicKey };
    if (info.presharedKey !== null) peer.presharedKey = info.presharedKey.toBase64();
    if (info.allowedIPs.length > 0) peer.allowedIPs = [...info.allowedIPs];
    if (info.endpoint !== null) peer.endpoint = info.endpoint;
    if (info.persistentKeepalive !== 0) peer.persistentKeepalive = info.persistentKeepalive;
    return peer;
  });
  return { interface: iface, peers };
}
