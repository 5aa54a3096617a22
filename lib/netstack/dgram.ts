/**
 * `TunnelUdpSocket`: a UDP socket on a tunnel address, shaped like `dgram.Socket`: `bind`,
 * `send`, `'message'` with `(msg, rinfo)`, `address()`, `close()`.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { NativeNetstack, NativeUdpSocket } from '../binding.js';
import { attempt, isTunnelClosed } from './errors.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface TunnelUdpSocketEvents {
  listening: [];
  message: [msg: Buffer, rinfo: RemoteInfo];
  close: [];
  error: [error: Error];
}

export class TunnelUdpSocket extends EventEmitter<TunnelUdpSocketEvents> {
  readonly #stack: NativeNetstack;
  readonly #family: 'udp4' | 'udp6';
  #native: NativeUdpSocket | undefined;
  #host = '';

  /** @internal Made by `NetstackTunnel.createSocket`. */
  constructor(stack: NativeNetstack, type: 'udp4' | 'udp6') {
    super();
    this.#stack = stack;
    this.#family = type;
  }

  /** Binds to `port` (0: any) of `address` (a tunnel address; default all of the family). */
  bind(port = 0, address?: string | (() => void), callback?: () => void): this {
    if (typeof address === 'function') [callback, address] = [address, undefined];
    this.#host = address ?? (this.#family === 'udp6' ? '::' : '0.0.0.0');
    if (callback) this.once('listening', callback);
    try {
      this.#native = attempt(() => this.#stack.bindUdp(this.#host, port), { syscall: 'bind', address: this.#host, port });
    } catch (error) {
      process.nextTick(() => this.emit('error', error as Error));
      return this;
    }
    process.nextTick(() => {
      this.emit('listening');
      this.#receive();
    });
    return this;
  }

  address(): { address: string; family: string; port: number } {
    if (!this.#native) throw Object.assign(new Error('getsockname EBADF'), { code: 'EBADF' });
    return { address: this.#host, family: this.#family === 'udp6' ? 'IPv6' : 'IPv4', port: this.#native.port };
  }

  /** Sends one datagram; binds to an ephemeral port first if needed. */
  send(msg: Buffer | Uint8Array | string, port: number, address: string, callback?: (error: Error | null, bytes: number) => void): void {
    if (!this.#native) this.bind(0);
    const data = typeof msg === 'string' ? Buffer.from(msg) : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
    let sent = 0;
    let failure: Error | null = null;
    try {
      if (!this.#native) throw Object.assign(new Error('send EBADF'), { code: 'EBADF' });
      const handle = this.#native;
      sent = attempt(() => handle.send(data, address, port), { syscall: 'send', address, port });
    } catch (error) {
      failure = error as Error;
    }
    process.nextTick(() => {
      if (callback) callback(failure, sent);
      else if (failure) this.emit('error', failure);
    });
  }

  close(callback?: () => void): this {
    const n = this.#native;
    this.#native = undefined;
    n?.close();
    if (callback) this.once('close', callback);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  #receive(): void {
    const n = this.#native;
    while (n && this.#native === n) {
      let d;
      try {
        d = attempt(() => n.tryReceive(), { syscall: 'recvmsg' });
      } catch (error) {
        if (this.#native !== n) return;
        if (isTunnelClosed(error)) this.close();
        else this.emit('error', error as Error);
        return;
      }
      if (d === null) {
        n.whenReadable(() => this.#receive());
        return;
      }
      const family = isIP(d.address) === 6 ? 'IPv6' : 'IPv4';
      this.emit('message', d.data, { address: d.address, family, port: d.port, size: d.data.length });
    }
  }
}
