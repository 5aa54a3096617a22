// A host's private key moves between wgkit and wireguard-go while its peer keeps running: the
// first device handshakes with the peer and stops, the other starts with the same key, port
// and addresses, and the peer must take its first initiation at once. It does when both stamp
// initiations as the kernel and wireguard-go do (TAI64N from 2^62 + 10 s, nanoseconds whitened
// to 2^24 ns); with boringtun's 37 s offset, a peer that had seen wgkit refused wireguard-go's
// initiations as replays for 27 s. Each peer kind checks the timestamps itself (wireguard-go's
// `After`, wgkit's boringtun), so both are tried. Two namespaces: the host in A, the peer in B.
import { describe, expect, it } from 'vitest';
import { explain, peerUp, vethSides, type Kind } from './helpers/interop.js';
import { Cleanup } from './helpers/netns.js';

/** Within this the peer must answer the moved key: one initiation retry (5 s) and some slack. */
const AT_ONCE_MS = 8_000;

const moves: [Kind, Kind, Kind][] = [
  ['wgkit', 'wireguard-go', 'wireguard-go'],
  ['wireguard-go', 'wgkit', 'wireguard-go'],
  ['wgkit', 'wireguard-go', 'wgkit'],
  ['wireguard-go', 'wgkit', 'wgkit'],
];

describe.each(moves)('a private key moves from %s to %s, the peer is %s', (from, to, peerKind) => {
  it(
    'the peer takes the new device\'s first initiation at once',
    async () => {
      const cleanup = new Cleanup();
      try {
        const { nsA, nsB, side } = vethSides(cleanup, 'wgpr', 71);
        const first = side(from, nsA, 1);
        const peer = side(peerKind, nsB, 2);
        peerUp(first, peer);
        first.settings = { endpoint: 4 };
        await first.start();
        await peer.start();
        await first.apply();
        await peer.apply();
        const before = await first.ping(peer, 4, 1, 5);
        expect(before.code, `${first.label} -> ${peer.label}\n${explain(before)}`).toBe(0);
        expect(await peer.handshakeOf(first.keys.pub)).toBeGreaterThan(0);

        await first.stop();
        const second = side(to, nsA, 1);
        second.keys = first.keys;
        peerUp(second, peer);
        second.settings = { endpoint: 4 };
        await second.start();
        await second.apply();
        const started = Date.now();
        let last = await second.ping(peer, 4, 1, 1);
        while (last.code !== 0 && Date.now() - started < 3 * AT_ONCE_MS) last = await second.ping(peer, 4, 1, 1);
        const took = Date.now() - started;
        expect(last.code, `${second.label} -> ${peer.label} after the move\n${explain(last)}\n${peer.log}`).toBe(0);
        expect(took, `the peer answered the moved key only after ${took} ms`).toBeLessThan(AT_ONCE_MS);
        expect(await second.handshakeOf(peer.keys.pub)).toBeGreaterThan(0);
      } finally {
        await cleanup.run();
      }
    },
    60_000,
  );
});
