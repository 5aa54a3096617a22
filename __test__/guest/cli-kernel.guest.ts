/**
 * `wgkit` against Debian's `wg` on kernel WireGuard devices (runs inside the kernel guest; the
 * kernel counterpart of __test__/cli-wg.spec.ts): show in every form, showconf, and the same
 * effects and errors for set, setconf, addconf and syncconf. The devices live in two network
 * namespaces of their own, so `show all` and `show interfaces` see exactly them. Kernel
 * devices list their peers in a fixed order, so outputs must match byte for byte; only the
 * "ago" texts move with the clock, which a few attempts absorb.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WGKIT_BIN } from '../helpers/run.js';
import { exec, namespacePair, sh, WgkitRunner, type Ran } from './helpers.js';

const nsA = 'wgclia';
const nsB = 'wgclib';
const dev = { one: 'wgone', two: 'wgtwo', many: 'wgmany', empty: 'wgempty', x: 'wgx', y: 'wgy' };
const inA = ['one', 'many', 'empty', 'x', 'y'] as const;
const dir = mkdtempSync(join(tmpdir(), 'wgkit-kcli-'));
let fileCount = 0;
const file = (text: string) => {
  const path = join(dir, `f${fileCount++}`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const runners: Record<string, WgkitRunner> = {};
const genkey = () => sh(['wg', 'genkey']).trim();
const pubkey = (priv: string) => sh(['wg', 'pubkey'], { input: priv }).trim();

beforeAll(() => {
  namespacePair(nsA, nsB);
  for (const k of inA) sh(['ip', '-n', nsA, 'link', 'add', dev[k], 'type', 'wireguard']);
  sh(['ip', '-n', nsB, 'link', 'add', dev.two, 'type', 'wireguard']);
  const [p1, p2] = [genkey(), genkey()];
  const psk = file(sh(['wg', 'genpsk']));
  sh(['wg', 'set', dev.one, 'listen-port', '51820', 'fwmark', '0x42', 'private-key', file(p1), 'peer', pubkey(p2),
    'preshared-key', psk, 'endpoint', '192.0.2.2:51821', 'persistent-keepalive', '25', 'allowed-ips', '10.0.0.2/32,fd00::2/128'], { ns: nsA });
  sh(['wg', 'set', dev.two, 'listen-port', '51821', 'private-key', file(p2), 'peer', pubkey(p1), 'preshared-key', psk,
    'endpoint', '192.0.2.1:51820', 'allowed-ips', '10.0.0.1/32'], { ns: nsB });
  sh(['ip', '-n', nsA, 'addr', 'add', '10.0.0.1/24', 'dev', dev.one]);
  sh(['ip', '-n', nsA, 'link', 'set', dev.one, 'up']);
  sh(['ip', '-n', nsB, 'addr', 'add', '10.0.0.2/24', 'dev', dev.two]);
  sh(['ip', '-n', nsB, 'link', 'set', dev.two, 'up']);
  sh(['ping', '-c', '2', '-i', '0.3', '-w', '20', '10.0.0.2'], { ns: nsA });
  // Several peers, some with endpoints (v4 and v6), one with a PSK, one with two IP families.
  const args = ['wg', 'set', dev.many, 'listen-port', '51830', 'private-key', file(genkey())];
  for (let i = 0; i < 6; i++) {
    args.push('peer', pubkey(genkey()), 'allowed-ips', `10.1.${i}.0/24${i % 3 === 0 ? `,fd01:${i + 1}::/64` : ''}`);
    if (i % 2 === 0) args.push('endpoint', i === 2 ? `[2001:db8::${i + 1}]:${1000 + i}` : `192.0.2.${i + 10}:${1000 + i}`);
    if (i === 1) args.push('preshared-key', psk, 'persistent-keepalive', '15');
  }
  sh(args, { ns: nsA });
  runners[nsA] = new WgkitRunner(nsA);
  runners[nsB] = new WgkitRunner(nsB);
});
afterAll(() => {
  for (const r of Object.values(runners)) r.close();
  exec(['ip', 'netns', 'del', nsA]);
  exec(['ip', 'netns', 'del', nsB]);
  rmSync(dir, { recursive: true, force: true });
});

function wg(ns: string, args: readonly string[], env: Record<string, string> = {}): Ran {
  return exec(['wg', ...args], { ns, env });
}

const asWg = (r: Ran): Ran => ({ ...r, stdout: r.stdout.replaceAll('wgkit', 'wg'), stderr: r.stderr.replaceAll('wgkit', 'wg') });

/** wgkit's main() in `ns` (see WgkitRunner). */
async function wgkit(ns: string, args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return asWg(await runners[ns]!.run(args, env));
}

/** The wgkit executable itself (node bin/wgkit.js), in `ns`. */
function wgkitBin(ns: string, args: readonly string[], env: Record<string, string> = {}): Ran {
  return asWg(exec([process.execPath, WGKIT_BIN, ...args], { ns, env }));
}

/** Both tools print the same; a few attempts absorb a clock tick inside "… seconds ago". */
async function expectSame(ns: string, args: readonly string[], env: Record<string, string> = {}, bin = false): Promise<Ran> {
  let last: [Ran, Ran] | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const theirs = wg(ns, args, env);
    const ours = bin ? wgkitBin(ns, args, env) : await wgkit(ns, args, env);
    if (ours.stdout === theirs.stdout && ours.stderr === theirs.stderr && ours.status === theirs.status) return ours;
    last = [ours, theirs];
  }
  expect(last![0]).toEqual(last![1]);
  return last![0];
}

describe('wgkit show matches wg show on kernel devices', () => {
  const fields = ['public-key', 'private-key', 'listen-port', 'fwmark', 'peers', 'preshared-keys', 'endpoints',
    'allowed-ips', 'latest-handshakes', 'transfer', 'persistent-keepalive', 'dump'];

  it('bare, show, all, interfaces (hidden and shown keys, colour)', async () => {
    for (const env of [{}, { WG_HIDE_KEYS: 'never' }, { WG_COLOR_MODE: 'always' }] as Record<string, string>[]) {
      await expectSame(nsA, [], env);
      await expectSame(nsA, ['show'], env);
      await expectSame(nsA, ['show', 'all'], env);
    }
    const r = await expectSame(nsA, ['show', 'interfaces']);
    expect(r.stdout.trim().split(' ').sort()).toEqual(inA.map((k) => dev[k]).sort());
    expect((await expectSame(nsB, ['show', 'interfaces'])).stdout).toBe(`${dev.two}\n`);
    // The other namespace, with its one device.
    expect((await expectSame(nsB, ['show', 'all', 'dump'])).stdout).toMatch(/^wgtwo\t\S+\t\S+\t51821\toff\nwgtwo\t\S+\t\S+\t192\.0\.2\.1:51820\t10\.0\.0\.1\/32\t[1-9]\d*\t[1-9]\d*\t[1-9]\d*\toff\n$/);
  });

  it('one device, pretty and every field', async () => {
    for (const name of [dev.one, dev.many, dev.empty]) {
      await expectSame(nsA, ['show', name]);
      await expectSame(nsA, ['show', name], { WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'always' });
      for (const field of fields) await expectSame(nsA, ['show', name, field]);
    }
    for (const field of fields) await expectSame(nsA, ['show', 'all', field]);
    await expectSame(nsB, ['show', dev.two], { WG_HIDE_KEYS: 'never' });
    // There was a handshake and traffic: the fields are not empty.
    expect((await expectSame(nsA, ['show', dev.one, 'latest-handshakes'])).stdout).toMatch(/\t[1-9]\d*\n$/);
    expect((await expectSame(nsA, ['show', dev.one])).stdout).toMatch(/latest handshake: .* ago\n {2}transfer: .* received, .* sent\n {2}persistent keepalive: every 25 seconds\n$/);
  });

  it('the wgkit executable itself (bin/wgkit.js): output, errors, exit codes', async () => {
    // Starting node takes seconds here: no "ago" texts (dump has absolute times).
    await expectSame(nsA, ['show', 'all', 'dump'], {}, true);
    await expectSame(nsA, ['show', dev.many], { WG_HIDE_KEYS: 'never' }, true);
    await expectSame(nsA, ['showconf', dev.one], {}, true);
    expect((await expectSame(nsA, ['show', 'wgnotexist0'], {}, true)).status).toBe(1);
    expect((await expectSame(nsA, ['set', dev.empty, 'listen-port', 'x'], {}, true)).status).toBe(1);
  });

  it('errors and usage', async () => {
    await expectSame(nsA, ['show', 'wgnotexist0']);
    await expectSame(nsA, ['show', 'lo']);
    await expectSame(nsA, ['show', dev.one, 'bogus']);
    await expectSame(nsA, ['show', 'all', 'bogus']);
    await expectSame(nsA, ['show', 'a', 'b', 'c']);
    await expectSame(nsA, ['show', 'interfaces', 'x']);
    await expectSame(nsA, ['showconf']);
    await expectSame(nsA, ['showconf', 'wgnotexist0']);
    expect((await expectSame(nsA, ['show', 'wgnotexist0'])).status).not.toBe(0);
  });
});

describe('wgkit showconf and the configuration commands match wg on kernel devices', () => {
  it('showconf', async () => {
    for (const name of [dev.one, dev.many, dev.empty]) await expectSame(nsA, ['showconf', name]);
    expect((await expectSame(nsB, ['showconf', dev.two])).stdout).toContain('ListenPort = 51821\n');
  });

  /** wg changes x and wgkit changes y with the same command: same output, same resulting device. */
  async function sameEffect(args: (name: string) => string[]): Promise<Ran> {
    const theirs = wg(nsA, args(dev.x));
    const ours = await wgkit(nsA, args(dev.y));
    expect({ status: ours.status, stdout: ours.stdout, stderr: ours.stderr.replaceAll(dev.y, dev.x) }).toEqual({
      status: theirs.status,
      stdout: theirs.stdout,
      stderr: theirs.stderr,
    });
    // Kernel devices: same peer order too, so the texts compare as they are.
    expect(sh(['wg', 'showconf', dev.y], { ns: nsA })).toBe(sh(['wg', 'showconf', dev.x], { ns: nsA }));
    return ours;
  }

  it('set, setconf, addconf, syncconf (including their errors)', async () => {
    const priv = genkey();
    const keyFile = file(priv);
    const peers = Array.from({ length: 4 }, () => pubkey(genkey()));
    const conf = (text: string) => file(text);

    await sameEffect((n) => ['set', n, 'listen-port', '40001', 'fwmark', '1234', 'private-key', keyFile,
      'peer', peers[0]!, 'endpoint', '127.0.0.1:1', 'persistent-keepalive', '10', 'allowed-ips', '10.5.0.0/16, fd05::/64',
      'peer', peers[1]!, 'allowed-ips', '10.6.0.1']);
    await sameEffect((n) => ['set', n, 'peer', peers[2]!, 'endpoint', '[fe80::1%lo]:5', 'allowed-ips', '10.5.1.0/24']);
    await sameEffect((n) => ['set', n, 'peer', peers[1]!, 'remove', 'peer', peers[0]!, 'persistent-keepalive', 'off']);
    await sameEffect((n) => ['set', n, 'private-key', '/dev/null', 'fwmark', '0']);
    await sameEffect((n) => ['set', n, 'listen-port', 'x']);
    await sameEffect((n) => ['set', n, 'fwmark', '0x1ffffffff']);
    await sameEffect((n) => ['set', n, 'peer', 'notakey']);
    await sameEffect((n) => ['set', n, 'peer', peers[2]!, 'allowed-ips', '10.0.0.0/33']);
    await sameEffect((n) => ['set', n, 'peer', peers[2]!, 'endpoint', '[::1']);
    await sameEffect((n) => ['set', n, 'peer', peers[2]!, 'bogus']);
    await sameEffect((n) => ['set', n, 'private-key', '/nonexistent/key']);
    await sameEffect((n) => ['set', n]);

    const full = conf(`[Interface]\nPrivateKey = ${priv}\nListenPort = 40002\nFwMark = 0x10\n\n[Peer]\nPublicKey = ${peers[0]}\nAllowedIPs = 10.7.0.0/16\nEndpoint = 127.0.0.1:7\n\n[Peer]\nPublicKey = ${peers[1]}\nAllowedIPs = 10.8.0.0/16, fd08::/48\nPersistentKeepalive = 5\n`);
    await sameEffect((n) => ['setconf', n, full]);
    expect(sh(['wg', 'showconf', dev.y], { ns: nsA })).toContain(`PublicKey = ${peers[1]}\nAllowedIPs = 10.8.0.0/16, fd08::/48\nPersistentKeepalive = 5\n`);
    await sameEffect((n) => ['addconf', n, conf(`[Peer]\nPublicKey = ${peers[2]}\nAllowedIPs = 10.9.0.0/16, 10.7.0.0/16\n`)]);
    // The file keeps peer 1's keepalive: Debian's 2021 wg leaves a keepalive the file drops in
    // place, where current wg (and wgkit) clear it (see the client specs).
    await sameEffect((n) => ['syncconf', n, conf(`[Interface]\nListenPort = 40003\n\n[Peer]\nPublicKey = ${peers[1]}\nAllowedIPs = 10.8.0.0/16\nPersistentKeepalive = 5\n\n[Peer]\nPublicKey = ${peers[3]}\n`)]);
    const synced = sh(['wg', 'showconf', dev.y], { ns: nsA });
    expect(synced).not.toContain(peers[0]!);
    expect(synced).not.toContain('PrivateKey');
    await sameEffect((n) => ['setconf', n, conf('[Interface]\nListenPort = 40004\n')]);
    expect(sh(['wg', 'showconf', dev.y], { ns: nsA })).toBe('[Interface]\nListenPort = 40004\n\n');
    await sameEffect((n) => ['setconf', n, conf('[Interface]\nBogus = 1\n')]);
    await sameEffect((n) => ['addconf', n, conf('[Peer]\nAllowedIPs = 10.0.0.0/8\n')]);
    await sameEffect((n) => ['setconf', n, '/nonexistent.conf']);
    await sameEffect((n) => ['setconf', n]);
    await sameEffect((n) => ['set', 'wgnotexist0', 'listen-port', '1']);
    await sameEffect((n) => ['setconf', 'wgnotexist0', full]);
  });
});
