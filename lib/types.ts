/**
 * What a WireGuard device reports, the same for kernel and userspace devices.
 */
import type { Key } from './keys.js';

export type DeviceType = 'kernel' | 'userspace';

export interface DeviceInfo {
  name: string;
  /** Which backend serves the device. */
  type: DeviceType;
  /** Kernel interface index; null for userspace devices. */
  ifindex: number | null;
  /** Base64; null when the device has no private key. */
  publicKey: string | null;
  /** Hidden when printed; null when the device has no private key. */
  privateKey: Key | null;
  /** 0 when not listening. */
  listenPort: number;
  /** 0 = off. */
  fwmark: number;
  peers: PeerInfo[];
}

export interface PeerInfo {
  /** Base64. */
  publicKey: string;
  /** Hidden when printed; null when none (all zeros). */
  presharedKey: Key | null;
  /** `ip:port` or `[ipv6%scope]:port`; null when the peer has no endpoint. */
  endpoint: string | null;
  /** Null when no handshake ever completed. */
  lastHandshake: Date | null;
  /** Bytes received from the peer. */
  rxBytes: bigint;
  /** Bytes sent to the peer. */
  txBytes: bigint;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
  /** CIDR strings in the order the device reports them. */
  allowedIPs: string[];
  protocolVersion: number;
}
