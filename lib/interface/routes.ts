/**
 * Routes for the peers' allowed IPs, as wg-quick's `add_route` and `add_default` make them, and
 * their removal (`del_if`). A `/0` in the automatic table becomes wg-quick's policy routing: the
 * device's fwmark (or the first free table from 51820) names a table holding the default route,
 * `not fwmark T lookup T` sends everything else there, `lookup main suppress_prefixlength 0`
 * keeps the main table's specific routes, and `src_valid_mark` lets the fwmarked replies pass
 * reverse-path filtering. The default route is added after the rules, so nothing leaks.
 */
import { formatIP } from '../show/address.js';
import { hasHostBits, maxPrefix, parseIP } from '../config/ip.js';
import type { DeviceInfo } from '../types.js';
import { addFirewall, removeFirewall } from './firewall.js';
import type { Log } from './hooks.js';
import type { Family, RouteInfo } from './rtnl.js';
import { Rtnl } from './rtnl.js';
import { TABLE_MAIN } from './tables.js';

/** The first table wg-quick tries for a default route. */
export const FIRST_FWMARK_TABLE = 51820;

export interface Cidr {
  family: Family;
  bytes: Uint8Array;
  prefix: number;
  /** Canonical `ip/prefix` with the host bits cleared. */
  text: string;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; ++i) {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function bytesToText(family: Family, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes).join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return formatIP(words.join(':'));
}

/** `ip[/prefix]` (a bare address is a host route), host bits cleared when `network`. */
export function parseCidr(text: string, network = true): Cidr | undefined {
  const slash = text.lastIndexOf('/');
  const ip = parseIP(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const family = ip.family as Family;
  const prefix = slash < 0 ? maxPrefix(family) : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix(family)) return undefined;
  const bytes = network ? mask(ip.bytes, prefix) : ip.bytes;
  return { family, bytes, prefix, text: `${bytesToText(family, bytes)}/${prefix}` };
}

/** Whether `outer` contains `inner` (same family, shorter or equal prefix, same network bits). */
export function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const masked = mask(inner.bytes, outer.prefix);
  return masked.every((b, i) => b === outer.bytes[i]) && !hasHostBits(outer.bytes, outer.prefix);
}

/**
 * The device's allowed IPs in wg-quick's order, `sort -nr -k 2 -t /` under LC_ALL=C: longest
 * prefix first; equal prefixes in reverse byte order of the whole text (sort's last resort).
 */
export function allowedIPsInRouteOrder(device: DeviceInfo): Cidr[] {
  const all: Cidr[] = [];
  for (const peer of device.peers) {
    for (const text of peer.allowedIPs) {
      const cidr = parseCidr(text);
      if (cidr) all.push(cidr);
    }
  }
  const bytes = (c: Cidr) => Buffer.from(c.text, 'latin1');
  return all.sort((a, b) => b.prefix - a.prefix || Buffer.compare(bytes(b), bytes(a)));
}

export interface RouteContext {
  iface: string;
  /** The namespace the interface lives in (routes, rules, sysctls). */
  namespace: string | undefined;
  /** `undefined` = auto. */
  table: number | 'off' | undefined;
  metric: number | undefined;
  log: Log;
  /** Sets the device fwmark (`wg set IF fwmark T`). */
  setFwmark: (mark: number) => Promise<void>;
  /** The device's fwmark right now. */
  fwmark: () => Promise<number>;
  signal?: AbortSignal;
}

/** What `addRoutes` did, so that `down` and `apply` can undo exactly that. */
export interface RouteState {
  /** Routes added in a table other than the default-route table. */
  routes: { destination: string; table: number | undefined }[];
  /** The policy-routing table of the default route(s), if any. */
  defaultTable: number | undefined;
  defaultFamilies: Family[];
  firewall: boolean;
}

export function emptyRouteState(): RouteState {
  return { routes: [], defaultTable: undefined, defaultFamilies: [], firewall: false };
}

function ipFlag(family: Family): string {
  return family === 4 ? '-4' : '-6';
}

function metricText(metric: number | undefined): string {
  return metric === undefined ? '' : ` metric ${metric}`;
}

async function routeExists(rtnl: Rtnl, iface: string, cidr: Cidr, signal?: AbortSignal): Promise<boolean> {
  const routes: RouteInfo[] = await rtnl.listRoutes(cidr.family, TABLE_MAIN, signal);
  return routes.some((r) => {
    if (r.ifname !== iface) return false;
    const dest = parseCidr(r.destination);
    return dest !== undefined && contains(dest, cidr);
  });
}

/** `add_route` for one allowed IP. */
export async function addRoute(cidr: Cidr, context: RouteContext, state: RouteState): Promise<void> {
  const { iface, table, metric, log, signal } = context;
  if (table === 'off') return;
  const rtnl = new Rtnl(context.namespace);
  if (table !== undefined) {
    log(`[#] ip ${ipFlag(cidr.family)} route add ${cidr.text} dev ${iface} table ${table}${metricText(metric)}`);
    await rtnl.addRoute({ destination: cidr.text, ifname: iface, table, metric }, signal);
    state.routes.push({ destination: cidr.text, table });
    return;
  }
  if (cidr.prefix === 0) {
    await addDefault(cidr, context, state);
    return;
  }
  if (await routeExists(rtnl, iface, cidr, signal)) return;
  log(`[#] ip ${ipFlag(cidr.family)} route add ${cidr.text} dev ${iface}${metricText(metric)}`);
  await rtnl.addRoute({ destination: cidr.text, ifname: iface, metric }, signal);
  state.routes.push({ destination: cidr.text, table: undefined });
}

/** The first table from 51820 with no IPv4 or IPv6 route. */
async function freeTable(rtnl: Rtnl, signal?: AbortSignal): Promise<number> {
  for (let table = FIRST_FWMARK_TABLE; ; ++table) {
    const v4 = await rtnl.listRoutes(4, table, signal);
    const v6 = await rtnl.listRoutes(6, table, signal);
    if (v4.length === 0 && v6.length === 0) return table;
  }
}

/** `add_default`. */
async function addDefault(cidr: Cidr, context: RouteContext, state: RouteState): Promise<void> {
  const { iface, log, signal } = context;
  const rtnl = new Rtnl(context.namespace);
  let table = await context.fwmark();
  if (table === 0) {
    table = await freeTable(rtnl, signal);
    log(`[#] wg set ${iface} fwmark ${table}`);
    await context.setFwmark(table);
  }
  state.defaultTable = table;
  const flag = ipFlag(cidr.family);
  log(`[#] ip ${flag} route add ${cidr.text} dev ${iface} table ${table}`);
  await rtnl.addRoute({ destination: cidr.text, ifname: iface, table }, signal);
  if (!state.defaultFamilies.includes(cidr.family)) state.defaultFamilies.push(cidr.family);
  log(`[#] ip ${flag} rule add not fwmark ${table} table ${table}`);
  await rtnl.addRule({ family: cidr.family, table, fwmark: table, invert: true }, signal);
  log(`[#] ip ${flag} rule add table main suppress_prefixlength 0`);
  await rtnl.addRule({ family: cidr.family, table: TABLE_MAIN, suppressPrefixLength: 0 }, signal);
  const addresses = (await rtnl.listAddresses(iface, signal)).filter((a) => a.family === cidr.family).map((a) => a.address);
  if (cidr.family === 4) {
    // Debian's wg-quick (1.0.20210914) sets it every time; newer ones only when it is not 1.
    log('[#] sysctl -q net.ipv4.conf.all.src_valid_mark=1');
    await rtnl.sysctlWrite('net/ipv4/conf/all/src_valid_mark', '1', signal);
  }
  if (await addFirewall(iface, cidr.family, table, addresses, context.namespace, log)) state.firewall = true;
}

/**
 * The policy-routing part of `del_if`: while a rule looks up table T, or main with
 * suppress_prefixlength 0, delete it (both families). Called before the link is deleted.
 */
export async function removeDefaultRules(table: number, namespace: string | undefined, log: Log, signal?: AbortSignal): Promise<void> {
  const rtnl = new Rtnl(namespace);
  for (const family of [4, 6] as const) {
    const flag = ipFlag(family);
    for (;;) {
      const rule = (await rtnl.listRules(family, signal)).find((r) => r.table === table);
      if (!rule) break;
      log(`[#] ip ${flag} rule delete table ${table}`);
      await rtnl.deleteRule(ruleSelector(family, rule), signal);
    }
    for (;;) {
      const rule = (await rtnl.listRules(family, signal)).find((r) => r.table === TABLE_MAIN && r.suppressPrefixLength === 0);
      if (!rule) break;
      log(`[#] ip ${flag} rule delete table main suppress_prefixlength 0`);
      await rtnl.deleteRule(ruleSelector(family, rule), signal);
    }
  }
}

function ruleSelector(
  family: Family,
  rule: { table: number; priority: number | null; fwmark: number | null; invert: boolean; suppressPrefixLength: number | null },
) {
  return {
    family,
    table: rule.table,
    ...(rule.priority !== null ? { priority: rule.priority } : {}),
    ...(rule.fwmark !== null ? { fwmark: rule.fwmark } : {}),
    ...(rule.invert ? { invert: true } : {}),
    ...(rule.suppressPrefixLength !== null && rule.suppressPrefixLength >= 0 ? { suppressPrefixLength: rule.suppressPrefixLength } : {}),
  };
}

/** Removes the firewall tables of the interface (wg-quick's `remove_firewall`). */
export { removeFirewall };
