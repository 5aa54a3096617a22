/**
 * Validation of the object form (`WgConfig`), for objects that come from JSON, a user or
 * another program. Every field is checked with the same rules the file parsers apply, and
 * every problem is collected, each with the path of its field (`peers[2].allowedIPs[0]`).
 */
import type { ConfigProblem } from '../errors.js';
import { checkPeerKeys } from './consistency.js';
import { WG_INTERFACE_FIELDS, WG_PEER_FIELDS, WG_QUICK_FIELDS } from './model.js';
import type { WgConfig } from './model.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from './problems.js';
import type { Report } from './problems.js';
import { checkEndpoint } from './endpoint.js';
import { checkAllowedIP, checkFwMark, checkKey, checkListenPort, checkPersistentKeepalive } from './values.js';
import { checkAddress, checkDnsSearch, checkDnsServer, checkHook, checkMtu, checkTable } from './wg-quick-values.js';

export interface ConfigValidateOptions {
  /** `wg` rejects the wg-quick fields as unknown properties; `wg-quick` (the default) accepts them. */
  format?: 'wg' | 'wg-quick';
  /** A file name to put in every problem. */
  file?: string;
}

type Plain = Record<string, unknown>;

/**
 * Every problem of a configuration object (errors and warnings); empty when it is valid. Paths
 * are relative to the object (`interface.listenPort`); a problem with the object itself has
 * the path `(root)`.
 */
export function validateConfig(value: unknown, options: ConfigValidateOptions = {}): ConfigProblem[] {
  return collect(value, options).problems;
}

/**
 * Validates a configuration object and returns it (the same object, typed) with its warnings;
 * throws `ConfigError` listing every problem if any is an error.
 */
export function checkConfig(value: unknown, options: ConfigValidateOptions = {}): { config: WgConfig; warnings: ConfigProblem[] } {
  const problems = collect(value, options);
  problems.throwIfErrors();
  return { config: value as WgConfig, warnings: problems.warnings };
}

function collect(value: unknown, options: ConfigValidateOptions): ProblemCollector {
  const problems = new ProblemCollector(options.file);
  new Validator(problems, options.format ?? 'wg-quick').config(value);
  return problems;
}

class Validator {
  constructor(
    private readonly problems: ProblemCollector,
    private readonly format: 'wg' | 'wg-quick',
  ) {}

  #at(path: string): Report {
    return this.problems.at({ path });
  }

  config(value: unknown): void {
    if (!this.#object(value, '(root)')) return;
    this.#known(value, ['interface', 'peers'], '');
    if (value.interface === undefined) this.#missing('interface');
    else this.#interface(value.interface);
    if (value.peers === undefined) this.#missing('peers');
    else this.#peers(value.peers, value.interface);
  }

  #interface(value: unknown): void {
    const path = 'interface';
    if (!this.#object(value, path)) return;
    const quick = this.format === 'wg-quick' ? WG_QUICK_FIELDS : [];
    this.#known(value, [...WG_INTERFACE_FIELDS, ...quick], `${path}.`);
    const field = (name: string): string => `${path}.${name}`;
    this.#optional(value.privateKey, field('privateKey'), 'string', (v, at) => checkKey(v, 'private', at));
    this.#optional(value.listenPort, field('listenPort'), 'number', (v, at) => checkListenPort(v, String(v), at));
    this.#optional(value.fwMark, field('fwMark'), 'number', (v, at) => checkFwMark(v, String(v), at));
    if (this.format === 'wg') return;
    this.#list(value.address, field('address'), (v, at) => checkAddress(v, at));
    this.#list(value.dns, field('dns'), (v, at) => checkDnsServer(v, at));
    this.#list(value.dnsSearch, field('dnsSearch'), (v, at) => checkDnsSearch(v, at));
    this.#optional(value.mtu, field('mtu'), 'number', (v, at) => checkMtu(v, String(v), at));
    this.#optional(value.table, field('table'), 'string', (v, at) => checkTable(v, at));
    for (const hook of ['preUp', 'postUp', 'preDown', 'postDown'] as const) {
      this.#list(value[hook], field(hook), (v, at) => checkHook(v, at));
    }
    this.#optional(value.saveConfig, field('saveConfig'), 'boolean', () => undefined);
  }

  #peers(value: unknown, iface: unknown): void {
    if (!Array.isArray(value)) {
      this.#wrongType('peers', 'an array', value);
      return;
    }
    const publicKeys = value.map((peer: unknown, i) => this.#peer(peer, `peers[${i}]`));
    const privateKey = isPlain(iface) && typeof iface.privateKey === 'string' ? iface.privateKey : undefined;
    checkPeerKeys(privateKey, publicKeys, (i) => this.#at(`peers[${i}].publicKey`));
  }

  /** Checks one peer; returns its public key when valid. */
  #peer(value: unknown, path: string): string | undefined {
    if (!this.#object(value, path)) return undefined;
    this.#known(value, WG_PEER_FIELDS, `${path}.`);
    const field = (name: string): string => `${path}.${name}`;
    let publicKey: string | undefined;
    if (value.publicKey === undefined) {
      this.#at(field('publicKey'))(Codes.MISSING_PUBLIC_KEY, 'A peer is missing a public key');
    } else {
      this.#optional(value.publicKey, field('publicKey'), 'string', (v, at) => (publicKey = checkKey(v, 'public', at)));
    }
    this.#optional(value.presharedKey, field('presharedKey'), 'string', (v, at) => checkKey(v, 'preshared', at));
    this.#list(value.allowedIPs, field('allowedIPs'), (v, at) => checkAllowedIP(v, at));
    this.#optional(value.endpoint, field('endpoint'), 'string', (v, at) => checkEndpoint(v, at));
    this.#optional(value.persistentKeepalive, field('persistentKeepalive'), 'number', (v, at) =>
      checkPersistentKeepalive(v, String(v), at),
    );
    return publicKey;
  }

  /** An optional field of a JavaScript type, checked by `check` when present. */
  #optional<T extends 'string' | 'number' | 'boolean'>(
    value: unknown,
    path: string,
    type: T,
    check: (value: TypeOf<T>, at: Report) => unknown,
  ): void {
    if (value === undefined) return;
    if (typeof value !== type) this.#wrongType(path, `a ${type}`, value);
    else check(value as TypeOf<T>, this.#at(path));
  }

  /** An optional array of strings, each checked by `check`. */
  #list(value: unknown, path: string, check: (value: string, at: Report) => unknown): void {
    if (value === undefined) return;
    if (!Array.isArray(value)) {
      this.#wrongType(path, 'an array of strings', value);
      return;
    }
    value.forEach((item: unknown, i) => this.#optional(item ?? null, `${path}[${i}]`, 'string', check));
  }

  #object(value: unknown, path: string): value is Plain {
    if (isPlain(value)) return true;
    this.#wrongType(path, 'a plain object', value);
    return false;
  }

  #known(value: Plain, allowed: readonly string[], prefix: string): void {
    for (const key of Object.keys(value)) {
      if (allowed.includes(key) || value[key] === undefined) continue;
      const like = allowed.find((name) => name.toLowerCase() === key.toLowerCase());
      const hint = like === undefined ? '' : ` (did you mean \`${like}'?)`;
      this.#at(`${prefix}${key}`)(Codes.UNKNOWN_PROPERTY, `Unknown property \`${key}'${hint}`);
    }
  }

  #missing(path: string): void {
    this.#at(path)(Codes.MISSING_PROPERTY, `Missing property \`${path}'`);
  }

  #wrongType(path: string, expected: string, value: unknown): void {
    this.#at(path)(Codes.INVALID_TYPE, `Expected ${expected}, got ${describeType(value)}`);
  }
}

type TypeOf<T> = T extends 'string' ? string : T extends 'number' ? number : boolean;

function isPlain(value: unknown): value is Plain {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The kind of a value, never the value itself (it may be a key). */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
