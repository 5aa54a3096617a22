/**
 * `wgkit-proxy CONFIG [LISTENER]...`: WireGuard as a proxy, with no privilege. It opens a
 * netstack tunnel from the wg-quick file CONFIG (no interface is created) and serves the
 * listeners below; every byte is relayed by the native engine (`crate/src/proxy/`), never by
 * JavaScript. It prints one line per listener once all are bound and runs until SIGINT or
 * SIGTERM (or, with `--stdio`, until that stream ends).
 */
import { readFile } from 'node:fs/promises';
import native from '../binding.js';
import type { JsProxyOptions } from '../binding.js';
import { fromNative } from '../errors.js';
import { openTunnel } from '../netstack/tunnel.js';
import { processIo, type CliIo } from './io.js';

const LISTENER_FLAGS = ['--socks5', '--http', '-L', '-U', '-R', '--stdio', '--health'] as const;

export function usage(prog: string): string {
  return `Usage: ${prog} CONFIG [--socks5 [HOST:]PORT] [--http [HOST:]PORT]
       [-L [BIND:]PORT:HOST:HOSTPORT]... [-U [BIND:]PORT:HOST:HOSTPORT]...
       [-R [TUNADDR:]PORT:HOST:HOSTPORT]... [--stdio HOST:PORT] [--health [HOST:]PORT]
       [--socks5-user USER --socks5-password PASSWORD] [--max-connections N]

CONFIG is a wg-quick file (Address, DNS, MTU, PrivateKey, ListenPort, peers). Listeners bind to
127.0.0.1 unless given a host. No network interface is created and no privilege is needed.
`;
}

export type ProxyInvocation =
  | { action: 'usage' }
  | { action: 'error'; message: string }
  | { action: 'run'; config: string; specs: [string, string][]; options: JsProxyOptions };

/** Reads the command line; never throws. */
export function parseProxyArgs(args: readonly string[]): ProxyInvocation {
  let config: string | undefined;
  const specs: [string, string][] = [];
  const options: JsProxyOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return { action: 'usage' };
    const value = args[i + 1];
    if ((LISTENER_FLAGS as readonly string[]).includes(arg) || arg.startsWith('--socks5-') || arg === '--max-connections') {
      if (value === undefined) return { action: 'error', message: `option \`${arg}' needs a value` };
      i++;
      if (arg === '--socks5-user') options.socks5Username = value;
      else if (arg === '--socks5-password') options.socks5Password = value;
      else if (arg === '--max-connections') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 1_000_000) return { action: 'error', message: `--max-connections: \`${value}' is not a number from 1 to 1000000` };
        options.maxConnections = n;
      } else if (arg.startsWith('--socks5-')) return { action: 'error', message: `unrecognized option \`${arg}'` };
      else specs.push([arg, value]);
      continue;
    }
    if (arg.startsWith('-')) return { action: 'error', message: `unrecognized option \`${arg}'` };
    if (config !== undefined) return { action: 'error', message: `unexpected argument \`${arg}'` };
    config = arg;
  }
  if (config === undefined) return { action: 'error', message: 'a CONFIG file is required' };
  if (specs.length === 0) return { action: 'error', message: 'no listener given' };
  return { action: 'run', config, specs, options };
}

export async function main(args: readonly string[], io: CliIo = processIo): Promise<number> {
  const prog = 'wgkit-proxy';
  const inv = parseProxyArgs(args);
  if (inv.action === 'usage') {
    io.out(usage(prog));
    return 0;
  }
  if (inv.action === 'error') {
    io.err(`${prog}: ${inv.message}\n${usage(prog)}`);
    return 1;
  }
  let text: string;
  try {
    text = await readFile(inv.config, 'utf8');
  } catch (error) {
    io.err(`${prog}: ${inv.config}: ${(error as Error).message}\n`);
    return 1;
  }
  let tunnel;
  try {
    tunnel = await openTunnel(text, { name: `wgproxy${process.pid.toString(36)}` });
  } catch (error) {
    io.err(`${prog}: ${inv.config}: ${(error as Error).message}\n`);
    return 1;
  }
  let proxy;
  try {
    const handle = tunnel.device.nativeHandle;
    const dns = [...tunnel.dns];
    proxy = (() => {
      try {
        return native.NativeProxy.start(handle, dns, inv.specs, inv.options);
      } catch (error) {
        throw fromNative(error);
      }
    })();
  } catch (error) {
    await tunnel.close();
    io.err(`${prog}: ${(error as Error).message}\n`);
    return 1;
  }
  const stdio = inv.specs.some(([flag]) => flag === '--stdio');
  // With --stdio, standard output is the stream: the ready lines go to standard error.
  for (const line of proxy.readyLines()) (stdio ? io.err : io.out)(`${line}\n`);
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const ended = stdio ? proxy.waitStdio().then(() => 'stdio') : new Promise<string>(() => undefined);
  await Promise.race([stopped, ended]);
  proxy.stop();
  await tunnel.close();
  return 0;
}
