/**
 * Name resolution through the tunnel: queries go in UDP datagrams from the tunnel's own stack
 * to the config's `DNS` servers (in order, each tried `tries` times with `timeout` per try),
 * a truncated reply (TC bit) is asked again over TCP, and the host's resolver is never used.
 * `lookup` has `dns.lookup`'s signature (so it fits the `lookup` option of `net.connect`,
 * `http.request` and `tls.connect`); `resolve`, `resolve4`, `resolve6` work as their
 * `dns.promises` namesakes. Errors carry `dns`'s codes (`ENOTFOUND`, `ENODATA`, `ETIMEOUT`,
 * `ECONNREFUSED`, `ESERVFAIL`, `EREFUSED`, `EBADRESP`), or `ERR_WGKIT_NO_DNS` when the config
 * has no `DNS` line.
 */
import { randomInt } from 'node:crypto';
import { ADDRCONFIG } from 'node:dns';
import { isIP } from 'node:net';
import { DnsError, NO_DNS } from './dns-error.js';
import { answersFor, decodeMessage, encodeQuery, Rcode, RecordType, type DnsMessage, type DnsRecord, type RecordTypeName } from './dns-message.js';
import type { TunnelUdpSocket, RemoteInfo } from './dgram.js';
import type { TunnelSocket } from './socket.js';

/** What the resolver needs of a tunnel. */
export interface DnsTransport {
  createSocket(type: 'udp4' | 'udp6'): TunnelUdpSocket;
  connect(options: { host: string; port: number; timeout?: number }): TunnelSocket;
  readonly addresses: readonly string[];
}

export interface ResolverOptions {
  /** Milliseconds to wait for each reply (default 2000). */
  timeout?: number;
  /** Times each server is asked before the next one is (default 2). */
  tries?: number;
  /** The servers' port (default 53). */
  port?: number;
}

export interface LookupAddress {
  address: string;
  family: 4 | 6;
}

export interface LookupOptions {
  family?: number | 'IPv4' | 'IPv6';
  hints?: number;
  all?: boolean;
  /** Node's `order`: `verbatim` (default, as the server answered, IPv4 answers first when both are asked), `ipv4first` or `ipv6first`. */
  order?: 'verbatim' | 'ipv4first' | 'ipv6first';
  /** `true` = `order: 'verbatim'`, `false` = `order: 'ipv4first'`. */
  verbatim?: boolean;
}

export type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** `dns.lookup`'s shape: `(hostname, callback)`, `(hostname, family, callback)` or `(hostname, options, callback)`. */
export interface LookupFunction {
  (hostname: string, callback: LookupCallback): void;
  (hostname: string, options: number | LookupOptions, callback: LookupCallback): void;
}

export interface RecordWithTtl {
  address: string;
  ttl: number;
}

const RESOLVE_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SRV', 'TXT', 'SOA'] as const;
export type ResolveType = (typeof RESOLVE_TYPES)[number];

const rcodeError: Record<number, string> = {
  [Rcode.FORMERR]: 'EFORMERR',
  [Rcode.SERVFAIL]: 'ESERVFAIL',
  [Rcode.NOTIMP]: 'ENOTIMP',
  [Rcode.REFUSED]: 'EREFUSED',
};

/** A DNS reply read over TCP is at most this long (the 2-byte length prefix says so too). */
const TCP_MAX = 65535;

export class TunnelResolver {
  readonly #transport: DnsTransport;
  readonly #servers: readonly string[];
  readonly #timeout: number;
  readonly #tries: number;
  readonly #port: number;

  constructor(transport: DnsTransport, servers: readonly string[], options: ResolverOptions = {}) {
    this.#transport = transport;
    this.#servers = servers;
    this.#timeout = options.timeout ?? 2000;
    this.#tries = options.tries ?? 2;
    this.#port = options.port ?? 53;
  }

  get servers(): readonly string[] {
    return this.#servers;
  }

  /** Records of `type` for `hostname`, CNAMEs followed. */
  async query(hostname: string, type: number, syscall: string): Promise<{ records: DnsRecord[]; message: DnsMessage }> {
    if (this.#servers.length === 0) {
      throw new DnsError(NO_DNS, `${syscall} ${NO_DNS} ${hostname}: the tunnel's config has no DNS servers`, { syscall, hostname });
    }
    let query: Buffer;
    const id = randomInt(0x10000);
    try {
      query = encodeQuery(id, hostname, type, { udpSize: 1232 });
    } catch (error) {
      throw retag(error, syscall, hostname);
    }
    let last: DnsError | undefined;
    for (const server of this.#servers) {
      for (let attempt = 0; attempt < this.#tries; attempt++) {
        let message: DnsMessage;
        try {
          message = await this.#udp(server, query, id, hostname, type);
          if (message.truncated) message = await this.#tcp(server, query, id, hostname, type);
        } catch (error) {
          last = retag(error, syscall, hostname);
          // Unreachable or silent: the next try; a refused TCP fallback: the next server.
          if (last.code === 'ECONNREFUSED') break;
          continue;
        }
        if (message.rcode === Rcode.NXDOMAIN) {
          throw new DnsError('ENOTFOUND', `${syscall} ENOTFOUND ${hostname}`, { syscall, hostname });
        }
        const failed = rcodeError[message.rcode] ?? (message.rcode === Rcode.NOERROR ? undefined : 'EBADRESP');
        if (failed !== undefined) {
          // This server cannot answer; another may.
          last = new DnsError(failed, `${syscall} ${failed} ${hostname}`, { syscall, hostname });
          break;
        }
        try {
          return { records: answersFor(message, hostname, type).records, message };
        } catch (error) {
          last = retag(error, syscall, hostname);
          break;
        }
      }
    }
    throw last ?? new DnsError('ETIMEOUT', `${syscall} ETIMEOUT ${hostname}`, { syscall, hostname });
  }

  /** One query over UDP; resolves with the first well-formed reply that matches it. */
  #udp(server: string, query: Buffer, id: number, hostname: string, type: number): Promise<DnsMessage> {
    const socket = this.#transport.createSocket(isIP(server) === 6 ? 'udp6' : 'udp4');
    return new Promise<DnsMessage>((resolve, reject) => {
      const done = (error: Error | null, message?: DnsMessage) => {
        clearTimeout(timer);
        socket.removeAllListeners('message');
        socket.close();
        if (error) reject(error);
        else resolve(message!);
      };
      const timer = setTimeout(() => done(new DnsError('ETIMEOUT', `query ETIMEOUT ${hostname}`)), this.#timeout);
      socket.on('error', (error) => done(error));
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
        if (rinfo.address !== server || rinfo.port !== this.#port) return;
        let message: DnsMessage;
        try {
          message = decodeMessage(msg);
        } catch {
          return; // not a reply to this query: keep waiting, as resolvers do
        }
        if (matches(message, id, hostname, type)) done(null, message);
      });
      socket.send(query, this.#port, server, (error) => {
        if (error) done(error);
      });
    });
  }

  /** The same query over TCP (RFC 1035 §4.2.2: each message after a 2-byte length). */
  #tcp(server: string, query: Buffer, id: number, hostname: string, type: number): Promise<DnsMessage> {
    const socket = this.#transport.connect({ host: server, port: this.#port, timeout: this.#timeout });
    return new Promise<DnsMessage>((resolve, reject) => {
      let received = Buffer.alloc(0);
      const done = (error: Error | null, message?: DnsMessage) => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.destroy();
        if (error) reject(error);
        else resolve(message!);
      };
      const timer = setTimeout(() => done(new DnsError('ETIMEOUT', `query ETIMEOUT ${hostname}`)), this.#timeout);
      socket.on('error', (error: NodeJS.ErrnoException) =>
        done(error.code === 'ECONNREFUSED' ? new DnsError('ECONNREFUSED', `query ECONNREFUSED ${hostname}`, { cause: error }) : error),
      );
      socket.on('end', () => done(new DnsError('EBADRESP', `query EBADRESP ${hostname}: the server closed the TCP connection`)));
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        while (received.length >= 2) {
          const length = received.readUInt16BE(0);
          if (received.length < 2 + length) {
            if (received.length > 2 + TCP_MAX) done(new DnsError('EBADRESP', `query EBADRESP ${hostname}`));
            return;
          }
          const one = received.subarray(2, 2 + length);
          received = received.subarray(2 + length);
          let message: DnsMessage;
          try {
            message = decodeMessage(one);
          } catch (error) {
            done(error as Error);
            return;
          }
          if (matches(message, id, hostname, type)) {
            done(null, message);
            return;
          }
        }
      });
      const framed = Buffer.alloc(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, 2);
      socket.end(framed);
    });
  }

  /** `dns.promises.resolve`: A and AAAA give address strings, MX objects, TXT arrays of strings, ... */
  async resolve(hostname: string, rrtype: ResolveType = 'A'): Promise<unknown[] | unknown> {
    if (!(RESOLVE_TYPES as readonly string[]).includes(rrtype)) {
      throw new DnsError('ERR_INVALID_ARG_VALUE', `The argument 'rrtype' is invalid. Received '${String(rrtype)}'`);
    }
    const syscall = `query${rrtype === 'A' ? 'A' : rrtype.charAt(0) + rrtype.slice(1).toLowerCase()}`;
    const literal = literalAnswer(hostname, rrtype);
    if (literal) return literal;
    const { records } = await this.query(hostname, RecordType[rrtype as RecordTypeName], syscall);
    if (records.length === 0) throw new DnsError('ENODATA', `${syscall} ENODATA ${hostname}`, { syscall, hostname });
    const values = records.map((r) => {
      const d = r.data;
      switch (d.type) {
        case 'A':
        case 'AAAA':
          return d.address;
        case 'CNAME':
        case 'NS':
        case 'PTR':
          return d.value;
        case 'MX':
          return { priority: d.priority, exchange: d.exchange };
        case 'TXT':
          return d.entries;
        case 'SRV':
          return { priority: d.priority, weight: d.weight, port: d.port, name: d.name };
        case 'SOA': {
          const { type: _type, ...soa } = d;
          return soa;
        }
        default:
          return d.bytes;
      }
    });
    return rrtype === 'SOA' ? values[0] : values;
  }

  /** IPv4 addresses of `hostname`; with `{ ttl: true }`, `{ address, ttl }` objects. */
  async resolve4(hostname: string, options?: { ttl?: false }): Promise<string[]>;
  async resolve4(hostname: string, options: { ttl: true }): Promise<RecordWithTtl[]>;
  async resolve4(hostname: string, options: { ttl?: boolean } = {}): Promise<string[] | RecordWithTtl[]> {
    return this.#addresses(hostname, 'A', options.ttl === true);
  }

  /** IPv6 addresses of `hostname`; with `{ ttl: true }`, `{ address, ttl }` objects. */
  async resolve6(hostname: string, options?: { ttl?: false }): Promise<string[]>;
  async resolve6(hostname: string, options: { ttl: true }): Promise<RecordWithTtl[]>;
  async resolve6(hostname: string, options: { ttl?: boolean } = {}): Promise<string[] | RecordWithTtl[]> {
    return this.#addresses(hostname, 'AAAA', options.ttl === true);
  }

  async #addresses(hostname: string, rrtype: 'A' | 'AAAA', ttl: boolean): Promise<string[] | RecordWithTtl[]> {
    const literal = literalAnswer(hostname, rrtype);
    if (literal) return ttl ? literal.map((address) => ({ address, ttl: 0 })) : literal;
    const syscall = rrtype === 'A' ? 'queryA' : 'queryAaaa';
    const { records } = await this.query(hostname, RecordType[rrtype], syscall);
    if (records.length === 0) throw new DnsError('ENODATA', `${syscall} ENODATA ${hostname}`, { syscall, hostname });
    return records.map((r) => {
      const address = r.data.type === 'A' || r.data.type === 'AAAA' ? r.data.address : '';
      return ttl ? { address, ttl: r.ttl } : address;
    }) as string[] | RecordWithTtl[];
  }

  /** The addresses of `hostname` as `dns.lookup` gives them (all of them, in `order`). */
  async lookupAll(hostname: string, options: LookupOptions = {}): Promise<LookupAddress[]> {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    if (family !== 0 && family !== 4 && family !== 6) {
      throw new DnsError('ERR_INVALID_ARG_VALUE', `The property 'options.family' must be one of: 0, 4, 6. Received ${String(family)}`);
    }
    const literal = isIP(hostname);
    if (literal !== 0) {
      if (family !== 0 && family !== literal) {
        throw new DnsError('ENOTFOUND', `getaddrinfo ENOTFOUND ${hostname}`, { syscall: 'getaddrinfo', hostname });
      }
      return [{ address: hostname, family: literal as 4 | 6 }];
    }
    let families: (4 | 6)[] = family === 0 ? [4, 6] : [family as 4 | 6];
    if (family === 0 && options.hints !== undefined && (options.hints & ADDRCONFIG) !== 0) {
      const own = new Set(this.#transport.addresses.map((a) => isIP(a.split('/')[0]!)));
      families = families.filter((f) => own.has(f));
    }
    const results = await Promise.allSettled(
      families.map((f) => this.query(hostname, f === 4 ? RecordType.A : RecordType.AAAA, 'getaddrinfo')),
    );
    const found: LookupAddress[] = [];
    let failure: DnsError | undefined;
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        failure ??= r.reason as DnsError;
        return;
      }
      for (const rec of r.value.records) {
        if (rec.data.type === 'A' || rec.data.type === 'AAAA') found.push({ address: rec.data.address, family: families[i]! });
      }
    });
    if (found.length === 0) {
      // No address is ENOTFOUND, as getaddrinfo says; a resolver failure keeps its own code.
      const code = failure === undefined || failure.code === 'ENODATA' ? 'ENOTFOUND' : failure.code;
      throw new DnsError(code, `getaddrinfo ${code} ${hostname}`, { syscall: 'getaddrinfo', hostname, cause: failure });
    }
    const order = options.order ?? (options.verbatim === false ? 'ipv4first' : 'verbatim');
    if (order === 'ipv4first') found.sort((a, b) => a.family - b.family);
    if (order === 'ipv6first') found.sort((a, b) => b.family - a.family);
    return found;
  }

  /** `dns.lookup` through the tunnel. */
  readonly lookup: LookupFunction = (hostname: string, a: number | LookupOptions | LookupCallback, b?: LookupCallback): void => {
    const callback = (typeof a === 'function' ? a : b) as LookupCallback;
    if (typeof callback !== 'function') {
      throw new DnsError('ERR_INVALID_ARG_TYPE', 'The "callback" argument must be of type function');
    }
    const options: LookupOptions = typeof a === 'function' ? {} : typeof a === 'number' ? { family: a } : (a ?? {});
    this.lookupAll(hostname, options).then(
      (all) => {
        if (options.all) callback(null, all);
        else callback(null, all[0]!.address, all[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, options.all ? [] : ''),
    );
  };
}

/** A reply to this query: the ID, the QR bit and the question match. */
function matches(m: DnsMessage, id: number, hostname: string, type: number): boolean {
  if (m.id !== id || !m.response) return false;
  const q = m.questions[0];
  // Some servers leave the question out of an error reply; one that is present must match.
  if (q === undefined) return m.rcode !== Rcode.NOERROR;
  const name = (hostname.endsWith('.') ? hostname.slice(0, -1) : hostname).toLowerCase();
  return q.type === type && q.name.toLowerCase() === name;
}

/** An IP literal asked for as A/AAAA answers itself (as c-ares does), without a query. */
function literalAnswer(hostname: string, rrtype: string): string[] | undefined {
  const v = isIP(hostname);
  if (v === 4 && rrtype === 'A') return [hostname];
  if (v === 6 && rrtype === 'AAAA') return [hostname];
  return undefined;
}

/** A codec or socket error, given the operation and name of the query it ended. */
function retag(error: unknown, syscall: string, hostname: string): DnsError {
  const e = error as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : 'EBADRESP';
  const detail = error instanceof DnsError && /^Malformed|^Misformatted/.test(error.message) ? `: ${error.message}` : '';
  return new DnsError(code, `${syscall} ${code} ${hostname}${detail}`, { syscall, hostname, cause: error });
}
