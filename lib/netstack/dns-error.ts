/**
 * DNS errors shaped like Node's `dns` module's: `code` is one of `dns`'s error codes
 * (`ENOTFOUND`, `ENODATA`, `ETIMEOUT`, `ECONNREFUSED`, `ESERVFAIL`, `EREFUSED`, `EBADRESP`,
 * `EBADNAME`, ...), `syscall` the operation (`queryA`, `getaddrinfo`), `hostname` the name
 * asked for. A tunnel whose config has no `DNS` servers fails with `ERR_WGKIT_NO_DNS`.
 */

/** The tunnel's config names no `DNS` server, so names cannot be resolved through it. */
export const NO_DNS = 'ERR_WGKIT_NO_DNS';

export class DnsError extends Error {
  readonly code: string;
  readonly syscall: string | undefined;
  readonly hostname: string | undefined;

  constructor(code: string, message: string, options: { syscall?: string; hostname?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DnsError';
    this.code = code;
    this.syscall = options.syscall;
    this.hostname = options.hostname;
  }
}

/** A malformed DNS message (Node's `dns.BADRESP`). */
export function badResponse(why: string): DnsError {
  return new DnsError('EBADRESP', `Malformed DNS reply: ${why}`);
}
