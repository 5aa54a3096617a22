/**
 * `wgkit` against Debian's `wg` on the same wireguard-go devices: show (every form), showconf,
 * set, setconf, addconf, syncconf, and their errors. The lab's private mount namespace keeps
 * other tests' devices out of `show all` and `show interfaces`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WGKIT_BIN } from './helpers/run.js';
import { WgLab, type RunResult } from './helpers/wg-lab.js';

const lab = new WgLab();
let nsA: string;
let nsB: string;
const dev = { one: '', two: '', many: '', empty: '', x: '', y: '' };

beforeAll(() => {
  lab.start();
  nsA = lab.addNamespace('a');
  nsB = lab.addNamespace('b');
  const va = `wcv${lab.id}a`;
  const vb = `wcv${lab.id}b`;
  lab.host(['ip', 'link', 'add', va, 'netns', nsA, 'type', 'veth', 'peer', 'name', vb, 'netns', nsB]);
  lab.mustExec(nsA, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', va]);
  lab.mustExec(nsB, ['ip', 'addr', 'add', '192.0.2.2/24', 'dev', vb]);
  lab.mustExec(nsA, ['ip', 'link', 'set', va, 'up']);
  lab.mustExec(nsB, ['ip', 'link', 'set', vb, 'up']);
  for (const [k, ns] of [['one', nsA], ['two', nsB], ['many', nsA], ['empty', nsA], ['x', nsA], ['y', nsB]] as const) {
    dev[k] = lab.ifname(k[0]!);
    lab.addDevice(ns, dev[k]);
  }
  const key = (ns: string) => {
    const priv = lab.mustExec(ns, ['wg', 'genkey']).trim();
    return { priv, pub: lab.mustExec(ns, ['wg', 'pubkey'], { input: priv }).trim(), file: lab.file(`k${Math.random()}`, priv) };
  };
  const k1 = key(nsA);
  const k2 = key(nsB);
  const psk = lab.file('psk', lab.mustExec(nsA, ['wg', 'genpsk']).trim());
  lab.mustExec(nsA, ['wg', 'set', dev.one, 'listen-port', '51820', 'fwmark', '0x42', 'private-key', k1.file, 'peer', k2.pub,
    'preshared-key', psk, 'endpoint', '192.0.2.2:51821', 'persistent-keepalive', '25', 'allowed-ips', '10.0.0.2/32,fd00::2/128']);
  lab.mustExec(nsB, ['wg', 'set', dev.two, 'listen-port', '51821', 'private-key', k2.file, 'peer', k1.pub, 'preshared-key', psk,
    'endpoint', '192.0.2.1:51820', 'allowed-ips', '10.0.0.1/32']);
  lab.mustExec(nsA, ['ip', 'addr', 'add', '10.0.0.1/24', 'dev', dev.one]);
  lab.mustExec(nsA, ['ip', 'link', 'set', dev.one, 'up']);
  lab.mustExec(nsB, ['ip', 'addr', 'add', '10.0.0.2/24', 'dev', dev.two]);
  lab.mustExec(nsB, ['ip', 'link', 'set', dev.two, 'up']);
  // A deadline, not a count alone: the first handshake may go out before the veth has carrier,
  // and wireguard-go retries it only after 5 s.
  lab.mustExec(nsA, ['ping', '-c', '3', '-i', '0.2', '-w', '15', '10.0.0.2']);
  const many = key(nsA);
  const args = ['wg', 'set', dev.many, 'listen-port', '51830', 'private-key', many.file];
  for (let i = 0; i < 2; i++) {
    args.push('peer', key(nsA).pub, 'allowed-ips', `10.1.${i}.0/24`);
    if (i % 2 === 0) args.push('endpoint', `[2001:db8::${i + 1}]:${1000 + i}`);
  }
  lab.mustExec(nsA, args);
}, 120_000);
afterAll(() => lab.close());

function wgkit(ns: string, args: readonly string[], env: Record<string, string> = {}): RunResult {
  return lab.exec(ns, [process.execPath, WGKIT_BIN, ...args], { env });
}

function asWg(r: RunResult): RunResult {
  return { ...r, stdout: r.stdout.replaceAll('wgkit', 'wg'), stderr: r.stderr.replaceAll('wgkit', 'wg') };
}

const sortLines = (s: string) => s.split('\n').sort().join('\n');

/**
 * Runs both tools until their output is identical. wireguard-go reports peers in random order
 * on every read and "ago" texts move with the clock, so an attempt whose outputs hold the same
 * lines in another order also counts; 30 attempts without either fail.
 */
function expectSame(ns: string, args: readonly string[], env: Record<string, string> = {}): RunResult {
  let last: [RunResult, RunResult] | undefined;
  for (let attempt = 0; attempt < 30; attempt++) {
    const theirs = lab.wg(ns, args, env);
    const ours = asWg(wgkit(ns, args, env));
    const same = ours.stderr === theirs.stderr && ours.status === theirs.status;
    if (same && (ours.stdout === theirs.stdout || sortLines(ours.stdout) === sortLines(theirs.stdout))) return ours;
    last = [ours, { status: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr }];
  }
  const [ours, theirs] = last!;
  expect(ours).toEqual(theirs);
  return ours;
}

describe('wgkit show matches wg show', () => {
  const fields = ['public-key', 'private-key', 'listen-port', 'fwmark', 'peers', 'preshared-keys', 'endpoints',
    'allowed-ips', 'latest-handshakes', 'transfer', 'persistent-keepalive', 'dump'];

  it('bare, all, interfaces', () => {
    for (const env of [{}, { WG_HIDE_KEYS: 'never' }, { WG_COLOR_MODE: 'always' }] as Record<string, string>[]) {
      expectSame(nsA, [], env);
      expectSame(nsA, ['show'], env);
      expectSame(nsA, ['show', 'all'], env);
    }
    const r = expectSame(nsA, ['show', 'interfaces']);
    expect(r.stdout.trim().split(' ').sort()).toEqual(Object.values(dev).sort());
  });

  it('one device, pretty and every field', () => {
    for (const name of [dev.one, dev.two, dev.many, dev.empty]) {
      expectSame(nsA, ['show', name]);
      expectSame(nsA, ['show', name], { WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'always' });
      for (const field of fields) expectSame(nsA, ['show', name, field]);
    }
    for (const field of fields) expectSame(nsA, ['show', 'all', field]);
    const handshake = expectSame(nsA, ['show', dev.one, 'latest-handshakes']);
    expect(handshake.stdout).not.toMatch(/\t0\n/);
  });

  it('errors and usage', () => {
    expectSame(nsA, ['show', 'wgnotexist0']);
    expectSame(nsA, ['show', dev.one, 'bogus']);
    expectSame(nsA, ['show', 'all', 'bogus']);
    expectSame(nsA, ['show', 'a', 'b', 'c']);
    expectSame(nsA, ['show', 'interfaces', 'x']);
    expectSame(nsA, ['show', '--help']);
    expectSame(nsA, ['showconf']);
    expectSame(nsA, ['showconf', 'wgnotexist0']);
  });
});

describe('wgkit showconf and the configuration commands match wg', () => {
  it('showconf', () => {
    for (const name of [dev.one, dev.two, dev.many, dev.empty]) expectSame(nsA, ['showconf', name]);
  });

  /** Applies the same command with wg to x and with wgkit to y; both devices must end up equal. */
  function sameEffect(args: (name: string) => string[]): void {
    const theirs = lab.wg(nsA, args(dev.x));
    const ours = asWg(wgkit(nsA, args(dev.y)));
    expect({ status: ours.status, stdout: ours.stdout, stderr: ours.stderr.replaceAll(dev.y, dev.x) }).toEqual({
      status: theirs.status,
      stdout: theirs.stdout,
      stderr: theirs.stderr,
    });
    const x = sortLines(lab.mustExec(nsA, ['wg', 'showconf', dev.x]));
    const y = sortLines(lab.mustExec(nsA, ['wg', 'showconf', dev.y]));
    expect(y).toBe(x);
  }

  it('set, setconf, addconf, syncconf (including their errors)', () => {
    const priv = lab.mustExec(nsA, ['wg', 'genkey']).trim();
    const keyFile = lab.file('setpriv', priv);
    const peers = Array.from({ length: 4 }, () => lab.mustExec(nsA, ['wg', 'pubkey'], { input: lab.mustExec(nsA, ['wg', 'genkey']) }).trim());
    const conf = (text: string) => lab.file(`c${Math.random().toString(36).slice(2)}.conf`, text);

    sameEffect((n) => ['set', n, 'listen-port', '40001', 'fwmark', '1234', 'private-key', keyFile,
      'peer', peers[0]!, 'endpoint', '127.0.0.1:1', 'persistent-keepalive', '10', 'allowed-ips', '10.5.0.0/16, fd05::/64',
      'peer', peers[1]!, 'allowed-ips', '10.6.0.1']);
    sameEffect((n) => ['set', n, 'peer', peers[1]!, 'remove', 'peer', peers[0]!, 'persistent-keepalive', 'off']);
    sameEffect((n) => ['set', n, 'listen-port', 'x']);
    sameEffect((n) => ['set', n, 'fwmark', '0x1ffffffff']);
    sameEffect((n) => ['set', n, 'peer', 'notakey']);
    sameEffect((n) => ['set', n, 'peer', peers[2]!, 'allowed-ips', '10.0.0.0/33']);
    sameEffect((n) => ['set', n, 'peer', peers[2]!, 'endpoint', '[::1']);
    sameEffect((n) => ['set', n, 'peer', peers[2]!, 'bogus']);
    sameEffect((n) => ['set', n, 'private-key', '/nonexistent/key']);
    sameEffect((n) => ['set', n]);

    const full = conf(`[Interface]\nPrivateKey = ${priv}\nListenPort = 40002\n\n[Peer]\nPublicKey = ${peers[0]}\nAllowedIPs = 10.7.0.0/16\nEndpoint = 127.0.0.1:7\n\n[Peer]\nPublicKey = ${peers[1]}\nAllowedIPs = 10.8.0.0/16\nPersistentKeepalive = 5\n`);
    sameEffect((n) => ['setconf', n, full]);
    sameEffect((n) => ['addconf', n, conf(`[Peer]\nPublicKey = ${peers[2]}\nAllowedIPs = 10.9.0.0/16\n`)]);
    // The file keeps peer 1's keepalive: Debian's 2021 wg leaves a keepalive the file drops in
    // place, where current wg (and wgkit) clear it (see the client spec).
    sameEffect((n) => ['syncconf', n, conf(`[Interface]\nListenPort = 40003\n\n[Peer]\nPublicKey = ${peers[1]}\nAllowedIPs = 10.8.0.0/16\nPersistentKeepalive = 5\n\n[Peer]\nPublicKey = ${peers[3]}\n`)]);
    sameEffect((n) => ['setconf', n, conf('[Interface]\nListenPort = 40004\n')]);
    sameEffect((n) => ['setconf', n, conf('[Interface]\nBogus = 1\n')]);
    sameEffect((n) => ['addconf', n, conf('[Peer]\nAllowedIPs = 10.0.0.0/8\n')]);
    sameEffect((n) => ['setconf', n, '/nonexistent.conf']);
    sameEffect((n) => ['setconf', n]);
    sameEffect((n) => ['set', 'wgnotexist0', 'listen-port', '1']);
  });
});
