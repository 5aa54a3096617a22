import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  BackendUnavailableError,
  DeviceNotFoundError,
  ErrorCodes,
  generatePresharedKey,
  generatePrivateKey,
  InvalidArgumentError,
  Key,
  WireGuardClient,
} from '../lib/index.js';
import { Cleanup, Netns, WireguardGo } from './helpers/netns.js';

const cleanup = new Cleanup();
const dir = mkdtempSync(join(tmpdir(), 'wgkit-client-'));
cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
let ns: Netns;
let dev: WireguardGo;
const client = new WireGuardClient();

beforeAll(async () => {
  ns = cleanup.add(Netns.create('wgkc'));
  dev = cleanup.add(await WireguardGo.start(ns, 'wgc'));
});
afterAll(() => cleanup.run());

const pub = () => generatePrivateKey().publicKey().toBase64();

/** `wg show NAME dump` as rows of fields. */
function dump(): string[][] {
  return dev
    .wg('show', '%i', 'dump')
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
}

describe('WireGuardClient with a wireguard-go device', () => {
  it('lists the device as userspace and reads it', async () => {
    const list = await client.listDevices();
    expect(list).toContainEqual({ name: dev.name, type: 'userspace' });
    const info = await client.device(dev.name);
    expect(info).toMatchObject({ name: dev.name, type: 'userspace', ifindex: null, publicKey: null, privateKey: null, peers: [] });
    const all = await client.devices();
    expect(all.find((d) => d.name === dev.name)?.type).toBe('userspace');
  });

  it('configures everything and reads it back exactly as wg shows it', async () => {
    const priv = generatePrivateKey();
    const psk = generatePresharedKey();
    const [p1, p2] = [pub(), pub()];
    await client.configure(dev.name, {
      privateKey: priv,
      listenPort: 41001,
      fwmark: 0x1234,
      replacePeers: true,
      peers: [
        {
          publicKey: p1,
          presharedKey: psk,
          endpoint: '192.0.2.7:51820',
          persistentKeepalive: 25,
          allowedIPs: ['10.9.0.1/32', 'fd00:9::/64'],
        },
        { publicKey: p2, endpoint: '[2001:db8::5]:1234', allowedIPs: [] },
      ],
    });
    const info = await client.device(dev.name);
    expect(info.privateKey?.equals(priv)).toBe(true);
    expect(info.publicKey).toBe(priv.publicKey().toBase64());
    expect(info.listenPort).toBe(41001);
    expect(info.fwmark).toBe(0x1234);
    const peer1 = info.peers.find((p) => p.publicKey === p1)!;
    expect(peer1.presharedKey?.equals(psk)).toBe(true);
    expect(peer1).toMatchObject({
      endpoint: '192.0.2.7:51820',
      persistentKeepalive: 25,
      lastHandshake: null,
      rxBytes: 0n,
      txBytes: 0n,
      protocolVersion: 1,
    });
    expect([...peer1.allowedIPs].sort()).toEqual(['10.9.0.1/32', 'fd00:9::/64']);
    const peer2 = info.peers.find((p) => p.publicKey === p2)!;
    expect(peer2).toMatchObject({ endpoint: '[2001:db8::5]:1234', presharedKey: null, persistentKeepalive: 0, allowedIPs: [] });

    // The same facts through Debian's wg.
    const [head, ...peers] = dump();
    expect(head).toEqual([priv.toBase64(), priv.publicKey().toBase64(), '41001', '0x1234']);
    const row1 = peers.find((r) => r[0] === p1)!;
    expect(row1.slice(1, 4)).toEqual([psk.toBase64(), '192.0.2.7:51820', expect.stringMatching(/10\.9\.0\.1\/32/)]);
    expect(row1[7]).toBe('25');
  });

  it('setConf replaces everything and resets missing device keys; addConf appends', async () => {
    const [a, b] = [pub(), pub()];
    await client.setConf(dev.name, `[Interface]\nListenPort = 41002\n\n[Peer]\nPublicKey = ${a}\nAllowedIPs = 10.1.0.0/16\n`);
    let info = await client.device(dev.name);
    expect(info.privateKey).toBeNull();
    expect(info.fwmark).toBe(0);
    expect(info.peers.map((p) => p.publicKey)).toEqual([a]);
    await client.addConf(dev.name, { interface: {}, peers: [{ publicKey: b, allowedIPs: ['10.2.0.0/16'] }] });
    info = await client.device(dev.name);
    expect(info.listenPort).toBe(41002);
    expect(info.peers.map((p) => p.publicKey).sort()).toEqual([a, b].sort());
  });

  it('syncConf removes stale peers and keeps the others untouched', async () => {
    const [keep, drop, add] = [pub(), pub(), pub()];
    const psk = generatePresharedKey().toBase64();
    await client.setConf(dev.name, {
      interface: { listenPort: 41003 },
      peers: [
        { publicKey: keep, presharedKey: psk, persistentKeepalive: 5, allowedIPs: ['10.3.0.1/32'] },
        { publicKey: drop, allowedIPs: ['10.3.0.2/32'] },
      ],
    });
    await client.syncConf(dev.name, {
      interface: { listenPort: 41003 },
      peers: [
        { publicKey: keep, allowedIPs: ['10.3.0.1/32', '10.3.1.0/24'] },
        { publicKey: add, allowedIPs: ['10.3.0.3/32'] },
      ],
    });
    const info = await client.device(dev.name);
    expect(info.peers.map((p) => p.publicKey).sort()).toEqual([keep, add].sort());
    const kept = info.peers.find((p) => p.publicKey === keep)!;
    expect(kept.presharedKey).toBeNull();
    expect(kept.persistentKeepalive).toBe(0);
    expect([...kept.allowedIPs].sort()).toEqual(['10.3.0.1/32', '10.3.1.0/24']);
  });

  it('set follows the wg set grammar, reading key files', async () => {
    const priv = generatePrivateKey();
    const keyFile = join(dir, 'priv');
    writeFileSync(keyFile, `${priv.toBase64()}\n`);
    const psk = generatePresharedKey();
    const pskFile = join(dir, 'psk');
    writeFileSync(pskFile, psk.toBase64());
    const [a, b] = [pub(), pub()];
    await client.set(dev.name, [
      'listen-port', '41004', 'fwmark', 'off', 'private-key', keyFile,
      'peer', a, 'preshared-key', pskFile, 'endpoint', '127.0.0.1:9', 'persistent-keepalive', 'off', 'allowed-ips', '10.4.0.1/32, 10.4.0.2/32',
      'peer', b, 'allowed-ips', '10.4.1.0/24',
    ]);
    let info = await client.device(dev.name);
    expect(info.privateKey?.equals(priv)).toBe(true);
    expect(info.listenPort).toBe(41004);
    const pa = info.peers.find((p) => p.publicKey === a)!;
    expect(pa.presharedKey?.equals(psk)).toBe(true);
    expect([...pa.allowedIPs].sort()).toEqual(['10.4.0.1/32', '10.4.0.2/32']);
    await client.set(dev.name, ['private-key', '/dev/null', 'peer', b, 'remove']);
    expect((await client.device(dev.name)).privateKey).toBeNull();
    info = await client.device(dev.name);
    expect(info.peers.map((p) => p.publicKey)).toContain(a);
    expect(info.peers.map((p) => p.publicKey)).not.toContain(b);
  });

  it('rejects bad requests before sending anything, naming the field', async () => {
    const state = () => dev.wg('show', '%i', 'dump').split('\n').sort().join('\n');
    const before = state();
    const bad = [
      [{ listenPort: 70000 }, 'listenPort'],
      [{ fwmark: -1 }, 'fwmark'],
      [{ peers: [{ publicKey: pub(), allowedIPs: ['10.0.0.0/33'] }] }, 'peers[0].allowedIPs[0]'],
      [{ peers: [{ publicKey: 'nope' }] }, 'peers[0].publicKey'],
      // Non-zero padding bits in the last character: not canonical, as wg refuses it.
      [{ peers: [{ publicKey: 'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3l=' }] }, 'peers[0].publicKey'],
      [{ peers: [{ publicKey: pub(), endpoint: '192.0.2.1' }] }, 'peers[0].endpoint'],
      [{ peers: [{ publicKey: pub(), persistentKeepalive: 65536 }] }, 'peers[0].persistentKeepalive'],
      [{ listenPort: 41999, peers: [{ publicKey: pub(), bogus: 1 }] }, 'peers[0].bogus'],
    ] as const;
    for (const [change, field] of bad) {
      const err = await client.configure(dev.name, change as never).catch((e: unknown) => e);
      expect(err, field).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe(ErrorCodes.INVALID_ARGUMENT);
      expect((err as InvalidArgumentError).field).toBe(field);
    }
    await expect(client.set(dev.name, ['peer', pub(), 'bogus'])).rejects.toMatchObject({ message: 'Invalid argument: bogus' });
    await expect(client.set(dev.name, ['listen-port', 'x'])).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(state()).toBe(before);
    // wg's own grammar check: device keywords must come before the first peer.
    await expect(client.set(dev.name, ['peer', pub(), 'private-key', '/dev/null'])).rejects.toMatchObject({
      message: 'Invalid argument: private-key',
    });
  });

  it('reports a missing device as wg does', async () => {
    const err = await client.device('wgnotexist0').catch((e: unknown) => e);
    if (existsSync('/sys/module/wireguard')) {
      // A kernel with WireGuard: no such device.
      expect(err).toBeInstanceOf(DeviceNotFoundError);
      expect(err).toMatchObject({ code: ErrorCodes.DEVICE_NOT_FOUND, errno: 'ENODEV' });
    } else {
      // No socket and no kernel WireGuard: wg says "Protocol not supported".
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect(err).toMatchObject({ code: ErrorCodes.BACKEND_UNAVAILABLE, errno: 'EPROTONOSUPPORT' });
    }
  });

  it('honours an AbortSignal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(client.device(dev.name, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    await expect(client.configure(dev.name, { listenPort: 1 }, { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORT_ERR',
      name: 'AbortError',
    });
    await expect(client.listDevices({ signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('accepts Key objects and base64 interchangeably, and null removes keys', async () => {
    const priv = generatePrivateKey();
    await client.configure(dev.name, { privateKey: priv.toBase64() });
    expect((await client.device(dev.name)).privateKey?.equals(priv)).toBe(true);
    await client.configure(dev.name, { privateKey: null });
    expect((await client.device(dev.name)).privateKey).toBeNull();
    await client.configure(dev.name, { privateKey: Key.zero() });
    expect((await client.device(dev.name)).publicKey).toBeNull();
  });
});
