/**
 * Validation of the object form of a whole interface (`InterfaceConfig`). The wg(8) and
 * wg-quick(8) fields are checked by the `WgConfig` validator (`lib/config/validate.ts`) with
 * the NixOS fields taken out first, so their problems and paths are exactly the ones
 * `validateConfig` reports; the NixOS fields and NixOS's assertions are checked here. Every
 * problem is collected, each with the path of its field (`peers[2].presharedKeyFile`).
 */
import type { ConfigProblem } from '../errors.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from '../config/problems.js';
import type { Report } from '../config/problems.js';
import { validateConfig } from '../config/validate.js';
import { INIT_NAMESPACE, INTERFACE_EXTRA_FIELDS, PEER_EXTRA_FIELDS } from './model.js';
import type { InterfaceConfig } from './model.js';

export interface InterfaceValidateOptions {
  /** A file name to put in every problem. */
  file?: string;
}

/** The largest route metric (`ip route … metric`, RTA_PRIORITY is a u32). */
export const MAX_METRIC = 0xffffffff;
/** NAME_MAX: the longest file name under /var/run/netns. */
export const MAX_NAMESPACE_LENGTH = 255;

type Plain = Record<string, unknown>;

/**
 * Every problem of an interface configuration object (errors and warnings); empty when it is
 * valid. Never throws. Paths are those of `validateConfig` (`interface.listenPort`,
 * `peers[0].allowedIPs[1]`); a problem with the object itself has the path `(root)`.
 */
export function validateInterfaceConfig(value: unknown, options: InterfaceValidateOptions = {}): ConfigProblem[] {
  const wg = validateConfig(stripExtraFields(value), { format: 'wg-quick', ...options });
  const extra = new ProblemCollector(options.file);
  if (isPlainObject(value)) new ExtraFieldsValidator(extra).config(value);
  return [...wg, ...extra.problems];
}

/**
 * Validates an interface configuration object and returns it (the same object, typed) with
 * its warnings; throws `ConfigError` listing every problem if any is an error.
 */
export function checkInterfaceConfig(
  value: unknown,
  options: InterfaceValidateOptions = {},
): { config: InterfaceConfig; warnings: ConfigProblem[] } {
  const problems = validateInterfaceConfig(value, options);
  const collector = new ProblemCollector();
  collector.problems.push(...problems);
  collector.throwIfErrors();
  return { config: value as InterfaceConfig, warnings: collector.warnings };
}

/** The object without the NixOS fields, for the `WgConfig` validator; other values unchanged. */
function stripExtraFields(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const stripped: Plain = { ...value };
  if (isPlainObject(value.interface)) stripped.interface = omit(value.interface, INTERFACE_EXTRA_FIELDS);
  if (Array.isArray(value.peers)) {
    stripped.peers = value.peers.map((peer: unknown) => (isPlainObject(peer) ? omit(peer, PEER_EXTRA_FIELDS) : peer));
  }
  return stripped;
}

function omit(value: Plain, fields: readonly string[]): Plain {
  const copy: Plain = {};
  for (const [key, item] of Object.entries(value)) if (!fields.includes(key)) copy[key] = item;
  return copy;
}

/** The checks of the fields in `INTERFACE_EXTRA_FIELDS` and `PEER_EXTRA_FIELDS`, and NixOS's assertions. */
class ExtraFieldsValidator {
  constructor(private readonly problems: ProblemCollector) {}

  #at(path: string): Report {
    return this.problems.at({ path });
  }

  config(value: Plain): void {
    if (isPlainObject(value.interface)) this.#interface(value.interface);
    if (Array.isArray(value.peers)) {
      value.peers.forEach((peer: unknown, i) => {
        if (isPlainObject(peer)) this.#peer(peer, `peers[${i}]`);
      });
    }
  }

  #interface(value: Plain): void {
    const field = (name: string): string => `interface.${name}`;
    this.#typed(value.privateKeyFile, field('privateKeyFile'), 'string', checkPath);
    this.#typed(value.generatePrivateKeyFile, field('generatePrivateKeyFile'), 'boolean');
    this.#typed(value.metric, field('metric'), 'number', checkMetric);
    this.#typed(value.allowedIPsAsRoutes, field('allowedIPsAsRoutes'), 'boolean');
    for (const hook of ['preSetup', 'postSetup', 'preShutdown', 'postShutdown'] as const) {
      this.#hooks(value[hook], field(hook));
    }
    this.#typed(value.socketNamespace, field('socketNamespace'), 'string', checkNamespace);
    this.#typed(value.interfaceNamespace, field('interfaceNamespace'), 'string', checkNamespace);
    this.#typed(value.dynamicEndpointRefreshSeconds, field('dynamicEndpointRefreshSeconds'), 'number', checkSeconds);
    this.#typed(value.dynamicEndpointRefreshRestartSeconds, field('dynamicEndpointRefreshRestartSeconds'), 'number', checkSeconds);

    // NixOS's assertions (nixos/modules/services/networking/wireguard.nix), as problems.
    const set = (name: string): boolean => value[name] !== undefined;
    if (set('privateKey') && set('privateKeyFile')) {
      this.#at(field('privateKeyFile'))(Codes.CONFLICT, "`privateKey' and `privateKeyFile' cannot both be set");
    }
    if (value.generatePrivateKeyFile === true) {
      if (!set('privateKeyFile')) {
        this.#at(field('generatePrivateKeyFile'))(Codes.MISSING_DEPENDENCY, "`generatePrivateKeyFile' requires `privateKeyFile'");
      }
      if (set('privateKey')) {
        this.#at(field('generatePrivateKeyFile'))(Codes.CONFLICT, "`generatePrivateKeyFile' cannot be set together with `privateKey'");
      }
    }
  }

  #peer(value: Plain, path: string): void {
    const field = (name: string): string => `${path}.${name}`;
    this.#typed(value.name, field('name'), 'string', checkPeerName);
    this.#typed(value.presharedKeyFile, field('presharedKeyFile'), 'string', checkPath);
    this.#typed(value.dynamicEndpointRefreshSeconds, field('dynamicEndpointRefreshSeconds'), 'number', checkSeconds);
    this.#typed(value.dynamicEndpointRefreshRestartSeconds, field('dynamicEndpointRefreshRestartSeconds'), 'number', checkSeconds);
    if (value.presharedKey !== undefined && value.presharedKeyFile !== undefined) {
      this.#at(field('presharedKeyFile'))(Codes.CONFLICT, "`presharedKey' and `presharedKeyFile' cannot both be set");
    }
  }

  /** An optional field of a JavaScript type, checked by `check` when present. */
  #typed<T extends 'string' | 'number' | 'boolean'>(
    value: unknown,
    path: string,
    type: T,
    check?: (value: T extends 'string' ? string : T extends 'number' ? number : boolean, at: Report) => unknown,
  ): void {
    if (value === undefined) return;
    if (typeof value !== type) this.#wrongType(path, `a ${type}`, value);
    else check?.(value as never, this.#at(path));
  }

  /** Hook commands: an array of strings, each a shell script (several lines allowed, as in NixOS). */
  #hooks(value: unknown, path: string): void {
    if (value === undefined) return;
    if (!Array.isArray(value)) {
      this.#wrongType(path, 'an array of strings', value);
      return;
    }
    value.forEach((item: unknown, i) => this.#typed(item ?? null, `${path}[${i}]`, 'string', checkScript));
  }

  #wrongType(path: string, expected: string, value: unknown): void {
    this.#at(path)(Codes.INVALID_TYPE, `Expected ${expected}, got ${describeType(value)}`);
  }
}

/** A key file path: absolute (as NixOS's `path` type and systemd-networkd require), without NUL. */
export function checkPath(path: string, report: Report): string | undefined {
  if (path.includes('\0')) {
    report(Codes.INVALID_PATH, 'Path contains a NUL character');
    return undefined;
  }
  if (!path.startsWith('/')) {
    report(Codes.INVALID_PATH, `Path is not absolute: \`${path}'`);
    return undefined;
  }
  return path;
}

/** `init`, or a name `ip netns` accepts: non-empty, at most 255 bytes, no `/`, not `.` or `..`. */
export function isValidNamespace(name: string): boolean {
  if (name === INIT_NAMESPACE) return true;
  return (
    name !== '' &&
    Buffer.byteLength(name) <= MAX_NAMESPACE_LENGTH &&
    !name.includes('/') &&
    !name.includes('\0') &&
    name !== '.' &&
    name !== '..'
  );
}

export function checkNamespace(name: string, report: Report): string | undefined {
  if (isValidNamespace(name)) return name;
  report(Codes.INVALID_NAMESPACE, `Network namespace is neither \`init' nor a valid name under /var/run/netns: \`${name}'`);
  return undefined;
}

export function checkMetric(metric: number, report: Report): number | undefined {
  if (Number.isInteger(metric) && metric >= 0 && metric <= MAX_METRIC) return metric;
  report(Codes.INVALID_METRIC, `Metric is not 0-4294967295: \`${metric}'`);
  return undefined;
}

export function checkSeconds(seconds: number, report: Report): number | undefined {
  if (Number.isSafeInteger(seconds) && seconds >= 0) return seconds;
  report(Codes.INVALID_REFRESH, `Refresh interval is not a non-negative integer number of seconds: \`${seconds}'`);
  return undefined;
}

/** A peer label: non-empty, no control characters (it ends up in logs and unit names). */
export function checkPeerName(name: string, report: Report): string | undefined {
  if (name !== '' && !/[\x00-\x1f\x7f]/.test(name)) return name;
  report(Codes.INVALID_NAME, 'Peer name is empty or contains control characters');
  return undefined;
}

/** A hook script may span lines (NixOS joins a list with newlines), but cannot hold a NUL. */
export function checkScript(script: string, report: Report): string | undefined {
  if (!script.includes('\0')) return script;
  report(Codes.INVALID_HOOK, 'Hook command contains a NUL character');
  return undefined;
}

export function isPlainObject(value: unknown): value is Plain {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The kind of a value, never the value itself (it may be a key). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
