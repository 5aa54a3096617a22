// Large changes to an embedded device: 1000 peers with endpoints and persistent keepalive,
// each of which sends a handshake initiation once the change has landed (paced; a set starting
// more than one send batch, 64, of them used to panic), and a large change refused whole.
// The endpoints are on a veth link inside the test's namespace: the initiations go nowhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePresharedKey, generatePrivateKey, InvalidArgumentError, WireGuardDevice, type PeerChange } from '../lib/index.js';
import { Cleanup, Netns, uniqueName } from './helpers/netns.js';

const cleanup = new Cleanup();
let ns: Netns;
let device: WireGuardDevice;

beforeAll(async () => {
  ns = cleanup.add(Netns.create('wgcf'));
  // A veth pair inside the namespace (no dummy module on every kernel): nobody answers ARP.
  ns.exec('ip', ['link', 'add', 'wgcfv0', 'type', 'veth', 'peer', 'name', 'wgcfv1']);
  ns.exec('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'wgcfv0']);
  ns.exec('ip', ['link', 'set', 'wgcfv0', 'up']);
  ns.exec('ip', ['link', 'set', 'wgcfv1', 'up']);
  device = await WireGuardDevice.create(uniqueName('wgcf'), { netns: ns.name });
  cleanup.defer(() => device.close());
});
afterAll(() => cleanup.run());

/** Peer `n` of a large change: endpoint, keepalive, preshared key, one /32. */
function peer(n: number): PeerChange & { publicKey: string; presharedKey: string } {
  return {
    publicKey: generatePrivateKey().publicKey().toBase64(),
    presharedKey: generatePresharedKey().toBase64(),
    endpoint: `192.0.2.${2 + (n % 250)}:${1000 + n}`,
    persistentKeepalive: 25,
    allowedIPs: [`10.${n >> 8}.${n & 255}.1/32`],
  };
}

describe('a large change', () => {
  it('sets 1000 peers with endpoints and keepalive; each sends its first initiation', { timeout: 60_000 }, async () => {
    const privateKey = generatePrivateKey();
    const peers = Array.from({ length: 1000 }, (_, n) => peer(n));
    await device.configure({ privateKey, replacePeers: true, peers });
    // The first initiations go out after the change has landed, paced (more than 256 of
    // them): every peer has sent its one within seconds.
    const deadline = Date.now() + 30_000;
    let info = device.info();
    while (info.peers.some((p) => p.txBytes < 148n) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      info = device.info();
    }
    expect(info.publicKey).toBe(privateKey.publicKey().toBase64());
    expect(info.peers).toHaveLength(1000);
    for (const [n, p] of info.peers.entries()) {
      const want = peers[n]!;
      expect(p.publicKey).toBe(want.publicKey);
      expect(p.presharedKey?.toBase64()).toBe(want.presharedKey);
      expect(p.endpoint).toBe(want.endpoint);
      expect(p.persistentKeepalive).toBe(25);
      expect(p.allowedIPs).toEqual(want.allowedIPs);
      // One handshake initiation (148 bytes) each, sent after the change landed.
      expect(p.txBytes).toBe(148n);
    }
    expect(device.stats().txDatagrams).toBeGreaterThanOrEqual(1000n);
  });

  it('sets 100,000 peers (a third with preshared keys) and reads them all back', { timeout: 240_000 }, async () => {
    const privateKey = generatePrivateKey();
    const psk = generatePresharedKey().toBase64();
    // Keys from a counter (any 32 bytes are a public key to the table): generating 100,000
    // real ones would take longer than the change.
    const key = (n: number) => {
      const b = Buffer.alloc(32, 0x5c);
      b.writeUInt32LE(n, 0);
      return b.toString('base64');
    };
    const peers = Array.from({ length: 100_000 }, (_, n) => ({
      publicKey: key(n),
      ...(n % 3 === 0 ? { presharedKey: psk } : {}),
      endpoint: `192.0.2.${2 + (n % 250)}:${1024 + (n % 60_000)}`,
      persistentKeepalive: 25,
      allowedIPs: [`10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}/32`, `fd00:5ca1:${(0x1000 + (n >> 16)).toString(16)}::1:${(n & 0xffff).toString(16)}/128`],
    }));
    await device.configure({ privateKey, replacePeers: true, peers });
    const info = device.info();
    expect(info.peers).toHaveLength(100_000);
    const byKey = new Map(info.peers.map((p) => [p.publicKey, p]));
    for (const n of [0, 1, 2, 3, 65_535, 65_536, 99_999]) {
      const got = byKey.get(key(n))!;
      expect(got.presharedKey?.toBase64()).toBe(n % 3 === 0 ? psk : undefined);
      expect(got.endpoint).toBe(peers[n]!.endpoint);
      expect(got.persistentKeepalive).toBe(25);
      expect(got.allowedIPs).toEqual(peers[n]!.allowedIPs);
    }
    expect(info.peers.filter((p) => p.presharedKey)).toHaveLength(33_334);
    expect(info.peers.reduce((sum, p) => sum + p.allowedIPs.length, 0)).toBe(200_000);
    // Emptied again for the next test.
    await device.configure({ replacePeers: true, peers: [] });
    expect(device.info().peers).toHaveLength(0);
  });

  it('that is invalid at its last peer changes nothing', { timeout: 60_000 }, async () => {
    const before = device.info();
    const peers: PeerChange[] = Array.from({ length: 1000 }, (_, n) => peer(n));
    peers.push({ publicKey: generatePrivateKey().publicKey(), allowedIPs: ['10.0.0.0/40'] });
    await expect(device.configure({ privateKey: generatePrivateKey(), listenPort: 0, replacePeers: true, peers })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const after = device.info();
    expect(after.publicKey).toBe(before.publicKey);
    expect(after.listenPort).toBe(before.listenPort);
    expect(after.peers.map((p) => [p.publicKey, p.endpoint, p.persistentKeepalive, p.allowedIPs])).toEqual(
      before.peers.map((p) => [p.publicKey, p.endpoint, p.persistentKeepalive, p.allowedIPs]),
    );
  });
});
