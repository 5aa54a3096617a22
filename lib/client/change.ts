/**
 * Turns a `DeviceChange` into what the native backends take: validates every field first
 * (collecting all problems, each with its field path), then resolves host-name endpoints.
 * Nothing is sent when anything is wrong.
 */
import { ProblemCollector } from '../config/problems.js';
import { checkAllowedIP, checkFwMark, checkListenPort, checkPersistentKeepalive, isKeyText } from '../config/values.js';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { Key } from '../keys.js';
import type { KeyKind } from '../keys.js';
import type { JsDeviceConfig, JsPeerConfig } from '../binding.js';
import type { DeviceChange, PeerChange } from '../types.js';
import { checkEndpoint } from '../config/endpoint.js';
import { resolveEndpoint, type ResolveOptions } from './resolve-endpoint.js';

const DEVICE_FIELDS = new Set(['privateKey', 'listenPort', 'fwmark', 'replacePeers', 'peers']);
const PEER_FIELDS = new Set([
  'publicKey',
  'remove',
  'updateOnly',
  'presharedKey',
  'endpoint',
  'persistentKeepalive',
  'replaceAllowedIPs',
  'allowedIPs',
]);

/** Validates a change; throws `InvalidArgumentError` naming the first bad field (and counting the rest). */
export function validateChange(change: DeviceChange): void {
  const problems = new ProblemCollector();
  const at = (path: string) => problems.at({ path });
  const bad = (path: string, message: string) => at(path)(ErrorCodes.INVALID_ARGUMENT as never, message);

  if (typeof change !== 'object' || change === null) throw invalidArgument('change', 'a device change must be an object');
  for (const key of Object.keys(change)) if (!DEVICE_FIELDS.has(key)) bad(key, `unknown field \`${key}'`);
  if (change.privateKey != null) checkKeyValue(change.privateKey, 'private', 'privateKey', bad);
  if (change.listenPort !== undefined) checkListenPort(change.listenPort, String(change.listenPort), at('listenPort'));
  if (change.fwmark !== undefined) checkFwMark(change.fwmark, String(change.fwmark), at('fwmark'));
  if (change.replacePeers !== undefined && typeof change.replacePeers !== 'boolean') {
    bad('replacePeers', 'must be a boolean');
  }
  if (change.peers !== undefined && !Array.isArray(change.peers)) bad('peers', 'must be an array');
  (Array.isArray(change.peers) ? change.peers : []).forEach((peer, i) => {
    const p = `peers[${i}]`;
    if (typeof peer !== 'object' || peer === null) return bad(p, 'a peer must be an object');
    for (const key of Object.keys(peer)) if (!PEER_FIELDS.has(key)) bad(`${p}.${key}`, `unknown field \`${key}'`);
    if (peer.publicKey == null) bad(`${p}.publicKey`, 'A peer is missing a public key');
    else checkKeyValue(peer.publicKey, 'public', `${p}.publicKey`, bad);
    for (const flag of ['remove', 'updateOnly', 'replaceAllowedIPs'] as const) {
      if (peer[flag] !== undefined && typeof peer[flag] !== 'boolean') bad(`${p}.${flag}`, 'must be a boolean');
    }
    if (peer.presharedKey != null) checkKeyValue(peer.presharedKey, 'preshared', `${p}.presharedKey`, bad);
    if (peer.endpoint !== undefined) {
      if (typeof peer.endpoint !== 'string') bad(`${p}.endpoint`, 'must be a string');
      else checkEndpoint(peer.endpoint, at(`${p}.endpoint`));
    }
    if (peer.persistentKeepalive !== undefined) {
      checkPersistentKeepalive(peer.persistentKeepalive, String(peer.persistentKeepalive), at(`${p}.persistentKeepalive`));
    }
    if (peer.allowedIPs !== undefined && !Array.isArray(peer.allowedIPs)) bad(`${p}.allowedIPs`, 'must be an array');
    (Array.isArray(peer.allowedIPs) ? peer.allowedIPs : []).forEach((ip, j) => {
      if (typeof ip !== 'string') bad(`${p}.allowedIPs[${j}]`, 'must be a string');
      else checkAllowedIP(ip, at(`${p}.allowedIPs[${j}]`));
    });
  });

  const errors = problems.problems.filter((x) => x.severity === 'error');
  const first = errors[0];
  if (first) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problems)` : '';
    throw invalidArgument(first.path ?? 'change', `${first.message}${more}`);
  }
}

function checkKeyValue(value: unknown, kind: KeyKind, path: string, bad: (path: string, message: string) => void): void {
  if (value instanceof Key) return;
  if (typeof value !== 'string') return bad(path, 'must be a Key or a base64 string');
  if (!isKeyText(value, kind)) {
    bad(path, kind === 'public' ? `Key is not the correct length or format: \`${value}'` : 'Key is not the correct length or format');
  }
}

function invalidArgument(field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `${field}: ${message}`, { field });
}

/** Validates `change`, resolves its endpoints, and converts it for the addon. */
export async function toNativeConfig(change: DeviceChange, options: ResolveOptions = {}): Promise<JsDeviceConfig> {
  validateChange(change);
  const peers: JsPeerConfig[] = [];
  for (const [i, peer] of (change.peers ?? []).entries()) {
    peers.push(await toNativePeer(peer, `peers[${i}]`, options));
  }
  const out: JsDeviceConfig = { peers };
  if (change.privateKey !== undefined) out.privateKey = secretBytes(change.privateKey, 'private');
  if (change.listenPort !== undefined) out.listenPort = change.listenPort;
  if (change.fwmark !== undefined) out.fwmark = change.fwmark;
  if (change.replacePeers) out.replacePeers = true;
  return out;
}

async function toNativePeer(peer: PeerChange, path: string, options: ResolveOptions): Promise<JsPeerConfig> {
  // A string was checked by `validateChange`: sent as it is, not parsed again.
  const publicKey = typeof peer.publicKey === 'string' ? peer.publicKey : peer.publicKey.toBase64();
  const out: JsPeerConfig = { publicKey };
  if (peer.remove) out.remove = true;
  if (peer.updateOnly) out.updateOnly = true;
  if (peer.presharedKey !== undefined) out.presharedKey = secretBytes(peer.presharedKey, 'preshared');
  if (peer.endpoint !== undefined) {
    out.endpoint = await resolveEndpoint(peer.endpoint, { ...options, field: `${path}.endpoint` });
  }
  if (peer.persistentKeepalive !== undefined) out.persistentKeepaliveInterval = peer.persistentKeepalive;
  if (peer.replaceAllowedIPs) out.replaceAllowedIps = true;
  if (peer.allowedIPs !== undefined) out.allowedIps = [...peer.allowedIPs];
  return out;
}

/** The key's bytes; `null` means the zero key (remove). */
function secretBytes(value: Key | string | null, kind: KeyKind): Buffer {
  if (value === null) return Buffer.alloc(32);
  return Key.from(value, kind).toBytes();
}
