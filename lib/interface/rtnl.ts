/**
 * The rtnetlink operations the interface manager needs (addresses, link settings, routes, rules,
 * sysctls), called in the native addon with errors turned into `WgkitError`s. A namespace is a
 * name under /var/run/netns, `init` (the init namespace, `/proc/1/ns/net`), or absent (this
 * process's own); the addon enters it on a helper thread only.
 */
import native from '../binding.js';
import { nativeAsync, throwIfAborted } from '../errors.js';
import { INIT_NAMESPACE } from './model.js';

export type Family = 4 | 6;

export interface AddressInfo {
  family: Family;
  address: string;
  prefixLength: number;
}

export interface LinkState {
  index: number;
  name: string;
  kind: string | null;
  mtu: number;
  up: boolean;
}

export interface RouteInfo {
  family: Family;
  destination: string;
  table: number;
  ifname: string | null;
  ifindex: number | null;
  metric: number | null;
  protocol: number;
  scope: number;
  type: number;
  gateway: string | null;
}

export interface RouteSpec {
  destination: string;
  ifname: string;
  table?: number;
  metric?: number;
}

export interface RouteLookup {
  ifname: string | null;
  ifindex: number | null;
  gateway: string | null;
  routeMtu: number | null;
  linkMtu: number | null;
}

export interface RuleInfo {
  family: Family;
  priority: number | null;
  table: number;
  fwmark: number | null;
  fwmask: number | null;
  invert: boolean;
  suppressPrefixLength: number | null;
  action: number;
}

export interface RuleSpec {
  family: Family;
  table: number;
  fwmark?: number;
  invert?: boolean;
  suppressPrefixLength?: number;
  priority?: number;
}

/** The addon's target for a namespace name (`init` → the init process's namespace file). */
export function namespaceTarget(namespace: string | undefined): string | undefined {
  if (namespace === undefined) return undefined;
  return namespace === INIT_NAMESPACE ? '/proc/1/ns/net' : namespace;
}

/** A native call; an already aborted signal rejects before anything is sent. */
async function call<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  return nativeAsync(fn);
}

/** The namespace file of a namespace name (`init`, a name under /var/run/netns, or a path). */
export function namespaceFile(namespace: string | undefined): string | undefined {
  const target = namespaceTarget(namespace);
  if (target === undefined || target.includes('/')) return target;
  return `/var/run/netns/${target}`;
}

/** rtnetlink in one namespace. */
export class Rtnl {
  readonly #ns: string | undefined;

  constructor(namespace?: string) {
    this.#ns = namespaceTarget(namespace);
  }

  listAddresses(ifname: string, signal?: AbortSignal): Promise<AddressInfo[]> {
    return call(signal, () => native.rtnlListAddresses(ifname, this.#ns, signal) as Promise<AddressInfo[]>);
  }

  addAddress(ifname: string, cidr: string, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlAddAddress(ifname, cidr, this.#ns, signal));
  }

  deleteAddress(ifname: string, cidr: string, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlDeleteAddress(ifname, cidr, this.#ns, signal));
  }

  getLink(ifname: string, signal?: AbortSignal): Promise<LinkState> {
    return call(signal, () => native.rtnlGetLink(ifname, this.#ns, signal));
  }

  /** The link, or undefined when no link has that name. */
  async findLink(ifname: string, signal?: AbortSignal): Promise<LinkState | undefined> {
    try {
      return await this.getLink(ifname, signal);
    } catch (error) {
      if ((error as { errno?: string }).errno === 'ENODEV') return undefined;
      throw error;
    }
  }

  setLink(ifname: string, settings: { mtu?: number; up?: boolean }, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlSetLink(ifname, settings, this.#ns, signal));
  }

  /** Moves the link from this namespace into `target` (a namespace name or `init`). */
  moveLink(ifname: string, target: string, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlMoveLink(ifname, namespaceTarget(target)!, this.#ns, signal));
  }

  deleteLink(ifname: string, kinds: string[] | null, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlDeleteLink(ifname, kinds, this.#ns, signal));
  }

  listRoutes(family: Family, table: number | null, signal?: AbortSignal): Promise<RouteInfo[]> {
    return call(signal, () => native.rtnlListRoutes(family, table, this.#ns, signal) as Promise<RouteInfo[]>);
  }

  addRoute(route: RouteSpec, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlAddRoute(route, this.#ns, signal));
  }

  deleteRoute(route: RouteSpec, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlDeleteRoute(route, this.#ns, signal));
  }

  routeGet(address: string, fwmark: number | null, signal?: AbortSignal): Promise<RouteLookup> {
    return call(signal, () => native.rtnlRouteGet(address, fwmark, this.#ns, signal));
  }

  listRules(family: Family, signal?: AbortSignal): Promise<RuleInfo[]> {
    return call(signal, () => native.rtnlListRules(family, this.#ns, signal) as Promise<RuleInfo[]>);
  }

  addRule(rule: RuleSpec, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlAddRule(rule, this.#ns, signal));
  }

  deleteRule(rule: RuleSpec, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.rtnlDeleteRule(rule, this.#ns, signal));
  }

  sysctlRead(path: string, signal?: AbortSignal): Promise<string> {
    return call(signal, () => native.sysctlRead(path, this.#ns, signal));
  }

  sysctlWrite(path: string, value: string, signal?: AbortSignal): Promise<void> {
    return call(signal, () => native.sysctlWrite(path, value, this.#ns, signal));
  }
}
