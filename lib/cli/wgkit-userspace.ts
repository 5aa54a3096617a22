/**
 * `wgkit-userspace [-f|--foreground] INTERFACE`: a drop-in for wireguard-go. It creates the
 * TUN interface and the UAPI socket `/var/run/wireguard/INTERFACE.sock`, then runs the
 * embedded device until SIGTERM or SIGINT, or until its interface is deleted (as `wg-quick
 * down` does). Unless `-f` or `WG_PROCESS_FOREGROUND=1`, it daemonizes: the parent returns
 * once the child's device and socket are up, and reports the child's setup error otherwise.
 * Usable as `WG_QUICK_USERSPACE_IMPLEMENTATION=wgkit-userspace wg-quick up …`.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { WireGuardDevice } from '../device/device.js';
import { Rtnl } from '../interface/rtnl.js';
import { version } from '../version.js';
import { processIo, type CliIo } from './io.js';

/** wireguard-go's exit status for a failed setup. */
const EXIT_SETUP_FAILED = 1;
/** The daemon child reports readiness (`ok`) or its setup error on this descriptor. */
const READY_FD_ENV = 'WGKIT_USERSPACE_READY_FD';
/** How often the daemon checks that its interface still exists. */
const LINK_WATCH_MS = 1000;

export function usage(prog: string): string {
  return `Usage: ${prog} [-f/--foreground] INTERFACE-NAME\n`;
}

interface Arguments {
  foreground: boolean;
  name: string;
}

function parseArguments(argv: readonly string[]): Arguments | undefined {
  if (argv.length < 1 || argv.length > 2) return undefined;
  if (argv[0] === '-f' || argv[0] === '--foreground') {
    return argv.length === 2 ? { foreground: true, name: argv[1]! } : undefined;
  }
  return argv.length === 1 ? { foreground: false, name: argv[0]! } : undefined;
}

export async function main(argv: string[], io: CliIo = processIo, prog = 'wgkit-userspace'): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    io.out(`wgkit-userspace v${version}\n\nUserspace WireGuard daemon (wgkit) for ${process.platform}-${process.arch}.\n`);
    return 0;
  }
  const args = parseArguments(argv);
  if (!args) {
    io.out(usage(prog));
    return 0;
  }
  const foreground = args.foreground || io.env.WG_PROCESS_FOREGROUND === '1';
  if (!foreground) return daemonize(args.name, io);
  return runForeground(args.name, io);
}

/** Starts this program again in the foreground, detached, and waits for its verdict. */
async function daemonize(name: string, io: CliIo): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '-f', name], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...io.env, WG_PROCESS_FOREGROUND: '1', [READY_FD_ENV]: '3' },
  });
  const ready = child.stdio[3]!;
  let verdict = '';
  ready.on('data', (d: Buffer) => (verdict += d.toString()));
  const status = await new Promise<number>((resolve) => {
    ready.on('end', () => resolve(verdict.startsWith('ok') ? 0 : EXIT_SETUP_FAILED));
    child.on('error', (error) => {
      verdict = `Failed to daemonize: ${error.message}\n`;
      resolve(EXIT_SETUP_FAILED);
    });
  });
  if (status !== 0) io.err(verdict || `ERROR: (${name}) the daemon exited during setup\n`);
  child.unref();
  return status;
}

async function runForeground(name: string, io: CliIo): Promise<number> {
  const readyFd = io.env[READY_FD_ENV];
  const report = readyFd ? createWriteStream('', { fd: Number(readyFd) }) : undefined;
  let device: WireGuardDevice;
  try {
    device = await WireGuardDevice.create(name);
  } catch (error) {
    const message = `ERROR: (${name}) ${(error as Error).message}\n`;
    if (report) report.end(message);
    else io.err(message);
    return EXIT_SETUP_FAILED;
  }
  report?.end('ok\n');
  const rtnl = new Rtnl();
  let watch: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    device.on('error', (error) => {
      io.err(`ERROR: (${device.name}) ${error.message}\n`);
      resolve();
    });
    // Also watch for the interface by name, as wireguard-go watches RTM_DELLINK: a deletion
    // that races with the device's own threads must still end the daemon.
    watch = setInterval(() => {
      rtnl.findLink(device.name).then(
        (link) => (link === undefined ? resolve() : undefined),
        () => undefined,
      );
    }, LINK_WATCH_MS);
  });
  clearInterval(watch);
  await device.close();
  return 0;
}
