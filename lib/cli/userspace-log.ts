/**
 * The log of `wgkit-userspace`, as wireguard-go logs: `LOG_LEVEL` picks the level (`verbose` or
 * `debug`: everything; `error`, the default and what any other value means: errors only;
 * `silent`: nothing), and each line is `DEBUG: (NAME) 2006/01/02 15:04:05 message` or
 * `ERROR: (NAME) …`, local time, as Go's `log` package prints with `Ldate | Ltime`.
 *
 * Lines name peers as wireguard-go does, `peer(AbCd…WxYz)` (the first and last four characters of
 * the public key), and never carry a private or preshared key: their inputs are public keys,
 * endpoints, counts and the messages of device errors, which name no key.
 */
import type { WireGuardDevice } from '../device/device.js';

export type UserspaceLogLevel = 'silent' | 'error' | 'verbose';

/** wireguard-go's reading of `LOG_LEVEL`. */
export function logLevelFrom(env: NodeJS.ProcessEnv): UserspaceLogLevel {
  switch (env.LOG_LEVEL) {
    case 'verbose':
    case 'debug':
      return 'verbose';
    case 'silent':
      return 'silent';
    default:
      return 'error';
  }
}

export interface UserspaceLogger {
  readonly level: UserspaceLogLevel;
  /** A `DEBUG:` line, written at level `verbose` only. */
  verbose(message: string): void;
  /** An `ERROR:` line, written unless the level is `silent`. */
  error(message: string): void;
}

const two = (n: number) => String(n).padStart(2, '0');

/** Go's `log.Ldate | log.Ltime` prefix: `2006/01/02 15:04:05`, local time. */
export function logTimestamp(at: Date): string {
  return `${at.getFullYear()}/${two(at.getMonth() + 1)}/${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/**
 * A logger for interface `name` that hands each complete line to `write`. `write` is expected
 * not to throw; the CLI's writer drops a line it cannot write (a daemon outlives the terminal or
 * pipe it was started from, and losing that sink must not stop the device).
 */
export function createUserspaceLogger(level: UserspaceLogLevel, name: string, write: (line: string) => void, now: () => Date = () => new Date()): UserspaceLogger {
  const line = (prefix: string, message: string) => write(`${prefix}: (${name}) ${logTimestamp(now())} ${message}\n`);
  return {
    level,
    verbose: (message) => (level === 'verbose' ? line('DEBUG', message) : undefined),
    error: (message) => (level !== 'silent' ? line('ERROR', message) : undefined),
  };
}

/** wireguard-go's name for a peer: `peer(` + the first 4 and last 4 characters of its key + `)`. */
export function peerName(publicKey: string): string {
  return `peer(${publicKey.slice(0, 4)}…${publicKey.slice(39, 43)})`;
}

/**
 * Logs the device's events: peer handshakes and sessions (verbose), device errors (error). The
 * same failure reported by several of the device's threads at once (each TUN queue sees the
 * deleted interface) is logged once.
 */
export function logDeviceEvents(device: WireGuardDevice, logger: UserspaceLogger): void {
  let lastError: string | undefined;
  device.on('error', (error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    logger.error(error.message);
  });
  if (logger.level !== 'verbose') return;
  device.on('handshake', (e) => logger.verbose(`${peerName(e.publicKey)} - Handshake completed as ${e.initiator ? 'initiator' : 'responder'}, new session keys`));
  device.on('handshakeFailed', (e) => logger.verbose(`${peerName(e.publicKey)} - Handshake did not complete after ${e.attempts} attempts, giving up`));
  device.on('endpointChanged', (e) => logger.verbose(`${peerName(e.publicKey)} - Endpoint changed from ${e.previous ?? '(none)'} to ${e.endpoint}`));
  device.on('peerStale', (e) =>
    logger.verbose(`${peerName(e.publicKey)} - Removing all keys, since we haven't received a new one in 540 seconds (last handshake ${logTimestamp(e.lastHandshake)})`),
  );
  device.on('peerActive', (e) => logger.verbose(`${peerName(e.publicKey)} - Session keys again after being stale`));
}
