/**
 * The tunnel MTU when the configuration has none, as wg-quick computes it: for each peer
 * endpoint, the MTU of the route towards it (`ip route get`: the route's `mtu`, else its
 * device's); the smallest of these (newer wg-quick; Debian's 1.0.20210914 took the largest,
 * which can exceed a peer's path); with no endpoint, the default route's; else 1500. Minus 80,
 * the worst-case WireGuard overhead (IPv6 40 + UDP 8 + WireGuard 32).
 */
import type { DeviceInfo } from '../types.js';
import { Rtnl } from './rtnl.js';

export const WIREGUARD_OVERHEAD = 80;
const FALLBACK_MTU = 1500;

/** The host part of `ip:port` / `[v6%zone]:port`. */
export function endpointHost(endpoint: string): string | undefined {
  const match = /^\[?([a-z0-9:.]+)(%[^\]]*)?\]?:[0-9]+$/i.exec(endpoint);
  return match?.[1];
}

function lookupMtu(route: { routeMtu: number | null; linkMtu: number | null }): number | undefined {
  return route.routeMtu ?? route.linkMtu ?? undefined;
}

/** The automatic MTU for a device whose endpoints are resolved, from `socketNamespace`. */
export async function automaticMtu(device: DeviceInfo, socketNamespace: string | undefined, signal?: AbortSignal): Promise<number> {
  const rtnl = new Rtnl(socketNamespace);
  let mtu = 0;
  for (const peer of device.peers) {
    const host = peer.endpoint ? endpointHost(peer.endpoint) : undefined;
    if (!host) continue;
    try {
      const found = lookupMtu(await rtnl.routeGet(host, device.fwmark || null, signal));
      if (found !== undefined && (mtu === 0 || found < mtu)) mtu = found;
    } catch {
      // unreachable endpoint: no route, no contribution (wg-quick ignores `ip route get` failures)
    }
  }
  if (mtu === 0) {
    for (const family of [4, 6] as const) {
      const defaults = (await rtnl.listRoutes(family, 254, signal)).filter((r) => /\/0$/.test(r.destination) && r.ifname);
      const first = defaults[0];
      if (!first) continue;
      try {
        mtu = (await rtnl.getLink(first.ifname!, signal)).mtu;
      } catch {
        continue;
      }
      break;
    }
  }
  return (mtu > 0 ? mtu : FALLBACK_MTU) - WIREGUARD_OVERHEAD;
}
