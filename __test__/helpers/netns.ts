/**
 * Network namespaces and wireguard-go devices for integration tests. Names include the
 * process id so concurrent test files never collide (UAPI sockets are shared by every
 * namespace); everything is removed by `cleanup()`, which tests call in `afterAll`/`finally`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

let counter = 0;

/** A short unique name: `prefix` + pid + counter (≤ 15 characters for interface names). */
export function uniqueName(prefix: string): string {
  const name = `${prefix}${process.pid % 100000}${(counter++).toString(36)}`;
  if (name.length > 15) throw new Error(`name too long: ${name}`);
  return name;
}

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class Netns {
  private constructor(readonly name: string) {}

  static create(prefix = 'wgkt'): Netns {
    const ns = new Netns(uniqueName(prefix));
    run('ip', ['netns', 'add', ns.name]);
    run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[], input?: string): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  delete(): void {
    try {
      run('ip', ['netns', 'del', this.name]);
    } catch {
      // already gone
    }
  }
}

/** Two namespaces joined by a veth pair, 192.0.2.1/24 and 192.0.2.2/24 (+ 2001:db8:ffff::1,2/64). */
export function vethPair(prefix = 'wgkt'): { a: Netns; b: Netns } {
  const a = Netns.create(prefix);
  const b = Netns.create(prefix);
  const va = uniqueName('va');
  const vb = uniqueName('vb');
  run('ip', ['link', 'add', va, 'netns', a.name, 'type', 'veth', 'peer', 'name', vb, 'netns', b.name]);
  for (const [ns, dev, v4, v6] of [
    [a, va, '192.0.2.1/24', '2001:db8:ffff::1/64'],
    [b, vb, '192.0.2.2/24', '2001:db8:ffff::2/64'],
  ] as const) {
    run('ip', ['-n', ns.name, 'addr', 'add', v4, 'dev', dev]);
    run('ip', ['-n', ns.name, 'addr', 'add', v6, 'dev', dev, 'nodad']);
    run('ip', ['-n', ns.name, 'link', 'set', dev, 'up']);
  }
  // Wait for carrier: a first handshake sent into a link that is still down is lost, and the
  // retry comes only 5 s later.
  for (let i = 0; i < 250 && !run('ip', ['-n', a.name, '-br', 'link', 'show', va]).includes(' UP '); i++) {
    execFileSync('sleep', ['0.02']);
  }
  return { a, b };
}

export class WireguardGo {
  private constructor(
    readonly name: string,
    readonly netns: Netns,
    private readonly child: ChildProcess,
  ) {}

  /** Starts Debian's `wireguard-go -f NAME` in `netns` and waits for its UAPI socket. */
  static async start(netns: Netns, prefix = 'wgg'): Promise<WireguardGo> {
    const name = uniqueName(prefix);
    const child = spawn('ip', ['netns', 'exec', netns.name, 'wireguard-go', '-f', name], {
      stdio: 'ignore',
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
    });
    const dev = new WireguardGo(name, netns, child);
    const socket = `/var/run/wireguard/${name}.sock`;
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(socket)) {
      dev.stop();
      throw new Error(`wireguard-go ${name} did not create its socket`);
    }
    return dev;
  }

  /** `wg ARGS` for this device (wg reaches it through its socket from any namespace). */
  wg(...args: string[]): string {
    return run('wg', args.map((a) => a.replace('%i', this.name)));
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

/** Collects cleanups and runs them all (last first), ignoring individual failures. */
export class Cleanup {
  private readonly tasks: (() => void | Promise<void>)[] = [];

  add<T extends { stop(): void } | { delete(): void }>(thing: T): T {
    this.tasks.push(() => ('stop' in thing ? thing.stop() : thing.delete()));
    return thing;
  }

  defer(task: () => void | Promise<void>): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    while (this.tasks.length > 0) {
      try {
        await this.tasks.pop()!();
      } catch {
        // keep cleaning
      }
    }
  }
}
