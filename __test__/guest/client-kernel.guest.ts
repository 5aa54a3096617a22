/**
 * WireGuardClient against kernel WireGuard (runs inside the kernel guest): wgctrl-go's
 * integration matrix (control-plane.md §1.6, T02), setconf/addconf/syncconf, the `wg set`
 * grammar, key edge cases from the kernel selftest (T04) and network-namespace targeting.
 */
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceNotFoundError,
  ErrorCodes,
  generatePresharedKey,
  generatePrivateKey,
  InvalidArgumentError,
  WireGuardClient,
  type DeviceChange,
} from '../../lib/index.js';
import { KernelBackend } from '../../lib/client/kernel-backend.js';
import { addLink, delLink, exec, namespacePair, plain, sh, sortedIPs, threadNetns } from './helpers.js';

const client = new WireGuardClient();
const dev = 'wgkc0';
const dir = mkdtempSync(join(tmpdir(), 'wgkit-kclient-'));
const pub = () => generatePrivateKey().publicKey().toBase64();
const reset: DeviceChange = { privateKey: null, listenPort: 0, fwmark: 0, replacePeers: true, peers: [] };

/** `wg show DEV dump` as rows of fields (Debian's wg reads the same kernel device). */
function dump(name = dev, ns?: string): string[][] {
  return sh(['wg', 'show', name, 'dump'], { ns })
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
}

/** The IPv6 address 2001:db8::N as the kernel prints it. */
const db8 = (n: number) => `2001:db8::${n === 0 ? '' : n.toString(16)}`;

beforeAll(() => addLink(dev));
afterAll(() => {
  delLink(dev);
  rmSync(dir, { recursive: true, force: true });
});

describe('wgctrl-go integration matrix on a kernel device', () => {
  afterEach(async () => {
    await client.configure(dev, reset);
  });

  it('get: device() equals the devices() entry, as a kernel device', async () => {
    const priv = generatePrivateKey();
    await client.configure(dev, {
      privateKey: priv,
      listenPort: 41000,
      fwmark: 7,
      peers: [{ publicKey: pub(), presharedKey: generatePresharedKey(), endpoint: '192.0.2.9:9', allowedIPs: ['10.0.0.0/8'] }],
    });
    const one = await client.device(dev);
    const all = await client.devices();
    const entry = all.find((d) => d.name === dev);
    expect(entry).toBeDefined();
    expect(plain(one)).toEqual(plain(entry!));
    expect(one.type).toBe('kernel');
    expect(one.ifindex).toBe(Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8')));
    expect(one.privateKey?.equals(priv)).toBe(true);
    expect(one).toMatchObject({ publicKey: priv.publicKey().toBase64(), listenPort: 41000, fwmark: 7 });
    expect(await client.listDevices()).toContainEqual({ name: dev, type: 'kernel' });
  });

  it('configure: port 8888, a new key, replacePeers, one peer with replaceAllowedIPs', async () => {
    await client.configure(dev, { peers: [{ publicKey: pub(), allowedIPs: ['10.1.0.0/16'] }] });
    const priv = generatePrivateKey();
    const peer = pub();
    await client.configure(dev, {
      privateKey: priv,
      listenPort: 8888,
      replacePeers: true,
      peers: [{ publicKey: peer, replaceAllowedIPs: true, allowedIPs: ['192.0.2.0/32', '2001:db8::/128'] }],
    });
    const d = await client.device(dev);
    expect(d.privateKey?.equals(priv)).toBe(true);
    expect(d.publicKey).toBe(priv.publicKey().toBase64());
    expect(d.listenPort).toBe(8888);
    expect(d.peers).toHaveLength(1);
    expect(d.peers[0]).toMatchObject({
      publicKey: peer,
      presharedKey: null,
      endpoint: null,
      lastHandshake: null,
      rxBytes: 0n,
      txBytes: 0n,
      persistentKeepalive: 0,
      protocolVersion: 1,
    });
    expect(sortedIPs(d.peers[0]!.allowedIPs)).toEqual(['192.0.2.0/32', '2001:db8::/128']);
    // The same through Debian's wg.
    const [head, ...rows] = dump();
    expect(head).toEqual([priv.toBase64(), priv.publicKey().toBase64(), '8888', 'off']);
    expect(rows).toHaveLength(1);
    expect(rows[0]![0]).toBe(peer);
    expect(rows[0]![3]!.split(',').sort()).toEqual(['192.0.2.0/32', '2001:db8::/128']);
  });

  it('many allowed IPs: 2 peers × 511 IPv6 /128s', async () => {
    const peers = [pub(), pub()];
    const ranges = peers.map((_, r) => Array.from({ length: 511 }, (_, i) => `2001:db8::${(r * 0x200 + i + 1).toString(16)}/128`));
    await client.configure(dev, {
      replacePeers: true,
      peers: peers.map((publicKey, r) => ({ publicKey, replaceAllowedIPs: true, allowedIPs: ranges[r]! })),
    });
    const d = await client.device(dev);
    expect(d.peers.map((p) => p.publicKey)).toEqual(peers);
    for (const [r, p] of d.peers.entries()) expect(sortedIPs(p.allowedIPs)).toEqual(sortedIPs(ranges[r]!));
    expect(d.peers.reduce((n, p) => n + p.allowedIPs.length, 0)).toBe(1022);
  });

  it('many peers: 256 peers with PSK, endpoint, keepalive; overlapping IPs move to the last peer (512 in total)', async () => {
    const peers = Array.from({ length: 256 }, (_, i) => ({
      publicKey: pub(),
      presharedKey: generatePresharedKey(),
      endpoint: `192.0.2.${(i % 250) + 1}:1111`,
      persistentKeepalive: 10,
      replaceAllowedIPs: true,
      allowedIPs: Array.from({ length: 2 * (i + 1) }, (_, j) => `${db8(j)}/128`),
    }));
    await client.configure(dev, { replacePeers: true, peers });
    const d = await client.device(dev);
    expect(d.peers).toHaveLength(256);
    const byKey = new Map(d.peers.map((p) => [p.publicKey, p]));
    let total = 0;
    for (const [i, want] of peers.entries()) {
      const got = byKey.get(want.publicKey)!;
      expect(got, `peer ${i}`).toBeDefined();
      expect(got.presharedKey?.equals(want.presharedKey), `peer ${i} psk`).toBe(true);
      expect(got.endpoint).toBe(want.endpoint);
      expect(got.persistentKeepalive).toBe(10);
      // Every IP ends with the last peer given it: peer 255 holds 2001:db8::0 … ::1ff.
      expect(sortedIPs(got.allowedIPs), `peer ${i}`).toEqual(i === 255 ? sortedIPs(want.allowedIPs) : []);
      total += got.allowedIPs.length;
    }
    expect(total).toBe(512);
  });

  it('update only: an existing peer is changed, a missing one is not created', async () => {
    const [a, b] = [pub(), pub()];
    await client.configure(dev, { peers: [{ publicKey: a }] });
    const psk = generatePresharedKey();
    await client.configure(dev, {
      peers: [
        { publicKey: a, presharedKey: psk, updateOnly: true },
        { publicKey: b, updateOnly: true, allowedIPs: ['10.2.0.0/16'] },
      ],
    });
    const d = await client.device(dev);
    expect(d.peers.map((p) => p.publicKey)).toEqual([a]);
    expect(d.peers[0]!.presharedKey?.equals(psk)).toBe(true);
  });

  it('reset ×10', async () => {
    for (let i = 0; i < 10; i++) {
      await client.configure(dev, {
        privateKey: generatePrivateKey(),
        listenPort: 42000 + i,
        fwmark: i + 1,
        peers: [{ publicKey: pub(), allowedIPs: [`10.3.${i}.0/24`] }],
      });
      expect((await client.device(dev)).peers).toHaveLength(1);
      await client.configure(dev, reset);
      const d = await client.device(dev);
      expect(d).toMatchObject({ privateKey: null, publicKey: null, fwmark: 0, peers: [] });
    }
  });

  it('not exist: wgnotexist0 is DeviceNotFoundError with ENODEV', async () => {
    for (const call of [
      () => client.device('wgnotexist0'),
      () => client.configure('wgnotexist0', { listenPort: 1 }),
      () => client.set('wgnotexist0', ['listen-port', '1']),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceNotFoundError);
      expect(err).toMatchObject({ code: ErrorCodes.DEVICE_NOT_FOUND, errno: 'ENODEV' });
    }
    // A link that is not WireGuard is not a WireGuard device either.
    const err = await client.device('lo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceNotFoundError);
    expect((await client.listDevices()).map((d) => d.name)).not.toContain('lo');
  });
});

describe('validation and cancellation on a kernel device', () => {
  it('rejects bad requests before sending anything, naming the field', async () => {
    await client.configure(dev, { listenPort: 41900, peers: [{ publicKey: pub(), allowedIPs: ['10.9.0.0/16'] }] });
    const before = dump();
    const bad = [
      [{ listenPort: 70000 }, 'listenPort'],
      [{ fwmark: -1 }, 'fwmark'],
      [{ peers: [{ publicKey: pub(), allowedIPs: ['10.0.0.0/33'] }] }, 'peers[0].allowedIPs[0]'],
      [{ peers: [{ publicKey: 'nope' }] }, 'peers[0].publicKey'],
      [{ listenPort: 41999, peers: [{ publicKey: pub() }, { publicKey: pub(), endpoint: '192.0.2.1' }] }, 'peers[1].endpoint'],
    ] as const;
    for (const [change, field] of bad) {
      const err = await client.configure(dev, change as never).catch((e: unknown) => e);
      expect(err, field).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
    }
    await expect(client.set(dev, ['peer', pub(), 'private-key', '/dev/null'])).rejects.toMatchObject({
      message: 'Invalid argument: private-key',
    });
    expect(dump()).toEqual(before);
    await client.configure(dev, reset);
  });

  it('honours an AbortSignal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(client.device(dev, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(client.configure(dev, { listenPort: 41901 }, { signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(dump()[0]![2]).not.toBe('41901');
  });
});

describe('setConf, addConf, syncConf on kernel devices', () => {
  afterEach(async () => {
    await client.configure(dev, reset);
  });

  it('setConf replaces everything and resets device keys the file omits; addConf appends', async () => {
    const [a, b, c] = [pub(), pub(), pub()];
    await client.configure(dev, { privateKey: generatePrivateKey(), fwmark: 9, peers: [{ publicKey: c }] });
    await client.setConf(dev, `[Interface]\nListenPort = 41002\n\n[Peer]\nPublicKey = ${a}\nAllowedIPs = 10.1.0.0/16\n`);
    let d = await client.device(dev);
    expect(d).toMatchObject({ privateKey: null, fwmark: 0, listenPort: 41002 });
    expect(d.peers.map((p) => p.publicKey)).toEqual([a]);
    await client.addConf(dev, `[Peer]\nPublicKey = ${b}\nAllowedIPs = 10.2.0.0/16, 10.1.0.0/16\n`);
    d = await client.device(dev);
    expect(d.listenPort).toBe(41002);
    expect(d.peers.map((p) => p.publicKey).sort()).toEqual([a, b].sort());
    // 10.1.0.0/16 moved to b.
    expect(d.peers.find((p) => p.publicKey === a)!.allowedIPs).toEqual([]);
    expect(sortedIPs(d.peers.find((p) => p.publicKey === b)!.allowedIPs)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
  });

  it('syncConf removes stale peers, clears dropped PSK and keepalive, keeps the rest', async () => {
    const [keep, drop, add] = [pub(), pub(), pub()];
    await client.setConf(dev, {
      interface: { listenPort: 41003 },
      peers: [
        { publicKey: keep, presharedKey: generatePresharedKey().toBase64(), persistentKeepalive: 5, endpoint: '192.0.2.3:3', allowedIPs: ['10.3.0.1/32'] },
        { publicKey: drop, allowedIPs: ['10.3.0.2/32'] },
      ],
    });
    await client.syncConf(dev, {
      interface: { listenPort: 41003 },
      peers: [
        { publicKey: keep, allowedIPs: ['10.3.0.1/32', '10.3.1.0/24'] },
        { publicKey: add, allowedIPs: ['10.3.0.3/32'] },
      ],
    });
    const d = await client.device(dev);
    expect(d.peers.map((p) => p.publicKey).sort()).toEqual([keep, add].sort());
    const kept = d.peers.find((p) => p.publicKey === keep)!;
    expect(kept).toMatchObject({ presharedKey: null, persistentKeepalive: 0, endpoint: '192.0.2.3:3' });
    expect(sortedIPs(kept.allowedIPs)).toEqual(['10.3.0.1/32', '10.3.1.0/24']);
  });

  it('syncConf keeps the session (last handshake, counters) of a live peer; setConf does not', async () => {
    namespacePair('wgksa', 'wgksb');
    try {
      const [ka, kb] = [generatePrivateKey(), generatePrivateKey()];
      const ca = new WireGuardClient({ netns: 'wgksa' });
      const cb = new WireGuardClient({ netns: 'wgksb' });
      addLink('wgs0', 'wgksa');
      addLink('wgs0', 'wgksb');
      const confA = (extra: string) =>
        `[Interface]\nPrivateKey = ${ka.toBase64()}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${kb.publicKey().toBase64()}\n` +
        `AllowedIPs = 10.200.0.2/32\nEndpoint = 192.0.2.2:51820\n${extra}`;
      await ca.setConf('wgs0', confA(''));
      await cb.setConf(
        'wgs0',
        `[Interface]\nPrivateKey = ${kb.toBase64()}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${ka.publicKey().toBase64()}\nAllowedIPs = 10.200.0.1/32\n`,
      );
      sh(['ip', '-n', 'wgksa', 'addr', 'add', '10.200.0.1/24', 'dev', 'wgs0']);
      sh(['ip', '-n', 'wgksb', 'addr', 'add', '10.200.0.2/24', 'dev', 'wgs0']);
      sh(['ip', '-n', 'wgksa', 'link', 'set', 'wgs0', 'up']);
      sh(['ip', '-n', 'wgksb', 'link', 'set', 'wgs0', 'up']);
      sh(['ping', '-c', '2', '-i', '0.3', '-w', '20', '10.200.0.2'], { ns: 'wgksa' });
      const before = (await ca.device('wgs0')).peers[0]!;
      expect(before.lastHandshake).not.toBeNull();
      expect(before.rxBytes).toBeGreaterThan(0n);

      // A second, new peer in the file: syncConf must not replace all peers.
      const other = pub();
      await ca.syncConf('wgs0', confA(`\n[Peer]\nPublicKey = ${other}\nAllowedIPs = 10.200.1.0/24\n`));
      const synced = await ca.device('wgs0');
      const after = synced.peers.find((p) => p.publicKey === kb.publicKey().toBase64())!;
      expect(synced.peers.map((p) => p.publicKey).sort()).toEqual([kb.publicKey().toBase64(), other].sort());
      expect(after.lastHandshake?.getTime()).toBe(before.lastHandshake!.getTime());
      expect(after.rxBytes).toBeGreaterThanOrEqual(before.rxBytes);
      expect(after.endpoint).toBe('192.0.2.2:51820');

      // setConf replaces every peer: the session is gone.
      await ca.setConf('wgs0', confA(''));
      const replaced = (await ca.device('wgs0')).peers[0]!;
      expect(replaced).toMatchObject({ lastHandshake: null, rxBytes: 0n, txBytes: 0n });
    } finally {
      exec(['ip', 'netns', 'del', 'wgksa']);
      exec(['ip', 'netns', 'del', 'wgksb']);
    }
  });
});

describe('set (wg set grammar) on a kernel device', () => {
  afterAll(async () => {
    await client.configure(dev, reset);
  });

  it('reads key files, sets every field, removes peers and keys', async () => {
    const priv = generatePrivateKey();
    const keyFile = join(dir, 'priv');
    writeFileSync(keyFile, `${priv.toBase64()}\n`);
    const psk = generatePresharedKey();
    const pskFile = join(dir, 'psk');
    writeFileSync(pskFile, psk.toBase64());
    const [a, b] = [pub(), pub()];
    await client.set(dev, [
      'listen-port', '41004', 'fwmark', '0x20', 'private-key', keyFile,
      'peer', a, 'preshared-key', pskFile, 'endpoint', '[2001:db8::1]:9', 'persistent-keepalive', '25', 'allowed-ips', '10.4.0.1/32, 10.4.0.2/32',
      'peer', b, 'allowed-ips', '10.4.1.0/24',
    ]);
    let d = await client.device(dev);
    expect(d).toMatchObject({ listenPort: 41004, fwmark: 0x20 });
    expect(d.privateKey?.equals(priv)).toBe(true);
    const pa = d.peers.find((p) => p.publicKey === a)!;
    expect(pa.presharedKey?.equals(psk)).toBe(true);
    expect(pa).toMatchObject({ endpoint: '[2001:db8::1]:9', persistentKeepalive: 25 });
    expect(sortedIPs(pa.allowedIPs)).toEqual(['10.4.0.1/32', '10.4.0.2/32']);
    // `+` adds to the list (no replace), which Linux 6.1 supports.
    await client.set(dev, ['peer', a, 'persistent-keepalive', 'off', 'allowed-ips', '+10.4.0.3/32']);
    d = await client.device(dev);
    expect(sortedIPs(d.peers.find((p) => p.publicKey === a)!.allowedIPs)).toEqual(['10.4.0.1/32', '10.4.0.2/32', '10.4.0.3/32']);
    expect(d.peers.find((p) => p.publicKey === a)!.persistentKeepalive).toBe(0);
    await client.set(dev, ['private-key', '/dev/null', 'fwmark', 'off', 'peer', b, 'remove', 'peer', a, 'preshared-key', '/dev/null']);
    d = await client.device(dev);
    expect(d).toMatchObject({ privateKey: null, publicKey: null, fwmark: 0 });
    expect(d.peers.map((p) => p.publicKey)).toEqual([a]);
    expect(d.peers[0]!.presharedKey).toBeNull();
  });

  it('a -ip/cidr removal fails clearly on Linux 6.1 and changes nothing', async () => {
    expect(readFileSync('/proc/sys/kernel/osrelease', 'utf8')).toMatch(/^6\.1\./);
    const a = pub();
    await client.set(dev, ['listen-port', '41005', 'peer', a, 'allowed-ips', '10.5.0.1/32,10.5.0.2/32']);
    const before = dump();
    const err = await client.set(dev, ['peer', a, 'allowed-ips', '-10.5.0.1/32']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('removing a single allowed IP needs Linux 6.16 or later');
    // The same through configure(); the support probe leaves no peer behind.
    await expect(
      client.configure(dev, { peers: [{ publicKey: a, allowedIPs: ['-10.5.0.2/32', '+10.5.0.9/32'] }] }),
    ).rejects.toThrow(/needs Linux 6\.16/);
    expect(dump()).toEqual(before);
  });

  it('197 IPv6 /128 entries in one allowed-ips argument (kernel selftest)', async () => {
    const a = pub();
    const ips = Array.from({ length: 197 }, (_, i) => `abcd::${(i + 1).toString(16)}/128`);
    await client.set(dev, ['peer', a, 'allowed-ips', ips.join(',')]);
    const got = (await client.device(dev)).peers.find((p) => p.publicKey === a)!;
    expect(sortedIPs(got.allowedIPs)).toEqual(sortedIPs(ips));
    expect(sh(['wg', 'show', dev, 'allowed-ips']).split('\n').find((l) => l.startsWith(a))!.split(/[\t ]/).length).toBe(198);
  });

  it('key edge cases (kernel selftest): clamping, own key as peer, a peer removed by a matching private key, low-order keys', async () => {
    await client.configure(dev, reset);
    // A private key is stored clamped (byte 0 &= 248, byte 31 = (byte 31 & 127) | 64).
    const file = join(dir, 'unclamped');
    writeFileSync(file, '/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
    await client.set(dev, ['private-key', file]);
    expect(sh(['wg', 'show', dev, 'private-key']).trim()).toBe('+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEA=');
    expect((await client.device(dev)).privateKey?.toBase64()).toBe('+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEA=');

    // A peer with the device's own public key is ignored.
    const priv = generatePrivateKey();
    await client.configure(dev, { privateKey: priv, peers: [{ publicKey: priv.publicKey() }] });
    expect((await client.device(dev)).peers).toEqual([]);

    // Taking the private key whose public key is a peer's removes that peer.
    const other = generatePrivateKey();
    const bystander = pub();
    await client.configure(dev, { peers: [{ publicKey: other.publicKey() }, { publicKey: bystander }] });
    expect((await client.device(dev)).peers).toHaveLength(2);
    await client.configure(dev, { privateKey: other });
    expect((await client.device(dev)).peers.map((p) => p.publicKey)).toEqual([bystander]);

    // Low-order points are accepted as peer keys (selftest netns.sh).
    const lowOrder = [
      'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      '4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=',
      'X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=',
      '7P///////////////////////////////////////38=',
      '7f///////////////////////////////////////38=',
      '7v///////////////////////////////////////38=',
    ];
    await client.configure(dev, { replacePeers: true, peers: lowOrder.map((publicKey) => ({ publicKey })) });
    expect((await client.device(dev)).peers.map((p) => p.publicKey).sort()).toEqual([...lowOrder].sort());
  });
});

describe('network namespace targeting', () => {
  const ns = 'wgkns';
  const nsClient = new WireGuardClient({ netns: ns });
  const nsLinks = new KernelBackend(ns);

  beforeAll(() => {
    exec(['ip', 'netns', 'del', ns]);
    sh(['ip', 'netns', 'add', ns]);
  });
  afterAll(() => {
    exec(['ip', 'netns', 'del', ns]);
    delLink('wgn0');
  });

  /**
   * Every thread of this process must be in the namespace the process started in. A thread
   * that exits between the listing and the read (a finished pool thread) has no namespace left
   * to be wrong about; at least the calling thread is always read.
   */
  const home = threadNetns();
  const threadsAtHome = () => {
    let read = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      let ns: string;
      try {
        ns = threadNetns(Number(tid));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      expect(ns, `thread ${tid}`).toBe(home);
      read += 1;
    }
    expect(read).toBeGreaterThan(0);
  };

  it('creates, lists, reads, configures and deletes devices inside another namespace only', async () => {
    // The same name in both namespaces, configured differently.
    addLink('wgn0');
    await client.configure('wgn0', { listenPort: 43001 });
    await nsLinks.createLink('wgn0');
    expect(sh(['ip', '-n', ns, '-o', 'link', 'show', 'wgn0'])).toContain('wgn0');
    expect(exec(['ip', '-n', ns, '-o', 'link', 'show', 'wgn1']).status).not.toBe(0);

    // Poll the main thread's namespace while the calls run on worker threads.
    let polls = 0;
    const seen = new Set<string>();
    const poll = setInterval(() => {
      seen.add(threadNetns());
      polls++;
    }, 1);
    try {
      for (let i = 0; i < 20; i++) {
        await nsClient.configure('wgn0', { listenPort: 43100 + i, peers: [{ publicKey: pub(), allowedIPs: [`10.6.${i}.0/24`] }] });
        expect((await nsClient.device('wgn0')).listenPort).toBe(43100 + i);
      }
    } finally {
      clearInterval(poll);
    }
    expect(polls).toBeGreaterThan(0);
    expect([...seen]).toEqual([home]);
    threadsAtHome();

    expect(await nsClient.listDevices()).toEqual([{ name: 'wgn0', type: 'kernel' }]);
    const inside = await nsClient.device('wgn0');
    expect(inside.peers).toHaveLength(20);
    expect(inside.ifindex).toBe(Number(sh(['ip', 'netns', 'exec', ns, 'cat', '/sys/class/net/wgn0/ifindex'])));
    expect(dump('wgn0', ns)[0]![2]).toBe('43119');
    // The caller's namespace is untouched.
    const outside = await client.device('wgn0');
    expect(outside.listenPort).toBe(43001);
    expect(outside.peers).toEqual([]);
    expect((await client.listDevices()).map((d) => d.name)).toContain('wgn0');

    await nsLinks.deleteLink('wgn0');
    expect(await nsClient.listDevices()).toEqual([]);
    await expect(nsClient.device('wgn0')).rejects.toBeInstanceOf(DeviceNotFoundError);
    expect((await client.device('wgn0')).listenPort).toBe(43001);
    threadsAtHome();
  });

  it('a missing namespace is an error, not the caller namespace', async () => {
    const missing = new WireGuardClient({ netns: 'wgk-no-such-ns' });
    const err = await missing.device(dev).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(DeviceNotFoundError);
    expect((err as { errno?: string }).errno).toBe('ENOENT');
    threadsAtHome();
  });
});
