/**
 * `TunnelSocket`: a TCP connection through a netstack tunnel, shaped like `net.Socket`: a
 * Duplex with half-close, `connect`/`ready`/`timeout` events, `setNoDelay`, `setKeepAlive`,
 * `setTimeout`, addresses and byte counts. Data arrives in chunks as large as the stack has
 * (up to 1 MiB per native call); `write()` returns false past `writableHighWaterMark` and
 * `'drain'` follows, as with any Writable. Nothing blocks the event loop: a socket that would
 * wait asks the stack to call back.
 */
import { isIP } from 'node:net';
import { Duplex } from 'node:stream';
import type { NativeTcpSocket } from '../binding.js';
import { attempt, isTunnelClosed, socketError } from './errors.js';

export interface TunnelSocketOptions {
  /** Readable and writable high-water marks in bytes (default 256 KiB). */
  highWaterMark?: number;
}

export class TunnelSocket extends Duplex {
  #native: NativeTcpSocket | undefined;
  #connecting: boolean;
  #wantRead = false;
  #waitingRead = false;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;
  #remote = { address: '', port: 0 };
  #local = { address: '', port: 0 };
  /** Options set before the connection started (while its name resolved), applied by `attach`. */
  readonly #options: { noDelay?: boolean; keepAlive?: [boolean, number] } = {};

  /**
   * @internal Made by `NetstackTunnel.connect` and by servers. `handle` is `null` while the
   * host name is being resolved; `attach` or `failLookup` follows.
   */
  constructor(handle: NativeTcpSocket | null, connecting: boolean, options: TunnelSocketOptions = {}) {
    const hwm = options.highWaterMark ?? 256 * 1024;
    super({ allowHalfOpen: true, readableHighWaterMark: hwm, writableHighWaterMark: hwm, decodeStrings: true });
    this.#connecting = connecting || handle === null;
    if (handle) this.attach(handle);
  }

  /** @internal The connection the name resolved to has started (or, from a server, is open). */
  attach(handle: NativeTcpSocket): void {
    this.#native = handle;
    this.#remote = { address: handle.remoteAddress, port: handle.remotePort };
    this.#local = { address: handle.localAddress, port: handle.localPort };
    if (this.#options.noDelay !== undefined) handle.setNoDelay(this.#options.noDelay);
    if (this.#options.keepAlive) handle.setKeepAlive(...this.#options.keepAlive);
    // As with `net.Socket`, `'connect'` is never emitted before the caller could listen for
    // it (over loopback the handshake can finish before this constructor returns).
    if (this.#connecting) process.nextTick(() => this.#awaitConnect());
  }

  /** @internal The host name did not resolve, or the connection could not start. */
  failLookup(error: Error): void {
    this.destroy(error);
  }

  get connecting(): boolean {
    return this.#connecting;
  }

  get pending(): boolean {
    return this.#connecting || this.#native === undefined;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.#connecting) return 'opening';
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  get remoteAddress(): string | undefined {
    return this.destroyed || !this.#remote.address ? undefined : this.#remote.address;
  }

  get remotePort(): number | undefined {
    return this.destroyed ? undefined : this.#remote.port;
  }

  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.destroyed ? undefined : isIP(this.#remote.address) === 6 ? 'IPv6' : 'IPv4';
  }

  get localAddress(): string | undefined {
    return this.destroyed || !this.#local.address ? undefined : this.#local.address;
  }

  get localPort(): number | undefined {
    return this.destroyed ? undefined : this.#local.port;
  }

  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.destroyed ? undefined : isIP(this.#local.address) === 6 ? 'IPv6' : 'IPv4';
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this.destroyed) return {};
    return { address: this.#local.address, family: isIP(this.#local.address) === 6 ? 'IPv6' : 'IPv4', port: this.#local.port };
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  setNoDelay(noDelay = true): this {
    this.#options.noDelay = noDelay;
    this.#native?.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#options.keepAlive = [enable, Math.max(0, Math.floor(initialDelay))];
    this.#native?.setKeepAlive(enable, Math.max(0, Math.floor(initialDelay)));
    return this;
  }

  /** Emits `'timeout'` after `ms` of inactivity (0 turns it off); the socket stays open. */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    this.#touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.#timeoutMs === 0 ? undefined : this.#timeoutMs;
  }

  /** The tunnel keeps the process alive, not the socket: these exist for `net.Socket` parity. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Ends the connection with a reset, as `net.Socket.resetAndDestroy` does. */
  resetAndDestroy(): this {
    this.#native?.destroy(true);
    this.#native = undefined;
    return this.destroy();
  }

  override _read(): void {
    this.#wantRead = true;
    if (!this.#connecting) this.#pull();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#connecting) {
      this.once('connect', () => this._write(chunk, _encoding, callback));
      return;
    }
    this.#writeSome(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#connecting) {
      this.once('connect', () => this._final(callback));
      return;
    }
    try {
      if (this.#native) attempt(() => this.#native!.end(), { syscall: 'shutdown' });
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    // Unread data or an error: a reset; otherwise the stack finishes the close.
    this.#native?.destroy(error !== null);
    this.#native = undefined;
    callback(error);
  }

  #awaitConnect(): void {
    const check = (): void => {
      if (!this.#native) return;
      let state: boolean | null;
      try {
        state = attempt(() => this.#native!.connected(), {
          syscall: 'connect',
          address: this.#remote.address,
          port: this.#remote.port,
        });
      } catch (error) {
        this.#fail(error);
        return;
      }
      if (state === null) {
        this.#native.whenConnected(check);
        return;
      }
      this.#connecting = false;
      this.#touch();
      this.emit('connect');
      this.emit('ready');
      if (this.#wantRead) this.#pull();
    };
    check();
  }

  #pull(): void {
    while (this.#native && this.#wantRead) {
      let chunk: Buffer | null;
      try {
        chunk = attempt(() => this.#native!.tryRead(), { syscall: 'read' });
      } catch (error) {
        this.#fail(error);
        return;
      }
      if (chunk === null) {
        if (!this.#waitingRead) {
          this.#waitingRead = true;
          this.#native.whenReadable(() => {
            this.#waitingRead = false;
            this.#pull();
          });
        }
        return;
      }
      this.#touch();
      if (chunk.length === 0) {
        this.#wantRead = false;
        this.push(null);
        return;
      }
      this.#bytesRead += chunk.length;
      this.#wantRead = this.push(chunk);
    }
  }

  #writeSome(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (!this.#native) {
      callback(socketError(new Error('destroyed'), { syscall: 'write' }));
      return;
    }
    let n: number;
    try {
      n = attempt(() => this.#native!.tryWrite(chunk), { syscall: 'write' });
    } catch (error) {
      if (isTunnelClosed(error)) {
        this.#fail(error);
        callback();
      } else callback(error as Error);
      return;
    }
    this.#bytesWritten += n;
    if (n > 0) this.#touch();
    if (n === chunk.length) {
      callback();
      return;
    }
    const rest = chunk.subarray(n);
    this.#native.whenWritable(() => this.#writeSome(rest, callback));
  }

  /** An error ends the socket with it; a closed tunnel ends it quietly. */
  #fail(error: unknown): void {
    this.destroy(isTunnelClosed(error) ? undefined : (error as Error));
  }

  #touch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs);
      this.#timer.unref();
    }
  }
}
