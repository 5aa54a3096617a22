/**
 * Helpers for the specs that run inside the kernel guest (vitest.guest.config.ts): shell
 * commands, kernel WireGuard links, network namespaces with a veth pair, and readable device
 * snapshots. Everything here lives in the throw-away guest; names are fixed per spec file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DeviceInfo } from '../../lib/index.js';

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs argv (optionally inside the network namespace `ns`) and returns what happened. */
export function exec(argv: readonly string[], opts: { ns?: string; env?: Record<string, string>; input?: string } = {}): Ran {
  const full = opts.ns ? ['ip', 'netns', 'exec', opts.ns, ...argv] : [...argv];
  const r = spawnSync(full[0]!, full.slice(1), {
    encoding: 'utf8',
    input: opts.input,
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env },
    maxBuffer: 256 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Runs argv and returns its stdout; throws with stderr when it fails. */
export function sh(argv: readonly string[], opts: { ns?: string; input?: string } = {}): string {
  const r = exec(argv, opts);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** `ip link add NAME type wireguard` (in `ns` if given), replacing a leftover link of that name. */
export function addLink(name: string, ns?: string): void {
  const ip = ns ? ['ip', '-n', ns] : ['ip'];
  exec([...ip, 'link', 'del', name]);
  sh([...ip, 'link', 'add', name, 'type', 'wireguard']);
}

export function delLink(name: string, ns?: string): void {
  exec([...(ns ? ['ip', '-n', ns] : ['ip']), 'link', 'del', name]);
}

/**
 * Two network namespaces joined by a veth pair: `a` has 192.0.2.1/24, `b` 192.0.2.2/24
 * (addresses exist only inside this guest).
 */
export function namespacePair(a: string, b: string): void {
  for (const ns of [a, b]) {
    exec(['ip', 'netns', 'del', ns]);
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh(['ip', 'link', 'add', 'vth-a', 'netns', a, 'type', 'veth', 'peer', 'name', 'vth-b', 'netns', b]);
  sh(['ip', '-n', a, 'addr', 'add', '192.0.2.1/24', 'dev', 'vth-a']);
  sh(['ip', '-n', b, 'addr', 'add', '192.0.2.2/24', 'dev', 'vth-b']);
  sh(['ip', '-n', a, 'link', 'set', 'vth-a', 'up']);
  sh(['ip', '-n', b, 'link', 'set', 'vth-b', 'up']);
}

/** A random 32-byte public key (the kernel takes any bytes as a peer key). */
export function randomPublicKey(): string {
  return randomBytes(32).toString('base64');
}

/** A device as plain data (keys as base64), for deep comparisons. */
export function plain(d: DeviceInfo): unknown {
  return {
    ...d,
    privateKey: d.privateKey?.toBase64() ?? null,
    peers: d.peers.map((p) => ({ ...p, presharedKey: p.presharedKey?.toBase64() ?? null })),
  };
}

/** A peer's allowed IPs as a sorted list (the kernel's order is its trie walk). */
export const sortedIPs = (ips: readonly string[]): string[] => [...ips].sort();

/** The network namespace of one of this process's threads (`net:[4026531840]`). */
export function threadNetns(tid: number | 'self' = 'self'): string {
  return readlinkSync(tid === 'self' ? '/proc/thread-self/ns/net' : `/proc/self/task/${tid}/ns/net`);
}

/**
 * A long-lived `wgkit` in network namespace `ns`: each `run(argv, env)` executes the CLI's
 * main() (what bin/wgkit.js runs) in one node process (__test__/guest/cli-runner.mjs), because
 * starting node for every command takes seconds under TCG.
 */
export class WgkitRunner {
  private readonly child: ChildProcess;
  private readonly waiting: ((r: Ran) => void)[] = [];
  private stderr = '';

  constructor(ns: string) {
    const script = fileURLToPath(new URL('./cli-runner.mjs', import.meta.url));
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.waiting.shift()?.(JSON.parse(line) as Ran));
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w({ status: 198, stdout: '', stderr: `runner exited (${code}): ${this.stderr}` });
    });
  }

  run(argv: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write(`${JSON.stringify({ argv, env: { PATH: process.env['PATH'], ...env } })}\n`);
    });
  }

  close(): void {
    this.child.stdin!.end();
  }
}
