/**
 * `wg show` output of real wireguard-go devices, configured with Debian's wg and with real
 * handshakes and traffic, compared byte for byte with what lib/show renders from the state.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatDump,
  formatField,
  formatInterfaces,
  formatPretty,
  parseShowArgs,
  SHOW_FIELDS,
  showAll,
  showDevice,
  showDeviceError,
  showOptionsFromEnv,
  showUsageResult,
  type ShowField,
} from '../lib/show/index.js';
import type { DeviceInfo } from '../lib/types.js';
import { allDumpToDevices } from './helpers/dump-to-device.js';
import { compareWithWg, readState, type ShowCase } from './helpers/show-compare.js';
import { buildTopology, type ShowTopology } from './helpers/show-topology.js';
import { WgLab } from './helpers/wg-lab.js';

let t: ShowTopology;
const lab = new WgLab();

beforeAll(() => {
  try {
    t = buildTopology(lab);
  } catch (e) {
    lab.close();
    throw e;
  }
}, 120_000);

afterAll(() => lab.close());

function device(devices: DeviceInfo[], name: string): DeviceInfo {
  const d = devices.find((x) => x.name === name);
  if (!d) throw new Error(`${name} missing from the dump`);
  return d;
}

/** The environments of the pretty-output comparisons (wg's stdout is a pipe: not a TTY). */
const ENVS: Record<string, string>[] = [
  {},
  { WG_HIDE_KEYS: 'never' },
  { WG_COLOR_MODE: 'always' },
  { WG_COLOR_MODE: 'never' },
  { WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'always' },
  { WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'never' },
  { WG_HIDE_KEYS: 'always', WG_COLOR_MODE: 'auto' },
  { WG_HIDE_KEYS: 'Never', WG_COLOR_MODE: 'ALWAYS' },
];

function expectSame(c: ShowCase): void {
  const r = compareWithWg(lab, c);
  expect(r.wg.stderr).toBe('');
  expect(r.wg.status).toBe(0);
  expect(r.ours).toBe(r.wg.stdout);
}

describe('the lab', () => {
  it('has real handshakes, traffic in KiB and MiB, and the expected shape', () => {
    const devices = allDumpToDevices(readState(lab, t.nsA));
    expect(devices.map((d) => d.name).sort()).toEqual([t.a, t.b, t.c, t.d, t.e].sort());
    const a = device(devices, t.a);
    expect(a.peers).toHaveLength(6);
    expect(a.fwmark).toBe(0xca6c);
    const handshaken = a.peers.filter((p) => p.lastHandshake !== null);
    expect(handshaken).toHaveLength(2);
    expect(handshaken.every((p) => p.rxBytes > 0n && p.txBytes > 0n)).toBe(true);
    expect(handshaken.some((p) => p.rxBytes > 1024n * 1024n)).toBe(true);
    expect(a.peers.filter((p) => p.presharedKey !== null)).toHaveLength(3);
    expect(a.peers.filter((p) => p.allowedIPs.length === 0)).toHaveLength(1);
    expect(a.peers.some((p) => p.endpoint?.startsWith('[') === true)).toBe(true);
    expect(device(devices, t.c).privateKey).toBeNull();
    expect(device(devices, t.d).peers).toHaveLength(0);
    // The real peers' handshakes are in different seconds, so their order does not hang on nanoseconds.
    const [h1, h2] = handshaken.map((p) => Math.floor((p.lastHandshake as Date).getTime() / 1000));
    expect(h1).not.toBe(h2);
  });
});

describe('wg show <interface> (pretty)', () => {
  for (const env of ENVS) {
    it(`matches for every device with ${JSON.stringify(env)}`, () => {
      for (const name of [t.a, t.b, t.c, t.d, t.e]) {
        const options = showOptionsFromEnv(env, false);
        expectSame({
          ns: t.nsA,
          args: ['show', name],
          env,
          kind: 'pretty',
          device: name,
          render: (devices, now) => formatPretty(device(devices, name), now, options),
        });
      }
    });
  }

  it('lists the newest handshake first and the never-handshaken peers last', () => {
    const r = compareWithWg(lab, {
      ns: t.nsA,
      args: ['show', t.a],
      kind: 'pretty',
      device: t.a,
      render: (devices, now) => formatPretty(device(devices, t.a), now),
    });
    expect(r.ours).toBe(r.wg.stdout);
    const blocks = r.wg.stdout.split('\n\n').slice(1);
    expect(blocks).toHaveLength(6);
    expect(blocks.slice(0, 2).every((b) => b.includes('latest handshake: '))).toBe(true);
    expect(blocks.slice(2).some((b) => b.includes('latest handshake: '))).toBe(false);
    expect(r.wg.stdout).toContain('persistent keepalive: every 1 hour, 1 minute, 1 second\n');
    expect(r.wg.stdout).toContain('persistent keepalive: every 18 hours, 12 minutes, 15 seconds\n');
    expect(r.wg.stdout).toContain('allowed ips: ::ffff:0.0.0.0/96, ::1.2.3.0/120\n');
    expect(r.wg.stdout).toMatch(/ MiB (received|sent)/);
  });

  it('matches with colour in auto mode when stdout is a terminal', () => {
    const options = showOptionsFromEnv({}, true);
    expect(options.color).toBe(true);
    for (const name of [t.a, t.c]) {
      const r = compareWithWg(lab, {
        ns: t.nsA,
        args: ['show', name],
        kind: 'pretty',
        device: name,
        pty: true,
        render: (devices, now) => formatPretty(device(devices, name), now, options),
      });
      expect(r.ours).toBe(r.wg.stdout);
      expect(r.wg.stdout).toContain('\x1b[32m');
    }
  });
});

describe('wg show <interface> <field>', () => {
  for (const field of SHOW_FIELDS) {
    it(`matches \`${field}\` for every device`, () => {
      for (const name of [t.a, t.b, t.c, t.d, t.e]) {
        expectSame({
          ns: t.nsA,
          args: ['show', name, field],
          kind: 'script',
          device: name,
          render: (devices) => formatField(device(devices, name), field),
        });
      }
    });
  }

  it('matches the dump through formatDump and showDevice', () => {
    expectSame({
      ns: t.nsB,
      args: ['show', t.a, 'dump'],
      kind: 'script',
      device: t.a,
      render: (devices) => formatDump(device(devices, t.a)),
    });
    expectSame({
      ns: t.nsB,
      args: ['show', t.a, 'allowed-ips'],
      kind: 'script',
      device: t.a,
      render: (devices, now) => showDevice(device(devices, t.a), 'allowed-ips', now).stdout,
    });
  });
});

describe('wg show all', () => {
  for (const field of SHOW_FIELDS) {
    it(`matches \`all ${field}\``, () => {
      expectSame({
        ns: t.nsA,
        args: ['show', 'all', field],
        kind: 'script',
        render: (devices, now) => {
          const r = showAll(devices, field, now);
          return r.stdout;
        },
      });
    });
  }

  for (const env of ENVS) {
    it(`matches the pretty layout of every device with ${JSON.stringify(env)}`, () => {
      const options = showOptionsFromEnv(env, false);
      expectSame({ ns: t.nsA, args: ['show', 'all'], env, kind: 'pretty', render: (devices, now) => showAll(devices, undefined, now, options).stdout });
    });
  }

  it('matches bare `wg` and `wg show`', () => {
    for (const args of [[], ['show']]) {
      expectSame({ ns: t.nsB, args, kind: 'pretty', render: (devices, now) => showAll(devices, undefined, now).stdout });
    }
  });

  it('prints the name once for `all endpoints`, as 1.0.20210914 does', () => {
    const r = compareWithWg(lab, {
      ns: t.nsA,
      args: ['show', 'all', 'endpoints'],
      kind: 'script',
      render: (devices, now) => showAll(devices, 'endpoints', now).stdout,
    });
    expect(r.ours).toBe(r.wg.stdout);
    // c and d have no peers: their names run into the next device's output.
    expect(r.wg.stdout).toContain(`${t.c}\t`);
    expect(r.wg.stdout.split('\n').filter((l) => l.startsWith(`${t.a}\t`))).toHaveLength(1);
  });

  it('matches `wg show interfaces` in directory order', () => {
    const r = lab.wg(t.nsA, ['show', 'interfaces']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const names = lab.socketNames();
    expect(names).toHaveLength(5);
    expect(formatInterfaces(names)).toBe(r.stdout);
  });

  it('matches a device that lists but cannot be read (a socket that hangs up)', () => {
    const broken = lab.ifname('z');
    lab.addHangupSocket(broken);
    try {
      for (const [args, field] of [
        [['show', 'all'], undefined],
        [['show', 'all', 'peers'], 'peers'],
      ] as const) {
        const r = compareWithWg(lab, {
          ns: t.nsA,
          args,
          kind: field === undefined ? 'pretty' : 'script',
          render: (devices, now) => {
            const entries = lab.socketNames().map((name) => devices.find((d) => d.name === name) ?? { name, error: 'Protocol error' });
            return showAll(entries, field, now).stdout;
          },
        });
        expect(r.ours).toBe(r.wg.stdout);
        expect(r.wg.stderr).toBe(`Unable to access interface ${broken}: Protocol error\n`);
        expect(r.wg.status).toBe(0);
        const entries = lab.socketNames().map((name) => ({ name, error: 'Protocol error' }));
        expect(showAll(entries, field, new Date()).status).toBe(1);
      }
    } finally {
      lab.removeHangupSocket(broken);
    }
  });
});

describe('usage and errors', () => {
  const now = new Date();

  function expectResult(args: readonly string[], ours: { stdout: string; stderr: string; status: number }): void {
    const r = lab.wg(t.nsA, args);
    expect({ stdout: ours.stdout, stderr: ours.stderr, status: ours.status }).toEqual({
      stdout: r.stdout,
      stderr: r.stderr,
      status: r.status,
    });
  }

  it('an invalid field for one device', () => {
    const devices = allDumpToDevices(readState(lab, t.nsA));
    expectResult(['show', t.a, 'bogus'], showDevice(device(devices, t.a), 'bogus', now));
    expectResult(['show', t.c, 'Dump'], showDevice(device(devices, t.c), 'Dump', now));
  });

  it('an invalid field for all devices stops at the first', () => {
    const devices = allDumpToDevices(readState(lab, t.nsA));
    const ordered = lab.socketNames().map((name) => device(devices, name));
    expectResult(['show', 'all', 'bogus'], showAll(ordered, 'bogus', now));
  });

  it('too many arguments, `interfaces` with an argument, and help', () => {
    for (const args of [
      ['a', 'b', 'c'],
      [t.a, 'dump', 'x'],
      ['interfaces', 'x'],
      ['help'],
      ['-h'],
      ['--help'],
    ]) {
      const request = parseShowArgs(args);
      if (request.kind !== 'usage' && request.kind !== 'help') throw new Error(`${args.join(' ')}: ${request.kind}`);
      expectResult(['show', ...args], showUsageResult(request));
    }
  });

  it('a device that does not exist', () => {
    const request = parseShowArgs([`wgs${process.pid}q`]);
    expect(request).toEqual({ kind: 'device', name: `wgs${process.pid}q` });
    // With no socket wg asks the kernel, which lacks the device (ENODEV) or, without the
    // wireguard module, the whole generic netlink family (EPROTONOSUPPORT).
    const error = existsSync('/sys/module/wireguard') ? 'No such device' : 'Protocol not supported';
    expectResult(['show', `wgs${process.pid}q`], showDeviceError(error));
    expectResult(['show', `wgs${process.pid}q`, 'bogus'], showDeviceError(error));
  });

  it('no devices at all: nothing, status 0, even for an invalid field', () => {
    for (const [args, field] of [
      [['show', 'all'], undefined],
      [['show', 'all', 'bogus'], 'bogus'],
      [['show', 'interfaces'], undefined],
      [['show'], undefined],
    ] as const) {
      const r = lab.exec(t.nsA, ['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs none /run/wireguard && exec wg "$@"', 'sh', ...args]);
      const ours = args[1] === 'interfaces' ? { stdout: formatInterfaces([]), stderr: '', status: 0 } : showAll([], field, now);
      expect({ stdout: ours.stdout, stderr: ours.stderr, status: ours.status }).toEqual({ stdout: r.stdout, stderr: r.stderr, status: r.status });
    }
  });
});

describe('parseShowArgs', () => {
  it('reads the arguments as show_main does', () => {
    expect(parseShowArgs([])).toEqual({ kind: 'all' });
    expect(parseShowArgs(['all'])).toEqual({ kind: 'all' });
    expect(parseShowArgs(['all', 'dump'])).toEqual({ kind: 'all', field: 'dump' });
    expect(parseShowArgs(['interfaces'])).toEqual({ kind: 'interfaces' });
    expect(parseShowArgs(['wg0'])).toEqual({ kind: 'device', name: 'wg0' });
    expect(parseShowArgs(['wg0', 'x'])).toEqual({ kind: 'device', name: 'wg0', field: 'x' });
    expect(parseShowArgs(['help', 'dump'])).toEqual({ kind: 'device', name: 'help', field: 'dump' });
    expect(parseShowArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseShowArgs(['all', 'dump', 'x'])).toEqual({ kind: 'usage' });
    const fields: readonly ShowField[] = SHOW_FIELDS;
    expect(fields).toHaveLength(12);
  });
});
