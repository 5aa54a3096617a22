/**
 * `wg show <interface> <field>` and `wg show all <field>`: the script-oriented output (show.c
 * `ugly_print`, `dump_print`). Tab-separated, keys in clear, peers in the order the device
 * reported them (not sorted), never coloured.
 *
 * With `withInterface` (the `all` variants) every line starts with the interface name and a tab,
 * except for `endpoints`: wireguard-tools 1.0.20210914 prints the name and tab once, before the
 * first peer (and alone, without a newline, for a device with no peers). Later versions print it
 * on every line; this module follows 1.0.20210914, the version Debian 12 ships.
 */
import type { DeviceInfo, PeerInfo } from '../types.js';
import { formatAllowedIP, formatEndpoint } from './address.js';
import { NONE, fwmarkText, handshakeSeconds, keepaliveText, keyOrNone, presharedKeyOf, u16, u64 } from './values.js';

/** The fields `wg show` accepts after the interface, in the order its usage lists them. */
export const SHOW_FIELDS = [
  'public-key',
  'private-key',
  'listen-port',
  'fwmark',
  'peers',
  'preshared-keys',
  'endpoints',
  'allowed-ips',
  'latest-handshakes',
  'transfer',
  'persistent-keepalive',
  'dump',
] as const;

export type ShowField = (typeof SHOW_FIELDS)[number];

export function isShowField(value: string): value is ShowField {
  return (SHOW_FIELDS as readonly string[]).includes(value);
}

function endpointText(peer: PeerInfo): string {
  return peer.endpoint === null ? NONE : formatEndpoint(peer.endpoint);
}

function allowedIPsText(peer: PeerInfo, separator: string): string {
  return peer.allowedIPs.length ? peer.allowedIPs.map(formatAllowedIP).join(separator) : NONE;
}

/** `wg show NAME dump` (with `withInterface`, the lines of `wg show all dump` for this device). */
export function formatDump(device: DeviceInfo, withInterface = false): string {
  const prefix = withInterface ? `${device.name}\t` : '';
  let out =
    `${prefix}${keyOrNone(device.privateKey)}\t${keyOrNone(device.publicKey)}\t` +
    `${u16(device.listenPort)}\t${fwmarkText(device.fwmark)}\n`;
  for (const peer of device.peers) {
    out +=
      `${prefix}${peer.publicKey}\t${keyOrNone(presharedKeyOf(peer))}\t${endpointText(peer)}\t` +
      `${allowedIPsText(peer, ',')}\t${handshakeSeconds(peer)}\t${u64(peer.rxBytes)}\t${u64(peer.txBytes)}\t` +
      `${keepaliveText(peer.persistentKeepalive)}\n`;
  }
  return out;
}

/** One peer's line of a per-peer field, without the interface prefix. */
function peerLine(field: ShowField, peer: PeerInfo): string {
  switch (field) {
    case 'peers':
      return `${peer.publicKey}\n`;
    case 'preshared-keys':
      return `${peer.publicKey}\t${keyOrNone(presharedKeyOf(peer))}\n`;
    case 'endpoints':
      return `${peer.publicKey}\t${endpointText(peer)}\n`;
    case 'allowed-ips':
      return `${peer.publicKey}\t${allowedIPsText(peer, ' ')}\n`;
    case 'latest-handshakes':
      return `${peer.publicKey}\t${handshakeSeconds(peer)}\n`;
    case 'transfer':
      return `${peer.publicKey}\t${u64(peer.rxBytes)}\t${u64(peer.txBytes)}\n`;
    case 'persistent-keepalive':
      return `${peer.publicKey}\t${keepaliveText(peer.persistentKeepalive)}\n`;
    default:
      throw new TypeError(`not a per-peer field: ${field}`);
  }
}

/**
 * `wg show NAME FIELD`, or with `withInterface` this device's part of `wg show all FIELD`.
 */
export function formatField(device: DeviceInfo, field: ShowField, withInterface = false): string {
  const prefix = withInterface ? `${device.name}\t` : '';
  switch (field) {
    case 'public-key':
      return `${prefix}${keyOrNone(device.publicKey)}\n`;
    case 'private-key':
      return `${prefix}${keyOrNone(device.privateKey)}\n`;
    case 'listen-port':
      return `${prefix}${u16(device.listenPort)}\n`;
    case 'fwmark':
      return `${prefix}${fwmarkText(device.fwmark)}\n`;
    case 'dump':
      return formatDump(device, withInterface);
    case 'endpoints':
      // 1.0.20210914: the interface name once, before the loop.
      return prefix + device.peers.map((peer) => peerLine(field, peer)).join('');
    default:
      return device.peers.map((peer) => prefix + peerLine(field, peer)).join('');
  }
}
