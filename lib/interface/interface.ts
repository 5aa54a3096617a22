/**
 * `WireGuardInterface`: a whole interface managed as wg-quick(8) and NixOS's
 * `networking.wireguard` manage it, over rtnetlink (no `ip`, no `wg`): the link (kernel
 * WireGuard, or the userspace device when the kernel has none), its configuration, addresses,
 * MTU, routes, the fwmark default route, DNS, hooks, key files, network namespaces, endpoint
 * refresh, and reconciliation of a running interface with a changed configuration.
 *
 * `up` follows wg-quick's order of steps and logs each as wg-quick prints it (`[#] …`); a
 * failure rolls back everything `up` did. `down` undoes it in wg-quick's order.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { configFromDevice } from '../config/device.js';
import { toWgConfig } from '../config/model.js';
import type { WgConfig } from '../config/model.js';
import { formatWgConfig } from '../config/wg.js';
import { parseWgQuickConfig } from '../config/wg-quick.js';
import { DeviceNotFoundError, ErrorCodes, InterfaceExistsError, InvalidArgumentError, throwIfAborted } from '../errors.js';
import { writePrivateFile } from '../private-file.js';
import type { DeviceInfo } from '../types.js';
import { listDns, requireResolvconf, setDns, unsetDns } from './dns.js';
import { EndpointRefresher, refreshTargets } from './endpoint-refresh.js';
import type { EndpointRefreshErrorEvent, EndpointRefreshEvent } from './endpoint-refresh.js';
import { runHooks } from './hooks.js';
import type { Log } from './hooks.js';
import { resolveKeys } from './key-files.js';
import { clientFor, controlFor, createLink, deleteLink } from './link.js';
import type { Implementation, ImplementationChoice, UserspaceMode, WgControl } from './link.js';
import type { InterfaceConfig } from './model.js';
import { automaticMtu } from './mtu.js';
import { namespaceTarget, Rtnl } from './rtnl.js';
import { addRoute, allowedIPsInRouteOrder, emptyRouteState, parseCidr, removeDefaultRules, removeFirewall } from './routes.js';
import type { Cidr, RouteContext, RouteState } from './routes.js';
import { tableNumber } from './tables.js';
import { checkInterfaceConfig } from './validate.js';

export interface InterfaceOptions {
  /** `auto` (default): kernel WireGuard when the kernel has it, else userspace. */
  implementation?: ImplementationChoice;
  /** How a userspace device runs: inside this process (default) or as a daemon process. */
  userspace?: UserspaceMode;
  /** The daemon program (default `$WG_QUICK_USERSPACE_IMPLEMENTATION`, else `wgkit-userspace`). */
  userspaceProgram?: string;
  /** UAPI socket directory (default `/var/run/wireguard`). */
  socketDir?: string;
  /** Receives each step as wg-quick prints it (`[#] ip link add wg0 type wireguard`). */
  log?: Log;
  /** Environment of hooks, resolvconf and the daemon (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The file `save` writes (wg-quick's CONFIG_FILE). */
  configFile?: string;
  signal?: AbortSignal;
}

export interface InterfaceEventMap {
  /** A host-name endpoint resolved to a new address and the peer was updated. */
  endpointRefresh: [EndpointRefreshEvent];
  /** A host-name endpoint could not be resolved; it is tried again after `retryIn` seconds. */
  endpointRefreshError: [EndpointRefreshErrorEvent];
}

/** The parsed, validated configuration with keys read from their files. */
async function prepare(name: string, input: InterfaceConfig | string, options: InterfaceOptions): Promise<InterfaceConfig> {
  checkName(name);
  const parsed = typeof input === 'string' ? (parseWgQuickConfig(input, { file: options.configFile }).config as InterfaceConfig) : input;
  const { config } = checkInterfaceConfig(parsed, { file: options.configFile });
  return resolveKeys(config);
}

const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;

function checkName(name: string): void {
  if (!IFNAME.test(name)) {
    throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `Interface name \`${name}' is invalid`, { field: 'name' });
  }
}

/** `Table`: undefined = auto. */
function tableOf(config: InterfaceConfig): number | 'off' | undefined {
  const table = config.interface.table;
  if (table === undefined || table === 'auto') return undefined;
  if (table === 'off') return 'off';
  return tableNumber(table);
}

function namespacesOf(config: InterfaceConfig): { socket: string | undefined; iface: string | undefined } {
  const socket = config.interface.socketNamespace;
  return { socket, iface: config.interface.interfaceNamespace ?? socket };
}

/** Throws unless a named namespace exists (checked before `up` changes anything). */
function requireNamespace(namespace: string | undefined, field: string): void {
  const target = namespaceTarget(namespace);
  if (target === undefined || target.includes('/')) return;
  if (!existsSync(`/var/run/netns/${target}`)) {
    throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `Network namespace \`${target}' does not exist`, { field, errno: 'ENOENT' });
  }
}

function addressFamily(cidr: string): 4 | 6 {
  return cidr.includes(':') ? 6 : 4;
}

/** An `Address` entry as the kernel stores it (`ip/prefix`, the host part kept). */
function addressKey(text: string): string {
  const cidr = parseCidr(text, false);
  return cidr ? cidr.text : text;
}

/** The wg(8) part of the configuration, with keys the device needs. */
function wgPart(config: InterfaceConfig): WgConfig {
  return toWgConfig(config as WgConfig);
}

export class WireGuardInterface extends EventEmitter<InterfaceEventMap> {
  #config: InterfaceConfig;
  readonly #options: InterfaceOptions;
  readonly #control: WgControl;
  #routes: RouteState;
  #refresher: EndpointRefresher | undefined;
  #dnsSet: boolean;
  #down = false;

  private constructor(
    readonly name: string,
    config: InterfaceConfig,
    options: InterfaceOptions,
    control: WgControl,
    routes: RouteState,
    dnsSet: boolean,
  ) {
    super();
    this.#config = config;
    this.#options = options;
    this.#control = control;
    this.#routes = routes;
    this.#dnsSet = dnsSet;
    control.device?.on('error', () => undefined);
  }

  /** Which implementation serves the interface. */
  get implementation(): Implementation {
    return this.#control.implementation;
  }

  /** The configuration the interface was brought up (or last reconciled) with. */
  get config(): InterfaceConfig {
    return structuredClone(this.#config);
  }

  /** The in-process userspace device, when the interface uses one. */
  get device() {
    return this.#control.device;
  }

  get isUp(): boolean {
    return !this.#down;
  }

  /** The running device, read. */
  info(signal?: AbortSignal): Promise<DeviceInfo> {
    return this.#control.info(signal);
  }

  /**
   * Brings an interface up from a wg-quick file's text or an `InterfaceConfig`. Everything is
   * validated (and key files read or generated) before the first change; a failure after that
   * undoes every change made so far.
   */
  static async up(name: string, input: InterfaceConfig | string, options: InterfaceOptions = {}): Promise<WireGuardInterface> {
    const log = options.log ?? (() => undefined);
    const config = await prepare(name, input, options);
    const iface = config.interface;
    const { socket, iface: ifaceNs } = namespacesOf(config);
    requireNamespace(socket, 'interface.socketNamespace');
    requireNamespace(ifaceNs, 'interface.interfaceNamespace');
    const table = tableOf(config);
    if ((iface.dns ?? []).length > 0) requireResolvconf(options.env);
    const signal = options.signal;
    const hookContext = { interface: name, log, env: options.env, signal };

    await runHooks('preSetup', iface.preSetup, hookContext);
    const sockRtnl = new Rtnl(socket);
    const ifRtnl = new Rtnl(ifaceNs);
    if ((await sockRtnl.findLink(name, signal)) || (ifaceNs !== socket && (await ifRtnl.findLink(name, signal)))) {
      throw new InterfaceExistsError(ErrorCodes.INTERFACE_EXISTS, `\`${name}' already exists`, { errno: 'EEXIST' });
    }

    const undo: (() => Promise<unknown>)[] = [];
    // The rollback logs its steps too, but a log that throws (its output is gone) must not stop it.
    const undoLog: Log = (line) => {
      try {
        log(line);
      } catch {
        // The step is done all the same; the error that started the rollback is the one reported.
      }
    };
    const routes = emptyRouteState();
    let control: WgControl | undefined;
    let dnsSet = false;
    try {
      control = await createLink(name, socket, options, log);
      const created = control;
      let linkNs = socket;
      undo.push(() => deleteLink(name, created, linkNs, undoLog));

      await runHooks('PreUp', iface.preUp, hookContext);
      log(`[#] wg setconf ${name} /dev/fd/63`);
      await control.setConf(wgPart(config), signal);

      // The MTU comes from the routes of the socket's namespace, before the link moves away.
      const device = await control.info(signal);
      const mtu = iface.mtu ?? (await automaticMtu(device, socket, signal));
      if (ifaceNs !== socket) {
        log(`[#] ip link set ${name} netns ${ifaceNs ?? 'init'}`);
        await sockRtnl.moveLink(name, ifaceNs ?? 'init', signal);
        linkNs = ifaceNs;
        // A kernel device is found by name in the namespace it lives in now.
        if (control.implementation === 'kernel') control = controlFor(name, 'kernel', ifaceNs, options.socketDir);
      }
      for (const address of iface.address ?? []) {
        log(`[#] ip -${addressFamily(address)} address add ${address} dev ${name}`);
        await ifRtnl.addAddress(name, address, signal);
      }
      log(`[#] ip link set mtu ${mtu} up dev ${name}`);
      if (control.device && ifaceNs === socket) control.device.setMtu(mtu);
      else await ifRtnl.setLink(name, { mtu }, signal);
      await ifRtnl.setLink(name, { up: true }, signal);

      if ((iface.dns ?? []).length > 0) {
        undo.push(() => unsetDns({ interface: name, log: () => undefined, env: options.env }));
        await setDns(iface.dns ?? [], iface.dnsSearch ?? [], { interface: name, log, env: options.env });
        dnsSet = true;
      }
      undo.push(async () => {
        if (routes.defaultTable !== undefined) await removeDefaultRules(routes.defaultTable, ifaceNs, () => undefined);
        if (routes.firewall) await removeFirewall(name, ifaceNs, () => undefined);
      });
      if (iface.allowedIPsAsRoutes !== false) {
        const context = routeContext(name, ifaceNs, table, iface.metric, log, control, signal);
        for (const cidr of allowedIPsInRouteOrder(await control.info(signal))) await addRoute(cidr, context, routes);
      }
      await runHooks('PostUp', iface.postUp, hookContext);
      await runHooks('postSetup', iface.postSetup, hookContext);
      // An abort during the last step still undoes everything.
      throwIfAborted(signal);
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw error;
    }
    const result = new WireGuardInterface(name, config, options, control, routes, dnsSet);
    result.#startRefresh();
    return result;
  }

  /**
   * Takes down an interface brought up by another process (or by `wgkit-quick`), given the
   * configuration it was brought up with, in wg-quick's order of steps.
   */
  static async down(name: string, input: InterfaceConfig | string, options: InterfaceOptions = {}): Promise<void> {
    const config = await prepare(name, input, { ...options, signal: options.signal });
    const { iface: ifaceNs } = namespacesOf(config);
    const control = await existingControl(name, ifaceNs, options);
    await takeDown(name, config, options, control, ifaceNs, true);
  }

  /** `wgkit-quick save`: writes the running interface's state to `file` (as wg-quick's `save`). */
  static async save(name: string, input: InterfaceConfig | string, file: string, options: InterfaceOptions = {}): Promise<void> {
    const config = await prepare(name, input, options);
    const { iface: ifaceNs } = namespacesOf(config);
    await saveConfig(name, config, await existingControl(name, ifaceNs, options), ifaceNs, file, options);
  }

  /** Writes the running state to the configuration file (`options.configFile` unless given). */
  async save(file = this.#options.configFile): Promise<void> {
    if (!file) throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, 'No configuration file to save to', { field: 'file' });
    await saveConfig(this.name, this.#config, this.#control, namespacesOf(this.#config).iface, file, this.#options);
  }

  /** Brings the interface down (wg-quick's `down`), including the in-process device. */
  async down(): Promise<void> {
    if (this.#down) return;
    this.#refresher?.stop();
    await takeDown(this.name, this.#config, this.#options, this.#control, namespacesOf(this.#config).iface, this.#dnsSet);
    this.#down = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }

  /**
   * Reconciles the running interface with a changed configuration, changing only what differs:
   * peers with `wg syncconf` semantics (unchanged peers keep their sessions), the private key,
   * port and fwmark, addresses, routes, MTU and DNS. Hooks do not run again; the
   * implementation and the namespaces cannot change (bring the interface down and up for that).
   */
  async apply(input: InterfaceConfig | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#down) throw new DeviceNotFoundError(ErrorCodes.DEVICE_NOT_FOUND, `\`${this.name}' is down`, { errno: 'ENODEV' });
    const signal = options.signal;
    const log = this.#options.log ?? (() => undefined);
    const next = await prepare(this.name, input, this.#options);
    const before = namespacesOf(this.#config);
    const after = namespacesOf(next);
    if (before.socket !== after.socket || before.iface !== after.iface) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, 'The namespaces of a running interface cannot change; bring it down and up', {
        field: 'interface.socketNamespace',
      });
    }
    const table = tableOf(next);
    if ((next.interface.dns ?? []).length > 0) requireResolvconf(this.#options.env);
    throwIfAborted(signal);
    const ifRtnl = new Rtnl(after.iface);
    const name = this.name;

    // Peers, keys, port, fwmark: syncconf. A default route's fwmark is kept when the new
    // config does not set one (wg-quick picked it), so the policy routing stays valid.
    const wg = wgPart(next);
    if (wg.interface.fwMark === undefined && this.#routes.defaultTable !== undefined) wg.interface.fwMark = this.#routes.defaultTable;
    log(`[#] wg syncconf ${name} /dev/fd/63`);
    await this.#control.syncConf(wg, signal);

    // Addresses.
    const want = new Map((next.interface.address ?? []).map((a) => [addressKey(a), a]));
    const have = await ifRtnl.listAddresses(name, signal);
    for (const address of have) {
      const key = `${address.address}/${address.prefixLength}`;
      if (address.family === 6 && address.address.toLowerCase().startsWith('fe80:')) continue;
      if (!want.has(addressKey(key))) {
        log(`[#] ip -${address.family} address delete ${key} dev ${name}`);
        await ifRtnl.deleteAddress(name, key, signal);
      }
    }
    const haveKeys = new Set(have.map((a) => addressKey(`${a.address}/${a.prefixLength}`)));
    for (const [key, address] of want) {
      if (haveKeys.has(key)) continue;
      log(`[#] ip -${addressFamily(address)} address add ${address} dev ${name}`);
      await ifRtnl.addAddress(name, address, signal);
    }

    // MTU.
    const device = await this.#control.info(signal);
    const mtu = next.interface.mtu ?? (await automaticMtu(device, after.socket, signal));
    const link = await ifRtnl.getLink(name, signal);
    if (link.mtu !== mtu) {
      log(`[#] ip link set mtu ${mtu} dev ${name}`);
      if (this.#control.device && after.iface === after.socket) this.#control.device.setMtu(mtu);
      else await ifRtnl.setLink(name, { mtu }, signal);
    }

    // Routes: remove what is no longer wanted, add what is new.
    await this.#reconcileRoutes(next, table, device, log, signal);

    // DNS.
    const dnsChanged =
      JSON.stringify([this.#config.interface.dns ?? [], this.#config.interface.dnsSearch ?? []]) !==
      JSON.stringify([next.interface.dns ?? [], next.interface.dnsSearch ?? []]);
    if (dnsChanged) {
      const context = { interface: name, log, env: this.#options.env };
      if ((next.interface.dns ?? []).length > 0) {
        await setDns(next.interface.dns ?? [], next.interface.dnsSearch ?? [], context);
        this.#dnsSet = true;
      } else if (this.#dnsSet) {
        await unsetDns(context);
        this.#dnsSet = false;
      }
    }
    this.#config = next;
    this.#refresher?.stop();
    this.#startRefresh();
  }

  async #reconcileRoutes(next: InterfaceConfig, table: number | 'off' | undefined, device: DeviceInfo, log: Log, signal?: AbortSignal): Promise<void> {
    const ns = namespacesOf(next).iface;
    const rtnl = new Rtnl(ns);
    const wanted: Cidr[] = next.interface.allowedIPsAsRoutes === false || table === 'off' ? [] : allowedIPsInRouteOrder(device);
    const previousTable = tableOf(this.#config);
    const sameTable = previousTable === table;
    const metricChanged = this.#config.interface.metric !== next.interface.metric;
    const keep: RouteState = emptyRouteState();
    for (const route of this.#routes.routes) {
      const still = sameTable && !metricChanged && wanted.some((c) => c.text === route.destination && c.prefix !== 0);
      if (still) {
        keep.routes.push(route);
        continue;
      }
      const family = addressFamily(route.destination);
      log(`[#] ip -${family} route delete ${route.destination} dev ${this.name}${route.table !== undefined ? ` table ${route.table}` : ''}`);
      await rtnl
        .deleteRoute({ destination: route.destination, ifname: this.name, table: route.table, metric: this.#config.interface.metric }, signal)
        .catch(() => undefined);
    }
    // The default route: keep it while a /0 stays in the automatic table.
    const wantsDefault = table === undefined && wanted.some((c) => c.prefix === 0);
    if (this.#routes.defaultTable !== undefined) {
      const families = new Set(wanted.filter((c) => c.prefix === 0).map((c) => c.family));
      if (wantsDefault && sameTable && this.#routes.defaultFamilies.every((f) => families.has(f))) {
        keep.defaultTable = this.#routes.defaultTable;
        keep.defaultFamilies = [...this.#routes.defaultFamilies];
        keep.firewall = this.#routes.firewall;
      } else {
        await removeDefaultRules(this.#routes.defaultTable, ns, log, signal);
        for (const family of this.#routes.defaultFamilies) {
          await rtnl
            .deleteRoute({ destination: family === 4 ? '0.0.0.0/0' : '::/0', ifname: this.name, table: this.#routes.defaultTable }, signal)
            .catch(() => undefined);
        }
        if (this.#routes.firewall) await removeFirewall(this.name, ns, log);
      }
    }
    const context = routeContext(this.name, ns, table, next.interface.metric, log, this.#control, signal);
    for (const cidr of wanted) {
      if (cidr.prefix === 0 && table === undefined) {
        if (keep.defaultFamilies.includes(cidr.family)) continue;
      } else if (keep.routes.some((r) => r.destination === cidr.text)) continue;
      await addRoute(cidr, context, keep);
    }
    this.#routes = keep;
  }

  #startRefresh(): void {
    const targets = refreshTargets(this.#config);
    if (targets.length === 0) {
      this.#refresher = undefined;
      return;
    }
    const control = this.#control;
    this.#refresher = new EndpointRefresher(targets, {
      current: async (publicKey) => (await control.info()).peers.find((p) => p.publicKey === publicKey)?.endpoint ?? null,
      update: (publicKey, endpoint) => control.configure({ peers: [{ publicKey, endpoint, updateOnly: true }] }),
      refreshed: (event) => this.emit('endpointRefresh', event),
      failed: (event) => this.emit('endpointRefreshError', event),
      env: this.#options.env,
    });
    this.#refresher.start();
  }
}

/**
 * The control of a running interface found by name: its UAPI socket, else a kernel device in
 * the interface's namespace (`wg show interfaces`).
 */
async function existingControl(name: string, ifaceNs: string | undefined, options: InterfaceOptions): Promise<WgControl> {
  const found = (await clientFor(ifaceNs, options.socketDir).listDevices({ signal: options.signal })).filter((d) => d.name === name);
  const type = found.some((d) => d.type === 'userspace') ? 'userspace' : found[0]?.type;
  if (!type) {
    throw new DeviceNotFoundError(ErrorCodes.DEVICE_NOT_FOUND, `\`${name}' is not a WireGuard interface`, { errno: 'ENODEV' });
  }
  return controlFor(name, type, ifaceNs, options.socketDir);
}

function routeContext(
  name: string,
  namespace: string | undefined,
  table: number | 'off' | undefined,
  metric: number | undefined,
  log: Log,
  control: WgControl,
  signal?: AbortSignal,
): RouteContext {
  return {
    iface: name,
    namespace,
    table,
    metric,
    log,
    signal,
    fwmark: async () => (await control.info(signal)).fwmark,
    setFwmark: (mark) => control.configure({ fwmark: mark }, signal),
  };
}

/** wg-quick's `cmd_down` after its checks. */
async function takeDown(
  name: string,
  config: InterfaceConfig,
  options: InterfaceOptions,
  control: WgControl,
  ifaceNs: string | undefined,
  dnsSet: boolean,
): Promise<void> {
  const log = options.log ?? (() => undefined);
  const iface = config.interface;
  const hookContext = { interface: name, log, env: options.env, signal: options.signal };
  await runHooks('preShutdown', iface.preShutdown, hookContext);
  await runHooks('PreDown', iface.preDown, hookContext);
  if (iface.saveConfig && options.configFile) await saveConfig(name, config, control, ifaceNs, options.configFile, options);
  // del_if: the policy-routing rules of a default route, then the link.
  const table = tableOf(config);
  if (table === undefined) {
    const device = await control.info(options.signal);
    if (device.fwmark !== 0 && device.peers.some((p) => p.allowedIPs.some((a) => /\/0$/.test(a)))) {
      await removeDefaultRules(device.fwmark, ifaceNs, log, options.signal);
    }
  }
  await deleteLink(name, control, ifaceNs, log);
  if (dnsSet && (iface.dns ?? []).length > 0) await unsetDns({ interface: name, log, env: options.env }).catch(() => undefined);
  await removeFirewall(name, ifaceNs, log).catch(() => undefined);
  await runHooks('PostDown', iface.postDown, hookContext);
  await runHooks('postShutdown', iface.postShutdown, hookContext);
}

/**
 * wg-quick's `save_config`: the running state, with the wg-quick fields, written as a new file of
 * mode 0600 renamed over `file` (neither a symlink at `file` nor a leftover `file.tmp` is followed).
 */
async function saveConfig(
  name: string,
  config: InterfaceConfig,
  control: WgControl,
  ifaceNs: string | undefined,
  file: string,
  options: InterfaceOptions,
): Promise<void> {
  const iface = config.interface;
  const rtnl = new Rtnl(ifaceNs);
  let header = '[Interface]\n';
  for (const a of await rtnl.listAddresses(name, options.signal)) {
    if (a.family === 6 && a.address.toLowerCase().startsWith('fe80:')) continue;
    header += `Address = ${a.address}/${a.prefixLength}\n`;
  }
  for (const server of await listDns(name, options.env)) header += `DNS = ${server}\n`;
  if (iface.mtu !== undefined) header += `MTU = ${(await rtnl.getLink(name, options.signal)).mtu}\n`;
  if (iface.table !== undefined) header += `Table = ${iface.table}\n`;
  if (iface.saveConfig) header += 'SaveConfig = true\n';
  for (const [key, list] of [
    ['PreUp', iface.preUp],
    ['PostUp', iface.postUp],
    ['PreDown', iface.preDown],
    ['PostDown', iface.postDown],
  ] as const) {
    for (const command of list ?? []) header += `${key} = ${command}\n`;
  }
  (options.log ?? (() => undefined))(`[#] wg showconf ${name}`);
  const current = formatWgConfig(configFromDevice(await control.info(options.signal)));
  const text = `${current.replace('[Interface]\n', header).replace(/\n+$/, '')}\n`;
  await writePrivateFile(file, text);
}
