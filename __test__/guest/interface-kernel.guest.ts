/**
 * The interface manager with kernel WireGuard (inside the kernel guest): `auto` picks the
 * kernel, the default route's policy routing works with a kernel device, a kernel link moves
 * from its socket namespace into another one (NixOS's confinement recipe), and `wgkit-quick`
 * takes the same steps as Debian's wg-quick, `ip link add … type wireguard` included.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireGuardInterface } from '../../lib/interface/interface.js';
import { generatePrivateKey, publicKey } from '../../lib/keys.js';
import { exec, namespacePair, sh } from './helpers.js';

const nsA = 'wgifa';
const nsB = 'wgifb';
const nsC = 'wgifc';
const peerDev = 'wgpeer';
const dir = mkdtempSync(join(tmpdir(), 'wgkit-kiface-'));
const ours = generatePrivateKey();
const theirs = generatePrivateKey();
const ourPublic = publicKey(ours).toBase64();
const theirPublic = publicKey(theirs).toBase64();

function ping(ns: string, address: string): boolean {
  return exec(['ping', '-c', '1', '-W', '3', address], { ns }).status === 0;
}

function config(extra: Record<string, unknown>, allowedIPs: string[]) {
  return {
    interface: { privateKey: ours.toBase64(), address: ['10.99.0.1/24'], socketNamespace: nsA, ...extra },
    peers: [{ publicKey: theirPublic, endpoint: '192.0.2.2:51820', allowedIPs, persistentKeepalive: 1 }],
  };
}

beforeAll(() => {
  namespacePair(nsA, nsB);
  exec(['ip', 'netns', 'del', nsC]);
  sh(['ip', 'netns', 'add', nsC]);
  sh(['ip', '-n', nsB, 'link', 'add', peerDev, 'type', 'wireguard']);
  const key = join(dir, 'peer.key');
  writeFileSync(key, `${theirs.toBase64()}\n`, { mode: 0o600 });
  sh(['wg', 'set', peerDev, 'listen-port', '51820', 'private-key', key, 'peer', ourPublic, 'allowed-ips', '10.99.0.1/32'], { ns: nsB });
  sh(['ip', '-n', nsB, 'address', 'add', '10.99.0.2/24', 'dev', peerDev]);
  sh(['ip', '-n', nsB, 'address', 'add', '198.51.100.7/32', 'dev', 'lo']);
  sh(['ip', '-n', nsB, 'link', 'set', peerDev, 'up']);
});

afterAll(() => {
  for (const ns of [nsA, nsB, nsC]) exec(['ip', 'netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe('kernel interfaces', () => {
  it('auto picks kernel WireGuard; a default route works and down removes every rule', async () => {
    const rulesBefore = sh(['ip', '-n', nsA, '-4', 'rule']);
    const iface = await WireGuardInterface.up('wgk0', config({}, ['0.0.0.0/0']));
    try {
      expect(iface.implementation).toBe('kernel');
      expect(sh(['ip', '-n', nsA, '-d', 'link', 'show', 'wgk0'])).toContain('wireguard');
      expect(sh(['ip', '-n', nsA, '-4', 'rule'])).toContain('not from all fwmark 0xca6c lookup 51820');
      expect(ping(nsA, '198.51.100.7')).toBe(true);
    } finally {
      await iface.down();
    }
    expect(sh(['ip', '-n', nsA, '-4', 'rule'])).toBe(rulesBefore);
    expect(exec(['ip', '-n', nsA, 'link', 'show', 'wgk0']).status).not.toBe(0);
  });

  it('moves a kernel link into the interface namespace; its socket stays in the socket namespace', async () => {
    const iface = await WireGuardInterface.up('wgk1', config({ interfaceNamespace: nsC, table: 'main', mtu: 1420 }, ['0.0.0.0/0']));
    try {
      expect(sh(['ip', '-n', nsC, '-br', 'link'])).toContain('wgk1');
      expect(exec(['ip', '-n', nsA, 'link', 'show', 'wgk1']).status).not.toBe(0);
      expect(ping(nsC, '198.51.100.7')).toBe(true);
      expect(sh(['wg', 'show', peerDev, 'endpoints'], { ns: nsB })).toContain('192.0.2.1:');
      expect((await iface.info()).peers[0]!.lastHandshake).not.toBeNull();
    } finally {
      await iface.down();
    }
    expect(sh(['ip', '-n', nsC, '-br', 'link']).trim().split(/\s+/)[0]).toBe('lo');
  });

  it('wgkit-quick takes the same steps as wg-quick with a kernel device', () => {
    const results: Record<string, string[]> = {};
    for (const [tool, name] of [
      ['wg-quick', 'wgq0'],
      ['wgkit-quick', 'wgq1'],
    ] as const) {
      const file = join(dir, `${name}.conf`);
      const key = ours.toBase64();
      writeFileSync(
        file,
        `[Interface]\nPrivateKey = ${key}\nAddress = 10.99.0.1/24\n\n[Peer]\nPublicKey = ${theirPublic}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 0.0.0.0/0, 10.98.0.0/16\n`,
        { mode: 0o600 },
      );
      const program = tool === 'wg-quick' ? ['wg-quick'] : ['node', join(process.cwd(), 'bin/wgkit-quick.js')];
      const up = exec([...program, 'up', file], { ns: nsA });
      expect(up.status, up.stderr).toBe(0);
      expect(ping(nsA, '198.51.100.7')).toBe(true);
      const down = exec([...program, 'down', file], { ns: nsA });
      expect(down.status, down.stderr).toBe(0);
      results[tool] = `${up.stderr}${down.stderr}`
        .split('\n')
        .filter((l) => l.startsWith('[#]'))
        .map((l) => l.replaceAll(name, 'IF'));
    }
    expect(results['wgkit-quick']).toEqual(results['wg-quick']);
  });
});
