/**
 * HTTP clients through the tunnel: an undici `Agent` whose connections are `TunnelSocket`s
 * (TLS on top with `tls.connect({ socket, servername })` for https), usable as
 * `fetch(url, { dispatcher })` with Node's global fetch or undici's own, and `http.Agent` /
 * `https.Agent` subclasses whose `createConnection` opens tunnel sockets (keep-alive works as
 * with any agent). Host names are resolved through the tunnel's DNS.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { Agent as UndiciAgent } from 'undici';
import type { TunnelSocket } from './socket.js';

/** What the HTTP clients need of a tunnel. */
export interface TcpTransport {
  connect(options: { host: string; port: number; timeout?: number; noDelay?: boolean }): TunnelSocket;
}

export interface DispatcherOptions extends Omit<UndiciAgent.Options, 'connect' | 'tls' | 'connectTimeout'> {
  /** TLS options for https origins: `ca`, `cert`, `key`, `rejectUnauthorized`, `servername`, ... */
  tls?: ConnectionOptions;
  /** Give up connecting after this many milliseconds (default 10 s). */
  connectTimeout?: number;
}

/** `[fd00::1]` (URL form) to `fd00::1`. */
function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** An undici Agent connecting through `tunnel`. */
export function createDispatcher(tunnel: TcpTransport, options: DispatcherOptions = {}): UndiciAgent {
  const { tls: tlsOptions = {}, connectTimeout = 10_000, ...agentOptions } = options;
  return new UndiciAgent({
    ...agentOptions,
    connect: (opts, callback) => {
      const host = unbracket(opts.hostname);
      const secure = opts.protocol === 'https:';
      const port = Number(opts.port) || (secure ? 443 : 80);
      let settled = false;
      const settle = (error: Error | null, socket?: Socket) => {
        if (settled) return;
        settled = true;
        if (error) callback(error, null);
        else callback(null, socket!);
      };
      let raw: TunnelSocket;
      try {
        raw = tunnel.connect({ host, port, timeout: connectTimeout, noDelay: true });
      } catch (error) {
        settle(error as Error);
        return;
      }
      if (!secure) {
        raw.once('connect', () => {
          raw.off('error', settle);
          settle(null, raw as unknown as Socket);
        });
        raw.once('error', settle);
        return;
      }
      const servername = opts.servername || tlsOptions.servername || (isIP(host) === 0 ? host : undefined);
      const secured = tls.connect({ ALPNProtocols: ['http/1.1'], ...tlsOptions, socket: raw as unknown as Socket, servername });
      secured.once('secureConnect', () => {
        secured.off('error', settle);
        settle(null, secured);
      });
      secured.once('error', settle);
      raw.once('error', (error) => {
        settle(error);
        secured.destroy(error);
      });
    },
  });
}

type CreateConnectionOptions = http.ClientRequestArgs & tls.ConnectionOptions;

/** An `http.Agent` whose connections go through the tunnel. */
export class TunnelHttpAgent extends http.Agent {
  readonly #tunnel: TcpTransport;

  constructor(tunnel: TcpTransport, options?: http.AgentOptions) {
    super(options);
    this.#tunnel = tunnel;
  }

  override createConnection(options: CreateConnectionOptions): Socket {
    const host = unbracket(String(options.host ?? options.hostname ?? 'localhost'));
    const socket = this.#tunnel.connect({ host, port: Number(options.port) || 80 });
    return socket as unknown as Socket;
  }
}

/** An `https.Agent` whose connections go through the tunnel (TLS over a tunnel socket). */
export class TunnelHttpsAgent extends https.Agent {
  readonly #tunnel: TcpTransport;

  constructor(tunnel: TcpTransport, options?: https.AgentOptions) {
    super(options);
    this.#tunnel = tunnel;
  }

  override createConnection(options: CreateConnectionOptions): Socket {
    const host = unbracket(String(options.host ?? options.hostname ?? 'localhost'));
    const raw = this.#tunnel.connect({ host, port: Number(options.port) || 443 });
    const servername = options.servername || (isIP(host) === 0 ? host : undefined);
    const { host: _h, port: _p, path: _path, socketPath: _s, lookup: _l, ...rest } = options;
    const secured = tls.connect({ ...rest, socket: raw as unknown as Socket, servername });
    raw.once('error', (error) => secured.destroy(error));
    return secured;
  }
}
