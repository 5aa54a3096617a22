/**
 * The `wg set` grammar (wireguard-tools config.c `config_read_cmd`):
 *
 *   [listen-port PORT] [fwmark MARK] [private-key FILE]
 *   [peer KEY [remove] [preshared-key FILE] [endpoint HOST:PORT]
 *             [persistent-keepalive SECONDS|off] [allowed-ips [+|-]IP[/CIDR][,…]]]…
 *
 * Device keywords come before the first `peer`. Key arguments are files, read as wg reads
 * key files (an empty file or /dev/null removes the key). `allowed-ips` replaces the peer's
 * list unless an entry carries a `+`/`-` prefix. Errors carry wg's messages.
 */
import { checkEndpoint } from '../config/endpoint.js';
import { ProblemCollector } from '../config/problems.js';
import { checkAllowedIP, checkKey, parseFwMark, parseListenPort, parsePersistentKeepalive } from '../config/values.js';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { readKeyFile } from '../keys.js';
import type { DeviceChange, PeerChange } from '../types.js';

export async function parseSetArguments(args: readonly string[]): Promise<DeviceChange> {
  const change: DeviceChange = {};
  const peers: PeerChange[] = [];
  let peer: PeerChange | undefined;
  let i = 0;
  const value = (what: string): string => check(args[i + 1], what);
  while (i < args.length) {
    const word = args[i]!;
    const hasValue = i + 1 < args.length;
    if (word === 'listen-port' && hasValue && !peer) {
      change.listenPort = parsed(value(word), parseListenPort, word);
    } else if (word === 'fwmark' && hasValue && !peer) {
      change.fwmark = parsed(value(word), parseFwMark, word);
    } else if (word === 'private-key' && hasValue && !peer) {
      change.privateKey = await readKeyFile(value(word), 'private');
    } else if (word === 'peer' && hasValue) {
      const key = value(word);
      parsed(key, (t, r) => checkKey(t, 'public', r), word);
      peer = { publicKey: key };
      peers.push(peer);
    } else if (word === 'remove' && peer) {
      peer.remove = true;
      i += 1;
      continue;
    } else if (word === 'endpoint' && hasValue && peer) {
      peer.endpoint = parsed(value(word), checkEndpoint, word);
    } else if (word === 'allowed-ips' && hasValue && peer) {
      const list = value(word).replace(/\s+/g, '');
      const entries = list === '' ? [] : list.split(',');
      for (const entry of entries) parsed(entry, checkAllowedIP, word);
      peer.allowedIPs = entries;
      peer.replaceAllowedIPs = !entries.some((e) => e.startsWith('+') || e.startsWith('-'));
    } else if (word === 'persistent-keepalive' && hasValue && peer) {
      peer.persistentKeepalive = parsed(value(word), parsePersistentKeepalive, word);
    } else if (word === 'preshared-key' && hasValue && peer) {
      peer.presharedKey = await readKeyFile(value(word), 'preshared');
    } else {
      throw invalid(`Invalid argument: ${word}`, word);
    }
    i += 2;
  }
  if (peers.length > 0) change.peers = peers;
  return change;
}

function check(text: string | undefined, what: string): string {
  if (text === undefined) throw invalid(`Invalid argument: ${what}`, what);
  return text;
}

/** Runs a config value check and throws its first error (wg stops at the first one). */
function parsed<T>(text: string, parse: (text: string, report: ReturnType<ProblemCollector['at']>) => T | undefined, field: string): T {
  const problems = new ProblemCollector();
  const result = parse(text, problems.at({ path: field }));
  const error = problems.problems.find((p) => p.severity === 'error');
  if (error || result === undefined) throw invalid(error?.message ?? `Invalid argument: ${text}`, field);
  return result;
}

function invalid(message: string, field: string): InvalidArgumentError {
  return new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, message, { field });
}
