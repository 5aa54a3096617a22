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

/**
 * A change to a device, with the semantics of the kernel's set-device and UAPI `set=1`
 * (wgctrl-go's `Config`): an absent field is left as it is.
 */
export interface DeviceChange {
  /** A private key (Key or base64); `null` or the zero key removes it. */
  privateKey?: Key | string | null;
  /** 0 picks a random port. */
  listenPort?: number;
  /** 0 turns the fwmark off. */
  fwmark?: number;
  /** Remove every peer before applying `peers`. */
  replacePeers?: boolean;
  peers?: PeerChange[];
}

export interface PeerChange {
  /** Key or base64. */
  publicKey: Key | string;
  /** Remove the peer; every other field is ignored. */
  remove?: boolean;
  /** Only change the peer if it exists already. */
  updateOnly?: boolean;
  /** A preshared key (Key or base64); `null` or the zero key removes it. */
  presharedKey?: Key | string | null;
  /** `ip:port`, `[ipv6]:port`, `[ipv6%zone]:port`, or `host:port` (resolved as wg does). */
  endpoint?: string;
  /** Seconds, 0-65535; 0 turns it off. */
  persistentKeepalive?: number;
  /** Clear the peer's allowed IPs before adding `allowedIPs`. */
  replaceAllowedIPs?: boolean;
  /** `ip/cidr`; a `-` prefix removes that prefix from this peer only, `+` adds. */
  allowedIPs?: string[];
}
