/**
 * Endpoint resolution as wg does it (config.c `parse_endpoint`): a host name is resolved with
 * getaddrinfo and the first address wins; temporary failures are retried with a delay that
 * starts at 1 s and grows ×1.2 up to 20 s, `WG_ENDPOINT_RESOLUTION_RETRIES` times (default 15,
 * `infinity` for no limit); permanent failures (no such name) fail at once.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { splitEndpoint } from '../config/endpoint.js';
import { AbortError, ErrorCodes, InvalidArgumentError, throwIfAborted } from '../errors.js';

export interface ResolveOptions {
  signal?: AbortSignal | undefined;
  /** Where `WG_ENDPOINT_RESOLUTION_RETRIES` is read from (default: `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Called before each wait, with wg's message (`… Trying again in 1.20 seconds...`). */
  onRetry?: (message: string) => void;
  /** The field path for errors. */
  field?: string;
}

/** gai_strerror's texts, as wg prints them, by Node's name for the getaddrinfo error. */
const GAI_MESSAGES: Record<string, string> = {
  ENOTFOUND: 'Name or service not known',
  EAI_NONAME: 'Name or service not known',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
  ENODATA: 'No address associated with hostname',
  EAI_NODATA: 'No address associated with hostname',
  EAI_MEMORY: 'Memory allocation failure',
};

/** getaddrinfo errors that no retry can fix (EAI_NONAME, EAI_FAIL, EAI_NODATA). */
const PERMANENT = new Set(['ENOTFOUND', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA', 'ENODATA']);

/** Parses `WG_ENDPOINT_RESOLUTION_RETRIES`: a count, or `infinity` (-1). */
export function resolutionRetries(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.WG_ENDPOINT_RESOLUTION_RETRIES;
  if (value === undefined) return 15;
  if (value === 'infinity') return -1;
  if (/^[0-9]+$/.test(value) && Number(value) <= 0x7fffffff) return Number(value);
  throw new InvalidArgumentError(
    ErrorCodes.INVALID_ARGUMENT,
    `Unable to parse WG_ENDPOINT_RESOLUTION_RETRIES: \`${value}'`,
    { field: 'WG_ENDPOINT_RESOLUTION_RETRIES' },
  );
}

/** Formats an address and port as wg prints endpoints. */
export function formatEndpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Returns the endpoint with its host resolved to a numeric address (`ip:port` or
 * `[ipv6%zone]:port`); numeric endpoints come back unchanged.
 */
export async function resolveEndpoint(text: string, options: ResolveOptions = {}): Promise<string> {
  const parts = splitEndpoint(text);
  const invalid = (message: string) =>
    new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, options.field ? `${options.field}: ${message}` : message, {
      field: options.field,
    });
  if ('error' in parts) throw invalid(parts.error);
  const { host, port } = parts;
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw invalid(`Endpoint port is not 1-65535: \`${text}'`);
  }
  const bareHost = host.split('%')[0] ?? host;
  if (isIP(bareHost) !== 0) return isIP(bareHost) === 6 ? `[${host}]:${port}` : `${host}:${port}`;

  const retries = resolutionRetries(options.env);
  let delay = 1;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      const { address } = await lookup(host, { all: false, verbatim: true });
      return formatEndpoint(address, Number(port));
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'EAI_FAIL';
      const reason = GAI_MESSAGES[code] ?? (error as Error).message;
      if (PERMANENT.has(code) || (retries >= 0 && attempt >= retries)) {
        throw invalid(`${reason}: \`${text}'`);
      }
      options.onRetry?.(`${reason}: \`${text}'. Trying again in ${delay.toFixed(2)} seconds...`);
      try {
        await sleep(delay * 1000, undefined, { signal: options.signal });
      } catch {
        throw new AbortError(undefined, { cause: options.signal?.reason });
      }
      delay = Math.min(delay * 1.2, 20);
    }
  }
}
