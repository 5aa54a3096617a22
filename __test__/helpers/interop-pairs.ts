/**
 * Two userspace WireGuard devices (wgkit-userspace or wireguard-go) in two network namespaces
 * joined by a veth pair (192.0.2.1/24 + 2001:db8:ffff::1/64 and .2/::2), for `defineInteropSuite`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup, uniqueName, vethPair } from './netns.js';
import { NetnsPlace, Side, vethOf, type Kind } from './interop.js';

/** `net` picks the tunnel subnets 10.net.0.0/24 and fd00:net::/64 and the ports. */
export async function userspacePair(kindA: Kind, kindB: Kind, net: number): Promise<{ a: Side; b: Side; teardown: () => Promise<void> }> {
  const cleanup = new Cleanup();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'wgkit-interop-'));
    cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
    const { a: nsA, b: nsB } = vethPair('wgio');
    cleanup.add(nsA);
    cleanup.add(nsB);
    const side = (kind: Kind, ns: typeof nsA, host: number) =>
      new Side({
        kind,
        place: new NetnsPlace(ns),
        ifname: uniqueName(kind === 'wgkit' ? 'wk' : 'wg'),
        dev: vethOf(ns),
        underlay: { v4: `192.0.2.${host}`, v6: `2001:db8:ffff::${host}` },
        tunnel: { v4: `10.${net}.0.${host}`, v6: `fd00:${net}::${host}` },
        port: 51000 + net * 10 + host,
        dir,
      });
    const a = side(kindA, nsA, 1);
    const b = side(kindB, nsB, 2);
    // Daemons stop before their namespaces go.
    cleanup.defer(() => a.stop());
    cleanup.defer(() => b.stop());
    return { a, b, teardown: () => cleanup.run() };
  } catch (e) {
    await cleanup.run();
    throw e;
  }
}
