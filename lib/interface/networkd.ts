/**
 * systemd-networkd files for one WireGuard interface: the `.netdev` (systemd.netdev(5):
 * `[NetDev]`, `[WireGuard]`, `[WireGuardPeer]`) and the `.network` (systemd.network(5):
 * `[Match]`, `[Network]`, optionally `[Link]`), read and written as systemd does: keys and
 * section names are case-sensitive, lines starting with `#` or `;` are comments (there are no
 * comments after a value), a line ending in `\` continues on the next, a later assignment of
 * a single-valued key replaces an earlier one, list keys (`AllowedIPs=`, `Address=`, `DNS=`,
 * `Domains=`, `[Match] Name=`) accumulate and an empty assignment empties them.
 *
 * What the two forms share: name, MTU, keys and key files, port, fwmark, the table and metric
 * of the allowed-IP routes, peers, addresses, DNS servers and search domains. What networkd
 * cannot express, and `exportNetworkd` reports as `NOT_EXPRESSIBLE` warnings: the wg-quick and
 * NixOS hooks, `saveConfig`, the namespaces, the endpoint refresh settings,
 * `generatePrivateKeyFile` and peer names. What `importNetworkd` leaves out, with the same
 * warning: `[Route]` and other sections, `[Match]` conditions, other `[Network]` settings,
 * route-only domains (`~example.com`).
 *
 * Routes: networkd adds routes for the allowed IPs only when `RouteTable=` is set (its default
 * is off), into that table with `RouteMetric=`. So the import gives `allowedIPsAsRoutes: false`
 * when no table is set or it is off, and `table` otherwise; the export writes `RouteTable=off`
 * for `allowedIPsAsRoutes: false` or `table: "off"`, and `RouteTable=main` for an unset or
 * `auto` table (wg-quick's policy routing for a default route cannot be expressed: a warning).
 * A table name other than `main`, `default` and `local` must be defined in networkd.conf(5).
 * Export → import is the identity for a configuration whose routes are in this form (table
 * set and not `auto`/`off`, or `allowedIPsAsRoutes: false` without a table) and that has no
 * field networkd cannot express; `listenPort: 0` is written `ListenPort=auto`.
 */
import type { ConfigProblem } from '../errors.js';
import { ErrorCodes, InvalidArgumentError } from '../errors.js';
import { checkPeerKeys } from '../config/consistency.js';
import { checkEndpoint } from '../config/endpoint.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from '../config/problems.js';
import type { Report } from '../config/problems.js';
import { checkAllowedIP, checkFwMark, checkKey, checkListenPort, checkPersistentKeepalive, DECIMAL } from '../config/values.js';
import { checkAddress, checkDnsSearch, checkDnsServer, checkMtu, checkTable } from '../config/wg-quick-values.js';
import type { InterfaceConfig, InterfacePeer, InterfaceSettings } from './model.js';
import { isDefaultRoute } from './nixos.js';
import { checkInterfaceConfig, checkMetric, checkPath } from './validate.js';

export interface NetworkdFiles {
  /** The `.netdev` file. */
  netdev: string;
  /** The `.network` file. */
  network: string;
  /** What the files cannot express (`NOT_EXPRESSIBLE`, at `InterfaceConfig` paths), and the configuration's own warnings. */
  warnings: ConfigProblem[];
}

export interface NetworkdImport {
  /** The interface name (`[NetDev] Name=`). */
  name: string;
  config: InterfaceConfig;
  /** Every warning, with its file and line. */
  warnings: ConfigProblem[];
}

export interface NetworkdImportOptions {
  /** The `.netdev` file name for problems (default `.netdev`). */
  netdevFile?: string;
  /** The `.network` file name for problems (default `.network`). */
  networkFile?: string;
}

/** IFNAMSIZ - 1. */
export const MAX_INTERFACE_NAME_LENGTH = 15;

/** A Linux interface name: 1-15 bytes, not `.` or `..`, no `/`, `:`, whitespace or NUL (dev_valid_name). */
export function isValidInterfaceName(name: string): boolean {
  return (
    name !== '' &&
    Buffer.byteLength(name) <= MAX_INTERFACE_NAME_LENGTH &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s\0]/.test(name)
  );
}

// ---------------------------------------------------------------------------------------------
// Export

/**
 * The `.netdev` and `.network` files of an interface. The configuration is validated first
 * (throws `ConfigError`); an allowed IP with a `-` (remove) prefix cannot be written (an
 * error), a `+` prefix is dropped. Throws `InvalidArgumentError` for an invalid interface name.
 */
export function exportNetworkd(name: string, config: InterfaceConfig): NetworkdFiles {
  if (typeof name !== 'string' || !isValidInterfaceName(name)) {
    throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `Invalid interface name: \`${String(name)}'`, { field: 'name' });
  }
  const { warnings } = checkInterfaceConfig(config);
  const problems = new ProblemCollector();
  const at = (path: string): Report => problems.at({ path });
  const iface = config.interface;
  reportInexpressible(config, at);

  const netdev: string[] = ['[NetDev]', `Name=${name}`, 'Kind=wireguard'];
  if (iface.mtu !== undefined) netdev.push(`MTUBytes=${iface.mtu}`);
  netdev.push('', '[WireGuard]');
  if (iface.privateKey !== undefined) netdev.push(`PrivateKey=${iface.privateKey}`);
  if (iface.privateKeyFile !== undefined) netdev.push(`PrivateKeyFile=${iface.privateKeyFile}`);
  if (iface.listenPort !== undefined) netdev.push(`ListenPort=${iface.listenPort === 0 ? 'auto' : iface.listenPort}`);
  if (iface.fwMark !== undefined) netdev.push(`FirewallMark=${iface.fwMark}`);
  netdev.push(`RouteTable=${exportTable(config, at)}`);
  if (iface.metric !== undefined) netdev.push(`RouteMetric=${iface.metric}`);
  config.peers.forEach((peer, i) => {
    netdev.push('', '[WireGuardPeer]', `PublicKey=${peer.publicKey}`);
    if (peer.presharedKey !== undefined) netdev.push(`PresharedKey=${peer.presharedKey}`);
    if (peer.presharedKeyFile !== undefined) netdev.push(`PresharedKeyFile=${peer.presharedKeyFile}`);
    const allowed: string[] = [];
    (peer.allowedIPs ?? []).forEach((entry, j) => {
      if (entry.startsWith('-')) {
        at(`peers[${i}].allowedIPs[${j}]`)(Codes.NOT_EXPRESSIBLE, `An allowed IP to remove (\`${entry}') cannot be expressed in a .netdev file`);
      } else allowed.push(entry.startsWith('+') ? entry.slice(1) : entry);
    });
    if (allowed.length > 0) netdev.push(`AllowedIPs=${allowed.join(',')}`);
    if (peer.endpoint !== undefined) netdev.push(`Endpoint=${peer.endpoint}`);
    if (peer.persistentKeepalive !== undefined) {
      netdev.push(`PersistentKeepalive=${peer.persistentKeepalive === 0 ? 'off' : peer.persistentKeepalive}`);
    }
  });

  const network: string[] = ['[Match]', `Name=${name}`];
  const settings: string[] = [];
  for (const address of iface.address ?? []) settings.push(`Address=${address}`);
  if (iface.dns !== undefined && iface.dns.length > 0) settings.push(`DNS=${iface.dns.join(' ')}`);
  if (iface.dnsSearch !== undefined && iface.dnsSearch.length > 0) settings.push(`Domains=${iface.dnsSearch.join(' ')}`);
  if (settings.length > 0) network.push('', '[Network]', ...settings);

  problems.throwIfErrors();
  return { netdev: `${netdev.join('\n')}\n`, network: `${network.join('\n')}\n`, warnings: [...warnings, ...problems.problems] };
}

/** The `RouteTable=` value of a configuration (see the module comment). */
function exportTable(config: InterfaceConfig, at: (path: string) => Report): string {
  const { table, allowedIPsAsRoutes } = config.interface;
  if (allowedIPsAsRoutes === false || table === 'off') return 'off';
  if (table !== undefined && table !== 'auto') return table;
  if (config.peers.some((peer) => peer.allowedIPs?.some(isDefaultRoute))) {
    at('interface.table')(
      Codes.NOT_EXPRESSIBLE,
      "wg-quick's `Table = auto' policy routing for a default route cannot be expressed; the route goes into the main table",
      'warning',
    );
  }
  return 'main';
}

const INEXPRESSIBLE_INTERFACE = [
  'preUp',
  'postUp',
  'preDown',
  'postDown',
  'saveConfig',
  'preSetup',
  'postSetup',
  'preShutdown',
  'postShutdown',
  'socketNamespace',
  'interfaceNamespace',
  'generatePrivateKeyFile',
  'dynamicEndpointRefreshSeconds',
  'dynamicEndpointRefreshRestartSeconds',
] as const satisfies readonly (keyof InterfaceSettings)[];

const INEXPRESSIBLE_PEER = ['name', 'dynamicEndpointRefreshSeconds', 'dynamicEndpointRefreshRestartSeconds'] as const;

/** A warning for each set field that networkd has no setting for (empty hooks, `false` and 0 = off are not set). */
function reportInexpressible(config: InterfaceConfig, at: (path: string) => Report): void {
  const meaningful = (value: unknown): boolean =>
    value !== undefined && value !== false && value !== 0 && !(Array.isArray(value) && value.length === 0);
  const warn = (path: string, field: string): void =>
    at(path)(Codes.NOT_EXPRESSIBLE, `\`${field}' cannot be expressed in systemd-networkd files and is left out`, 'warning');
  for (const field of INEXPRESSIBLE_INTERFACE) {
    if (meaningful(config.interface[field])) warn(`interface.${field}`, field);
  }
  config.peers.forEach((peer, i) => {
    for (const field of INEXPRESSIBLE_PEER) if (meaningful(peer[field])) warn(`peers[${i}].${field}`, field);
  });
}

// ---------------------------------------------------------------------------------------------
// Reading unit files

/** One logical line of a unit file. */
type UnitLine =
  | { kind: 'section'; name: string; line: number }
  | { kind: 'assignment'; section: string; key: string; value: string; line: number };

const WHITESPACE = /^[ \t\n\r]+|[ \t\n\r]+$/g;

/**
 * Splits a unit file as systemd's config parser does; malformed lines are reported
 * (`LINE_UNRECOGNIZED`) and skipped. A continued line has the number of its first line.
 */
function readUnitFile(text: string, problems: ProblemCollector): UnitLine[] {
  const lines: UnitLine[] = [];
  let section: string | undefined;
  let continued: { text: string; line: number } | undefined;
  const physical = text.split(/\r?\n/);
  if (physical.at(-1) === '') physical.pop();
  physical.forEach((raw, i) => {
    const stripped = raw.replace(WHITESPACE, '');
    if (stripped.startsWith('#') || stripped.startsWith(';')) return; // a comment, also inside a continuation
    if (continued === undefined && stripped === '') return;
    const start = continued?.line ?? i + 1;
    let logical = continued === undefined ? stripped : `${continued.text}${stripped}`;
    if (endsWithUnescapedBackslash(logical)) {
      continued = { text: `${logical.slice(0, -1)} `, line: start };
      return;
    }
    continued = undefined;
    logical = logical.replace(WHITESPACE, '');
    const report = problems.at({ line: start });
    if (logical.startsWith('[')) {
      if (!logical.endsWith(']') || logical.length < 3) {
        report(Codes.LINE_UNRECOGNIZED, `Invalid section header: \`${logical}'`);
        section = undefined;
        return;
      }
      section = logical.slice(1, -1);
      lines.push({ kind: 'section', name: section, line: start });
      return;
    }
    const equals = logical.indexOf('=');
    if (equals < 0) {
      report(Codes.LINE_UNRECOGNIZED, `Missing \`=' in line: \`${logical}'`);
      return;
    }
    const key = logical.slice(0, equals).replace(WHITESPACE, '');
    if (key === '') {
      report(Codes.LINE_UNRECOGNIZED, `Missing key name before \`=': \`${logical}'`);
      return;
    }
    if (section === undefined) {
      report(Codes.LINE_UNRECOGNIZED, `Assignment outside of a section: \`${key}'`);
      return;
    }
    lines.push({ kind: 'assignment', section, key, value: logical.slice(equals + 1).replace(WHITESPACE, ''), line: start });
  });
  if (continued !== undefined) {
    problems.at({ line: continued.line })(Codes.LINE_UNRECOGNIZED, 'The file ends in the middle of a continued line');
  }
  return lines;
}

function endsWithUnescapedBackslash(text: string): boolean {
  const trailing = /\\+$/.exec(text);
  return trailing !== null && trailing[0].length % 2 === 1;
}

/** systemd's `parse_boolean` false values. */
function isFalse(value: string): boolean {
  return ['0', 'no', 'n', 'false', 'f', 'off'].includes(value.toLowerCase());
}

/** `MTUBytes=`: bytes with an optional 1024-based `K`, `M` or `G` suffix, 68-65535 here. */
function parseMtuBytes(text: string, report: Report): number | undefined {
  const match = /^([0-9]+)([KMG]?)$/.exec(text);
  const factor = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match?.[2] ?? ''] ?? 1;
  return checkMtu(match ? Number(match[1]) * factor : NaN, text, report);
}

/** `FirewallMark=`: a decimal or `0x` hex number 0-4294967295. */
function parseFirewallMark(text: string, report: Report): number | undefined {
  let mark = NaN;
  if (/^0x[0-9a-fA-F]+$/.test(text)) mark = parseInt(text.slice(2), 16);
  else if (DECIMAL.test(text)) mark = Number(text);
  return checkFwMark(mark, text, report);
}

/** `RouteTable=`: off (empty or a false boolean), or `main`, `default`, `local`, a name or a number 1-4294967295. */
function parseRouteTable(text: string, report: Report): string | undefined {
  if (text === '' || isFalse(text)) return 'off';
  return checkTable(text, report);
}

function parseRouteMetric(text: string, report: Report): number | undefined {
  return checkMetric(DECIMAL.test(text) ? Number(text) : NaN, report);
}

/** A warning for a key systemd does not know, with a hint when only its case is wrong. */
function unknownKey(key: string, section: string, known: readonly string[], report: Report): void {
  const like = known.find((name) => name.toLowerCase() === key.toLowerCase());
  const hint = like === undefined ? '' : ` (did you mean \`${like}'?)`;
  report(Codes.UNKNOWN_KEY, `Unknown key \`${key}' in section [${section}]${hint}; systemd ignores it`, 'warning');
}

function notImported(what: string, report: Report): void {
  report(Codes.NOT_EXPRESSIBLE, `${what} is not imported: InterfaceConfig has no such setting`, 'warning');
}

// ---------------------------------------------------------------------------------------------
// Import

interface PeerDraft {
  peer: Partial<InterfacePeer>;
  line: number;
  publicKeyLine?: number;
  presharedKeyLine?: number;
  table?: { value: string; line: number };
  metric?: { value: number; line: number };
}

const NETDEV_KEYS = ['Name', 'Kind', 'MTUBytes'];
const WIREGUARD_KEYS = ['PrivateKey', 'PrivateKeyFile', 'ListenPort', 'FirewallMark', 'RouteTable', 'RouteMetric'];
const PEER_KEYS = ['PublicKey', 'PresharedKey', 'PresharedKeyFile', 'AllowedIPs', 'Endpoint', 'PersistentKeepalive', 'RouteTable', 'RouteMetric'];
/** Keys of [NetDev] that systemd knows but an InterfaceConfig cannot hold. */
const NETDEV_OTHER_KEYS = ['Description', 'MACAddress'];
/** Keys of [WireGuardPeer] that systemd knows but an InterfaceConfig cannot hold. */
const WIREGUARD_OTHER_KEYS = ['PublicKeyFile'];
const NETDEV_SECTIONS = ['Match', 'NetDev', 'WireGuard', 'WireGuardPeer'];

/**
 * Reads a `.netdev` file (and optionally the `.network` file of the same interface); throws
 * `ConfigError` listing every problem (each with its file and line) if any is an error.
 * Values are checked as strictly as everywhere in wgkit, so an assignment that systemd would
 * ignore with a warning is an error here; unknown keys and sections are warnings, as systemd
 * ignores them. When both `PrivateKey=` and `PrivateKeyFile=` are set, the file wins (as in
 * networkd) with a `CONFLICT` warning; the same for the preshared key.
 */
export function importNetworkd(netdevText: string, networkText?: string, options: NetworkdImportOptions = {}): NetworkdImport {
  const netdevProblems = new ProblemCollector(options.netdevFile ?? '.netdev');
  const networkProblems = new ProblemCollector(options.networkFile ?? '.network');
  const { name, config } = readNetdev(netdevText, netdevProblems);
  if (networkText !== undefined) readNetwork(networkText, name, config.interface, networkProblems);
  const all = new ProblemCollector();
  all.problems.push(...netdevProblems.problems, ...networkProblems.problems);
  all.throwIfErrors();
  return { name: name ?? '', config, warnings: all.warnings };
}

function readNetdev(text: string, problems: ProblemCollector): { name: string | undefined; config: InterfaceConfig } {
  const iface: InterfaceSettings = {};
  const peers: PeerDraft[] = [];
  let name: string | undefined;
  let kind: string | undefined;
  // Set by any non-empty assignment, valid or not, so an invalid value is not also "missing".
  let nameGiven = false;
  let privateKeyGiven = false;
  let netdevLine: number | undefined;
  let wireguardLine: number | undefined;
  let privateKeyLine: number | undefined;
  let table: { value: string; line: number } | undefined;
  let metric: { value: number; line: number } | undefined;

  for (const entry of readUnitFile(text, problems)) {
    const report = problems.at({ line: entry.line });
    if (entry.kind === 'section') {
      if (entry.name === 'NetDev') netdevLine ??= entry.line;
      else if (entry.name === 'WireGuard') wireguardLine ??= entry.line;
      else if (entry.name === 'WireGuardPeer') peers.push({ peer: {}, line: entry.line });
      else if (entry.name === 'Match') notImported('[Match] in a .netdev file (conditions)', report);
      else if (!entry.name.startsWith('X-')) unknownSection(entry.name, NETDEV_SECTIONS, report);
      continue;
    }
    const { section, key, value } = entry;
    if (section === 'NetDev') {
      if (key === 'Name') {
        nameGiven = value !== '';
        if (isValidInterfaceName(value)) name = value;
        else report(Codes.INVALID_NAME, `Invalid interface name: \`${value}'`);
      } else if (key === 'Kind') {
        kind = value;
        if (value !== 'wireguard') report(Codes.INVALID_VALUE, `Kind is not \`wireguard': \`${value}'`);
      } else if (key === 'MTUBytes') set(iface, 'mtu', value === '' ? undefined : parseMtuBytes(value, report), value);
      else if (NETDEV_OTHER_KEYS.includes(key)) notImported(`\`${key}='`, report);
      else unknownKey(key, section, NETDEV_KEYS, report);
    } else if (section === 'WireGuard') {
      switch (key) {
        case 'PrivateKey':
          privateKeyLine = entry.line;
          privateKeyGiven ||= value !== '';
          set(iface, 'privateKey', value === '' ? undefined : checkKey(value, 'private', report), value);
          break;
        case 'PrivateKeyFile':
          privateKeyGiven ||= value !== '';
          set(iface, 'privateKeyFile', value === '' ? undefined : checkPath(value, report), value);
          break;
        case 'ListenPort':
          set(iface, 'listenPort', readListenPort(value, report), value);
          break;
        case 'FirewallMark':
          set(iface, 'fwMark', value === '' ? undefined : parseFirewallMark(value, report), value);
          break;
        case 'RouteTable': {
          const parsed = parseRouteTable(value, report);
          if (parsed !== undefined) table = { value: parsed, line: entry.line };
          break;
        }
        case 'RouteMetric': {
          if (value === '') metric = undefined;
          const parsed = value === '' ? undefined : parseRouteMetric(value, report);
          if (parsed !== undefined) metric = { value: parsed, line: entry.line };
          break;
        }
        default:
          unknownKey(key, section, WIREGUARD_KEYS, report);
      }
    } else if (section === 'WireGuardPeer') {
      readPeerKey(peers.at(-1)!, key, value, entry.line, report);
    }
    // Assignments in [Match] and unknown sections were reported once, at the section header.
  }

  const fileReport = problems.at({ line: netdevLine ?? 1 });
  if (!nameGiven) fileReport(Codes.MISSING_SETTING, 'Missing `Name=\' in section [NetDev]');
  if (kind === undefined) fileReport(Codes.MISSING_SETTING, 'Missing `Kind=\' in section [NetDev]');
  if (iface.privateKey !== undefined && iface.privateKeyFile !== undefined) {
    problems.at({ line: privateKeyLine ?? 1 })(Codes.CONFLICT, '`PrivateKeyFile=\' takes precedence; `PrivateKey=\' is ignored', 'warning');
    delete iface.privateKey;
  }
  if (!privateKeyGiven && iface.privateKey === undefined && iface.privateKeyFile === undefined && kind === 'wireguard') {
    problems.at({ line: wireguardLine ?? netdevLine ?? 1 })(Codes.MISSING_PRIVATE_KEY, 'Missing `PrivateKey=\' or `PrivateKeyFile=\'');
  }
  for (const draft of peers) {
    if (draft.peer.publicKey === undefined && draft.publicKeyLine === undefined) {
      problems.at({ line: draft.line })(Codes.MISSING_PUBLIC_KEY, 'A [WireGuardPeer] section is missing `PublicKey=\'');
    }
    if (draft.peer.presharedKey !== undefined && draft.peer.presharedKeyFile !== undefined) {
      problems.at({ line: draft.presharedKeyLine ?? draft.line })(
        Codes.CONFLICT,
        '`PresharedKeyFile=\' takes precedence; `PresharedKey=\' is ignored',
        'warning',
      );
      delete draft.peer.presharedKey;
    }
  }
  importRoutes(iface, table, metric, peers, problems);
  checkPeerKeys(
    iface.privateKey,
    peers.map((draft) => draft.peer.publicKey),
    (i) => problems.at({ line: peers[i]!.publicKeyLine ?? peers[i]!.line }),
  );
  return { name, config: { interface: iface, peers: peers.map((draft) => draft.peer as InterfacePeer) } };
}

function unknownSection(section: string, known: readonly string[], report: Report): void {
  const like = known.find((name) => name.toLowerCase() === section.toLowerCase());
  const hint = like === undefined ? '' : ` (did you mean [${like}]?)`;
  report(Codes.UNKNOWN_KEY, `Unknown section [${section}]${hint}; systemd ignores it`, 'warning');
}

/** Sets a field from a parsed value: an empty assignment unsets it, an invalid one (already reported) leaves it. */
function set<T extends object, K extends keyof T>(target: T, field: K, parsed: T[K] | undefined, text: string): void {
  if (text === '') delete target[field];
  else if (parsed !== undefined) target[field] = parsed;
}

/** `ListenPort=`: `auto` (0) or 1-65535; empty unsets it. */
function readListenPort(text: string, report: Report): number | undefined {
  if (text === '') return undefined;
  if (text === 'auto') return 0;
  const port = DECIMAL.test(text) ? Number(text) : NaN;
  if (port === 0) {
    report(Codes.INVALID_PORT, "ListenPort is not `auto' or 1-65535: `0'");
    return undefined;
  }
  return checkListenPort(port, text, report);
}

function readPeerKey(draft: PeerDraft, key: string, value: string, line: number, report: Report): void {
  const peer = draft.peer;
  switch (key) {
    case 'PublicKey':
      if (value === '') delete draft.publicKeyLine;
      else draft.publicKeyLine = line;
      set(peer, 'publicKey', value === '' ? undefined : checkKey(value, 'public', report), value);
      break;
    case 'PresharedKey':
      draft.presharedKeyLine = line;
      set(peer, 'presharedKey', value === '' ? undefined : checkKey(value, 'preshared', report), value);
      break;
    case 'PresharedKeyFile':
      set(peer, 'presharedKeyFile', value === '' ? undefined : checkPath(value, report), value);
      break;
    case 'AllowedIPs': {
      if (value === '') {
        delete peer.allowedIPs;
        break;
      }
      for (const item of value.split(/[,\s]+/).filter((word) => word !== '')) {
        if (item.startsWith('+') || item.startsWith('-')) {
          report(Codes.INVALID_ALLOWED_IP, `AllowedIPs in a .netdev file cannot have a + or - prefix: \`${item}'`);
        } else if (checkAllowedIP(item, report) !== undefined) (peer.allowedIPs ??= []).push(item);
      }
      break;
    }
    case 'Endpoint':
      set(peer, 'endpoint', value === '' ? undefined : checkEndpoint(value, report), value);
      break;
    case 'PersistentKeepalive': {
      const seconds = value === 'off' ? 0 : DECIMAL.test(value) ? Number(value) : NaN;
      set(peer, 'persistentKeepalive', value === '' ? undefined : checkPersistentKeepalive(seconds, value, report), value);
      break;
    }
    case 'RouteTable': {
      if (value === '') delete draft.table;
      const parsed = value === '' ? undefined : parseRouteTable(value, report);
      if (parsed !== undefined) draft.table = { value: parsed, line };
      break;
    }
    case 'RouteMetric': {
      if (value === '') delete draft.metric;
      const parsed = value === '' ? undefined : parseRouteMetric(value, report);
      if (parsed !== undefined) draft.metric = { value: parsed, line };
      break;
    }
    default:
      if (WIREGUARD_OTHER_KEYS.includes(key)) notImported(`\`${key}='`, report);
      else unknownKey(key, 'WireGuardPeer', PEER_KEYS, report);
  }
}

/**
 * One table and one metric for all allowed-IP routes, as `InterfaceConfig` has: each peer's
 * own `RouteTable=`/`RouteMetric=` or else the interface's; peers that differ are an error.
 */
function importRoutes(
  iface: InterfaceSettings,
  table: { value: string; line: number } | undefined,
  metric: { value: number; line: number } | undefined,
  peers: PeerDraft[],
  problems: ProblemCollector,
): void {
  const tables = peers.length === 0 ? [table] : peers.map((draft) => draft.table ?? table);
  const firstTable = tables[0]?.value ?? 'off';
  const otherTable = tables.findIndex((t) => (t?.value ?? 'off') !== firstTable);
  if (otherTable >= 0) {
    problems.at({ line: tables[otherTable]?.line ?? peers[otherTable]!.line })(
      Codes.NOT_EXPRESSIBLE,
      'Peers route their allowed IPs into different tables; an InterfaceConfig has one table for all peers',
    );
  } else if (firstTable === 'off') iface.allowedIPsAsRoutes = false;
  else iface.table = firstTable;

  const metrics = peers.length === 0 ? [metric] : peers.map((draft) => draft.metric ?? metric);
  const firstMetric = metrics[0]?.value;
  const otherMetric = metrics.findIndex((m) => m?.value !== firstMetric);
  if (otherMetric >= 0) {
    problems.at({ line: metrics[otherMetric]?.line ?? peers[otherMetric]!.line })(
      Codes.NOT_EXPRESSIBLE,
      'Peers give their routes different metrics; an InterfaceConfig has one metric for all peers',
    );
  } else if (firstMetric !== undefined) iface.metric = firstMetric;
}

const NETWORK_SECTIONS = ['Match', 'Link', 'Network', 'Address', 'Route', 'RoutingPolicyRule'];

function readNetwork(text: string, name: string | undefined, iface: InterfaceSettings, problems: ProblemCollector): void {
  let match: { patterns: string[]; line: number } | undefined;
  for (const entry of readUnitFile(text, problems)) {
    const report = problems.at({ line: entry.line });
    if (entry.kind === 'section') {
      if (!['Match', 'Network', 'Link'].includes(entry.name) && !entry.name.startsWith('X-')) {
        if (NETWORK_SECTIONS.includes(entry.name) || /^[A-Z][A-Za-z0-9]*$/.test(entry.name)) {
          notImported(`The [${entry.name}] section`, report);
        } else unknownSection(entry.name, NETWORK_SECTIONS, report);
      }
      continue;
    }
    const { section, key, value } = entry;
    const words = value.split(/\s+/).filter((word) => word !== '');
    if (section === 'Match') {
      if (key !== 'Name') notImported(`\`${key}=' in [Match]`, report);
      else if (value === '') match = undefined;
      else match = { patterns: [...(match?.patterns ?? []), ...words], line: match?.line ?? entry.line };
    } else if (section === 'Network') {
      if (key === 'Address') {
        if (value === '') delete iface.address;
        else if (checkAddress(value, report) !== undefined) (iface.address ??= []).push(value);
      } else if (key === 'DNS') {
        if (value === '') delete iface.dns;
        for (const server of words) if (checkDnsServer(server, report) !== undefined) (iface.dns ??= []).push(server);
      } else if (key === 'Domains') {
        if (value === '') delete iface.dnsSearch;
        for (const domain of words) {
          if (domain.startsWith('~')) notImported(`The route-only domain \`${domain}'`, report);
          else if (checkDnsSearch(domain, report) !== undefined) (iface.dnsSearch ??= []).push(domain);
        }
      } else notImported(`\`${key}=' in [Network]`, report);
    } else if (section === 'Link') {
      if (key === 'MTUBytes') set(iface, 'mtu', value === '' ? undefined : parseMtuBytes(value, report), value);
      else notImported(`\`${key}=' in [Link]`, report);
    }
  }
  if (match !== undefined && name !== undefined && !matchesName(match.patterns, name)) {
    problems.at({ line: match.line })(
      Codes.NAME_MISMATCH,
      `[Match] Name=${match.patterns.join(' ')} does not match the interface \`${name}'`,
    );
  }
}

/** systemd's `Name=` match: any of the globs matches, and none of the `!`-prefixed ones. */
function matchesName(patterns: string[], name: string): boolean {
  const positive = patterns.filter((p) => !p.startsWith('!'));
  const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  if (negative.some((p) => globMatch(p, name))) return false;
  return positive.length === 0 || positive.some((p) => globMatch(p, name));
}

/** fnmatch(3) with `*`, `?` and `[…]`. */
function globMatch(pattern: string, text: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') regex += '.*';
    else if (c === '?') regex += '.';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) regex += '\\[';
      else {
        const body = pattern.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\');
        regex += `[${body}]`;
        i = close;
      }
    } else regex += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`, 's').test(text);
}

