/**
 * `openTunnel`: WireGuard with no privilege at all. The tunnel's inside is a TCP/IP stack in this
 * process (no interface, no `/dev/net/tun`, no capabilities); programs reach the other side
 * with `connect()` (a `net.Socket`-like stream), `createServer()` (a `net.Server`-like server on
 * a tunnel address) and `createSocket()` (a `dgram`-like socket). The device under it is an
 * ordinary `WireGuardDevice`: its events, stats, `info()` and configuration calls work as
 * usual, and with `uapi` its socket lets `wg` show it. Names resolve through the tunnel's own
 * `DNS` servers (`lookup`, `resolve*`), never the host's; `dispatcher`, `httpAgent` and
 * `httpsAgent` carry HTTP(S) through it; `ping` sends ICMP echo requests.
 */
import { isIP } from 'node:net';
import type { NativeNetstack } from '../binding.js';
import { toWgConfig, type WgConfig } from '../config/model.js';
import { parseWgQuickConfig } from '../config/wg-quick.js';
import { WireGuardDevice, type DeviceOptions } from '../device/device.js';
import { ErrorCodes, InvalidArgumentError, throwIfAborted } from '../errors.js';
import { TunnelResolver, type LookupFunction, type LookupOptions, type RecordWithTtl, type ResolveType, type ResolverOptions } from './dns.js';
import { attempt } from './errors.js';
import { createDispatcher, TunnelHttpAgent, TunnelHttpsAgent, type DispatcherOptions } from './http.js';
import { ping, type PingOptions, type PingResult } from './ping.js';
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
  /** How names are resolved through the tunnel (timeout per try, tries per server). */
  dns?: ResolverOptions;
}

export interface ConnectOptions {
  /** An IP address, or a name resolved with `lookup` (through the tunnel's DNS). */
  host: string;
  port: number;
  /** With a name: which address family (0: the first address, as `lookup` orders them). */
  family?: 0 | 4 | 6;
  /** Resolves a name instead of the tunnel's `lookup` (same signature as `dns.lookup`). */
  lookup?: LookupFunction;
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

  readonly #resolver: TunnelResolver;
  #dispatcher: ReturnType<typeof createDispatcher> | undefined;
  #httpAgent: TunnelHttpAgent | undefined;
  #httpsAgent: TunnelHttpsAgent | undefined;

  /**
   * `dns.lookup` through the tunnel's DNS servers (`family`, `all`, `order`/`verbatim`,
   * `hints: dns.ADDRCONFIG`); IP literals answer themselves. A plain function, so it can be
   * passed as the `lookup` option of `net.connect`, `http.request` or `tls.connect`.
   */
  readonly lookup: LookupFunction;

  private constructor(device: WireGuardDevice, dns: string[], addresses: string[], resolver: ResolverOptions = {}) {
    this.device = device;
    this.#stack = device.nativeNetstack;
    this.dns = dns;
    this.addresses = addresses;
    this.#resolver = new TunnelResolver(this, dns, resolver);
    this.lookup = this.#resolver.lookup;
  }

  /** `lookup` as a promise: every address (`all: true`) or the first one. */
  async lookupAddress(hostname: string, options: LookupOptions = {}): Promise<{ address: string; family: 4 | 6 }> {
    const all = await this.#resolver.lookupAll(hostname, options);
    return all[0]!;
  }

  /** As `dns.promises.resolve(hostname, rrtype)`, through the tunnel (A, AAAA, CNAME, MX, NS, PTR, SRV, TXT, SOA). */
  resolve(hostname: string, rrtype: ResolveType = 'A'): Promise<unknown> {
    return this.#resolver.resolve(hostname, rrtype);
  }

  /** As `dns.promises.resolve4`, through the tunnel. */
  resolve4(hostname: string, options?: { ttl?: false }): Promise<string[]>;
  resolve4(hostname: string, options: { ttl: true }): Promise<RecordWithTtl[]>;
  resolve4(hostname: string, options: { ttl?: boolean } = {}): Promise<string[] | RecordWithTtl[]> {
    return options.ttl ? this.#resolver.resolve4(hostname, { ttl: true }) : this.#resolver.resolve4(hostname);
  }

  /** As `dns.promises.resolve6`, through the tunnel. */
  resolve6(hostname: string, options?: { ttl?: false }): Promise<string[]>;
  resolve6(hostname: string, options: { ttl: true }): Promise<RecordWithTtl[]>;
  resolve6(hostname: string, options: { ttl?: boolean } = {}): Promise<string[] | RecordWithTtl[]> {
    return options.ttl ? this.#resolver.resolve6(hostname, { ttl: true }) : this.#resolver.resolve6(hostname);
  }

  /**
   * An undici Dispatcher (an `Agent`) connecting through the tunnel: `fetch(url, { dispatcher:
   * tunnel.dispatcher })`. For TLS options (a private `ca`), make one with `createDispatcher`.
   */
  get dispatcher(): ReturnType<typeof createDispatcher> {
    this.#dispatcher ??= createDispatcher(this);
    return this.#dispatcher;
  }

  /** A new undici Dispatcher through the tunnel, with undici Agent options and `tls` options for https. */
  createDispatcher(options: DispatcherOptions = {}): ReturnType<typeof createDispatcher> {
    return createDispatcher(this, options);
  }

  /** An `http.Agent` (keep-alive) whose connections go through the tunnel. */
  get httpAgent(): TunnelHttpAgent {
    this.#httpAgent ??= new TunnelHttpAgent(this, { keepAlive: true });
    return this.#httpAgent;
  }

  /** An `https.Agent` (keep-alive) whose connections go through the tunnel; pass `ca` per request or use `createHttpsAgent`. */
  get httpsAgent(): TunnelHttpsAgent {
    this.#httpsAgent ??= new TunnelHttpsAgent(this, { keepAlive: true });
    return this.#httpsAgent;
  }

  /** A new `http.Agent` through the tunnel with these options. */
  createHttpAgent(options?: import('node:http').AgentOptions): TunnelHttpAgent {
    return new TunnelHttpAgent(this, options);
  }

  /** A new `https.Agent` through the tunnel with these options (`ca`, `rejectUnauthorized`, ...). */
  createHttpsAgent(options?: import('node:https').AgentOptions): TunnelHttpsAgent {
    return new TunnelHttpsAgent(this, options);
  }

  /**
   * ICMP/ICMPv6 echo to `host` (an address, or a name resolved through the tunnel) from the
   * tunnel's address: round-trip times of the replies; `ETIMEDOUT` when none came.
   */
  async ping(host: string, options: PingOptions = {}): Promise<PingResult> {
    const address = isIP(host) !== 0 ? host : (await this.lookupAddress(host, { family: options.family ?? 0 })).address;
    return ping(this.#stack, address, options);
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
    return new NetstackTunnel(device, dns, addresses, options.dns);
  }

  /** A TCP connection to `host:port` on the other side (an IP address, or a name resolved through the tunnel). */
  connect(options: ConnectOptions, onConnect?: () => void): TunnelSocket;
  connect(port: number, host: string, onConnect?: () => void): TunnelSocket;
  connect(a: ConnectOptions | number, b?: string | (() => void), c?: () => void): TunnelSocket {
    const o: ConnectOptions = typeof a === 'number' ? { port: a, host: b as string } : a;
    const onConnect = typeof a === 'number' ? c : (b as (() => void) | undefined);
    if (typeof o.host !== 'string' || o.host.length === 0) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, 'connect: host must be an address or a name', { field: 'host' });
    }
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `connect: port ${String(o.port)} is out of range`, { field: 'port' });
    }
    if (isIP(o.host) !== 0) {
      const handle = attempt(() => this.#stack.connect(o.host, o.port), { syscall: 'connect', address: o.host, port: o.port });
      return this.#prepare(new TunnelSocket(handle, true), o, onConnect);
    }
    // A name: the socket exists at once (writes wait), connects once `lookup` answers.
    const socket = this.#prepare(new TunnelSocket(null, true), o, onConnect);
    const lookup = o.lookup ?? this.lookup;
    lookup(o.host, { family: o.family ?? 0 }, (error, address, family) => {
      socket.emit('lookup', error, address, family, o.host);
      if (socket.destroyed) return;
      if (error) {
        socket.failLookup(error);
        return;
      }
      try {
        const ip = address as string;
        socket.attach(attempt(() => this.#stack.connect(ip, o.port), { syscall: 'connect', address: ip, port: o.port }));
      } catch (e) {
        socket.failLookup(e as Error);
      }
    });
    return socket;
  }

  #prepare(socket: TunnelSocket, o: ConnectOptions, onConnect?: () => void): TunnelSocket {
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

  /** Closes every socket, the HTTP agents and the device. */
  async close(): Promise<void> {
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
    const dispatcher = this.#dispatcher;
    this.#dispatcher = undefined;
    await Promise.all([dispatcher?.destroy().catch(() => undefined), this.device.close()]);
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
