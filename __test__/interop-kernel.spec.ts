// wgkit-userspace (host, in a network namespace) ↔ kernel WireGuard (Debian's kernel in a qemu
// TCG guest whose eth0 is a tap device in that namespace). One guest boot serves both suites;
// the guest side is driven with Debian's ip and wg through the guest's command loop.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { projectRoot } from './helpers/kernel-vm.js';
import { KernelGuest, must, NetnsPlace, Side } from './helpers/interop.js';
import { defineInteropSuite } from './helpers/interop-suite.js';
import { Netns, uniqueName } from './helpers/netns.js';

// The guest sees the project directory read-write at the same path; config files go there.
const dir = join(projectRoot, '.cache', `interop-kernel-${process.pid}`);
let hostNs: Netns | undefined;
let guest: KernelGuest | undefined;
const tap = uniqueName('ktap');

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  hostNs = Netns.create('wgik');
  const host = new NetnsPlace(hostNs);
  await must(
    host,
    `set -e
     ip tuntap add dev ${tap} mode tap
     ip addr add 192.0.2.1/24 dev ${tap}
     ip addr add 2001:db8:ffff::1/64 dev ${tap} nodad
     ip link set ${tap} up`,
  );
  guest = await KernelGuest.boot(hostNs, tap, dir, 600_000);
  await must(
    guest,
    `set -e
     ip addr add 192.0.2.2/24 dev eth0
     ip addr add 2001:db8:ffff::2/64 dev eth0 nodad
     ip link set eth0 up
     ping -c 1 -W 5 192.0.2.1 >/dev/null`,
  );
}, 180_000);

afterAll(async () => {
  await guest?.shutdown();
  hostNs?.delete();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

function kernelPair(net: number) {
  return async () => {
    if (!hostNs || !guest) throw new Error('no kernel guest');
    const side = (kind: 'wgkit' | 'kernel', host: number) =>
      new Side({
        kind,
        place: kind === 'wgkit' ? new NetnsPlace(hostNs!) : guest!,
        ifname: kind === 'wgkit' ? uniqueName('wk') : `wgk${net}`,
        dev: kind === 'wgkit' ? tap : 'eth0',
        underlay: { v4: `192.0.2.${host}`, v6: `2001:db8:ffff::${host}` },
        tunnel: { v4: `10.${net}.0.${host}`, v6: `fd00:${net}::${host}` },
        port: 51000 + net * 10 + host,
        dir,
      });
    const a = side('wgkit', 1);
    const b = side('kernel', 2);
    return {
      a,
      b,
      teardown: async () => {
        await a.stop();
        await b.stop().catch(() => undefined);
      },
    };
  };
}

defineInteropSuite({
  title: 'wgkit ↔ kernel WireGuard, wgkit initiates, IPv4 underlay',
  setup: kernelPair(51),
  initiator: 'a',
  underlay: 4,
  bulk: { from: 'a', family: 4, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'a',
  replayReceiver: 'a',
  timeout: 90_000,
  bulkTimeout: 180_000,
});

defineInteropSuite({
  title: 'wgkit ↔ kernel WireGuard, kernel initiates, IPv6 underlay',
  setup: kernelPair(52),
  initiator: 'b',
  underlay: 6,
  bulk: { from: 'b', family: 6, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'a',
  replayReceiver: 'a',
  timeout: 90_000,
  bulkTimeout: 180_000,
});
