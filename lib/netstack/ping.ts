/**
 * `tunnel.ping`: ICMP (IPv4) or ICMPv6 echo requests from the tunnel's own address, one at a
 * time, each waiting up to `timeout` for its reply; the result lists the round-trip times of
 * the replies that came. No reply at all is an `ETIMEDOUT` error.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { NativeIcmpSocket, NativeNetstack } from '../binding.js';
import { ErrorCodes, InvalidArgumentError, throwIfAborted } from '../errors.js';
import { attempt } from './errors.js';

export interface PingOptions {
  /** Milliseconds to wait for each reply (default 1000). */
  timeout?: number;
  /** Payload bytes of each request (default 56, as `ping`; at most 65507). */
  size?: number;
  /** Requests to send (default 1). */
  count?: number;
  /** Milliseconds from one request to the next (default 1000, as `ping`). */
  interval?: number;
  /** For a host name: which address family to resolve it to (default: the first address). */
  family?: 4 | 6;
  signal?: AbortSignal;
}

export interface PingResult {
  /** The address pinged (the host, resolved through the tunnel if it was a name). */
  address: string;
  sent: number;
  received: number;
  /** Round-trip time in milliseconds of each reply, in the order of the requests. */
  times: number[];
}

export async function ping(stack: NativeNetstack, address: string, options: PingOptions = {}): Promise<PingResult> {
  const timeout = options.timeout ?? 1000;
  const size = options.size ?? 56;
  const count = options.count ?? 1;
  const interval = options.interval ?? 1000;
  const check = (ok: boolean, field: string, what: string) => {
    if (!ok) throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `ping: ${field} ${what}`, { field });
  };
  check(Number.isFinite(timeout) && timeout > 0, 'timeout', 'must be a positive number of milliseconds');
  check(Number.isInteger(size) && size >= 0 && size <= 65507, 'size', 'must be an integer from 0 to 65507');
  check(Number.isInteger(count) && count >= 1 && count <= 65536, 'count', 'must be an integer from 1 to 65536');
  check(Number.isFinite(interval) && interval >= 0, 'interval', 'must be a number of milliseconds');
  throwIfAborted(options.signal);
  const socket = attempt(() => stack.openPing(randomInt(0x10000)), { syscall: 'socket' });
  const replies = new Replies(socket);
  const times: number[] = [];
  try {
    for (let seq = 0; seq < count; seq++) {
      const started = process.hrtime.bigint();
      const payload = randomBytes(size);
      attempt(() => socket.send(address, seq, payload), { syscall: 'sendto', address });
      const arrived = await replies.wait(seq, payload, timeout, options.signal);
      if (arrived !== undefined) times.push(Number(arrived - started) / 1e6);
      if (seq + 1 < count) {
        const spent = Number(process.hrtime.bigint() - started) / 1e6;
        await sleep(Math.max(0, interval - spent), options.signal);
      }
    }
  } finally {
    replies.stop();
    socket.close();
  }
  if (times.length === 0) {
    throw Object.assign(new Error(`ping ETIMEDOUT ${address}: no reply in ${timeout} ms`), {
      code: 'ETIMEDOUT',
      syscall: 'ping',
      address,
    });
  }
  return { address, sent: count, received: times.length, times };
}

/** Waits for the reply to one request: same identifier (the socket's), sequence number and (random) payload. */
class Replies {
  #pending: ((reply: { seq: number; address: string; data: Buffer } | null) => void) | undefined;
  #stopped = false;
  #waiting = false;

  constructor(readonly socket: NativeIcmpSocket) {}

  wait(seq: number, payload: Buffer, timeout: number, signal?: AbortSignal): Promise<bigint | undefined> {
    return new Promise<bigint | undefined>((resolve, reject) => {
      const finish = (result: bigint | undefined, error?: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending = undefined;
        if (error) reject(error);
        else resolve(result);
      };
      const onAbort = () => finish(undefined, signal!.reason);
      const timer = setTimeout(() => finish(undefined), timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending = (reply) => {
        if (reply === null) return;
        if (reply.seq === seq && reply.data.equals(payload)) {
          finish(process.hrtime.bigint());
        }
      };
      this.#drain();
    });
  }

  stop(): void {
    this.#stopped = true;
  }

  #drain(): void {
    while (!this.#stopped) {
      let reply;
      try {
        reply = attempt(() => this.socket.tryReceive(), { syscall: 'recvmsg' });
      } catch {
        return;
      }
      if (reply === null) {
        if (!this.#waiting) {
          this.#waiting = true;
          this.socket.whenReadable(() => {
            this.#waiting = false;
            this.#drain();
          });
        }
        return;
      }
      this.#pending?.(reply);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
