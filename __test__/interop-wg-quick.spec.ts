// Debian's wg-quick brings up a wgkit-userspace interface (the host kernel has no WireGuard, so
// wg-quick falls back to WG_QUICK_USERSPACE_IMPLEMENTATION), reaches a wireguard-go peer, Debian's
// `wg show` reads the device back as configured, and `wg-quick down` removes it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explain, genKeyPair, sleep, WGKIT_USERSPACE } from './helpers/interop.js';
import { Cleanup, run, uniqueName, vethPair, WireguardGo } from './helpers/netns.js';
import { sh } from './helpers/run.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run(), 60_000);

/** Whether `pid` runs (exists and is not a zombie). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=wgkit-userspace', () => {
  it('brings the interface up, reaches wireguard-go, wg show reads it, wg-quick down removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgkit-wgquick-'));
    cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
    const { a, b } = vethPair('wgiq');
    cleanup.add(a);
    cleanup.add(b);
    const peer = cleanup.add(await WireguardGo.start(b, 'wgq'));
    const ka = genKeyPair();
    const kb = genKeyPair();
    const psk = run('wg', ['genpsk']).trim();
    writeFileSync(join(dir, 'b.key'), `${kb.priv}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'psk'), `${psk}\n`, { mode: 0o600 });
    peer.wg(
      'set', '%i', 'listen-port', '51902', 'private-key', join(dir, 'b.key'),
      'peer', ka.pub, 'preshared-key', join(dir, 'psk'), 'allowed-ips', '10.61.0.1/32,fd00:61::1/128',
      'endpoint', '192.0.2.1:51901',
    );
    for (const args of [
      ['addr', 'add', '10.61.0.2/24', 'dev', peer.name],
      ['addr', 'add', 'fd00:61::2/64', 'dev', peer.name, 'nodad'],
      ['link', 'set', peer.name, 'up'],
    ]) run('ip', ['-n', b.name, ...args]);

    const ifname = uniqueName('wkq');
    const conf = join(dir, `${ifname}.conf`);
    writeFileSync(
      conf,
      [
        '[Interface]',
        `PrivateKey = ${ka.priv}`,
        'ListenPort = 51901',
        'FwMark = 0x1234',
        'Address = 10.61.0.1/24, fd00:61::1/64',
        'MTU = 1380',
        '',
        '[Peer]',
        `PublicKey = ${kb.pub}`,
        `PresharedKey = ${psk}`,
        'AllowedIPs = 10.61.0.2/32, fd00:61::2/128',
        'Endpoint = 192.0.2.2:51902',
        'PersistentKeepalive = 25',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const env = `WG_QUICK_USERSPACE_IMPLEMENTATION=${WGKIT_USERSPACE}`;
    let daemonPid: number | undefined;
    cleanup.defer(() => {
      if (daemonPid !== undefined && running(daemonPid)) process.kill(daemonPid, 'SIGTERM');
    });

    const up = sh(`ip netns exec ${a.name} env ${env} wg-quick up ${conf}`);
    // Whatever happened, find the daemon (in our namespace, serving our interface) to clean it up.
    for (const pid of run('ip', ['netns', 'pids', a.name]).split('\n').filter(Boolean).map(Number)) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((x) => x.endsWith('wgkit-userspace.js')) && cmdline.includes(ifname)) daemonPid = pid;
    }
    expect(up.code, explain(up)).toBe(0);
    expect(up.stderr).toContain('Missing WireGuard kernel module. Falling back to slow userspace implementation.');
    expect(up.stderr).toContain(`[#] ${WGKIT_USERSPACE} ${ifname}`);
    expect(daemonPid, 'the wgkit-userspace daemon runs').toBeDefined();
    expect(existsSync(`/var/run/wireguard/${ifname}.sock`)).toBe(true);
    expect(run('ip', ['-n', a.name, '-o', 'link', 'show', ifname])).toMatch(/ mtu 1380 /);

    for (const target of ['10.61.0.2', 'fd00:61::2']) {
      const p = sh(`ip netns exec ${a.name} ping -n -c 3 -i 0.2 -W 5 ${target}`);
      expect(p.code, explain(p)).toBe(0);
      expect(p.stdout).toMatch(/3 packets transmitted, 3 received/);
    }

    // Debian's wg reads our device: the dump shows exactly the configured values.
    const dump = sh(`wg show ${ifname} dump`);
    expect(dump.code, explain(dump)).toBe(0);
    const [iface, peerLine, ...rest] = dump.stdout.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(iface!.split('\t')).toEqual([ka.priv, ka.pub, '51901', '0x1234']);
    const fields = peerLine!.split('\t');
    expect(fields.slice(0, 4)).toEqual([kb.pub, psk, '192.0.2.2:51902', '10.61.0.2/32,fd00:61::2/128']);
    expect(Number(fields[4])).toBeGreaterThan(0); // latest handshake
    expect(Number(fields[5])).toBeGreaterThan(0); // rx
    expect(Number(fields[6])).toBeGreaterThan(0); // tx
    expect(fields[7]).toBe('25');
    expect(fields).toHaveLength(8);
    // And the wireguard-go side agrees about who it talks to.
    expect(peer.wg('show', '%i', 'endpoints')).toBe(`${ka.pub}\t192.0.2.1:51901\n`);

    const down = sh(`ip netns exec ${a.name} env ${env} wg-quick down ${conf}`);
    expect(down.code, explain(down)).toBe(0);
    expect(down.stderr).toContain(`[#] ip link delete dev ${ifname}`);
    for (let i = 0; i < 100 && (running(daemonPid!) || existsSync(`/var/run/wireguard/${ifname}.sock`)); i++) await sleep(50);
    expect(running(daemonPid!), 'the daemon exited').toBe(false);
    expect(existsSync(`/var/run/wireguard/${ifname}.sock`), 'the socket is gone').toBe(false);
    expect(sh(`ip -n ${a.name} link show ${ifname}`).code).not.toBe(0);
    expect(sh('wg show interfaces').stdout.split(/\s+/)).not.toContain(ifname);
  }, 60_000);
});
