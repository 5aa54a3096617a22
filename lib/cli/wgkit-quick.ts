/**
 * `wgkit-quick [ up | down | save | strip ] [ CONFIG_FILE | INTERFACE ]`: a drop-in for
 * wg-quick(8) on Linux. Same arguments, file lookup (a bare name is
 * `/etc/wireguard/NAME.conf`), warnings, messages, exit codes and order of steps, each step
 * printed as wg-quick prints it (`[#] ip link add wg0 type wireguard`), but done over
 * rtnetlink and the wgkit client instead of `ip` and `wg`. Without kernel WireGuard the
 * interface is served by the `wgkit-userspace` daemon (or `$WG_QUICK_USERSPACE_IMPLEMENTATION`);
 * `WGKIT_IMPLEMENTATION=kernel|userspace` forces one or the other.
 *
 * `up` is all or nothing: a failing step, a `[#]` line that cannot be written (EPIPE) or
 * SIGINT/SIGTERM/SIGHUP undoes everything it did, and the exit status is 1.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { stripWgQuickConfig } from '../config/wg-quick.js';
import { AbortError, ConfigError, describeLocation, WgkitError } from '../errors.js';
import { WireGuardInterface } from '../interface/interface.js';
import type { InterfaceOptions } from '../interface/interface.js';
import type { ImplementationChoice } from '../interface/link.js';
import { OutputError, processIo, type CliIo } from './io.js';

const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;
const CONFIG_NAME = /(^|\/)([a-zA-Z0-9_=+.-]{1,15})\.conf$/;

export function usage(prog: string): string {
  return `Usage: ${prog} [ up | down | save | strip ] [ CONFIG_FILE | INTERFACE ]

  CONFIG_FILE is a configuration file, whose filename is the interface name
  followed by \`.conf'. Otherwise, INTERFACE is an interface name, with
  configuration found at /etc/wireguard/INTERFACE.conf. It is to be readable
  by wg(8)'s \`setconf' sub-command, with the exception of the following additions
  to the [Interface] section, which are handled by ${prog}:

  - Address: may be specified one or more times and contains one or more
    IP addresses (with an optional CIDR mask) to be set for the interface.
  - DNS: an optional DNS server to use while the device is up.
  - MTU: an optional MTU for the interface; if unspecified, auto-calculated.
  - Table: an optional routing table to which routes will be added; if
    unspecified or \`auto', the default table is used. If \`off', no routes
    are added.
  - PreUp, PostUp, PreDown, PostDown: script snippets which will be executed
    by bash(1) at the corresponding phases of the link, most commonly used
    to configure DNS. The string \`%i' is expanded to INTERFACE.
  - SaveConfig: if set to \`true', the configuration is saved from the current
    state of the interface upon shutdown.

See wg-quick(8) for more info and examples.
`;
}

class Die extends Error {}

interface Options {
  configFile: string;
  name: string;
  text: string;
}

/** wg-quick's `parse_options` (the file part; the parsing itself is the library's). */
function parseOptions(arg: string, io: CliIo): Options {
  let configFile = IFNAME.test(arg) ? `/etc/wireguard/${arg}.conf` : arg;
  if (!existsSync(configFile)) throw new Die(`\`${configFile}' does not exist`);
  const match = CONFIG_NAME.exec(configFile);
  if (!match) throw new Die('The config file must be a valid interface name, followed by .conf');
  configFile = realpathSync(configFile);
  const fileMode = statSync(configFile).mode;
  const dirMode = statSync(dirname(configFile)).mode;
  if ((fileMode & dirMode & 0o007) !== 0) io.err(`Warning: \`${configFile}' is world accessible\n`);
  return { configFile, name: match[2]!, text: readFileSync(configFile, 'utf8') };
}

/** `WGKIT_IMPLEMENTATION=kernel|userspace|auto` overrides the choice (default auto). */
function implementationFrom(env: NodeJS.ProcessEnv): ImplementationChoice {
  const value = env.WGKIT_IMPLEMENTATION;
  if (value === undefined || value === '') return 'auto';
  if (value === 'kernel' || value === 'userspace' || value === 'auto') return value;
  throw new Die(`\`${value}' is not a valid WGKIT_IMPLEMENTATION (kernel, userspace or auto)`);
}

function describe(error: unknown): string {
  if (error instanceof ConfigError) {
    return error.problems
      .filter((p) => p.severity === 'error')
      .map((p) => `${describeLocation(p)}${p.message}`)
      .join('\n');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The `[#]` steps on standard error. With `failFast` (for `up`), the first write that fails
 * throws its `OutputError`, so `up` stops and undoes what it did; the lines of that rollback,
 * and every line after a failure otherwise, are dropped, and `failure` keeps the first error.
 */
function stepLog(io: CliIo, failFast: boolean): { log: (line: string) => void; failure: () => OutputError | undefined } {
  let failure: OutputError | undefined;
  const log = (line: string) => {
    if (failure) return;
    try {
      io.err(`${line}\n`);
    } catch (error) {
      if (!(error instanceof OutputError)) throw error;
      failure = error;
      if (failFast) throw error;
    }
  };
  return { log, failure: () => failure };
}

/** Writes a final message; when even that cannot be written, the exit status has to say it. */
function tryWrite(write: () => void): void {
  try {
    write();
  } catch (error) {
    if (!(error instanceof OutputError)) throw error;
  }
}

/** The signals that stop `up` half-way, as wg-quick traps them: what was done is undone. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `up` as one transaction: a failure, an output error or a stop signal leaves nothing behind. */
async function upAllOrNothing(name: string, text: string, options: InterfaceOptions): Promise<void> {
  const abort = new AbortController();
  let received: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    received ??= signal;
    abort.abort();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  try {
    await WireGuardInterface.up(name, text, { ...options, signal: abort.signal });
  } catch (error) {
    if (received && error instanceof AbortError) throw new AbortError(`Stopped by ${received}`, { cause: error });
    throw error;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  }
}

export async function main(argv: string[], io: CliIo = processIo, prog = 'wgkit-quick'): Promise<number> {
  const [command, arg] = argv;
  if (argv.length === 1 && (command === '--help' || command === '-h' || command === 'help')) {
    tryWrite(() => io.err(usage(prog)));
    return 0;
  }
  if (argv.length !== 2 || !['up', 'down', 'save', 'strip'].includes(command!)) {
    tryWrite(() => io.err(usage(prog)));
    return 1;
  }
  if (command !== 'strip' && typeof process.getuid === 'function' && process.getuid() !== 0) {
    tryWrite(() => io.err(`${prog}: must be run as root\n`));
    return 1;
  }
  const steps = stepLog(io, command === 'up');
  try {
    const options = parseOptions(arg!, io);
    const common: InterfaceOptions = {
      log: steps.log,
      env: io.env,
      configFile: options.configFile,
      userspace: 'daemon',
      implementation: implementationFrom(io.env),
    };
    switch (command) {
      case 'strip':
        io.out(stripWgQuickConfig(options.text));
        break;
      case 'up':
        await upAllOrNothing(options.name, options.text, common);
        break;
      case 'down':
        await WireGuardInterface.down(options.name, options.text, common);
        break;
      case 'save':
        await WireGuardInterface.save(options.name, options.text, options.configFile, common);
        break;
    }
    // `down` and `save` finish their work when their output fails, then report it.
    const failure = steps.failure();
    if (failure) throw failure;
    return 0;
  } catch (error) {
    if (!(error instanceof Die) && !(error instanceof WgkitError)) throw error;
    tryWrite(() => io.err(`${prog}: ${describe(error)}\n`));
    return 1;
  }
}
