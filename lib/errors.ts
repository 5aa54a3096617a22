/**
 * One error hierarchy for the whole package. Every error has a stable `code`
 * (`ERR_WGKIT_…`, documented in the README); errors from a failed OS call also carry the
 * errno name (`EPERM`, `ENODEV`, …) in `errno`.
 */

export const ErrorCodes = {
  /** A key is not 44 characters of canonical base64 (or 64 hex characters). */
  INVALID_KEY: 'ERR_WGKIT_INVALID_KEY',
  /** A key file is malformed (length or trailing characters). */
  INVALID_KEY_FILE: 'ERR_WGKIT_INVALID_KEY_FILE',
  /** A configuration file or object has problems; see `ConfigError.problems`. */
  INVALID_CONFIG: 'ERR_WGKIT_INVALID_CONFIG',
  /** An argument is malformed or out of range; `field` names it. */
  INVALID_ARGUMENT: 'ERR_WGKIT_INVALID_ARGUMENT',
  /** The device does not exist (ENODEV) or is not a WireGuard device (EOPNOTSUPP). */
  DEVICE_NOT_FOUND: 'ERR_WGKIT_DEVICE_NOT_FOUND',
  /** The caller lacks the privilege for the operation (EPERM, EACCES). */
  PERMISSION_DENIED: 'ERR_WGKIT_PERMISSION_DENIED',
  /** A backend (kernel netlink, userspace UAPI) cannot be used on this machine. */
  BACKEND_UNAVAILABLE: 'ERR_WGKIT_BACKEND_UNAVAILABLE',
  /** The other side answered with something that does not follow the protocol. */
  PROTOCOL: 'ERR_WGKIT_PROTOCOL',
  /** Any other failed OS call; `errno` has its name. */
  SYSTEM: 'ERR_WGKIT_SYSTEM',
  /** A change sent in several messages failed after earlier ones were applied. */
  PARTIALLY_APPLIED: 'ERR_WGKIT_PARTIALLY_APPLIED',
  /** An interface of that name already exists (`wgkit-quick up` of a running interface). */
  INTERFACE_EXISTS: 'ERR_WGKIT_INTERFACE_EXISTS',
  /** A PreUp/PostUp/PreDown/PostDown or NixOS setup hook exited with a non-zero status. */
  HOOK_FAILED: 'ERR_WGKIT_HOOK_FAILED',
  /** DNS servers were asked for and no `resolvconf` program exists. */
  DNS_UNAVAILABLE: 'ERR_WGKIT_DNS_UNAVAILABLE',
  /**
   * This platform has no implementation of the feature (kernel WireGuard, rtnetlink and the
   * embedded TUN device are Linux-only; the UAPI client needs Unix sockets or Windows named pipes).
   */
  UNSUPPORTED_PLATFORM: 'ERR_WGKIT_UNSUPPORTED_PLATFORM',
  /** The operation was cancelled through an AbortSignal (Node's own code for aborts). */
  ABORTED: 'ABORT_ERR',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface WgkitErrorOptions {
  errno?: string | undefined;
  field?: string | undefined;
  cause?: unknown;
}

/** The base class of every error wgkit throws. */
export class WgkitError extends Error {
  readonly code: ErrorCode;
  /** The errno name (`EPERM`, `ENODEV`, …) when an OS call failed. */
  readonly errno: string | undefined;
  /** The argument or field the error is about, as a path (`peers[2].endpoint`). */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: WgkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = options.errno;
    this.field = options.field;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

export class KeyFormatError extends WgkitError {}
export class InvalidArgumentError extends WgkitError {}
export class DeviceNotFoundError extends WgkitError {}
export class PermissionDeniedError extends WgkitError {}
export class BackendUnavailableError extends WgkitError {}
export class ProtocolError extends WgkitError {}
export class SystemError extends WgkitError {}
export class PartiallyAppliedError extends WgkitError {}
export class InterfaceExistsError extends WgkitError {}
export class HookError extends WgkitError {}
export class UnsupportedPlatformError extends WgkitError {}

/** An operation cancelled through its AbortSignal; `name` is `AbortError` as on the web. */
export class AbortError extends WgkitError {
  constructor(message = 'The operation was aborted', options: WgkitErrorOptions = {}) {
    super(ErrorCodes.ABORTED, message, options);
  }

  override get name(): string {
    return 'AbortError';
  }
}

/** Where a configuration problem is: a line of a file, or a path in an object. */
export interface ConfigProblem {
  /** A specific, stable code such as `ERR_WGKIT_CONFIG_INVALID_PORT`. */
  code: string;
  message: string;
  severity: 'error' | 'warning';
  /** 1-based line number, for files. */
  line?: number;
  /** Field path, for objects (`peers[0].allowedIPs[2]`). */
  path?: string;
  /** The file name, when known. */
  file?: string;
}

/** A configuration with one or more errors; `problems` lists all of them, warnings included. */
export class ConfigError extends WgkitError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options: WgkitErrorOptions = {}) {
    const errors = problems.filter((p) => p.severity === 'error');
    const first = errors[0] ?? problems[0];
    const where = first ? describeLocation(first) : '';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super(ErrorCodes.INVALID_CONFIG, `${where}${first?.message ?? 'Invalid configuration'}${more}`, options);
    this.problems = problems;
  }
}

export function describeLocation(problem: ConfigProblem): string {
  const parts: string[] = [];
  if (problem.file !== undefined) parts.push(problem.file);
  if (problem.line !== undefined) parts.push(`line ${problem.line}`);
  if (problem.path !== undefined) parts.push(problem.path);
  return parts.length > 0 ? `${parts.join(': ')}: ` : '';
}

const classByCode: Record<string, new (code: ErrorCode, message: string, options?: WgkitErrorOptions) => WgkitError> = {
  [ErrorCodes.INVALID_KEY]: KeyFormatError,
  [ErrorCodes.INVALID_KEY_FILE]: KeyFormatError,
  [ErrorCodes.INVALID_ARGUMENT]: InvalidArgumentError,
  [ErrorCodes.DEVICE_NOT_FOUND]: DeviceNotFoundError,
  [ErrorCodes.PERMISSION_DENIED]: PermissionDeniedError,
  [ErrorCodes.BACKEND_UNAVAILABLE]: BackendUnavailableError,
  [ErrorCodes.PROTOCOL]: ProtocolError,
  [ErrorCodes.SYSTEM]: SystemError,
  [ErrorCodes.PARTIALLY_APPLIED]: PartiallyAppliedError,
  [ErrorCodes.INTERFACE_EXISTS]: InterfaceExistsError,
  [ErrorCodes.HOOK_FAILED]: HookError,
  [ErrorCodes.DNS_UNAVAILABLE]: BackendUnavailableError,
  [ErrorCodes.UNSUPPORTED_PLATFORM]: UnsupportedPlatformError,
};

const knownCodes = new Set<string>(Object.values(ErrorCodes));

/** `[ERR_WGKIT_X:ERRNO] message`: how errors from the addon's worker-pool tasks arrive. */
const TASK_ERROR = /^\[([A-Z0-9_]+)(?::([A-Z0-9]+))?\] ([\s\S]*)$/;

/**
 * Turns an error thrown by the native addon into the public class. Synchronous calls carry
 * `ERR_WGKIT_X` or `ERR_WGKIT_X:ERRNO` as `code`; worker-pool tasks carry it at the start of
 * the message; a task cancelled by its AbortSignal is named `AbortError`. Anything else (a
 * bug) is returned unchanged.
 */
export function fromNative(error: unknown, field?: string): unknown {
  if (!(error instanceof Error) || error instanceof WgkitError) return error;
  if (error.name === 'AbortError') return new AbortError(undefined, { field, cause: error });
  const raw = (error as { code?: unknown }).code;
  let code: string | undefined;
  let errno: string | undefined;
  let message = error.message;
  const task = TASK_ERROR.exec(error.message);
  if (task && knownCodes.has(task[1]!)) {
    [, code, errno, message] = task as unknown as [string, string, string | undefined, string];
  } else if (typeof raw === 'string') {
    [code, errno] = raw.split(':', 2) as [string, string | undefined];
  }
  if (code === undefined || !knownCodes.has(code)) return error;
  if (code === ErrorCodes.ABORTED) return new AbortError(message, { errno, field });
  const Cls = classByCode[code] ?? WgkitError;
  return new Cls(code as ErrorCode, message, { errno, field });
}

/** Awaits a native promise and converts its rejection (see `fromNative`). */
export async function nativeAsync<T>(promise: () => Promise<T>, field?: string): Promise<T> {
  try {
    return await promise();
  } catch (error) {
    throw fromNative(error, field);
  }
}

/** Calls `fn` and converts native errors (see `fromNative`). */
export function native<T>(fn: () => T, field?: string): T {
  try {
    return fn();
  } catch (error) {
    throw fromNative(error, field);
  }
}

/** Throws `AbortError` if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AbortError(undefined, { cause: signal.reason });
  }
}
