/**
 * `WireGuardClient`: one API that reads and configures every WireGuard device on the
 * machine, kernel and userspace alike, with wg(8)'s semantics.
 */
import type { WgConfig } from '../config/model.js';
import { parseWgConfig } from '../config/wg.js';
import { DeviceNotFoundError, ErrorCodes, throwIfAborted } from '../errors.js';
import { hasNativeExport } from '../binding.js';
import { KernelBackend } from './kernel-backend.js';
import type { DeviceChange, DeviceInfo, DeviceType } from '../types.js';
import type { Backend } from './backend.js';
import { toNativeConfig } from './change.js';
import { changeFromConfig, syncChangeFromConfig } from './config-change.js';
import { toDeviceInfo } from './device-info.js';
import { parseSetArguments } from './set-arguments.js';
import { UserspaceBackend } from './userspace-backend.js';

export interface ClientOptions {
  /** The UAPI socket directory (default `/var/run/wireguard`). */
  socketDir?: string;
  /**
   * The network namespace of kernel devices: a name under /var/run/netns, a path to a
   * namespace file, or an open descriptor. Other threads of the process never change
   * namespace. (UAPI sockets are files, shared by every namespace.)
   */
  netns?: string | number;
}

export interface CallOptions {
  /** Cancels the call; it then rejects with `AbortError`. */
  signal?: AbortSignal;
  /** Receives wg's retry messages while a host-name endpoint is being resolved. */
  onResolveRetry?: (message: string) => void;
}

/** A config given as an object, or as the text of a wg(8) config file. */
export type ConfigInput = WgConfig | string;

export class WireGuardClient {
  readonly #backends: readonly Backend[];

  constructor(options: ClientOptions = {}) {
    // Kernel WireGuard exists on Linux only; elsewhere every device is a userspace one, as in wg.
    const kernel = hasNativeExport('kernelListDevices') ? [new KernelBackend(options.netns)] : [];
    this.#backends = [...kernel, new UserspaceBackend(options.socketDir)];
  }

  /** Names of all devices: kernel devices first, then userspace devices, as wg lists them. */
  async listDevices(options: CallOptions = {}): Promise<{ name: string; type: DeviceType }[]> {
    const out: { name: string; type: DeviceType }[] = [];
    for (const backend of this.#listingOrder()) {
      throwIfAborted(options.signal);
      for (const name of await backend.list(options.signal)) out.push({ name, type: backend.type });
    }
    return out;
  }

  /** Every device, read. */
  async devices(options: CallOptions = {}): Promise<DeviceInfo[]> {
    const out: DeviceInfo[] = [];
    for (const { name, type } of await this.listDevices(options)) {
      const backend = this.#backends.find((b) => b.type === type)!;
      out.push(toDeviceInfo(await backend.get(name, options.signal), type));
    }
    return out;
  }

  /** One device by name. */
  async device(name: string, options: CallOptions = {}): Promise<DeviceInfo> {
    throwIfAborted(options.signal);
    const backend = await this.#backendFor(name);
    return toDeviceInfo(await backend.get(name, options.signal), backend.type);
  }

  /** Applies a change (validated as a whole first; nothing is sent when any field is wrong). */
  async configure(name: string, change: DeviceChange, options: CallOptions = {}): Promise<void> {
    const config = await toNativeConfig(change, { signal: options.signal, onRetry: options.onResolveRetry });
    throwIfAborted(options.signal);
    const backend = await this.#backendFor(name);
    await backend.set(name, config, options.signal);
  }

  /** `wg setconf`: the device becomes exactly the config; device keys it omits are reset. */
  async setConf(name: string, config: ConfigInput, options: CallOptions = {}): Promise<void> {
    await this.configure(name, changeFromConfig(toConfig(config), 'replace'), options);
  }

  /** `wg addconf`: adds the config's peers and sets only the device keys it names. */
  async addConf(name: string, config: ConfigInput, options: CallOptions = {}): Promise<void> {
    await this.configure(name, changeFromConfig(toConfig(config), 'append'), options);
  }

  /** `wg syncconf`: like setconf, but peers that stay keep their sessions. */
  async syncConf(name: string, config: ConfigInput, options: CallOptions = {}): Promise<void> {
    const parsed = toConfig(config);
    const change =
      parsed.peers.length === 0
        ? changeFromConfig(parsed, 'replace')
        : syncChangeFromConfig(parsed, await this.device(name, options));
    await this.configure(name, change, options);
  }

  /** `wg set NAME ARGS…` with wg's grammar (key arguments are file paths, as in wg). */
  async set(name: string, args: readonly string[], options: CallOptions = {}): Promise<void> {
    await this.configure(name, await parseSetArguments(args), options);
  }

  #listingOrder(): Backend[] {
    return [...this.#backends].sort((a, b) => (a.type === b.type ? 0 : a.type === 'kernel' ? -1 : 1));
  }

  /** The UAPI socket wins over a kernel device of the same name, as in wg. */
  async #backendFor(name: string): Promise<Backend> {
    const userspace = this.#backends.find((b) => b.type === 'userspace');
    if (userspace && (await userspace.has(name))) return userspace;
    const kernel = this.#backends.find((b) => b.type === 'kernel');
    if (kernel) return kernel;
    throw new DeviceNotFoundError(ErrorCodes.DEVICE_NOT_FOUND, `${name}: No such device`, { errno: 'ENODEV' });
  }
}

function toConfig(input: ConfigInput): WgConfig {
  return typeof input === 'string' ? parseWgConfig(input).config : input;
}

