/**
 * Test helper: a small WireGuard lab of wireguard-go devices in network namespaces of this test
 * process, driven with Debian's `wg`.
 *
 * UAPI sockets live in /var/run/wireguard, which every network namespace shares. So that
 * `wg show all` and `wg show interfaces` see this lab's devices only (other tests create
 * devices concurrently), the lab runs wireguard-go and wg inside a private mount namespace with
 * its own tmpfs on /run/wireguard. That namespace is held by a `sleep` process; it, and every
 * wireguard-go, get SIGKILL/SIGTERM if this process dies (parent-death signal), and the network
 * namespaces are deleted in `close()` (and, when a previous test process died, by the next lab).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface TimedRun extends RunResult {
  /** Date.now() just before the command started and just after it ended. */
  started: number;
  ended: number;
}

const NS_PREFIX = 'wgshow-';

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function run(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): RunResult {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: options.env ?? { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    input: options.input,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

function must(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = run(argv, options);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Whether `pid` is a running process (not gone, not a zombie). */
function pidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the parenthesised command name.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Deletes lab namespaces left behind by test processes that no longer exist. */
function removeStaleNamespaces(): void {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^wgshow-(\d+)-[a-z]$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    run(['ip', 'netns', 'del', name]);
  }
}

export class WgLab {
  readonly id = process.pid;
  readonly dir = mkdtempSync(join(tmpdir(), 'wgkit-show-'));
  private holder: ChildProcess | undefined;
  private readonly daemons = new Map<string, ChildProcess>();
  private readonly namespaces: string[] = [];

  /** A network namespace name of this lab. */
  ns(suffix: string): string {
    return `${NS_PREFIX}${this.id}-${suffix}`;
  }

  /** An interface name of this lab (at most 15 characters). */
  ifname(suffix: string): string {
    const name = `wgs${this.id}${suffix}`;
    if (name.length > 15) throw new Error(`interface name too long: ${name}`);
    return name;
  }

  /** The lab's mount namespace, with a private tmpfs on /run/wireguard. */
  start(): void {
    removeStaleNamespaces();
    mkdirSync('/run/wireguard', { recursive: true });
    this.holder = spawn('setpriv', ['--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', 'sleep', 'infinity'], {
      stdio: 'ignore',
    });
    const pid = this.holderPid;
    const mnt = `/proc/${pid}/ns/mnt`;
    // unshare has made the namespace once it has exec'd sleep.
    for (let i = 0; comm(pid) !== 'sleep'; i++) {
      if (i > 500) throw new Error('mount namespace holder did not start');
      sleepMs(10);
    }
    must(['nsenter', `--mount=${mnt}`, 'mount', '-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'wgshow', '/run/wireguard']);
  }

  private get holderPid(): number {
    const pid = this.holder?.pid;
    if (pid === undefined) throw new Error('lab not started');
    return pid;
  }

  addNamespace(suffix: string): string {
    const name = this.ns(suffix);
    must(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** argv run in the test's own namespaces (for `ip` commands that name network namespaces). */
  host(argv: readonly string[]): string {
    return must(argv);
  }

  /** argv run inside the lab's mount namespace and the network namespace `ns`. */
  exec(ns: string, argv: readonly string[], options: { env?: Record<string, string>; input?: string } = {}): RunResult {
    return run(['nsenter', `--mount=/proc/${this.holderPid}/ns/mnt`, `--net=/run/netns/${ns}`, ...argv], {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
      input: options.input,
    });
  }

  mustExec(ns: string, argv: readonly string[], options: { env?: Record<string, string>; input?: string } = {}): string {
    const r = this.exec(ns, argv, options);
    if (r.status !== 0) throw new Error(`${argv.join(' ')} in ${ns} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /** Debian's wg in `ns`, with exactly the given WG_* variables, timed. */
  wg(ns: string, args: readonly string[], env: Record<string, string> = {}): TimedRun {
    const started = Date.now();
    const r = this.exec(ns, ['wg', ...args], { env });
    const ended = Date.now();
    return { ...r, started, ended };
  }

  /**
   * Debian's wg with its stdout on a pseudo-terminal (script(1)); `stty -onlcr` keeps the
   * terminal from turning its newlines into CR LF. Arguments must not need shell quoting.
   */
  wgOnPty(ns: string, args: readonly string[], env: Record<string, string> = {}): TimedRun {
    if (!args.every((a) => /^[A-Za-z0-9_.-]+$/.test(a))) throw new Error(`arguments need quoting: ${args.join(' ')}`);
    const started = Date.now();
    const r = this.exec(ns, ['script', '-qec', `stty -onlcr; exec wg ${args.join(' ')}`, '/dev/null'], { env });
    const ended = Date.now();
    return { ...r, started, ended };
  }

  /** Starts a wireguard-go device in `ns` and waits for its UAPI socket. */
  addDevice(ns: string, name: string): void {
    const child = spawn(
      'nsenter',
      [`--mount=/proc/${this.holderPid}/ns/mnt`, `--net=/run/netns/${ns}`, 'setpriv', '--pdeathsig', 'TERM', 'wireguard-go', '-f', name],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LOG_LEVEL: 'error' } },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.daemons.set(name, child);
    const sock = `/proc/${this.holderPid}/root/run/wireguard/${name}.sock`;
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 500 || child.exitCode !== null) throw new Error(`wireguard-go ${name} did not start: ${stderr}`);
      sleepMs(10);
    }
  }

  /**
   * A UAPI socket served by a small node process: it reads each `get=1` request and answers
   * with `reply` (which must end with `errno=0` and a blank line), or with `null` hangs up
   * without a reply, so that wg lists the device and then fails to read it (EPROTO).
   */
  addFakeDevice(name: string, reply: string | null): void {
    const path = `/proc/${this.holderPid}/root/run/wireguard/${name}.sock`;
    const script = `
      const net = require('node:net');
      const reply = process.env.WGKIT_REPLY;
      net.createServer((c) => {
        let got = '';
        c.on('data', (d) => {
          got += d;
          if (!got.includes('\\n\\n')) return;
          if (reply === undefined) c.end(); else c.end(reply);
        });
        c.on('error', () => {});
      }).listen(process.argv[1]);`;
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] };
    if (reply !== null) env['WGKIT_REPLY'] = reply;
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', process.execPath, '-e', script, path], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    this.daemons.set(name, child);
    for (let i = 0; !existsSync(path); i++) {
      if (i > 500 || child.exitCode !== null) throw new Error(`fake device ${name} did not start`);
      sleepMs(10);
    }
  }

  addHangupSocket(name: string): void {
    this.addFakeDevice(name, null);
  }

  removeHangupSocket(name: string): void {
    const child = this.daemons.get(name);
    if (child?.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      for (let i = 0; i < 200 && pidAlive(child.pid); i++) sleepMs(10);
    }
    this.daemons.delete(name);
    rmSync(`/proc/${this.holderPid}/root/run/wireguard/${name}.sock`, { force: true });
  }

  /** The names in /run/wireguard in directory order (the order wg lists userspace devices). */
  socketNames(): string[] {
    const out = this.mustExec(this.namespaces[0] ?? '', ['ls', '-1U', '/run/wireguard']);
    return out
      .split('\n')
      .filter((n) => n.length > 5 && n.endsWith('.sock'))
      .map((n) => n.slice(0, -5));
  }

  /** A file holding `text`, for `wg set ... private-key FILE`. */
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, `${text}\n`, { mode: 0o600 });
    return path;
  }

  /** Stops everything the lab started. Safe to call more than once and after a failed start. */
  close(): void {
    for (const child of this.daemons.values()) {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
    }
    for (const child of this.daemons.values()) {
      for (let i = 0; i < 200 && child.pid !== undefined && pidAlive(child.pid); i++) sleepMs(10);
      if (child.pid !== undefined && pidAlive(child.pid)) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    this.daemons.clear();
    if (this.holder?.pid !== undefined && pidAlive(this.holder.pid)) {
      try {
        process.kill(this.holder.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const ns of this.namespaces.splice(0)) run(['ip', 'netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
