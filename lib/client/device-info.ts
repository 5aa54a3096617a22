/**
 * Converts the addon's device objects into the public `DeviceInfo` shape.
 */
import type { JsDevice } from '../binding.js';
import { Key } from '../keys.js';
import type { DeviceInfo, DeviceType, PeerInfo } from '../types.js';

export function toDeviceInfo(device: JsDevice, type: DeviceType): DeviceInfo {
  return {
    name: device.name,
    type,
    ifindex: device.ifindex ?? null,
    publicKey: device.publicKey ?? null,
    privateKey: device.privateKey ? takeSecret(device.privateKey, 'private') : null,
    listenPort: device.listenPort,
    fwmark: device.fwmark,
    peers: device.peers.map(
      (p): PeerInfo => ({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey ? takeSecret(p.presharedKey, 'preshared') : null,
        endpoint: p.endpoint ?? null,
        lastHandshake:
          p.lastHandshakeSec != null ? new Date(p.lastHandshakeSec * 1000 + Math.floor((p.lastHandshakeNsec ?? 0) / 1e6)) : null,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
        persistentKeepalive: p.persistentKeepaliveInterval,
        allowedIPs: p.allowedIps,
        protocolVersion: p.protocolVersion,
      }),
    ),
  };
}

/** Wraps secret bytes in a Key and wipes the buffer they came in. */
function takeSecret(bytes: Buffer, kind: 'private' | 'preshared'): Key {
  const key = Key.fromBytes(bytes, kind);
  bytes.fill(0);
  return key;
}
