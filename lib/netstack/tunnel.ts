/**
 * `openTunnel`: WireGuard with no privilege at all. The tunnel's inside is a TCP/IP stack in this
 * process (no interface, no `/dev/net/tun`, no capabilities); programs reach the other side
 * with `connect()` (a `net.Socket`-like stream), `createServer()` (a `net.Server`-like server on
 * a tunnel address) and `createSocket()` (a `dgram`-like socket). The device under it is an
 * ordinary `WireGuardDevice`: its events, stats, `info()` and configuration calls work as
 * usual, and with `uapi` its socket lets `wg` show it.
 */
import { isIP } from 'node:net';
import type { NativeNetstack } from '../binding.js';
import { toWgConfig, type WgConfig } from '../config/model.js';
import { parseWgQuickConfig } from '../config/wg-quick.js';
import { WireGuardDevice, type DeviceOptions } from '../device/device.js';
import { ErrorCodes, InvalidArgumentError, throwIfAborted } from '../errors.js';
import { attempt } from './errors.js';
import { TunnelUdpSocket } from './dgram.js';
import { TunnelServer } from './server.js';
import { TunnelSocket } from './socket.js';

export interface TunnelOptions extends Omit<DeviceOptions, 'config' | 'mtu'> {
  /** The device's name (its threads, and its UAPI socket when `uapi` is true). */
  name?: string;
  /** Serve `NAME.sock` for `wg` (default false; directory `socketDir`). */
  uapi?: boolean;
  /** Per-connection TCP buffers in bytes, each way (default 4 MiB). */
  tcpBufferSize?: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** Give up connecting after this many milliseconds (`ETIMEDOUT`). */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

let counter = 0;

export class NetstackTunnel {
  readonly device: WireGuardDevice;
  readonly #stack: NativeNetstack;
  /** The config's `DNS` servers. */
  readonly dns: readonly string[];
  /** The tunnel's own addresses. */
  readonly addresses: readonly string[];

  private constructor(device: WireGuardDevice, dns: string[], addresses: string[]) {
    this.device = device;
    this.#stack = device.nativeNetstack;
    this.dns = dns;
    this.addresses = addresses;
  }

  /** @internal */
  static async open(config: string | WgConfig, options: TunnelOptions = {}): Promise<NetstackTunnel> {
    throwIfAborted(options.signal);
    const parsed = typeof config === 'string' ? parseWgQuickConfig(config).config : config;
    const addresses = parsed.interface.address ?? [];
    if (addresses.length === 0) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, 'A tunnel needs an Address in its [Interface]', {
        field: 'interface.address',
      });
    }
    const dns = (parsed.interface.dns ?? []).filter((d) => isIP(d) !== 0);
    const name = options.name ?? `wgns${process.pid.toString(36)}-${(counter++).toString(36)}`;
    const device = await WireGuardDevice.createNetstack(
      name,
      {
        addresses,
        tcpReceiveBuffer: options.tcpBufferSize,
        tcpSendBuffer: options.tcpBufferSize,
      },
      { ...options, uapi: options.uapi ?? false, mtu: parsed.interface.mtu },
    );
    try {
      await device.setConf(toWgConfig(parsed), { signal: options.signal });
    } catch (error) {
      await device.close();
      throw error;
    }
    return new NetstackTunnel(device, dns, addresses);
  }

  /** A TCP connection to `host:port` on the other side (an IP address). */
  connect(options: ConnectOptions, onConnect?: () => void): TunnelSocket;
  connect(port: number, host: string, onConnect?: () => void): TunnelSocket;
  connect(a: ConnectOptions | number, b?: string | (() => void), c?: () => void): TunnelSocket {
    const o: ConnectOptions = typeof a === 'number' ? { port: a, host: b as string } : a;
    const onConnect = typeof a === 'number' ? c : (b as (() => void) | undefined);
    if (isIP(o.host) === 0) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `connect: \`${o.host}' is not an IP address`, { field: 'host' });
    }
    const handle = attempt(() => this.#stack.connect(o.host, o.port), { syscall: 'connect', address: o.host, port: o.port });
    const socket = new TunnelSocket(handle, true);
    if (o.noDelay) socket.setNoDelay(true);
    if (o.keepAlive) socket.setKeepAlive(true, o.keepAliveInitialDelay ?? 0);
    if (onConnect) socket.once('connect', onConnect);
    if (o.timeout !== undefined && o.timeout > 0) {
      const timer = setTimeout(() => {
        if (socket.connecting) {
          const e = Object.assign(new Error(`connect ETIMEDOUT ${o.host}:${o.port}`), {
            code: 'ETIMEDOUT',
            syscall: 'connect',
            address: o.host,
            port: o.port,
          });
          socket.destroy(e);
        }
      }, o.timeout);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    }
    return socket;
  }

  /** A TCP server on a tunnel address. */
  createServer(onConnection?: (socket: TunnelSocket) => void): TunnelServer {
    return new TunnelServer(this.#stack, onConnection);
  }

  /** A UDP socket on a tunnel address. */
  createSocket(type: 'udp4' | 'udp6'): TunnelUdpSocket {
    return new TunnelUdpSocket(this.#stack, type);
  }

  /** Closes every socket and the device. */
  async close(): Promise<void> {
    await this.device.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Opens a tunnel from a wg-quick config (text or object): `Address`, `DNS`, `MTU`,
 * `PrivateKey`, `ListenPort` and peers are used; the rest (`Table`, hooks) concerns interfaces.
 */
export async function openTunnel(config: string | WgConfig, options: TunnelOptions = {}): Promise<NetstackTunnel> {
  return NetstackTunnel.open(config, options);
}
