/**
 * Socket errors as Node's `net` and `dgram` make them: `code` is the errno name
 * (`ECONNREFUSED`), `errno` its negative number, `syscall` the operation; a closed tunnel is the
 * package's `ERR_WGKIT_DEVICE_NOT_FOUND`.
 */
import { constants } from 'node:os';
import { ErrorCodes, fromNative, WgkitError } from '../errors.js';

export interface SocketErrorContext {
  syscall: string;
  address?: string;
  port?: number;
}

export function socketError(error: unknown, context: SocketErrorContext): Error {
  const converted = fromNative(error);
  if (!(converted instanceof WgkitError) || converted.errno === undefined) {
    return converted instanceof Error ? converted : new Error(String(converted));
  }
  const name = converted.errno;
  const where = context.address === undefined ? '' : ` ${context.address}${context.port === undefined ? '' : `:${context.port}`}`;
  const e = new Error(`${context.syscall} ${name}${where}`, { cause: converted }) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
  };
  e.code = name;
  const number = (constants.errno as Record<string, number>)[name];
  if (number !== undefined) e.errno = -number;
  e.syscall = context.syscall;
  if (context.address !== undefined) e.address = context.address;
  if (context.port !== undefined) e.port = context.port;
  return e;
}

/** The tunnel under a socket was closed: the socket ends quietly, as its owner asked for that. */
export function isTunnelClosed(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === ErrorCodes.DEVICE_NOT_FOUND;
}

/** Calls a native socket method, converting what it throws. */
export function attempt<T>(fn: () => T, context: SocketErrorContext): T {
  try {
    return fn();
  } catch (error) {
    throw socketError(error, context);
  }
}
