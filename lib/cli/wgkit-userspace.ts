/**
 * `wgkit-userspace [-f|--foreground] INTERFACE`: a drop-in for wireguard-go. It creates the
 * TUN interface and the UAPI socket `/var/run/wireguard/INTERFACE.sock`, then runs the
 * embedded device until SIGTERM or SIGINT, or until its interface is deleted (as `wg-quick
 * down` does). Unless `-f` or `WG_PROCESS_FOREGROUND=1`, it daemonizes: the parent returns
 * once the child's device and socket are up, and reports the child's setup error otherwise.
 * Usable as `WG_QUICK_USERSPACE_IMPLEMENTATION=wgkit-userspace wg-quick up …`.
 *
 * `-h`/`--help` prints the usage; any other argument starting with `-` is refused, never taken
 * for an interface name. `LOG_LEVEL` (see `userspace-log.ts`) sets what is logged on standard
 * error; a daemon logs on the standard error it was started with when `LOG_LEVEL` is set and not
 * `silent`, and nowhere otherwise, as wireguard-go does. A setup error is always reported.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, writeSync } from 'node:fs';
import { WireGuardDevice } from '../device/device.js';
import { Rtnl } from '../interface/rtnl.js';
import { version } from '../version.js';
import { processIo, type CliIo } from './io.js';
import { createUserspaceLogger, logDeviceEvents, logLevelFrom, logTimestamp, type UserspaceLogger } from './userspace-log.js';

/** wireguard-go's exit status for a failed setup. */
const EXIT_SETUP_FAILED = 1;
/** The exit status for arguments that are not understood. */
const EXIT_USAGE = 1;
/** The daemon child reports readiness (`ok`) or its setup error on this descriptor. */
const READY_FD_ENV = 'WGKIT_USERSPACE_READY_FD';
/** How often the daemon checks that its interface still exists. */
const LINK_WATCH_MS = 1000;
const SOCKET_DIR = '/var/run/wireguard';

export function usage(prog: string): string {
  return `Usage: ${prog} [-f/--foreground] INTERFACE-NAME\n`;
}

type Invocation =
  | { action: 'version' }
  | { action: 'usage' }
  | { action: 'unknown-option'; option: string }
  | { action: 'run'; foreground: boolean; name: string };

/** wireguard-go's arguments, plus `-h`/`--help`, and no option taken for an interface name. */
function parseArguments(argv: readonly string[]): Invocation {
  if (argv.length === 1 && argv[0] === '--version') return { action: 'version' };
  if (argv.some((a) => a === '-h' || a === '--help')) return { action: 'usage' };
  if (argv.length < 1 || argv.length > 2) return { action: 'usage' };
  const foreground = argv[0] === '-f' || argv[0] === '--foreground';
  if (argv.length !== (foreground ? 2 : 1)) return { action: 'usage' };
  const name = argv[argv.length - 1]!;
  if (name.startsWith('-')) return { action: 'unknown-option', option: name };
  return { action: 'run', foreground, name };
}

export async function main(argv: string[], io: CliIo = processIo, prog = 'wgkit-userspace'): Promise<number> {
  const invocation = parseArguments(argv);
  switch (invocation.action) {
    case 'version':
      io.out(`wgkit-userspace v${version}\n\nUserspace WireGuard daemon (wgkit) for ${process.platform}-${process.arch}.\n`);
      return 0;
    case 'usage':
      // wireguard-go prints its usage on standard output and exits 0, also for wrong arguments.
      io.out(usage(prog));
      return 0;
    case 'unknown-option':
      io.err(`${prog}: unrecognized option \`${invocation.option}'\n${usage(prog)}`);
      return EXIT_USAGE;
    case 'run': {
      const foreground = invocation.foreground || io.env.WG_PROCESS_FOREGROUND === '1';
      if (!foreground) return daemonize(invocation.name, io);
      return runForeground(invocation.name, io);
    }
  }
}

/** Starts this program again in the foreground, detached, and waits for its verdict. */
async function daemonize(name: string, io: CliIo): Promise<number> {
  // As wireguard-go: the daemon keeps this process's standard error for its log only when
  // LOG_LEVEL asks for a log.
  const logs = Boolean(io.env.LOG_LEVEL) && logLevelFrom(io.env) !== 'silent';
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '-f', name], {
    detached: true,
    stdio: ['ignore', 'ignore', logs ? 'inherit' : 'ignore', 'pipe'],
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
  if (status !== 0) io.err(verdict || `ERROR: (${name}) ${logTimestamp(new Date())} The daemon exited during setup\n`);
  child.unref();
  return status;
}

/**
 * Writes a log line to standard error, or drops it: a daemon outlives the terminal or pipe it
 * was started with, and a log nobody can read any more must not stop the device.
 */
function writeLogLine(line: string): void {
  const bytes = Buffer.from(line);
  try {
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(2, bytes, offset);
  } catch {
    // Dropped (EPIPE, EBADF, EAGAIN on a descriptor somebody made non-blocking).
  }
}

async function runForeground(name: string, io: CliIo): Promise<number> {
  const readyFd = io.env[READY_FD_ENV];
  const report = readyFd ? createWriteStream('', { fd: Number(readyFd) }) : undefined;
  const logger = createUserspaceLogger(logLevelFrom(io.env), name, writeLogLine);
  logger.verbose(`Starting wgkit-userspace version ${version}`);
  let device: WireGuardDevice;
  try {
    device = await WireGuardDevice.create(name);
  } catch (error) {
    const message = `ERROR: (${name}) ${logTimestamp(new Date())} Failed to create the device: ${(error as Error).message}\n`;
    if (report) report.end(message);
    else io.err(message);
    return EXIT_SETUP_FAILED;
  }
  logDeviceEvents(device, logger);
  logger.verbose(`Device started (interface ${device.name}, MTU ${device.mtu})`);
  logger.verbose(`UAPI listener started (${SOCKET_DIR}/${device.name}.sock)`);
  report?.end('ok\n');
  const reason = await untilStopped(device, logger);
  logger.verbose(reason);
  logger.verbose('Device closing');
  await device.close();
  logger.verbose('Device closed');
  logger.verbose('Shutting down');
  return 0;
}

/** Waits for SIGTERM, SIGINT, a device error or the deletion of the interface; says which. */
async function untilStopped(device: WireGuardDevice, logger: UserspaceLogger): Promise<string> {
  const rtnl = new Rtnl();
  let watch: NodeJS.Timeout | undefined;
  const reason = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('Received SIGTERM'));
    process.once('SIGINT', () => resolve('Received SIGINT'));
    // A deleted interface is seen first as a failed TUN read: say which of the two it was.
    device.on('error', () => {
      rtnl.findLink(device.name).then(
        (link) => resolve(link === undefined ? 'Interface deleted' : 'Stopping after the device error'),
        () => resolve('Stopping after the device error'),
      );
    });
    // Also watch for the interface by name, as wireguard-go watches RTM_DELLINK: a deletion
    // that races with the device's own threads must still end the daemon.
    watch = setInterval(() => {
      rtnl.findLink(device.name).then(
        (link) => (link === undefined ? resolve('Interface deleted') : undefined),
        (error: Error) => logger.error(`Cannot check the interface: ${error.message}`),
      );
    }, LINK_WATCH_MS);
  });
  clearInterval(watch);
  return reason;
}
