// The interface manager against a real peer (Debian's wireguard-go in namespace B): up, down,
// addresses, MTU, routes, tables, the fwmark default route with a leak check on the underlay,
// rollback, hooks, reconcile, and the NixOS namespace confinement recipe.
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HookError, InterfaceExistsError } from '../lib/errors.js';
import { WireGuardInterface } from '../lib/interface/interface.js';
import { fromNixosOptions } from '../lib/interface/nixos.js';
import { generatePresharedKey, publicKey } from '../lib/keys.js';
import type { InterfaceConfig } from '../lib/interface/model.js';
import { InterfaceLab } from './helpers/interface-lab.js';
import { Netns, run, uniqueName } from './helpers/netns.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let lab: InterfaceLab;
const dir = mkdtempSync(join(tmpdir(), 'wgkit-iface-'));

beforeAll(async () => {
  lab = await InterfaceLab.create();
});

afterAll(async () => {
  await lab?.cleanup.run();
  rmSync(dir, { recursive: true, force: true });
});

function baseConfig(overrides: Partial<InterfaceConfig['interface']> = {}, allowedIPs = ['10.99.0.0/24', 'fd99::/64']): InterfaceConfig {
  return {
    interface: { privateKey: lab.us.privateKey, address: ['10.99.0.1/24', 'fd99::1/64'], socketNamespace: lab.a.name, ...overrides },
    peers: [{ publicKey: lab.them.publicKey, endpoint: `192.0.2.2:${lab.port}`, allowedIPs, persistentKeepalive: 1 }],
  };
}

/** What a namespace's routing looks like, to prove `down` leaves it as it found it. */
function snapshot(ns: string): string {
  const parts = [
    run('ip', ['-n', ns, '-4', 'route', 'show', 'table', 'all']),
    run('ip', ['-n', ns, '-6', 'route', 'show', 'table', 'all']).replace(/.*fe80.*\n/g, ''),
    run('ip', ['-n', ns, '-4', 'rule']),
    run('ip', ['-n', ns, '-6', 'rule']),
    run('ip', ['-n', ns, '-br', 'address']),
    run('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables']),
  ];
  return parts.join('\n---\n');
}

describe('up and down', () => {
  it('creates the link with addresses, MTU and routes, reaches the peer, and down removes it all', async () => {
    lab.configurePeer('10.99.0.1/32,fd99::1/128');
    const before = snapshot(lab.a.name);
    const name = uniqueName('wgi');
    const lines: string[] = [];
    const iface = await WireGuardInterface.up(name, baseConfig({ mtu: 1380 }, ['10.99.0.0/24', 'fd99::/64', '10.98.0.0/16']), {
      log: (l) => lines.push(l),
    });
    try {
      expect(iface.implementation).toBe('userspace');
      const link = lab.ipA('-o', 'link', 'show', name);
      expect(link).toMatch(/mtu 1380/);
      expect(link).toMatch(/,UP/);
      const addresses = lab.ipA('-br', 'address', 'show', name);
      expect(addresses).toContain('10.99.0.1/24');
      expect(addresses).toContain('fd99::1/64');
      expect(lab.ipA('-4', 'route', 'show', 'dev', name)).toContain('10.99.0.0/24');
      expect(lab.ipA('-6', 'route', 'show', 'dev', name)).toContain('fd99::/64');
      expect(lab.pingFromA('10.99.0.2', 2)).toBe(true);
      expect(lab.pingFromA('fd99::2', 2)).toBe(true);
      expect(lines).toEqual([
        `[#] ip link add ${name} type wireguard`,
        '[!] Missing WireGuard kernel module. Falling back to userspace implementation.',
        `[#] wgkit-userspace ${name} (in process)`,
        `[#] wg setconf ${name} /dev/fd/63`,
        `[#] ip -4 address add 10.99.0.1/24 dev ${name}`,
        `[#] ip -6 address add fd99::1/64 dev ${name}`,
        `[#] ip link set mtu 1380 up dev ${name}`,
        // 10.99.0.0/24 and fd99::/64 exist already (the kernel adds them with the addresses).
        `[#] ip -4 route add 10.98.0.0/16 dev ${name}`,
      ]);
      expect(lab.ipA('-4', 'route', 'show', 'dev', name)).toContain('10.98.0.0/16 scope link');
    } finally {
      await iface.down();
    }
    expect(() => lab.ipA('link', 'show', name)).toThrow();
    expect(snapshot(lab.a.name)).toBe(before);
  });

  it('computes the MTU from the route towards the endpoint (minus 80)', async () => {
    lab.configurePeer('10.99.0.1/32');
    const veth = lab.ipA('-o', 'link', 'show', 'type', 'veth').split(':')[1]!.trim().split('@')[0]!;
    lab.ipA('link', 'set', veth, 'mtu', '1300');
    const name = uniqueName('wgi');
    const iface = await WireGuardInterface.up(name, baseConfig({ address: ['10.99.0.1/24'] }, ['10.99.0.0/24']));
    try {
      expect(lab.ipA('-o', 'link', 'show', name)).toMatch(/mtu 1220/);
    } finally {
      await iface.down();
      lab.ipA('link', 'set', veth, 'mtu', '1500');
    }
  });

  it('puts routes into an explicit table with a metric, and none with Table = off', async () => {
    lab.configurePeer('10.99.0.1/32');
    const name = uniqueName('wgi');
    const iface = await WireGuardInterface.up(name, baseConfig({ table: '1234', metric: 77 }, ['10.99.0.0/24', '10.98.0.0/16']));
    try {
      const routes = lab.ipA('-4', 'route', 'show', 'table', '1234');
      expect(routes).toContain(`10.99.0.0/24 dev ${name} scope link metric 77`);
      expect(routes).toContain(`10.98.0.0/16 dev ${name} scope link metric 77`);
      expect(lab.ipA('-4', 'route', 'show', 'dev', name)).not.toContain('10.98.0.0/16');
    } finally {
      await iface.down();
    }
    expect(lab.ipA('-4', 'route', 'show', 'table', '1234')).toBe('');
    const off = await WireGuardInterface.up(name, baseConfig({ table: 'off', address: [] }, ['10.98.0.0/16']));
    try {
      expect(lab.ipA('-4', 'route', 'show', 'dev', name)).toBe('');
    } finally {
      await off.down();
    }
  });

  it('refuses an interface name that exists, changing nothing', async () => {
    lab.configurePeer('10.99.0.1/32');
    const name = uniqueName('wgi');
    const first = await WireGuardInterface.up(name, baseConfig());
    try {
      await expect(WireGuardInterface.up(name, baseConfig())).rejects.toBeInstanceOf(InterfaceExistsError);
      await expect(WireGuardInterface.up(name, baseConfig())).rejects.toMatchObject({ code: 'ERR_WGKIT_INTERFACE_EXISTS', message: `\`${name}' already exists` });
      expect(lab.pingFromA('10.99.0.2')).toBe(true);
    } finally {
      await first.down();
    }
  });
});

describe('save', () => {
  it('writes a new file of mode 0600, through neither a symlink at the path nor a leftover PATH.tmp', async () => {
    lab.configurePeer('10.99.0.1/32');
    const name = uniqueName('wgcl');
    const file = join(dir, `${name}.conf`);
    const outside = join(dir, `${name}-outside`);
    writeFileSync(outside, 'belongs to somebody else\n', { mode: 0o644 });
    symlinkSync(outside, file);
    // Older versions wrote NAME.conf.tmp and kept the mode such a leftover had.
    writeFileSync(`${file}.tmp`, 'leftover\n', { mode: 0o644 });
    const iface = await WireGuardInterface.up(name, baseConfig({ saveConfig: true }), { configFile: file });
    try {
      await iface.save();
      expect(lstatSync(file).isFile()).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toContain(`PrivateKey = ${lab.us.privateKey}\n`);
      expect(readFileSync(outside, 'utf8')).toBe('belongs to somebody else\n');
      expect(readFileSync(`${file}.tmp`, 'utf8')).toBe('leftover\n');
      // The symlink again, replaced by `down`'s SaveConfig as well.
      rmSync(file);
      symlinkSync(outside, file);
    } finally {
      await iface.down();
    }
    expect(lstatSync(file).isFile()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(outside, 'utf8')).toBe('belongs to somebody else\n');
    expect(statSync(outside).mode & 0o777).toBe(0o644);
  });
});

describe('hooks and rollback', () => {
  it('runs the hooks in order with %i, and a failing PostUp rolls everything back', async () => {
    lab.configurePeer('10.99.0.1/32');
    const name = uniqueName('wgi');
    const trace = join(dir, 'trace');
    const hook = (phase: string) => `echo ${phase} %i >> ${trace}`;
    const config = baseConfig({
      preSetup: [hook('preSetup')],
      preUp: [hook('PreUp')],
      postUp: [hook('PostUp')],
      postSetup: [hook('postSetup')],
      preShutdown: [hook('preShutdown')],
      preDown: [hook('PreDown')],
      postDown: [hook('PostDown')],
      postShutdown: [hook('postShutdown')],
    }, ['10.99.0.0/24', '0.0.0.0/0']);
    const before = snapshot(lab.a.name);
    const iface = await WireGuardInterface.up(name, config);
    await iface.down();
    expect(readFileSync(trace, 'utf8')).toBe(
      ['preSetup', 'PreUp', 'PostUp', 'postSetup', 'preShutdown', 'PreDown', 'PostDown', 'postShutdown'].map((p) => `${p} ${name}\n`).join(''),
    );
    expect(snapshot(lab.a.name)).toBe(before);

    const failing = baseConfig({ postUp: ['echo ran', 'exit 3'] }, ['10.99.0.0/24', '0.0.0.0/0', '::/0']);
    const error = await WireGuardInterface.up(name, failing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HookError);
    expect(error).toMatchObject({ code: 'ERR_WGKIT_HOOK_FAILED', message: 'PostUp hook failed (exit status 3): exit 3' });
    expect(() => lab.ipA('link', 'show', name)).toThrow();
    expect(snapshot(lab.a.name)).toBe(before);
  });
});

describe('default route', () => {
  it('routes everything through the tunnel with fwmark rules, leaks nothing onto the underlay, and cleans up', async () => {
    lab.configurePeer('10.99.0.1/32,fd99::1/128');
    const before = snapshot(lab.a.name);
    const hostMark = run('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']).trim();
    const name = uniqueName('wgi');
    const lines: string[] = [];
    const iface = await WireGuardInterface.up(name, baseConfig({}, ['0.0.0.0/0', '::/0']), { log: (l) => lines.push(l) });
    try {
      expect((await iface.info()).fwmark).toBe(51820);
      expect(lab.ipA('-4', 'rule')).toMatch(/not from all fwmark 0xca6c lookup 51820/);
      expect(lab.ipA('-4', 'rule')).toMatch(/from all lookup main suppress_prefixlength 0/);
      expect(lab.ipA('-6', 'rule')).toMatch(/not from all fwmark 0xca6c lookup 51820/);
      expect(lab.ipA('-4', 'route', 'show', 'table', '51820')).toContain(`default dev ${name}`);
      expect(run('ip', ['netns', 'exec', lab.a.name, 'sysctl', '-n', 'net.ipv4.conf.all.src_valid_mark']).trim()).toBe('1');
      expect(run('sysctl', ['-n', 'net.ipv4.conf.all.src_valid_mark']).trim()).toBe(hostMark);
      expect(run('ip', ['netns', 'exec', lab.a.name, 'nft', 'list', 'tables'])).toContain(`table ip wg-quick-${name}`);
      expect(lines).toContain(`[#] ip -4 rule add not fwmark 51820 table 51820`);
      expect(lines.indexOf(`[#] ip -4 rule add table main suppress_prefixlength 0`)).toBeGreaterThan(
        lines.indexOf(`[#] ip -4 route add 0.0.0.0/0 dev ${name} table 51820`),
      );

      // Leak check: capture on A's underlay while pinging an address only B's tunnel side has.
      const veth = lab.ipA('-o', 'link', 'show', 'type', 'veth').split(':')[1]!.trim().split('@')[0]!;
      const pcap = join(dir, 'leak.pcap');
      const dump = spawn('ip', ['netns', 'exec', lab.a.name, 'tcpdump', '-n', '-U', '-i', veth, '-w', pcap], { stdio: 'ignore' });
      await sleep(700);
      expect(lab.pingFromA('198.51.100.7', 3)).toBe(true);
      expect(lab.pingFromA('10.99.0.2')).toBe(true);
      await sleep(300);
      dump.kill('SIGINT');
      await new Promise((r) => dump.once('exit', r));
      const packets = run('tcpdump', ['-n', '-r', pcap]);
      const lines2 = packets.split('\n').filter((l) => l.trim() !== '');
      expect(lines2.length).toBeGreaterThan(0);
      for (const line of lines2) {
        // Only WireGuard datagrams between the endpoints (and neighbour discovery) may appear.
        expect(line).toMatch(/192\.0\.2\.[12]\.\d+ > 192\.0\.2\.[12]\.\d+: UDP|ARP|ICMP6|IP6 fe80/);
        expect(line).not.toContain('198.51.100.7');
        expect(line).not.toContain('10.99.0.2');
      }
    } finally {
      await iface.down();
    }
    expect(snapshot(lab.a.name)).toBe(before);
  });
});

describe('reconcile', () => {
  it('changes only what differs and keeps the session of an unchanged peer', async () => {
    lab.configurePeer('10.99.0.1/32,fd99::1/128');
    const name = uniqueName('wgi');
    const iface = await WireGuardInterface.up(name, baseConfig({ mtu: 1400 }, ['10.99.0.0/24', '10.97.0.0/16']));
    try {
      expect(lab.pingFromA('10.99.0.2')).toBe(true);
      const handshake = (await iface.info()).peers[0]!.lastHandshake;
      expect(handshake).not.toBeNull();
      const other = { publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=', allowedIPs: ['10.96.0.0/16'] };
      const next = baseConfig({ mtu: 1360, address: ['10.99.0.1/24', '10.99.1.1/24'] }, ['10.99.0.0/24']);
      next.peers.push(other);
      await sleep(1100);
      await iface.apply(next);
      const info = await iface.info();
      expect(info.peers.map((p) => p.publicKey).sort()).toEqual([lab.them.publicKey, other.publicKey].sort());
      expect(info.peers.find((p) => p.publicKey === lab.them.publicKey)!.lastHandshake).toEqual(handshake);
      const addresses = lab.ipA('-br', 'address', 'show', name);
      expect(addresses).toContain('10.99.1.1/24');
      expect(addresses).not.toContain('fd99::1/64');
      expect(lab.ipA('-o', 'link', 'show', name)).toMatch(/mtu 1360/);
      const routes = lab.ipA('-4', 'route', 'show', 'dev', name);
      expect(routes).not.toContain('10.97.0.0/16');
      expect(routes).toContain('10.96.0.0/16');
      expect(lab.pingFromA('10.99.0.2')).toBe(true);
    } finally {
      await iface.down();
    }
  });
});

describe('network namespaces', () => {
  it('confines a namespace: the interface lives in `wg`, its socket in the underlay namespace', async () => {
    lab.configurePeer('10.99.0.1/32');
    const confined = Netns.create('wgc');
    lab.cleanup.add(confined);
    const name = uniqueName('wgi');
    const iface = await WireGuardInterface.up(name, {
      interface: {
        privateKey: lab.us.privateKey,
        address: ['10.99.0.1/24'],
        socketNamespace: lab.a.name,
        interfaceNamespace: confined.name,
        table: 'main',
        mtu: 1420,
      },
      peers: [{ publicKey: lab.them.publicKey, endpoint: `192.0.2.2:${lab.port}`, allowedIPs: ['0.0.0.0/0'] }],
    });
    try {
      // The interface is in `wg` only; the socket lives in A (wireguard-go's peer sees A's address).
      expect(run('ip', ['-n', confined.name, '-br', 'link']).split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(['lo', name]);
      expect(() => lab.ipA('link', 'show', name)).toThrow();
      expect(run('ip', ['-n', confined.name, 'route'])).toContain(`default dev ${name}`);
      // A process in `wg` reaches the peer's network, and only through the tunnel.
      const inWg = (address: string) => {
        try {
          run('ip', ['netns', 'exec', confined.name, 'ping', '-c', '1', '-W', '3', address]);
          return true;
        } catch {
          return false;
        }
      };
      expect(inWg('198.51.100.7')).toBe(true);
      expect(lab.peer.wg('show', lab.peer.name, 'endpoints')).toContain('192.0.2.1:');
      expect(lab.pingFromA('198.51.100.7')).toBe(false);
    } finally {
      await iface.down();
    }
    expect(run('ip', ['-n', confined.name, '-br', 'link']).trim().split(/\s+/)[0]).toBe('lo');
  });
});

describe('NixOS options', () => {
  it('brings up networking.wireguard options: generated private key file, preshared key file, metric, table', async () => {
    const psk = generatePresharedKey().toBase64();
    const pskFile = join(dir, 'peer.psk');
    writeFileSync(pskFile, `${psk}\n`, { mode: 0o600 });
    const keyFile = join(dir, 'keys', 'nixos', 'private');
    const name = uniqueName('wgn');
    const config = fromNixosOptions({
      ips: ['10.99.0.1/24'],
      privateKeyFile: keyFile,
      generatePrivateKeyFile: true,
      mtu: 1400,
      metric: 600,
      socketNamespace: lab.a.name,
      peers: [
        {
          name: 'peer-b',
          publicKey: lab.them.publicKey,
          presharedKeyFile: pskFile,
          allowedIPs: ['10.99.0.0/24', '10.95.0.0/16'],
          endpoint: `192.0.2.2:${lab.port}`,
          persistentKeepalive: 1,
        },
      ],
    });
    const first = await WireGuardInterface.up(name, config);
    const generated = readFileSync(keyFile, 'utf8').trim();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const ourPublic = publicKey(generated).toBase64();
    try {
      expect((await first.info()).publicKey).toBe(ourPublic);
      expect(lab.ipA('-4', 'route', 'show', 'table', 'main')).toContain(`10.95.0.0/16 dev ${name} scope link metric 600`);
      // wireguard-go accepts us once it knows the generated key and the same preshared key.
      lab.us = { privateKey: generated, publicKey: ourPublic };
      lab.configurePeer('10.99.0.1/32');
      run('wg', ['set', lab.peer.name, 'peer', ourPublic, 'preshared-key', pskFile]);
      // wireguard-go refused the first initiation (sent at `up`, before it knew our key); the
      // retry comes after REKEY_TIMEOUT (5 s plus jitter): ping for longer than that.
      expect(lab.pingFromA('10.99.0.2', 8)).toBe(true);
    } finally {
      await first.down();
    }
    // A second `up` keeps the existing key file.
    const second = await WireGuardInterface.up(name, config);
    try {
      expect((await second.info()).publicKey).toBe(ourPublic);
    } finally {
      await second.down();
      lab.newIdentity();
    }
  });
});
