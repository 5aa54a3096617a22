/**
 * Single values of the read model as `wg show` prints them, shared by the pretty and the
 * script output.
 */
import type { Key } from '../keys.js';
import type { PeerInfo } from '../types.js';
import { epochSeconds } from './units.js';

/** What wg prints for a missing key, endpoint, allowed-IP list or PSK in script output. */
export const NONE = '(none)';

/** What wg prints for a zero fwmark or keepalive in script output. */
export const OFF = 'off';

/** What pretty output prints for a secret key unless `WG_HIDE_KEYS=never`. */
export const HIDDEN_KEY = '(hidden)';

/** A preshared key counts only when non-zero, as wg sets WGPEER_HAS_PRESHARED_KEY. */
export function presharedKeyOf(peer: PeerInfo): Key | null {
  const psk = peer.presharedKey;
  return psk !== null && !psk.isZero() ? psk : null;
}

/** show.c `maybe_key`: the key's base64 (revealed), or `(none)`. */
export function keyOrNone(key: Key | string | null): string {
  if (key === null) return NONE;
  return typeof key === 'string' ? key : key.toBase64();
}

/** show.c `masked_key`: `(hidden)` unless keys are shown. */
export function maskedKey(key: Key, hideKeys: boolean): string {
  return hideKeys ? HIDDEN_KEY : key.toBase64();
}

/** The handshake's `tv_sec` as wg prints it with `%llu`: 0 for never. */
export function handshakeSeconds(peer: PeerInfo): bigint {
  if (peer.lastHandshake === null) return 0n;
  return BigInt.asUintN(64, epochSeconds(peer.lastHandshake));
}

/** `%u` of a 32-bit unsigned field. */
export function u32(value: number): string {
  return String(value >>> 0);
}

/** `%u` of a 16-bit unsigned field. */
export function u16(value: number): string {
  return String(value & 0xffff);
}

/** `%PRIu64` of a counter. */
export function u64(value: bigint): string {
  return BigInt.asUintN(64, value).toString();
}

/** The fwmark as script output prints it: `0x%x`, or `off` for 0. */
export function fwmarkText(fwmark: number): string {
  return fwmark >>> 0 ? `0x${(fwmark >>> 0).toString(16)}` : OFF;
}

/** The keepalive as script output prints it: `%u`, or `off` for 0. */
export function keepaliveText(seconds: number): string {
  return seconds & 0xffff ? u16(seconds) : OFF;
}
