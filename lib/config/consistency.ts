/**
 * Checks that look at several peers at once: the same public key twice, or a peer that is the
 * interface itself. Both are warnings, because wg accepts them (the device merges the first and
 * ignores the second).
 */
import { Key } from '../keys.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';

/**
 * `publicKeys[i]` is peer i's valid public key, or undefined when it has none; `locate(i)`
 * reports at that peer's public key.
 */
export function checkPeerKeys(
  privateKey: string | undefined,
  publicKeys: readonly (string | undefined)[],
  locate: (peer: number) => Report,
): void {
  const own = privateKey === undefined ? undefined : ownPublicKey(privateKey);
  const firstIndex = new Map<string, number>();
  publicKeys.forEach((key, i) => {
    if (key === undefined) return;
    const first = firstIndex.get(key);
    if (first === undefined) firstIndex.set(key, i);
    else locate(i)(Codes.DUPLICATE_PEER, `Peer \`${key}' is listed more than once; the device merges the entries`, 'warning');
    if (key === own) {
      locate(i)(Codes.PEER_IS_SELF, `Peer \`${key}' has the interface's own public key; the kernel ignores it`, 'warning');
    }
  });
}

function ownPublicKey(privateKey: string): string | undefined {
  try {
    return Key.fromBase64(privateKey, 'private').publicKey().toBase64();
  } catch {
    return undefined;
  }
}
