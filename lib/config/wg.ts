/**
 * The wg(8) configuration format, read as `wg setconf` reads it (config.c) and written as
 * `wg showconf` writes it (showconf.c).
 *
 * Reading: a `#` starts a comment that runs to the end of the line; all whitespace is then
 * removed from the line; section names and keys are case-insensitive; a key needs a non-empty
 * value. Unlike wg, which stops at the first problem, every problem is collected.
 */
import type { ConfigProblem } from '../errors.js';
import { checkPeerKeys } from './consistency.js';
import type { WgConfig, WgInterfaceSection, WgPeerSection } from './model.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from './problems.js';
import type { Report } from './problems.js';
import { checkConfig } from './validate.js';
import { checkEndpoint } from './endpoint.js';
import { checkAllowedIP, checkKey, parseFwMark, parseListenPort, parsePersistentKeepalive } from './values.js';

export interface ConfigParseOptions {
  /** A file name to put in every problem. */
  file?: string;
}

export interface ConfigParseResult {
  config: WgConfig;
  /** Problems that do not stop the configuration from working (severity `warning`). */
  warnings: ConfigProblem[];
}

/** wg's `char_is_space`. */
const WHITESPACE = /[ \t\n\v\f\r]/g;

/** The lines of a file as `getline` returns them (a final newline does not start a line). */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

interface PeerState {
  section: WgPeerSection;
  /** The line of the `[Peer]` header. */
  headerLine: number;
  /** The line of the last `PublicKey`, valid or not. */
  publicKeyLine: number | undefined;
  validPublicKey: string | undefined;
}

/** Reads wg(8) lines one at a time; wg-quick feeds it the lines it does not handle itself. */
export class WgConfigReader {
  readonly config: WgConfig = { interface: {}, peers: [] };
  #section: 'none' | 'interface' | 'peer' = 'none';
  readonly #peers: PeerState[] = [];
  #validPrivateKey: string | undefined;

  constructor(private readonly problems: ProblemCollector) {}

  /** One raw line of the file, with its 1-based number. */
  readLine(input: string, line: number): void {
    const hash = input.indexOf('#');
    const cleaned = (hash < 0 ? input : input.slice(0, hash)).replace(WHITESPACE, '');
    if (cleaned !== '') this.#process(cleaned, line, this.problems.at({ line }));
  }

  #process(line: string, lineNumber: number, report: Report): void {
    const lower = line.toLowerCase();
    if (lower === '[interface]') {
      this.#section = 'interface';
      return;
    }
    if (lower === '[peer]') {
      const section: WgPeerSection = { publicKey: '' };
      this.config.peers.push(section);
      this.#peers.push({ section, headerLine: lineNumber, publicKeyLine: undefined, validPublicKey: undefined });
      this.#section = 'peer';
      return;
    }
    // wg matches `Key=` as a prefix and needs at least one character after it.
    const equals = line.indexOf('=');
    const key = line.slice(0, Math.max(equals, 0)).toLowerCase();
    const value = line.slice(equals + 1);
    let handled = false;
    if (equals > 0 && value !== '') {
      if (this.#section === 'interface') handled = this.#interfaceKey(key, value, report);
      else if (this.#section === 'peer') handled = this.#peerKey(key, value, lineNumber, report);
    }
    if (!handled) report(Codes.LINE_UNRECOGNIZED, `Line unrecognized: \`${hideSecrets(line)}'`);
  }

  #interfaceKey(key: string, value: string, report: Report): boolean {
    const iface: WgInterfaceSection = this.config.interface;
    switch (key) {
      case 'listenport':
        assign(iface, 'listenPort', parseListenPort(value, report));
        return true;
      case 'fwmark':
        assign(iface, 'fwMark', parseFwMark(value, report));
        return true;
      case 'privatekey':
        this.#validPrivateKey = checkKey(value, 'private', report);
        assign(iface, 'privateKey', this.#validPrivateKey);
        return true;
      default:
        return false;
    }
  }

  #peerKey(key: string, value: string, lineNumber: number, report: Report): boolean {
    const peer = this.#peers[this.#peers.length - 1];
    if (peer === undefined) return false;
    const section = peer.section;
    switch (key) {
      case 'endpoint':
        assign(section, 'endpoint', checkEndpoint(value, report));
        return true;
      case 'publickey':
        peer.publicKeyLine = lineNumber;
        peer.validPublicKey = checkKey(value, 'public', report);
        if (peer.validPublicKey !== undefined) section.publicKey = peer.validPublicKey;
        return true;
      case 'allowedips': {
        const entries = value.split(',').filter((entry) => checkAllowedIP(entry, report) !== undefined);
        section.allowedIPs = [...(section.allowedIPs ?? []), ...entries];
        return true;
      }
      case 'persistentkeepalive':
        assign(section, 'persistentKeepalive', parsePersistentKeepalive(value, report));
        return true;
      case 'presharedkey':
        assign(section, 'presharedKey', checkKey(value, 'preshared', report));
        return true;
      default:
        return false;
    }
  }

  /** wg's `config_read_finish`: every peer needs a public key. Then the cross-peer checks. */
  finish(): WgConfig {
    for (const peer of this.#peers) {
      if (peer.publicKeyLine === undefined) {
        this.problems.at({ line: peer.headerLine })(Codes.MISSING_PUBLIC_KEY, 'A peer is missing a public key');
      }
    }
    checkPeerKeys(
      this.#validPrivateKey,
      this.#peers.map((peer) => peer.validPublicKey),
      (i) => this.problems.at({ line: this.#peers[i]?.publicKeyLine ?? 0 }),
    );
    return this.config;
  }
}

function assign<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * wg quotes an unrecognized line whole. A misplaced `PrivateKey` or `PresharedKey` line, or a
 * key pasted on a line of its own, would then show a secret: such values are replaced.
 */
function hideSecrets(line: string): string {
  const equals = line.indexOf('=');
  const name = equals < 0 ? '' : line.slice(0, equals).toLowerCase();
  if (name === 'privatekey' || name === 'presharedkey') return `${line.slice(0, equals + 1)}(hidden)`;
  return line.replace(/[A-Za-z0-9+/]{32,}={0,2}/g, '(hidden)');
}

/** Parses a wg(8) configuration; throws `ConfigError` listing every problem if any is an error. */
export function parseWgConfig(text: string, options: ConfigParseOptions = {}): ConfigParseResult {
  const problems = new ProblemCollector(options.file);
  const reader = new WgConfigReader(problems);
  splitLines(text).forEach((line, i) => reader.readLine(line, i + 1));
  const config = reader.finish();
  problems.throwIfErrors();
  return { config, warnings: problems.warnings };
}

/**
 * Writes the wg(8) part of a configuration in `wg showconf`'s format and order. wg-quick fields
 * are left out, as `wg-quick strip` leaves them out. Fields that are absent are not written;
 * explicit zeros are (`FwMark = 0x0`, `PersistentKeepalive = 0`), so that reading the text back
 * gives the same object. Throws `ConfigError` if the configuration is invalid.
 */
export function formatWgConfig(config: WgConfig): string {
  checkConfig(config);
  return renderConfig(config, []);
}

/** `wg showconf`'s layout, with `extraInterfaceLines` first in `[Interface]` (wg-quick's place). */
export function renderConfig(config: WgConfig, extraInterfaceLines: readonly string[]): string {
  const iface = config.interface;
  const lines = ['[Interface]', ...extraInterfaceLines];
  if (iface.listenPort !== undefined) lines.push(`ListenPort = ${iface.listenPort}`);
  if (iface.fwMark !== undefined) lines.push(`FwMark = 0x${iface.fwMark.toString(16)}`);
  if (iface.privateKey !== undefined) lines.push(`PrivateKey = ${iface.privateKey}`);
  const head = `${lines.join('\n')}\n\n`;
  return head + config.peers.map(renderPeer).join('\n');
}

function renderPeer(peer: WgPeerSection): string {
  const lines = ['[Peer]', `PublicKey = ${peer.publicKey}`];
  if (peer.presharedKey !== undefined) lines.push(`PresharedKey = ${peer.presharedKey}`);
  if (peer.allowedIPs !== undefined && peer.allowedIPs.length > 0) lines.push(`AllowedIPs = ${peer.allowedIPs.join(', ')}`);
  if (peer.endpoint !== undefined) lines.push(`Endpoint = ${peer.endpoint}`);
  if (peer.persistentKeepalive !== undefined) lines.push(`PersistentKeepalive = ${peer.persistentKeepalive}`);
  return `${lines.join('\n')}\n`;
}
