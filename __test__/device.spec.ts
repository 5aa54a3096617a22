import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generatePrivateKey,
  InvalidArgumentError,
  WireGuardClient,
  WireGuardDevice,
  type HandshakeEvent,
} from '../lib/index.js';
import { Cleanup, uniqueName, vethPair, type Netns } from './helpers/netns.js';

const cleanup = new Cleanup();
let a: Netns;
let b: Netns;
let devA: WireGuardDevice;
let devB: WireGuardDevice;
const keyA = generatePrivateKey();
const keyB = generatePrivateKey();
const handshakes: HandshakeEvent[] = [];

beforeAll(async () => {
  ({ a, b } = vethPair('wgkd'));
  cleanup.add(a);
  cleanup.add(b);
  devA = await WireGuardDevice.create(uniqueName('wgda'), {
    netns: a.name,
    config: {
      privateKey: keyA,
      listenPort: 51820,
      peers: [{ publicKey: keyB.publicKey(), endpoint: '192.0.2.2:51821', allowedIPs: ['10.88.0.2/32'] }],
    },
  });
  cleanup.defer(() => devA.close());
  devB = await WireGuardDevice.create(uniqueName('wgdb'), {
    netns: b.name,
    config: {
      privateKey: keyB,
      listenPort: 51821,
      peers: [{ publicKey: keyA.publicKey(), allowedIPs: ['10.88.0.1/32'] }],
    },
  });
  cleanup.defer(() => devB.close());
  devA.on('handshake', (e) => handshakes.push(e));
  for (const [ns, dev, addr] of [[a, devA, '10.88.0.1/24'], [b, devB, '10.88.0.2/24']] as const) {
    ns.exec('ip', ['addr', 'add', addr, 'dev', dev.name]);
    ns.exec('ip', ['link', 'set', dev.name, 'up']);
  }
});
afterAll(() => cleanup.run());

describe('WireGuardDevice', () => {
  it('carries traffic between two devices and reports the handshake as an event', async () => {
    const seen = once(devA, 'handshake');
    a.exec('ping', ['-c', '3', '-i', '0.2', '-w', '15', '10.88.0.2']);
    const [event] = (await seen) as [HandshakeEvent];
    expect(event.publicKey).toBe(keyB.publicKey().toBase64());
    expect(event.initiator).toBe(true);
    expect(Math.abs(event.at.getTime() - Date.now())).toBeLessThan(60_000);
    expect(JSON.stringify(handshakes)).not.toContain(keyA.toBase64());
    const info = devA.info();
    expect(info.peers[0]?.lastHandshake).toBeInstanceOf(Date);
    expect(info.peers[0]?.txBytes).toBeGreaterThan(0n);
    expect(info.peers[0]?.rxBytes).toBeGreaterThan(0n);
    const stats = devA.stats();
    expect(stats.txDatagrams).toBeGreaterThan(0n);
    expect(stats.tunRxPackets).toBeGreaterThan(0n);
  });

  it('is managed through its UAPI socket by Debian wg and by WireGuardClient', async () => {
    expect(existsSync(`/var/run/wireguard/${devA.name}.sock`)).toBe(true);
    const dump = a.exec('wg', ['show', devA.name, 'dump']).trim().split('\n');
    expect(dump[0]?.split('\t')).toEqual([keyA.toBase64(), keyA.publicKey().toBase64(), '51820', 'off']);
    expect(dump[1]?.split('\t').slice(0, 4)).toEqual([keyB.publicKey().toBase64(), '(none)', '192.0.2.2:51821', '10.88.0.2/32']);
    a.exec('wg', ['set', devA.name, 'peer', keyB.publicKey().toBase64(), 'persistent-keepalive', '7']);
    expect(devA.info().peers[0]?.persistentKeepalive).toBe(7);
    const viaClient = await new WireGuardClient().device(devA.name);
    expect(viaClient.type).toBe('userspace');
    expect(viaClient.publicKey).toBe(keyA.publicKey().toBase64());
  });

  it('rejects a bad change as a whole and keeps the session of unchanged peers', async () => {
    const before = devA.info();
    await expect(
      devA.configure({ listenPort: 51830, peers: [{ publicKey: generatePrivateKey().publicKey(), allowedIPs: ['10.0.0.0/40'] }] }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(devA.info().listenPort).toBe(51820);
    await devA.configure({ peers: [{ publicKey: generatePrivateKey().publicKey(), allowedIPs: ['10.88.9.0/24'] }] });
    const after = devA.info();
    expect(after.peers).toHaveLength(2);
    expect(after.peers[0]?.lastHandshake?.getTime()).toBe(before.peers[0]?.lastHandshake?.getTime());
    a.exec('ping', ['-c', '1', '-w', '5', '10.88.0.2']);
  });

  it('syncConf removes stale peers', async () => {
    await devA.syncConf({
      interface: { privateKey: keyA.toBase64(), listenPort: 51820 },
      peers: [{ publicKey: keyB.publicKey().toBase64(), endpoint: '192.0.2.2:51821', allowedIPs: ['10.88.0.2/32'] }],
    });
    expect(devA.info().peers.map((p) => p.publicKey)).toEqual([keyB.publicKey().toBase64()]);
  });

  it('closes: the socket and the interface go away, and close is idempotent', async () => {
    const dev = await WireGuardDevice.create(uniqueName('wgdc'), { netns: a.name });
    const name = dev.name;
    expect(a.exec('ip', ['-br', 'link']).includes(name)).toBe(true);
    const closed = once(dev, 'close');
    await dev.close();
    await closed;
    await dev.close();
    expect(existsSync(`/var/run/wireguard/${name}.sock`)).toBe(false);
    expect(a.exec('ip', ['-br', 'link']).includes(name)).toBe(false);
    expect(() => dev.info()).toThrow(/closed/);
  });

  it('supports `await using` and unref()', async () => {
    let name = '';
    {
      await using dev = await WireGuardDevice.create(uniqueName('wgdu'), { netns: a.name, uapi: false });
      name = dev.name;
      expect(dev.unref().refed).toBe(false);
      expect(existsSync(`/var/run/wireguard/${name}.sock`)).toBe(false);
    }
    expect(a.exec('ip', ['-br', 'link']).includes(name)).toBe(false);
  });

  it('fails cleanly when the interface already exists', async () => {
    await expect(WireGuardDevice.create(devA.name, { netns: a.name })).rejects.toMatchObject({ errno: 'EEXIST' });
  });
});
