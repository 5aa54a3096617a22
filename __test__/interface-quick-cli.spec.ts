// `wgkit-quick` against Debian's wg-quick on the same files, in the same namespace: the same
// steps in the same order, the same resulting addresses, routes, rules and firewall tables,
// the same messages for bad input, and both leave the namespace as they found it.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterfaceLab } from './helpers/interface-lab.js';
import { run, uniqueName } from './helpers/netns.js';
import { ROOT, sh } from './helpers/run.js';

const WGKIT_QUICK = `${ROOT}bin/wgkit-quick.js`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let lab: InterfaceLab;
const dir = mkdtempSync(join(tmpdir(), 'wgkit-quick-'));
chmodSync(dir, 0o700);

beforeAll(async () => {
  lab = await InterfaceLab.create();
});

/** Interface names used here: a daemon left by a failed test is stopped in afterAll. */
const names: string[] = [];
function ifname(): string {
  const name = uniqueName('wgq');
  names.push(name);
  return name;
}

afterAll(async () => {
  for (const name of names) {
    sh(`pkill -f 'wgkit-userspace.js -f ${name}$'; pkill -f 'wireguard-go ${name}$'`);
  }
  await lab?.cleanup.run();
  rmSync(dir, { recursive: true, force: true });
});

function writeConf(name: string, allowedIPs: string, extra = ''): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    `[Interface]
PrivateKey = ${lab.us.privateKey}
Address = 10.99.0.1/24, fd99::1/64
${extra}
[Peer]
PublicKey = ${lab.them.publicKey}
Endpoint = 192.0.2.2:${lab.port}
AllowedIPs = ${allowedIPs}
PersistentKeepalive = 1
`,
    { mode: 0o600 },
  );
  return file;
}

function quick(tool: 'wg-quick' | 'wgkit-quick', command: string, file: string) {
  const program = tool === 'wg-quick' ? 'wg-quick' : `node ${WGKIT_QUICK}`;
  return sh(`ip netns exec ${lab.a.name} ${program} ${command} ${file}`);
}

/** The `[#]` steps from `wg setconf` on (how the link is created differs by design), names normalised. */
function steps(stderr: string, name: string): string[] {
  const lines = stderr.split('\n').filter((l) => l.startsWith('[#] ')).map((l) => l.replaceAll(name, 'IF'));
  const from = lines.findIndex((l) => l.startsWith('[#] wg setconf'));
  return from < 0 ? lines : lines.slice(from);
}

function state(name: string): string {
  const out = [
    lab.ipA('-br', 'address', 'show', 'dev', name).replace(/ fe80::\S+/g, ''),
    lab.ipA('-o', 'link', 'show', 'dev', name).replace(/^\d+: /, '').replace(/ qlen \d+/, '').replace(/qdisc \S+ /, ''),
    lab.ipA('-4', 'route', 'show', 'table', 'all'),
    lab.ipA('-6', 'route', 'show', 'table', 'all').replace(/.*fe80.*\n/g, ''),
    lab.ipA('-4', 'rule'),
    lab.ipA('-6', 'rule'),
    run('ip', ['netns', 'exec', lab.a.name, 'nft', 'list', 'tables']),
  ].join('\n---\n');
  return out.replaceAll(name, 'IF').replace(/ proto (boot|static) /g, ' proto X ');
}

function namespaceState(): string {
  return [lab.ipA('-4', 'route', 'show', 'table', 'all'), lab.ipA('-4', 'rule'), lab.ipA('-6', 'rule'), lab.ipA('-br', 'link')].join('\n---\n');
}

describe.each([
  ['plain routes', '10.99.0.0/24, fd99::/64, 10.98.0.0/16', ''],
  ['default route', '0.0.0.0/0, ::/0', ''],
  ['explicit table and MTU', '10.99.0.0/24, 10.98.0.0/16', 'Table = 4321\nMTU = 1300'],
])('%s', (_label, allowedIPs, extra) => {
  it('brings up and tears down the file as wg-quick does', async () => {
    const before = namespaceState();
    const results: Record<string, { up: string[]; down: string[]; state: string }> = {};
    for (const tool of ['wg-quick', 'wgkit-quick'] as const) {
      lab.newIdentity();
      lab.configurePeer('10.99.0.1/32,fd99::1/128');
      const name = ifname();
      const file = writeConf(name, allowedIPs, extra);
      const up = quick(tool, 'up', file);
      expect(up.code, `${tool} up: ${up.stderr}`).toBe(0);
      const during = state(name);
      expect(lab.pingFromA('10.99.0.2', 2), `${tool}: ping through the tunnel`).toBe(true);
      const down = quick(tool, 'down', file);
      expect(down.code, `${tool} down: ${down.stderr}`).toBe(0);
      results[tool] = { up: steps(up.stderr, name), down: steps(down.stderr, name), state: during };
      expect(namespaceState(), `${tool} leaves the namespace as it found it`).toBe(before);
    }
    expect(results['wgkit-quick']!.up).toEqual(results['wg-quick']!.up);
    expect(results['wgkit-quick']!.down).toEqual(results['wg-quick']!.down);
    expect(results['wgkit-quick']!.state).toBe(results['wg-quick']!.state);
  });
});

describe('messages', () => {
  it.each([
    ['up', 'nonexistent0'],
    ['up', '/nonexistent/dir/wg0.conf'],
    ['down', 'bad name with spaces.conf'],
  ])('%s %s: the same message and exit code as wg-quick', (command, arg) => {
    const theirs = sh(`wg-quick ${command} '${arg}'`);
    const ours = sh(`node ${WGKIT_QUICK} ${command} '${arg}'`);
    expect(ours.code).toBe(theirs.code);
    expect(ours.stderr.replaceAll('wgkit-quick', 'wg-quick')).toBe(theirs.stderr);
  });

  it('warns about a world-accessible file, rejects a file not named IF.conf, and prints usage', () => {
    const open = join(dir, 'wgopen0.conf');
    writeFileSync(open, '[Interface]\n', { mode: 0o644 });
    chmodSync(open, 0o644);
    chmodSync(dir, 0o755);
    try {
      const theirs = sh(`wg-quick strip ${open}`);
      const ours = sh(`node ${WGKIT_QUICK} strip ${open}`);
      expect(ours.stderr).toBe(theirs.stderr);
      expect(ours.stderr).toContain('is world accessible');
      expect(ours.stdout).toBe(theirs.stdout);
    } finally {
      chmodSync(dir, 0o700);
    }
    const badName = join(dir, 'not-an-interface-name-at-all.conf');
    writeFileSync(badName, '[Interface]\n', { mode: 0o600 });
    expect(sh(`node ${WGKIT_QUICK} up ${badName}`).stderr).toBe(sh(`wg-quick up ${badName}`).stderr.replaceAll('wg-quick', 'wgkit-quick'));
    const usage = sh(`node ${WGKIT_QUICK}`);
    expect(usage.code).toBe(1);
    expect(usage.stderr.replaceAll('wgkit-quick', 'wg-quick')).toBe(sh('wg-quick').stderr);
  });

  it('refuses to bring up an interface twice and to take down a non-WireGuard one', () => {
    lab.configurePeer('10.99.0.1/32');
    const name = ifname();
    const file = writeConf(name, '10.98.0.0/16');
    expect(quick('wgkit-quick', 'up', file).code).toBe(0);
    try {
      const again = quick('wgkit-quick', 'up', file);
      expect(again.code).toBe(1);
      expect(again.stderr).toBe(`wgkit-quick: \`${name}' already exists\n`);
    } finally {
      expect(quick('wgkit-quick', 'down', file).code).toBe(0);
    }
    const gone = quick('wgkit-quick', 'down', file);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`wgkit-quick: \`${name}' is not a WireGuard interface\n`);
  });

  it('save writes the running state back (umask 077), as wg-quick save', () => {
    lab.configurePeer('10.99.0.1/32');
    const name = ifname();
    const file = writeConf(name, '10.98.0.0/16', 'PostUp = true %i\nSaveConfig = true');
    expect(quick('wgkit-quick', 'up', file).code).toBe(0);
    try {
      sh(`wg set ${name} listen-port 43210`);
      const saved = quick('wgkit-quick', 'save', file);
      expect(saved.code, saved.stderr).toBe(0);
      const text = sh(`cat ${file}`).stdout;
      expect(text).toMatch(/^\[Interface\]\nAddress = 10\.99\.0\.1\/24\nAddress = fd99::1\/64\nSaveConfig = true\nPostUp = true %i\nListenPort = 43210\nPrivateKey = /);
      expect(text).toContain(`[Peer]\nPublicKey = ${lab.them.publicKey}\nAllowedIPs = 10.98.0.0/16\nEndpoint = 192.0.2.2:${lab.port}\nPersistentKeepalive = 1\n`);
      expect(sh(`stat -c %a ${file}`).stdout.trim()).toBe('600');
    } finally {
      expect(quick('wgkit-quick', 'down', file).code).toBe(0);
    }
  });
});

describe('up is all or nothing', () => {
  /** `wgkit-quick up FILE` in namespace A, its standard output and error pipes given to the test. */
  function spawnUp(file: string) {
    const child = spawn('ip', ['netns', 'exec', lab.a.name, process.execPath, WGKIT_QUICK, 'up', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const stderrContains = async (text: string) => {
      for (let i = 0; i < 400 && !stderr.includes(text); i++) await sleep(25);
      expect(stderr, `waiting for ${text}`).toContain(text);
    };
    return { child, exit, stderr: () => stderr, stderrContains };
  }

  /** Nothing of `name` is left: no link, no daemon, no UAPI socket, the namespace as before. */
  async function expectNothingLeft(name: string, before: string): Promise<void> {
    const daemon = () => sh(`pgrep -f 'wgkit-userspace.js -f ${name}$'`).code === 0;
    for (let i = 0; i < 200 && (daemon() || existsSync(`/var/run/wireguard/${name}.sock`)); i++) await sleep(25);
    expect(daemon(), 'the daemon is gone').toBe(false);
    expect(existsSync(`/var/run/wireguard/${name}.sock`), 'the UAPI socket is gone').toBe(false);
    expect(sh(`ip -n ${lab.a.name} link show dev ${name}`).code, 'the link is gone').not.toBe(0);
    expect(namespaceState()).toBe(before);
  }

  /** A file whose first PostUp waits for `flag`, so the test can act while the link is up. */
  function pausedConf(name: string, flag: string, more = ''): string {
    return writeConf(name, '10.98.0.0/16', `PostUp = while [ ! -e ${flag} ]; do sleep 0.02; done\nPostUp = true %i\n${more}`);
  }

  it('standard error closed after the link exists: exit 1 and everything undone', async () => {
    lab.configurePeer('10.99.0.1/32');
    const before = namespaceState();
    const name = uniqueName('wgcl');
    names.push(name);
    const flag = join(dir, `${name}.go`);
    const up = spawnUp(pausedConf(name, flag));
    await up.stderrContains('[#] while');
    expect(lab.ipA('-br', 'address', 'show', 'dev', name)).toContain('10.99.0.1/24');
    up.child.stderr.destroy(); // the reader goes away: the next `[#]` line meets EPIPE
    writeFileSync(flag, '');
    expect(await up.exit).toBe(1);
    await expectNothingLeft(name, before);
  });

  it('standard output a closed pipe: a PostUp writing to it fails, and everything is undone', async () => {
    lab.configurePeer('10.99.0.1/32');
    const before = namespaceState();
    const name = uniqueName('wgcl');
    names.push(name);
    const up = spawnUp(writeConf(name, '10.98.0.0/16', 'PostUp = sleep 0.2; echo %i is up'));
    up.child.stdout.destroy();
    expect(await up.exit).toBe(1);
    expect(up.stderr()).toContain(`[#] ip link delete dev ${name}\n`);
    expect(up.stderr()).toContain(`wgkit-quick: PostUp hook failed (signal SIGPIPE): sleep 0.2; echo ${name} is up\n`);
    await expectNothingLeft(name, before);
  });

  it('SIGTERM while it runs: exit 1 and everything undone, as wg-quick traps it', async () => {
    lab.configurePeer('10.99.0.1/32');
    const before = namespaceState();
    const name = uniqueName('wgcl');
    names.push(name);
    const flag = join(dir, `${name}.go`);
    const up = spawnUp(pausedConf(name, flag));
    await up.stderrContains('[#] while');
    up.child.kill('SIGTERM'); // `ip netns exec` has exec'd node: this is wgkit-quick itself
    await sleep(100);
    writeFileSync(flag, '');
    expect(await up.exit).toBe(1);
    expect(up.stderr()).toContain(`[#] ip link delete dev ${name}\n`);
    expect(up.stderr()).toContain('wgkit-quick: Stopped by SIGTERM\n');
    expect(up.stderr()).not.toContain(`[#] true ${name}`);
    await expectNothingLeft(name, before);
  });
});
