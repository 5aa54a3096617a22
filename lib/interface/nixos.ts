/**
 * NixOS's `networking.wireguard.interfaces.<name>` options (nixos/modules/services/networking/
 * wireguard.nix in nixpkgs) mapped to and from `InterfaceConfig`. The options are accepted
 * as a user writes them (defaults left out) and as `nix eval --json` prints them (every
 * default filled in, `null` for unset). Problems are reported at NixOS option paths
 * (`ips[1]`, `peers[0].presharedKeyFile`), with NixOS's assertions among them.
 *
 * Not supported: `type = "amneziawg"` and a non-empty `extraOptions` (AmneziaWG settings), and
 * the removed peer option `publicKeyFile`; they are reported as problems.
 */
import type { ConfigProblem } from '../errors.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from '../config/problems.js';
import type { Report } from '../config/problems.js';
import { parseFwMark } from '../config/values.js';
import type { InterfaceConfig, InterfacePeer } from './model.js';
import { checkInterfaceConfig, describeType, isPlainObject, validateInterfaceConfig } from './validate.js';
import type { InterfaceValidateOptions } from './validate.js';

/** NixOS's `lines` type coerced from `listOf str`: one script, or a list of lines joined with newlines. */
export type NixosLines = string | string[];

/** `networking.wireguard.interfaces.<name>.peers.*`. */
export interface NixosPeerOptions {
  /** Default: the public key with `/ - space + =` escaped as systemd unit names need (`nixosPeerName`). */
  name?: string;
  publicKey: string;
  presharedKey?: string | null;
  presharedKeyFile?: string | null;
  /** Required in NixOS (no default). */
  allowedIPs: string[];
  endpoint?: string | null;
  persistentKeepalive?: number | null;
  /** `null` (the default): the interface's `dynamicEndpointRefreshSeconds`. */
  dynamicEndpointRefreshSeconds?: number | null;
  /** `null` (the default): the refresh interval. */
  dynamicEndpointRefreshRestartSeconds?: number | null;
}

/** `networking.wireguard.interfaces.<name>`. Comments give NixOS's defaults. */
export interface NixosInterfaceOptions {
  /** Default `[]`. */
  ips?: string[];
  privateKey?: string | null;
  privateKeyFile?: string | null;
  /** Default `false`. */
  generatePrivateKeyFile?: boolean;
  listenPort?: number | null;
  /** Default `""`. */
  preSetup?: NixosLines;
  /** Default `""`. */
  postSetup?: NixosLines;
  /** Default `""`. */
  preShutdown?: NixosLines;
  /** Default `""`. */
  postShutdown?: NixosLines;
  /** Default `"main"`: the routing table the allowed-IP routes go into. */
  table?: string;
  metric?: number | null;
  mtu?: number | null;
  /** A string as `wg set … fwmark` reads it: decimal, `0x` hex or `off`. */
  fwMark?: string | null;
  /** Default `true`. */
  allowedIPsAsRoutes?: boolean;
  /** `null` (the default): the init namespace. */
  socketNamespace?: string | null;
  /** `null` (the default): not moved. */
  interfaceNamespace?: string | null;
  /** Default `0` (off). */
  dynamicEndpointRefreshSeconds?: number;
  /** Default `[]`. */
  peers?: NixosPeerOptions[];
  /** Default `"wireguard"`; `"amneziawg"` is not supported. */
  type?: 'wireguard';
  /** Default `{}`; AmneziaWG options, not supported (must be empty). */
  extraOptions?: Record<string, never>;
}

/** NixOS's default table. */
export const NIXOS_DEFAULT_TABLE = 'main';

const HOOKS = ['preSetup', 'postSetup', 'preShutdown', 'postShutdown'] as const;

const INTERFACE_OPTIONS = [
  'ips',
  'privateKey',
  'privateKeyFile',
  'generatePrivateKeyFile',
  'listenPort',
  ...HOOKS,
  'table',
  'metric',
  'mtu',
  'fwMark',
  'allowedIPsAsRoutes',
  'socketNamespace',
  'interfaceNamespace',
  'dynamicEndpointRefreshSeconds',
  'peers',
  'type',
  'extraOptions',
] as const satisfies readonly (keyof NixosInterfaceOptions)[];

const PEER_OPTIONS = [
  'name',
  'publicKey',
  'presharedKey',
  'presharedKeyFile',
  'allowedIPs',
  'endpoint',
  'persistentKeepalive',
  'dynamicEndpointRefreshSeconds',
  'dynamicEndpointRefreshRestartSeconds',
] as const satisfies readonly (keyof NixosPeerOptions)[];

/** Options copied unchanged (`null` meaning unset) between the two forms. */
const SAME_INTERFACE = ['privateKey', 'privateKeyFile', 'listenPort', 'metric', 'mtu', 'socketNamespace', 'interfaceNamespace'] as const;
const SAME_PEER = [
  'publicKey',
  'presharedKey',
  'presharedKeyFile',
  'endpoint',
  'persistentKeepalive',
  'dynamicEndpointRefreshSeconds',
  'dynamicEndpointRefreshRestartSeconds',
] as const;

/** NixOS's default peer `name`: the public key escaped for a systemd unit name. */
export function nixosPeerName(publicKey: string): string {
  const escapes: Record<string, string> = { '/': '-', '-': '\\x2d', ' ': '\\x20', '+': '\\x2b', '=': '\\x3d' };
  return [...publicKey].map((c) => escapes[c] ?? c).join('');
}

/** Every problem of a NixOS options object (errors and warnings), at NixOS option paths. Never throws. */
export function validateNixosOptions(value: unknown, options: InterfaceValidateOptions = {}): ConfigProblem[] {
  return convert(value, options).problems;
}

/** Converts NixOS options, with their warnings; throws `ConfigError` listing every problem if any is an error. */
export function checkNixosOptions(
  value: unknown,
  options: InterfaceValidateOptions = {},
): { config: InterfaceConfig; warnings: ConfigProblem[] } {
  const { config, problems } = convert(value, options);
  const collector = new ProblemCollector();
  collector.problems.push(...problems);
  collector.throwIfErrors();
  return { config, warnings: collector.warnings };
}

/**
 * The `InterfaceConfig` of NixOS options; throws `ConfigError` listing every problem. NixOS's
 * defaults are made explicit where the two forms differ: `table` becomes `"main"` when not set
 * (an unset `InterfaceConfig.table` would mean wg-quick's `auto`); options at their NixOS
 * default that mean the same as leaving the field out (`generatePrivateKeyFile = false`,
 * `allowedIPsAsRoutes = true`, `dynamicEndpointRefreshSeconds = 0`, empty hooks, a peer `name`
 * equal to `nixosPeerName(publicKey)`, `null`s) are left out.
 */
export function fromNixosOptions(options: NixosInterfaceOptions, validate: InterfaceValidateOptions = {}): InterfaceConfig {
  return checkNixosOptions(options, validate).config;
}

/**
 * The NixOS options of an interface (validated first: throws `ConfigError`), with warnings
 * (code `NOT_EXPRESSIBLE`, at `InterfaceConfig` paths) for the fields NixOS has no option for
 * — `dns`, `dnsSearch`, `preUp`, `postUp`, `preDown`, `postDown`, `saveConfig` — and for a
 * wg-quick `table` of `auto` with a default route (wg-quick's policy routing). Options at
 * their NixOS defaults are left out; `fwMark` is written in hex (`0x1234`); `table: "off"`
 * becomes `allowedIPsAsRoutes = false`; the interface's `dynamicEndpointRefreshRestartSeconds`
 * (no NixOS option) is given to each peer that has none of its own. An allowed IP with a `-`
 * (remove) prefix is an error; a `+` prefix is dropped.
 */
export function toNixosOptions(config: InterfaceConfig): { options: NixosInterfaceOptions; warnings: ConfigProblem[] } {
  const { warnings } = checkInterfaceConfig(config);
  const problems = new ProblemCollector();
  const at = (path: string): Report => problems.at({ path });
  const iface = config.interface;
  const options: NixosInterfaceOptions = {};

  if (iface.address !== undefined && iface.address.length > 0) options.ips = [...iface.address];
  for (const field of SAME_INTERFACE) {
    if (iface[field] !== undefined) Object.assign(options, { [field]: iface[field] });
  }
  if (iface.generatePrivateKeyFile === true) options.generatePrivateKeyFile = true;
  for (const hook of HOOKS) {
    const lines = iface[hook];
    if (lines !== undefined && lines.length > 0) options[hook] = [...lines];
  }
  if (iface.fwMark !== undefined) options.fwMark = `0x${iface.fwMark.toString(16)}`;
  const routes = iface.allowedIPsAsRoutes !== false && iface.table !== 'off';
  if (!routes) options.allowedIPsAsRoutes = false;
  else if (iface.table === undefined || iface.table === 'auto') {
    if (config.peers.some((peer) => peer.allowedIPs?.some(isDefaultRoute))) {
      at('interface.table')(
        Codes.NOT_EXPRESSIBLE,
        "wg-quick's `Table = auto' policy routing for a default route cannot be expressed; NixOS puts the route into the main table",
        'warning',
      );
    }
  } else if (iface.table !== NIXOS_DEFAULT_TABLE) options.table = iface.table;
  if (iface.dynamicEndpointRefreshSeconds !== undefined && iface.dynamicEndpointRefreshSeconds !== 0) {
    options.dynamicEndpointRefreshSeconds = iface.dynamicEndpointRefreshSeconds;
  }
  for (const field of ['dns', 'dnsSearch', 'preUp', 'postUp', 'preDown', 'postDown', 'saveConfig'] as const) {
    if (iface[field] !== undefined) {
      at(`interface.${field}`)(Codes.NOT_EXPRESSIBLE, `\`${field}' has no NixOS option and is left out`, 'warning');
    }
  }

  const peers = config.peers.map((peer, i) => {
    const out: NixosPeerOptions = { publicKey: peer.publicKey, allowedIPs: [] };
    if (peer.name !== undefined) out.name = peer.name;
    for (const field of SAME_PEER) {
      if (peer[field] !== undefined) Object.assign(out, { [field]: peer[field] });
    }
    (peer.allowedIPs ?? []).forEach((entry, j) => {
      if (entry.startsWith('-')) {
        at(`peers[${i}].allowedIPs[${j}]`)(Codes.NOT_EXPRESSIBLE, `An allowed IP to remove (\`${entry}') cannot be expressed in NixOS`);
      } else out.allowedIPs.push(entry.startsWith('+') ? entry.slice(1) : entry);
    });
    if (out.dynamicEndpointRefreshRestartSeconds === undefined && iface.dynamicEndpointRefreshRestartSeconds !== undefined) {
      out.dynamicEndpointRefreshRestartSeconds = iface.dynamicEndpointRefreshRestartSeconds;
    }
    return out;
  });
  if (peers.length > 0) options.peers = peers;
  problems.throwIfErrors();
  return { options, warnings: [...warnings, ...problems.problems] };
}

/** `0.0.0.0/0` or `::/0`, with any `+` prefix. */
export function isDefaultRoute(entry: string): boolean {
  const text = entry.startsWith('+') ? entry.slice(1) : entry;
  return /^(0\.0\.0\.0|::)\/0$/.test(text);
}

/** Converts what it can and collects every problem, at NixOS paths. */
function convert(value: unknown, options: InterfaceValidateOptions): { config: InterfaceConfig; problems: ConfigProblem[] } {
  const collector = new ProblemCollector(options.file);
  const converter = new Converter(collector);
  const config = converter.config(value);
  // The InterfaceConfig validator checks the values; its paths are mapped back to NixOS's.
  const checked = isPlainObject(value) ? validateInterfaceConfig(config, options) : [];
  const mapped = checked.map((problem) => ({ ...problem, path: converter.nixosPath(problem.path ?? '(root)') }));
  return { config, problems: [...collector.problems, ...mapped] };
}

class Converter {
  /** Hooks given as one string: their `InterfaceConfig` index 0 is the option itself. */
  readonly #stringHooks = new Set<string>();

  constructor(private readonly problems: ProblemCollector) {}

  #at(path: string): Report {
    return this.problems.at({ path });
  }

  config(value: unknown): InterfaceConfig {
    const config: InterfaceConfig = { interface: {}, peers: [] };
    if (!isPlainObject(value)) {
      this.#at('(root)')(Codes.INVALID_TYPE, `Expected a plain object, got ${describeType(value)}`);
      return config;
    }
    this.#known(value, INTERFACE_OPTIONS, '');
    const iface = config.interface as Record<string, unknown>;
    const has = (name: string): boolean => value[name] !== undefined && value[name] !== null;

    if (value.ips !== undefined) iface.address = value.ips;
    for (const field of SAME_INTERFACE) if (has(field)) iface[field] = value[field];
    if (value.generatePrivateKeyFile !== false && value.generatePrivateKeyFile !== undefined) {
      iface.generatePrivateKeyFile = value.generatePrivateKeyFile;
    }
    for (const hook of HOOKS) this.#hook(value[hook], hook, iface);
    this.#table(value.table, iface);
    if (has('fwMark')) {
      if (typeof value.fwMark !== 'string') this.#wrongType('fwMark', 'a string', value.fwMark);
      else {
        const mark = parseFwMark(value.fwMark, this.#at('fwMark'));
        if (mark !== undefined) iface.fwMark = mark;
      }
    }
    if (value.allowedIPsAsRoutes !== true && value.allowedIPsAsRoutes !== undefined) {
      iface.allowedIPsAsRoutes = value.allowedIPsAsRoutes;
    }
    if (value.dynamicEndpointRefreshSeconds !== 0 && value.dynamicEndpointRefreshSeconds !== undefined) {
      iface.dynamicEndpointRefreshSeconds = value.dynamicEndpointRefreshSeconds;
    }
    if (value.type !== undefined && value.type !== 'wireguard') {
      const shown = typeof value.type === 'string' ? `\`${value.type}'` : describeType(value.type);
      this.#at('type')(Codes.INVALID_VALUE, `Interface type ${shown} is not supported; only \`wireguard' is`);
    }
    if (value.extraOptions !== undefined && !(isPlainObject(value.extraOptions) && Object.keys(value.extraOptions).length === 0)) {
      this.#at('extraOptions')(Codes.INVALID_VALUE, '`extraOptions\' (AmneziaWG settings) is not supported; it must be empty');
    }
    // NixOS: "Either …privateKey or …privateKeyFile must be set." (Both set is the CONFLICT
    // the InterfaceConfig validator reports.)
    if (!has('privateKey') && !has('privateKeyFile')) {
      this.#at('privateKey')(Codes.MISSING_PRIVATE_KEY, "Either `privateKey' or `privateKeyFile' must be set");
    }

    const peers = value.peers ?? [];
    if (!Array.isArray(peers)) (config as { peers: unknown }).peers = peers;
    else config.peers = peers.map((peer: unknown, i) => this.#peer(peer, `peers[${i}]`));
    return config;
  }

  #peer(value: unknown, path: string): InterfacePeer {
    if (!isPlainObject(value)) return value as InterfacePeer;
    this.#known(value, PEER_OPTIONS, `${path}.`);
    const peer: Record<string, unknown> = {};
    for (const field of SAME_PEER) if (value[field] !== undefined && value[field] !== null) peer[field] = value[field];
    if (value.allowedIPs === undefined) {
      this.#at(`${path}.allowedIPs`)(Codes.MISSING_PROPERTY, `Missing property \`${path}.allowedIPs'`);
    } else peer.allowedIPs = value.allowedIPs;
    if (value.name !== undefined && !(typeof value.publicKey === 'string' && value.name === nixosPeerName(value.publicKey))) {
      peer.name = value.name;
    }
    return peer as unknown as InterfacePeer;
  }

  #hook(value: unknown, hook: (typeof HOOKS)[number], iface: Record<string, unknown>): void {
    if (value === undefined || value === '') return;
    if (typeof value === 'string') {
      this.#stringHooks.add(hook);
      iface[hook] = [value];
    } else if (Array.isArray(value)) {
      if (value.length > 0) iface[hook] = value;
    } else this.#wrongType(hook, 'a string or an array of strings', value);
  }

  /** NixOS's `table` names a routing table; `auto` and `off` are wg-quick's words, not tables. */
  #table(value: unknown, iface: Record<string, unknown>): void {
    if (value === 'auto' || value === 'off') {
      this.#at('table')(
        Codes.INVALID_TABLE,
        `\`${value}' is not a routing table in NixOS (use \`allowedIPsAsRoutes = false' to add no routes)`,
      );
    } else iface.table = value ?? NIXOS_DEFAULT_TABLE; // NixOS default "main"
  }

  #known(value: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
    for (const key of Object.keys(value)) {
      if (allowed.includes(key) || value[key] === undefined) continue;
      const like = allowed.find((name) => name.toLowerCase() === key.toLowerCase());
      const hint = like === undefined ? '' : ` (did you mean \`${like}'?)`;
      this.#at(`${prefix}${key}`)(Codes.UNKNOWN_PROPERTY, `Unknown option \`${key}'${hint}`);
    }
  }

  #wrongType(path: string, expected: string, value: unknown): void {
    this.#at(path)(Codes.INVALID_TYPE, `Expected ${expected}, got ${describeType(value)}`);
  }

  /** The NixOS option path of an `InterfaceConfig` path. */
  nixosPath(path: string): string {
    if (path === 'interface') return '(root)';
    if (!path.startsWith('interface.')) return path;
    const field = path.slice('interface.'.length);
    if (field === 'address' || field.startsWith('address[')) return `ips${field.slice('address'.length)}`;
    const hook = /^(\w+)\[0\]$/.exec(field);
    if (hook && this.#stringHooks.has(hook[1]!)) return hook[1]!;
    return field;
  }
}

