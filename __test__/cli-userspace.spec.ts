// `wgkit-userspace` as a program: its arguments (usage for `--help`, no option taken for an
// interface name) and its wireguard-go style log (`LOG_LEVEL`), in network namespaces with a
// wireguard-go peer, checked for the lines it must write and for key material it must not.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserspaceLogger, logLevelFrom, peerName } from '../lib/cli/userspace-log.js';
import { generatePresharedKey } from '../lib/keys.js';
import { keyPair } from './helpers/interface-lab.js';
import { Cleanup, Netns, run, uniqueName, vethPair, WireguardGo } from './helpers/netns.js';
import { ROOT, sh } from './helpers/run.js';

const WGKIT_USERSPACE = `${ROOT}bin/wgkit-userspace.js`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanup = new Cleanup();
const dir = mkdtempSync(join(tmpdir(), 'wgkit-userspace-cli-'));
cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
afterAll(() => cleanup.run());

const LINE = /^(DEBUG|ERROR): \((\S+)\) \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (.+)$/;

/** `wgkit-userspace ARGS` inside `ns`, through bash (for redirections). */
function userspace(ns: Netns, args: string, env: Record<string, string> = {}) {
  const assignments = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return sh(`ip netns exec ${ns.name} env ${assignments} ${process.execPath} ${WGKIT_USERSPACE} ${args}`);
}

/** The pids of wgkit-userspace processes serving `name` (read-only use of pgrep). */
function daemonsOf(name: string): string[] {
  return sh(`pgrep -f -- '${WGKIT_USERSPACE} -f ${name}$'`).stdout.split('\n').filter(Boolean);
}

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !condition() && waited < ms; waited += 25) await sleep(25);
  expect(condition(), what).toBe(true);
}

describe('arguments', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = cleanup.add(Netns.create('wgcl'));
  });
  const onlyLoopback = () => expect(run('ip', ['-n', ns.name, '-br', 'link']).trim().split(/\s+/)[0]).toBe('lo');

  it.each([['--help'], ['-h'], ['-f --help'], ['--foreground -h']])('%s prints the usage on standard output and creates nothing', (args) => {
    const r = userspace(ns, args);
    expect(r).toEqual({ code: 0, stdout: `Usage: wgkit-userspace [-f/--foreground] INTERFACE-NAME\n`, stderr: '' });
    onlyLoopback();
    expect(existsSync('/var/run/wireguard/--help.sock')).toBe(false);
    expect(existsSync('/var/run/wireguard/-h.sock')).toBe(false);
    expect(daemonsOf('--help')).toEqual([]);
  });

  it.each([
    ['-x', '-x'],
    ['--bogus', '--bogus'],
    ['-f -x', '-x'],
    ['--foreground --verbose', '--verbose'],
  ])('%s is refused as an unknown option, nothing created', (args, option) => {
    const r = userspace(ns, args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`wgkit-userspace: unrecognized option \`${option}'\nUsage: wgkit-userspace [-f/--foreground] INTERFACE-NAME\n`);
    onlyLoopback();
    expect(daemonsOf(option)).toEqual([]);
  });

  it('keeps --version, and the usage for a wrong number of arguments, as wireguard-go', () => {
    const version = userspace(ns, '--version');
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^wgkit-userspace v\d+\.\d+\.\d+/);
    for (const args of ['', 'a b c', '-f']) {
      expect(userspace(ns, args)).toEqual({ code: 0, stdout: `Usage: wgkit-userspace [-f/--foreground] INTERFACE-NAME\n`, stderr: '' });
    }
    onlyLoopback();
  });
});

describe('setup errors', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = cleanup.add(Netns.create('wgcl'));
  });

  it.each([
    ['-f', 'silent'],
    ['', 'silent'],
    ['-f', ''],
    ['', 'verbose'],
  ])('are reported whatever the level (%j, LOG_LEVEL=%j), exit 1', (flag, level) => {
    const r = userspace(ns, `${flag} 'bad name'`, level ? { LOG_LEVEL: level } : {});
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^ERROR: \(bad name\) \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Failed to create the device: Invalid interface name: `bad name'$/);
    const debug = lines.slice(0, -1);
    expect(debug.every((l) => l.startsWith('DEBUG: (bad name) ')), r.stderr).toBe(true);
    expect(debug.length > 0).toBe(level === 'verbose');
    expect(run('ip', ['-n', ns.name, '-br', 'link']).trim().split(/\s+/)[0]).toBe('lo');
  });
});

describe('log lines', () => {
  const at = new Date(2026, 11, 6, 20, 0, 0);
  it('are formatted as wireguard-go formats them, filtered by LOG_LEVEL', () => {
    for (const [value, level] of [
      ['verbose', 'verbose'],
      ['debug', 'verbose'],
      ['error', 'error'],
      ['silent', 'silent'],
      [undefined, 'error'],
      ['loud', 'error'],
    ] as const) {
      expect(logLevelFrom({ LOG_LEVEL: value })).toBe(level);
    }
    const lines: string[] = [];
    for (const level of ['verbose', 'error', 'silent'] as const) {
      const logger = createUserspaceLogger(level, 'wg0', (line) => lines.push(`${level} ${line}`), () => at);
      logger.verbose('Device started');
      logger.error('Failed to read packet');
    }
    expect(lines).toEqual([
      'verbose DEBUG: (wg0) 2026/12/06 20:00:00 Device started\n',
      'verbose ERROR: (wg0) 2026/12/06 20:00:00 Failed to read packet\n',
      'error ERROR: (wg0) 2026/12/06 20:00:00 Failed to read packet\n',
    ]);
    expect(peerName('aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=')).toBe('peer(aPxG…YF10)');
  });
});

describe('LOG_LEVEL with a peer', () => {
  let a: Netns;
  let b: Netns;
  let peer: WireguardGo;
  const them = keyPair();
  beforeAll(async () => {
    ({ a, b } = vethPair('wgcl'));
    cleanup.add(a);
    cleanup.add(b);
    peer = cleanup.add(await WireguardGo.start(b, 'wgcl'));
    run('ip', ['-n', b.name, 'address', 'add', '10.55.0.2/24', 'dev', peer.name]);
    run('ip', ['-n', b.name, 'link', 'set', peer.name, 'up']);
  });

  /** Keys and addresses for our device `name` in A and the matching peer entry in B. */
  function configure(name: string): { secrets: string[] } {
    const us = keyPair();
    const psk = generatePresharedKey().toBase64();
    const ourKey = join(dir, `${name}.key`);
    const pskFile = join(dir, `${name}.psk`);
    const theirKey = join(dir, `${name}.peer.key`);
    writeFileSync(ourKey, us.privateKey, { mode: 0o600 });
    writeFileSync(pskFile, psk, { mode: 0o600 });
    writeFileSync(theirKey, them.privateKey, { mode: 0o600 });
    run('wg', ['set', name, 'private-key', ourKey, 'peer', them.publicKey, 'preshared-key', pskFile, 'endpoint', '192.0.2.2:51999', 'allowed-ips', '10.55.0.2/32']);
    for (const line of run('wg', ['show', peer.name, 'peers']).split('\n').filter(Boolean)) run('wg', ['set', peer.name, 'peer', line, 'remove']);
    run('wg', ['set', peer.name, 'private-key', theirKey, 'listen-port', '51999', 'peer', us.publicKey, 'preshared-key', pskFile, 'allowed-ips', '10.55.0.1/32']);
    run('ip', ['-n', a.name, 'address', 'add', '10.55.0.1/24', 'dev', name]);
    run('ip', ['-n', a.name, 'link', 'set', name, 'up']);
    const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
    return { secrets: [us.privateKey, them.privateKey, psk, hex(us.privateKey), hex(them.privateKey), hex(psk)] };
  }

  function expectNoSecret(log: string, secrets: string[]): void {
    for (const secret of secrets) {
      expect(log.includes(secret), 'a key appears in the log').toBe(false);
      expect(log.toLowerCase().includes(secret.toLowerCase().slice(0, 16)), 'a piece of a key appears in the log').toBe(false);
    }
  }

  it('foreground, LOG_LEVEL=verbose: startup, handshake and shutdown on standard error, no key', async () => {
    const name = uniqueName('wgcl');
    const child = spawn('ip', ['netns', 'exec', a.name, process.execPath, WGKIT_USERSPACE, '-f', name], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'verbose' },
    });
    cleanup.defer(() => void child.kill('SIGTERM'));
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => stderr.includes('UAPI listener started'), 'the UAPI listener starts');
    const { secrets } = configure(name);
    expect(sh(`ip netns exec ${a.name} ping -c 1 -W 2 10.55.0.2`).code, 'ping through the tunnel').toBe(0);
    const handshake = `${peerName(them.publicKey)} - Handshake completed as initiator, new session keys`;
    await waitFor(() => stderr.includes(handshake), 'the handshake is logged');
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const lines = stderr.trimEnd().split('\n');
    for (const line of lines) {
      expect(line).toMatch(LINE);
      expect(LINE.exec(line)![2]).toBe(name);
    }
    const messages = lines.map((l) => LINE.exec(l)![3]);
    expect(messages.slice(0, 3)).toEqual([
      expect.stringMatching(/^Starting wgkit-userspace version \d+\.\d+\.\d+/),
      `Device started (interface ${name}, MTU 1420)`,
      `UAPI listener started (/var/run/wireguard/${name}.sock)`,
    ]);
    expect(messages).toContain(handshake);
    expect(messages.slice(-4)).toEqual(['Received SIGTERM', 'Device closing', 'Device closed', 'Shutting down']);
    expect(stdout).toBe('');
    expectNoSecret(stderr, secrets);
  });

  it.each([
    ['verbose', true],
    ['', false],
    ['silent', false],
  ])('daemon, LOG_LEVEL=%j: logs on the standard error it was started with only when asked', async (level, logs) => {
    const name = uniqueName('wgcl');
    const logFile = join(dir, `${name}.log`);
    const started = userspace(a, `${name} 2>${logFile}`, level ? { LOG_LEVEL: level } : {});
    expect(started.code, started.stderr).toBe(0);
    cleanup.defer(() => {
      for (const pid of daemonsOf(name)) process.kill(Number(pid), 'SIGTERM');
    });
    expect(daemonsOf(name)).toHaveLength(1);
    const { secrets } = configure(name);
    expect(sh(`ip netns exec ${a.name} ping -c 1 -W 2 10.55.0.2`).code, 'ping through the tunnel').toBe(0);
    await sleep(200);
    run('ip', ['-n', a.name, 'link', 'delete', name]);
    await waitFor(() => daemonsOf(name).length === 0, 'the daemon stops when its interface is deleted');
    const log = readFileSync(logFile, 'utf8');
    if (!logs) {
      expect(log).toBe('');
      return;
    }
    const messages = log
      .trimEnd()
      .split('\n')
      .map((l) => {
        expect(l).toMatch(LINE);
        return LINE.exec(l)![3];
      });
    expect(messages).toContain(`UAPI listener started (/var/run/wireguard/${name}.sock)`);
    expect(messages).toContain(`${peerName(them.publicKey)} - Handshake completed as initiator, new session keys`);
    expect(messages.slice(-4)).toEqual(['Interface deleted', 'Device closing', 'Device closed', 'Shutting down']);
    // The deleted interface fails the TUN reads (as wireguard-go logs it): one line, not one per queue.
    expect(log.split('\n').filter((l) => l.startsWith('ERROR: ')).length).toBeLessThanOrEqual(1);
    expectNoSecret(log, secrets);
  });
});
