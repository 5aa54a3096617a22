/**
 * Runs wgctrl-go's own integration tests (built by scripts/wgctrl-suite.sh) against one
 * userspace WireGuard device, and reads the verdict of every test from `go test -v` output.
 *
 * The suite resets and reconfigures every device it can see: userspace devices through the
 * UAPI sockets in /var/run/wireguard (shared by every network namespace) and kernel devices
 * through generic netlink (per network namespace). So the device, and the suite, run inside a
 * private mount namespace with its own tmpfs on /run/wireguard and inside a network namespace
 * of their own: the suite sees that one device only. The mount namespace is held by a `sleep`
 * that dies with this process (parent-death signal), like every process started here, and
 * the network namespace is deleted in `finally`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PATH = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The result of one test (or subtest) as `go test -v` reports it. */
export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

export interface SuiteRun {
  /** Every test and subtest by its full name, e.g. `TestIntegrationClient/configure/wg0`. */
  verdicts: Map<string, Verdict>;
  /** The suite's whole output, for failure messages. */
  output: string;
  /** The device daemon's stderr. */
  daemonLog: string;
}

/** The tests and subtests the pinned suite runs against one device named `device`. */
export function expectedTests(device: string): string[] {
  const subtests = ['get', 'configure', 'configure_many_IPs', 'configure_many_peers', 'configure_peers_update_only', 'reset'];
  return [
    'TestIntegrationClient',
    ...subtests.flatMap((s) => [`TestIntegrationClient/${s}`, `TestIntegrationClient/${s}/${device}`]),
    'TestIntegrationClientIsNotExist',
  ];
}

/** Reads `--- PASS: name (0.01s)` lines (any indentation) of `go test -v` output. */
export function parseGoTestVerbose(output: string): Map<string, Verdict> {
  const verdicts = new Map<string, Verdict>();
  for (const m of output.matchAll(/^\s*--- (PASS|FAIL|SKIP): (\S+) \(/gm)) {
    verdicts.set(m[2] as string, m[1] as Verdict);
  }
  return verdicts;
}

/** Builds the suite (cached after the first time) and returns the test binary's path. */
export function buildSuite(): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'wgctrl-suite.sh')], { encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`scripts/wgctrl-suite.sh failed (${r.status}): ${r.stderr}`);
  const path = r.stdout.trim().split('\n').pop() ?? '';
  if (!existsSync(path)) throw new Error(`scripts/wgctrl-suite.sh printed no binary: ${r.stdout}`);
  return path;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function must(argv: string[]): void {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd as string, args, { encoding: 'utf8', env: { PATH } });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Waits (asynchronously) for `child` to exit; resolves with its exit code or signal. */
function exited(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(`${child.exitCode ?? child.signalCode}`);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(`${code ?? signal}`)));
}

/**
 * Starts `daemon(device)` (a userspace WireGuard implementation in the foreground, e.g.
 * `['wireguard-go', '-f', device]`) in a fresh network and mount namespace, runs the suite
 * `binary` against it, stops everything and returns the verdicts.
 */
export async function runSuite(binary: string, device: string, daemon: string[], namespace: string): Promise<SuiteRun> {
  mkdirSync('/run/wireguard', { recursive: true });
  const holder = spawn('setpriv', ['--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', 'sleep', 'infinity'], {
    stdio: 'ignore',
  });
  let daemonProcess: ChildProcess | undefined;
  let daemonLog = '';
  let namespaceMade = false;
  try {
    const pid = holder.pid;
    if (pid === undefined) throw new Error('mount namespace holder did not start');
    for (let i = 0; comm(pid) !== 'sleep'; i++) {
      if (i > 500) throw new Error('mount namespace holder did not start');
      sleepMs(10);
    }
    const enter = [`--mount=/proc/${pid}/ns/mnt`, `--net=/run/netns/${namespace}`];
    must(['nsenter', `--mount=/proc/${pid}/ns/mnt`, 'mount', '-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'wgcf', '/run/wireguard']);
    must(['ip', 'netns', 'add', namespace]);
    namespaceMade = true;
    must(['ip', '-n', namespace, 'link', 'set', 'lo', 'up']);

    daemonProcess = spawn('nsenter', [...enter, 'setpriv', '--pdeathsig', 'TERM', ...daemon], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH, LOG_LEVEL: 'error' },
    });
    daemonProcess.stderr?.on('data', (d: Buffer) => (daemonLog += d.toString()));
    const socket = `/proc/${pid}/root/run/wireguard/${device}.sock`;
    for (let i = 0; !existsSync(socket); i++) {
      if (i > 1000 || daemonProcess.exitCode !== null) throw new Error(`${daemon.join(' ')} did not create its socket: ${daemonLog}`);
      await new Promise((r) => setTimeout(r, 10));
    }

    // Asynchronously, so that the daemon's stderr keeps being read (a full pipe would stall it).
    const suite = spawn('nsenter', [...enter, 'setpriv', '--pdeathsig', 'KILL', binary, '-test.v', '-test.run', '^TestIntegration', '-test.timeout', '5m'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH, WGCTRL_INTEGRATION: 'yesreallydoit' },
    });
    let output = '';
    suite.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    suite.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const status = await exited(suite);
    output += `\n(exit ${status})\n`;
    return { verdicts: parseGoTestVerbose(output), output, daemonLog };
  } finally {
    if (daemonProcess?.pid !== undefined && daemonProcess.exitCode === null) {
      daemonProcess.kill('SIGTERM');
      const stopped = exited(daemonProcess);
      const timeout = new Promise<string>((r) => setTimeout(() => r('timeout'), 5000));
      if ((await Promise.race([stopped, timeout])) === 'timeout') {
        daemonProcess.kill('SIGKILL');
        await stopped;
      }
    }
    if (holder.pid !== undefined && holder.exitCode === null) {
      holder.kill('SIGKILL');
      await exited(holder);
    }
    if (namespaceMade) spawnSync('ip', ['netns', 'del', namespace], { env: { PATH } });
  }
}
