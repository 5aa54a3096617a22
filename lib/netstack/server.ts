/**
 * `TunnelServer`: a TCP server on a tunnel address, shaped like `net.Server`: `listen(port,
 * host)`, `'listening'`, `'connection'` with a `TunnelSocket`, `address()`, `close()`.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { NativeNetstack, NativeTcpListener } from '../binding.js';
import { attempt, isTunnelClosed } from './errors.js';
import { TunnelSocket } from './socket.js';

export interface TunnelServerEvents {
  listening: [];
  connection: [socket: TunnelSocket];
  close: [];
  error: [error: Error];
}

export class TunnelServer extends EventEmitter<TunnelServerEvents> {
  readonly #stack: NativeNetstack;
  #listener: NativeTcpListener | undefined;
  #host = '0.0.0.0';
  #backlog: number;

  /** @internal Made by `NetstackTunnel.createServer`. */
  constructor(stack: NativeNetstack, onConnection?: (socket: TunnelSocket) => void, backlog = 128) {
    super();
    this.#stack = stack;
    this.#backlog = backlog;
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.#listener !== undefined;
  }

  /** Listens on `port` (0: any) of `host` (a tunnel address; default all of them). */
  listen(port = 0, host?: string | (() => void), callback?: () => void): this {
    if (typeof host === 'function') [callback, host] = [host, undefined];
    this.#host = host ?? '0.0.0.0';
    try {
      this.#listener = attempt(() => this.#stack.listen(this.#host, port, this.#backlog), {
        syscall: 'listen',
        address: this.#host,
        port,
      });
    } catch (error) {
      process.nextTick(() => this.emit('error', error as Error));
      return this;
    }
    if (callback) this.once('listening', callback);
    process.nextTick(() => {
      this.emit('listening');
      this.#accept();
    });
    return this;
  }

  address(): { address: string; family: string; port: number } | null {
    if (!this.#listener) return null;
    return { address: this.#host, family: isIP(this.#host) === 6 ? 'IPv6' : 'IPv4', port: this.#listener.port };
  }

  /** Stops accepting; open connections stay until they end. */
  close(callback?: (error?: Error) => void): this {
    const l = this.#listener;
    this.#listener = undefined;
    l?.close();
    process.nextTick(() => {
      callback?.();
      if (l) this.emit('close');
    });
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await new Promise<void>((resolve) => this.close(() => resolve()));
  }

  #accept(): void {
    const l = this.#listener;
    while (l && this.#listener === l) {
      let handle;
      try {
        handle = attempt(() => l.tryAccept(), { syscall: 'accept' });
      } catch (error) {
        if (this.#listener !== l) return;
        if (isTunnelClosed(error)) this.close();
        else this.emit('error', error as Error);
        return;
      }
      if (handle === null) {
        l.whenAcceptable(() => this.#accept());
        return;
      }
      this.emit('connection', new TunnelSocket(handle, false));
    }
  }
}
