/**
 * `WireGuardDevice`: WireGuard inside this process. A TUN interface, UDP sockets and the
 * protocol run on the device's own threads in the native addon; no JavaScript runs per packet.
 * Unless `uapi: false`, the device also serves `/var/run/wireguard/NAME.sock`, so `wg`,
 * `wg-quick` and `WireGuardClient` manage it like wireguard-go.
 */
import { EventEmitter } from 'node:events';
import native from '../binding.js';
import type { JsDeviceEvent, JsDeviceOptions, JsNetstackOptions, NativeDevice, NativeNetstack } from '../binding.js';
import { toNativeConfig } from '../client/change.js';
import { changeFromConfig, syncChangeFromConfig } from '../client/config-change.js';
import { toDeviceInfo } from '../client/device-info.js';
import type { ConfigInput } from '../client/client.js';
import { parseWgConfig } from '../config/wg.js';
import { ErrorCodes, InvalidArgumentError, native as call, nativeAsync, throwIfAborted, WgkitError } from '../errors.js';
import type { DeviceChange, DeviceInfo } from '../types.js';
import { emitNative, type DeviceEventMap } from './events.js';

export interface DeviceOptions {
  /** The network namespace of the interface and its sockets: a name under /var/run/netns, a
   * path to a namespace file, or an open descriptor. Default: this process's. */
  netns?: string | number;
  /** Interface MTU (default 1420). */
  mtu?: number;
  /** Worker threads (default: one per CPU, at most 4). */
  threads?: number;
  /**
   * Low-latency mode, off by default. While packets pass through the interface, the device asks
   * the kernel to keep every CPU able to wake within this many microseconds (a PM QoS request on
   * `/dev/cpu_dma_latency`, machine-wide while held); it drops the request after a second
   * without packets. 0 keeps idle CPUs polling: the lowest latency (on VMs whose idle vCPUs
   * halt, it removes most of a tunnel's idle round-trip cost), paid for with CPU time while the
   * tunnel is busy. An integer from 0 to 1000000. Default: the `WGKIT_CPU_LATENCY_US`
   * environment variable, else off.
   */
  cpuLatencyUs?: number;
  /** Serve the UAPI socket `NAME.sock` (default true). */
  uapi?: boolean;
  /** The UAPI socket directory (default `/var/run/wireguard`). */
  socketDir?: string;
  /** Applied right after creation. */
  config?: DeviceChange;
  signal?: AbortSignal;
}

export interface DeviceStats {
  rxDatagrams: bigint;
  txDatagrams: bigint;
  tunRxPackets: bigint;
  tunTxPackets: bigint;
  droppedNoRoute: bigint;
  droppedSourceFilter: bigint;
  droppedInvalid: bigint;
  droppedIo: bigint;
  cookieRepliesSent: bigint;
  eventsDropped: bigint;
}

export class WireGuardDevice extends EventEmitter<DeviceEventMap> {
  readonly #native: NativeDevice;
  #keepAlive: NodeJS.Timeout | undefined;
  #refed = true;
  #closed = false;

  private constructor(handle: NativeDevice) {
    super();
    this.#native = handle;
    this.#keepAlive = setInterval(() => undefined, 1 << 30);
  }

  /** Creates the device (and its interface); `name` '' lets the kernel pick one. */
  static async create(name: string, options: DeviceOptions = {}): Promise<WireGuardDevice> {
    return WireGuardDevice.#start(options, (nativeOptions, onEvents) => native.NativeDevice.create(name, nativeOptions, onEvents));
  }

  /**
   * Creates a device whose inside is a TCP/IP stack in this process instead of an interface:
   * no privilege, no `/dev/net/tun`. `netstack` (on the result) opens sockets on it.
   * @internal `openTunnel` (lib/netstack) is the public way in.
   */
  static async createNetstack(name: string, stack: JsNetstackOptions, options: DeviceOptions = {}): Promise<WireGuardDevice> {
    return WireGuardDevice.#start(options, (nativeOptions, onEvents) =>
      native.NativeDevice.createNetstack(name, nativeOptions, stack, onEvents),
    );
  }

  static async #start(
    options: DeviceOptions,
    make: (options: JsDeviceOptions, onEvents: (events: JsDeviceEvent[]) => void) => NativeDevice,
  ): Promise<WireGuardDevice> {
    throwIfAborted(options.signal);
    const { cpuLatencyUs } = options;
    if (cpuLatencyUs !== undefined && !(Number.isInteger(cpuLatencyUs) && cpuLatencyUs >= 0 && cpuLatencyUs <= 1_000_000)) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `cpuLatencyUs ${String(cpuLatencyUs)} is not an integer from 0 to 1000000`, {
        field: 'cpuLatencyUs',
      });
    }
    const config = options.config ? await toNativeConfig(options.config, { signal: options.signal }) : undefined;
    const nativeOptions: JsDeviceOptions = {
      mtu: options.mtu,
      threads: options.threads,
      cpuLatencyUs,
      uapi: options.uapi,
      socketDir: options.socketDir,
    };
    if (typeof options.netns === 'number') nativeOptions.netnsFd = options.netns;
    else if (typeof options.netns === 'string') {
      nativeOptions.netnsPath = options.netns.includes('/') ? options.netns : `/var/run/netns/${options.netns}`;
    }
    let device: WireGuardDevice | undefined;
    const handle = call(() =>
      make(nativeOptions, (events) => {
        let stopped = false;
        for (const event of events) {
          emitNative(event, (n, ...args) => (device as EventEmitter | undefined)?.emit(n, ...args));
          stopped ||= event.kind === 'error' && event.code === ErrorCodes.DEVICE_NOT_FOUND;
        }
        // A device thread panicked and the device stopped; its last event said so: release the
        // interface, the socket and the keep-alive, and emit `close`.
        if (stopped && device && !device.#closed && device.#native.closed) void device.close();
      }),
    );
    device = new WireGuardDevice(handle);
    if (config) {
      try {
        await nativeAsync(() => handle.apply(config, options.signal));
      } catch (error) {
        await device.close();
        throw error;
      }
    }
    return device;
  }

  /** The native device (for the proxy engine). @internal */
  get nativeHandle(): NativeDevice {
    return this.#native;
  }

  /** The TCP/IP stack of a netstack device. @internal */
  get nativeNetstack(): NativeNetstack {
    return call(() => this.#native.netstack());
  }

  get name(): string {
    return this.#native.name;
  }

  get mtu(): number {
    return this.#native.mtu;
  }

  /** True once closed, or once the device stopped after an internal error. */
  get closed(): boolean {
    return this.#closed || this.#native.closed;
  }

  setMtu(mtu: number): void {
    call(() => this.#native.setMtu(mtu), 'mtu');
  }

  /** Applies a change atomically: validated as a whole, then applied or not at all. */
  async configure(change: DeviceChange, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen();
    const config = await toNativeConfig(change, { signal: options.signal });
    await nativeAsync(() => this.#native.apply(config, options.signal));
  }

  /** Like `wg setconf`: the device becomes exactly the config. */
  async setConf(config: ConfigInput, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.configure(changeFromConfig(toConfig(config), 'replace'), options);
  }

  /** Like `wg addconf`. */
  async addConf(config: ConfigInput, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.configure(changeFromConfig(toConfig(config), 'append'), options);
  }

  /** Like `wg syncconf`: peers that stay keep their sessions. */
  async syncConf(config: ConfigInput, options: { signal?: AbortSignal } = {}): Promise<void> {
    const parsed = toConfig(config);
    const change = parsed.peers.length === 0 ? changeFromConfig(parsed, 'replace') : syncChangeFromConfig(parsed, this.info());
    await this.configure(change, options);
  }

  /** The device as `wg show` sees it. */
  info(): DeviceInfo {
    this.#assertOpen();
    return toDeviceInfo(this.#native.snapshot(), 'userspace');
  }

  /** Data-plane counters. */
  stats(): DeviceStats {
    return this.#native.stats();
  }

  /** Keeps the process alive while the device is open (the default), like `net.Socket`. */
  ref(): this {
    this.#refed = true;
    this.#keepAlive?.ref();
    return this;
  }

  /** Lets the process exit while the device is open. */
  unref(): this {
    this.#refed = false;
    this.#keepAlive?.unref();
    return this;
  }

  get refed(): boolean {
    return this.#refed;
  }

  /** Removes the UAPI socket and the interface and stops the device's threads. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    this.emit('close');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new WgkitError('ERR_WGKIT_DEVICE_NOT_FOUND', `${this.name}: the device is closed`);
  }
}

function toConfig(input: ConfigInput) {
  return typeof input === 'string' ? parseWgConfig(input).config : input;
}
