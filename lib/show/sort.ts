/**
 * The peer order of `wg show` pretty output (show.c `peer_cmp`, `sort_peers`): the newest
 * handshake first, peers that never completed a handshake last. glibc's qsort is a merge sort
 * for such arrays, so peers that compare equal keep the order the device reported them in; a
 * JavaScript sort is stable as well.
 */
import type { PeerInfo } from '../types.js';

/** The handshake in milliseconds, or null for never (no handshake, or the zero time). */
function handshakeMs(peer: PeerInfo): number | null {
  const t = peer.lastHandshake;
  if (t === null) return null;
  const ms = t.getTime();
  return ms === 0 ? null : ms;
}

/** show.c `peer_cmp`: negative when `a` comes first. */
export function compareByHandshake(a: PeerInfo, b: PeerInfo): number {
  const ta = handshakeMs(a);
  const tb = handshakeMs(b);
  if (ta === null && tb !== null) return 1;
  if (tb === null && ta !== null) return -1;
  if (ta === null || tb === null) return 0;
  if (ta < tb) return 1;
  if (ta > tb) return -1;
  return 0;
}

/** A sorted copy, in the order `wg show` prints peers. */
export function sortPeersByHandshake(peers: readonly PeerInfo[]): PeerInfo[] {
  return [...peers].sort(compareByHandshake);
}
