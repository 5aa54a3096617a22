/**
 * Edge values that real devices do not produce on demand (handshakes years ago or in the
 * future, sub-second handshake order, TiB counters, exact rounding ties, scoped and
 * non-canonical addresses, escape sequences in interface names), fed to Debian's wg through
 * UAPI sockets that answer `get=1` with a fixed reply. The same state, as a DeviceInfo, goes
 * through lib/show, and the outputs must be byte-identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Key } from '../lib/keys.js';
import {
  formatField,
  formatInterfaces,
  formatPretty,
  SHOW_FIELDS,
  showAll,
  showOptionsFromEnv,
} from '../lib/show/index.js';
import type { DeviceInfo, PeerInfo } from '../lib/types.js';
import { candidateNows } from './helpers/show-compare.js';
import { WgLab, type TimedRun } from './helpers/wg-lab.js';

const MIN = 60;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
const T = Math.floor(Date.now() / 1000);

interface FakePeer {
  key: Key;
  psk?: Key;
  /** The UAPI endpoint text (also what the DeviceInfo holds). */
  endpoint?: string;
  sec?: number;
  nsec?: number;
  rx?: bigint;
  tx?: bigint;
  keepalive?: number;
  allowed?: string[];
}

interface FakeDevice {
  name: string;
  priv?: Key;
  port?: number;
  fwmark?: number;
  peers: FakePeer[];
}

function pub(): Key {
  return Key.generatePrivate().publicKey();
}

/** The UAPI `get` reply wireguard-go would send for `d`. */
function uapiReply(d: FakeDevice): string {
  let out = '';
  if (d.priv) out += `private_key=${d.priv.toHex()}\n`;
  if (d.port) out += `listen_port=${d.port}\n`;
  if (d.fwmark) out += `fwmark=${d.fwmark}\n`;
  for (const p of d.peers) {
    out += `public_key=${p.key.toHex()}\n`;
    out += `preshared_key=${(p.psk ?? Key.zero('preshared')).toHex()}\n`;
    out += 'protocol_version=1\n';
    if (p.endpoint) out += `endpoint=${p.endpoint}\n`;
    out += `last_handshake_time_sec=${p.sec ?? 0}\nlast_handshake_time_nsec=${p.nsec ?? 0}\n`;
    out += `tx_bytes=${p.tx ?? 0n}\nrx_bytes=${p.rx ?? 0n}\n`;
    out += `persistent_keepalive_interval=${p.keepalive ?? 0}\n`;
    for (const a of p.allowed ?? []) out += `allowed_ip=${a}\n`;
  }
  return `${out}errno=0\n\n`;
}

/** The same state in the read model. */
function deviceInfo(d: FakeDevice): DeviceInfo {
  return {
    name: d.name,
    type: 'userspace',
    ifindex: null,
    publicKey: d.priv ? d.priv.publicKey().toBase64() : null,
    privateKey: d.priv ?? null,
    listenPort: d.port ?? 0,
    fwmark: d.fwmark ?? 0,
    peers: d.peers.map(
      (p): PeerInfo => ({
        publicKey: p.key.toBase64(),
        // A zero PSK stands for none in UAPI; the read model may carry it as a zero key.
        presharedKey: p.psk ?? null,
        endpoint: p.endpoint ?? null,
        lastHandshake: p.sec || p.nsec ? new Date((p.sec ?? 0) * 1000 + Math.floor((p.nsec ?? 0) / 1e6)) : null,
        rxBytes: p.rx ?? 0n,
        txBytes: p.tx ?? 0n,
        persistentKeepalive: p.keepalive ?? 0,
        allowedIPs: p.allowed ?? [],
        protocolVersion: 1,
      }),
    ),
  };
}

const lab = new WgLab();
let ns: string;
const id = process.pid;

const tie = T - 100;
const busy: FakeDevice = {
  name: `wgs${id}f`,
  priv: Key.generatePrivate(),
  port: 65535,
  fwmark: 0xffffffff,
  peers: [
    { key: pub() },
    {
      key: pub(),
      psk: Key.generatePreshared(),
      endpoint: '[fe80::1%lo]:1',
      sec: T - (2 * YEAR + 3 * DAY + 4 * HOUR + 5 * MIN + 6),
      tx: 1n,
      keepalive: 1,
      allowed: ['10.1.0.0/16'],
    },
    { key: pub(), endpoint: '192.0.2.200:65535', sec: T + HOUR, rx: 1152n, tx: 1408n, allowed: ['0.0.0.0/0', '::/0'] },
    { key: pub(), sec: T - 1, nsec: 999_000_000, rx: 1n << 40n, tx: (1n << 64n) - 1n, keepalive: 65535 },
    {
      key: pub(),
      psk: Key.zero('preshared'),
      allowed: ['2001:DB8:0:0:0:0:0:1/128', '::FFFF:10.0.0.1/128', '10.0.0.0/008', 'fd00:0:0:0:0:0:0:0/8'],
    },
    { key: pub(), sec: T - 1, nsec: 0, rx: 1023n },
    { key: pub(), sec: tie, nsec: 5_000_000, rx: 5n, tx: 6n, allowed: ['192.0.2.1/32'] },
    { key: pub(), sec: tie, nsec: 5_000_000, rx: 7n, tx: 8n, allowed: ['192.0.2.2/32'] },
    { key: pub(), sec: 0, nsec: 500_000_000, rx: 1023n, tx: 1024n },
    {
      key: pub(),
      psk: Key.generatePreshared(),
      endpoint: '[2001:DB8::0:1]:0080',
      sec: T - MIN,
      rx: 1048575n,
      tx: 1073741823n,
      keepalive: 3600,
    },
    { key: pub(), endpoint: '[::ffff:192.0.2.9]:9', allowed: ['::1.2.3.4/128'] },
    { key: pub(), sec: T - (DAY + 1), tx: 123456789n },
  ],
};
const empty: FakeDevice = { name: `wgs${id}g`, peers: [] };
const keyOnly: FakeDevice = { name: `wgs${id}h`, priv: Key.generatePrivate(), port: 1, fwmark: 1, peers: [] };
const onlyPeers: FakeDevice = { name: `wgs${id}i`, peers: [{ key: pub(), sec: T - 5, rx: 1n, keepalive: 60 }, { key: pub() }] };
// Escape sequences in names: wg's filter removes them from pretty output without colour.
const esc1: FakeDevice = { name: `w${id}\x1b[4x`, peers: [] };
const esc2: FakeDevice = { name: `w${id}\x1b[`, peers: [{ key: pub(), allowed: ['10.9.9.9/32'] }] };
const fakes = [busy, empty, keyOnly, onlyPeers, esc1, esc2];

beforeAll(() => {
  try {
    lab.start();
    ns = lab.addNamespace('x');
    for (const d of fakes) lab.addFakeDevice(d.name, uapiReply(d));
  } catch (e) {
    lab.close();
    throw e;
  }
}, 60_000);

afterAll(() => lab.close());

/** Runs wg; compares with `render(now)` for every second wg may have read; one retry. */
function expectSameFixed(args: readonly string[], env: Record<string, string>, render: (now: Date) => string, pty = false): TimedRun {
  let last: { run: TimedRun; ours: string } | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const run = pty ? lab.wgOnPty(ns, args, env) : lab.wg(ns, args, env);
    const nows = candidateNows(run);
    const match = nows.find((now) => render(now) === run.stdout);
    if (match) {
      last = { run, ours: run.stdout };
      break;
    }
    last = { run, ours: render(nows[0] as Date) };
  }
  if (!last) throw new Error('no run');
  expect(last.run.stderr).toBe('');
  expect(last.run.status).toBe(0);
  expect(last.ours).toBe(last.run.stdout);
  return last.run;
}

const ENVS: Record<string, string>[] = [
  {},
  { WG_HIDE_KEYS: 'never' },
  { WG_COLOR_MODE: 'always' },
  { WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'always' },
];

describe('wg show of edge values', () => {
  for (const env of ENVS) {
    it(`pretty, every device, ${JSON.stringify(env)}`, () => {
      const options = showOptionsFromEnv(env, false);
      for (const d of fakes) expectSameFixed(['show', d.name], env, (now) => formatPretty(deviceInfo(d), now, options));
    });
  }

  it('pretty on a terminal (auto colour)', () => {
    const options = showOptionsFromEnv({}, true);
    for (const d of [busy, onlyPeers]) expectSameFixed(['show', d.name], {}, (now) => formatPretty(deviceInfo(d), now, options), true);
  });

  it('shows the edge texts wg prints', () => {
    const run = expectSameFixed(['show', busy.name], {}, (now) => formatPretty(deviceInfo(busy), now));
    const out = run.stdout;
    // T was taken when the file loaded; some seconds have passed since.
    expect(out).toMatch(/latest handshake: 2 years, 3 days, 4 hours, \d+ minutes?(, \d+ seconds?)? ago\n/);
    expect(out).toContain('latest handshake: (System clock wound backward; connection problems may ensue.)\n');
    expect(out).toContain('transfer: 1.12 KiB received, 1.38 KiB sent\n');
    expect(out).toContain('transfer: 1.00 TiB received, 16777216.00 TiB sent\n');
    expect(out).toContain('transfer: 1024.00 KiB received, 1024.00 MiB sent\n');
    expect(out).toContain('transfer: 0 B received, 1 B sent\n');
    expect(out).toContain('endpoint: [fe80::1%lo]:1\n');
    expect(out).toContain('endpoint: [2001:db8::1]:80\n');
    expect(out).toContain('allowed ips: 2001:db8::1/128, ::ffff:10.0.0.1/128, 10.0.0.0/8, fd00::/8\n');
    expect(out).toContain('persistent keepalive: every 1 second\n');
    expect(out).toContain('fwmark: 0xffffffff\n');
    // Newest first (the future one), the sub-second order within one second, ties in device order.
    const order = [...out.matchAll(/^peer: (\S+)$/gm)].map((m) => m[1]);
    const key = (i: number) => busy.peers[i]?.key.toBase64();
    expect(order).toEqual([key(2), key(3), key(5), key(9), key(6), key(7), key(11), key(1), key(8), key(0), key(4), key(10)]);
  });

  it('filters escape sequences in names as wg does', () => {
    const run = expectSameFixed(['show', esc1.name], { WG_COLOR_MODE: 'never' }, (now) => formatPretty(deviceInfo(esc1), now));
    expect(run.stdout).toBe(`interface: w${id}\n`);
    const run2 = expectSameFixed(['show', esc2.name], { WG_COLOR_MODE: 'never' }, (now) => formatPretty(deviceInfo(esc2), now));
    expect(run2.stdout.startsWith(`interface: w${id}\n`)).toBe(true);
  });

  it('every field of every device', () => {
    for (const d of fakes) {
      for (const field of SHOW_FIELDS) expectSameFixed(['show', d.name, field], {}, () => formatField(deviceInfo(d), field));
    }
  });

  it('all, interfaces, and all with every field', () => {
    const names = lab.socketNames();
    expect([...names].sort()).toEqual(fakes.map((d) => d.name).sort());
    const devices = names.map((name) => deviceInfo(fakes.find((d) => d.name === name) as FakeDevice));
    const r = lab.wg(ns, ['show', 'interfaces']);
    expect(formatInterfaces(names)).toBe(r.stdout);
    for (const env of ENVS) {
      const options = showOptionsFromEnv(env, false);
      expectSameFixed(['show', 'all'], env, (now) => showAll(devices, undefined, now, options).stdout);
    }
    for (const field of SHOW_FIELDS) expectSameFixed(['show', 'all', field], {}, (now) => showAll(devices, field, now).stdout);
  });
});
