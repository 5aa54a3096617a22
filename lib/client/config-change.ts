/**
 * The device changes that `wg setconf`, `wg addconf` and `wg syncconf` make from a config
 * (wireguard-tools setconf.c and config.c).
 */
import type { WgConfig, WgPeerSection } from '../config/model.js';
import type { DeviceChange, DeviceInfo, PeerChange } from '../types.js';

/**
 * `setconf` (`replace`): every device key not in the file is reset (no private key, random
 * port, fwmark off) and all peers are replaced. `addconf` (`append`): only what the file says
 * changes. In both, each `[Peer]` replaces that peer's allowed IPs, unless its entries carry
 * `+`/`-` prefixes (incremental changes).
 */
export function changeFromConfig(config: WgConfig, mode: 'replace' | 'append'): DeviceChange {
  const iface = config.interface;
  const change: DeviceChange = { peers: config.peers.map(peerChange) };
  if (mode === 'replace') {
    change.privateKey = iface.privateKey ?? null;
    change.listenPort = iface.listenPort ?? 0;
    change.fwmark = iface.fwMark ?? 0;
    change.replacePeers = true;
  } else {
    if (iface.privateKey !== undefined) change.privateKey = iface.privateKey;
    if (iface.listenPort !== undefined) change.listenPort = iface.listenPort;
    if (iface.fwMark !== undefined) change.fwmark = iface.fwMark;
  }
  return change;
}

function peerChange(peer: WgPeerSection): PeerChange {
  const ips = peer.allowedIPs ?? [];
  const incremental = ips.some((ip) => ip.startsWith('+') || ip.startsWith('-'));
  const change: PeerChange = { publicKey: peer.publicKey, replaceAllowedIPs: !incremental, allowedIPs: [...ips] };
  if (peer.presharedKey !== undefined) change.presharedKey = peer.presharedKey;
  if (peer.endpoint !== undefined) change.endpoint = peer.endpoint;
  if (peer.persistentKeepalive !== undefined) change.persistentKeepalive = peer.persistentKeepalive;
  return change;
}

/**
 * `syncconf`: like `setconf`, but when both the file and the running device have peers, peers
 * missing from the file are removed one by one instead of replacing all, so the sessions of
 * the others are kept. A peer whose preshared key or keepalive the file drops gets them
 * cleared explicitly.
 */
export function syncChangeFromConfig(config: WgConfig, running: DeviceInfo): DeviceChange {
  const change = changeFromConfig(config, 'replace');
  if (config.peers.length === 0 || running.peers.length === 0) return change;
  change.replacePeers = false;
  const inFile = new Map(config.peers.map((p) => [p.publicKey, p]));
  const removals: PeerChange[] = running.peers
    .filter((p) => !inFile.has(p.publicKey))
    .map((p) => ({ publicKey: p.publicKey, remove: true }));
  const runningByKey = new Map(running.peers.map((p) => [p.publicKey, p]));
  for (const peer of change.peers ?? []) {
    const current = runningByKey.get(String(peer.publicKey));
    if (!current) continue;
    if (current.presharedKey !== null && peer.presharedKey === undefined) peer.presharedKey = null;
    if (current.persistentKeepalive !== 0 && peer.persistentKeepalive === undefined) peer.persistentKeepalive = 0;
  }
  change.peers = [...removals, ...(change.peers ?? [])];
  return change;
}
