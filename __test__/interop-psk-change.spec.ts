// A preshared key set on a running tunnel between wgkit and wireguard-go, as the kernel does
// it: the current session stays (traffic goes on, no new handshake), and the next handshake
// mixes in the new key. wgkit in namespace A initiates the first session; then wireguard-go
// (in B) is restarted to force a handshake from its side: without the new key it cannot
// complete it against wgkit, with it it can.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain, peerUp, sleep, vethSides } from './helpers/interop.js';
import { Cleanup, run } from './helpers/netns.js';

describe('wgkit ↔ wireguard-go: a preshared key set on a running tunnel', () => {
  it(
    'keeps the session, and the next handshake uses the new key',
    async () => {
      const cleanup = new Cleanup();
      try {
        const { nsA, nsB, dir, side } = vethSides(cleanup, 'wgpr', 72);
        const w = side('wgkit', nsA, 1);
        const g = side('wireguard-go', nsB, 2);
        peerUp(w, g);
        w.settings = { endpoint: 4 };
        await w.start();
        await g.start();
        await w.apply();
        await g.apply();
        const first = await w.ping(g, 4, 2, 5);
        expect(first.code, explain(first)).toBe(0);
        // Each side's own latest-handshake second of the session.
        const session = await w.handshakeOf(g.keys.pub);
        const sessionAtG = await g.handshakeOf(w.keys.pub);
        expect(session).toBeGreaterThan(0);
        expect(sessionAtG).toBeGreaterThan(0);
        // A handshake from here on would show as a later latest-handshake second.
        await sleep(1100);

        // The same new key on both sides, set with `wg set` while the session runs.
        const psk = run('wg', ['genpsk']).trim();
        const pskFile = join(dir, 'psk');
        writeFileSync(pskFile, `${psk}\n`, { mode: 0o600 });
        await w.mustWg(`set ${w.ifname} peer ${g.keys.pub} preshared-key ${pskFile}`);
        await g.mustWg(`set ${g.ifname} peer ${w.keys.pub} preshared-key ${pskFile}`);
        expect((await w.mustWg(`show ${w.ifname} preshared-keys`)).trim()).toBe(`${g.keys.pub}\t${psk}`);
        // The session carries on: traffic both ways, and no new handshake.
        for (const [from, to] of [
          [w, g],
          [g, w],
        ] as const) {
          const p = await from.ping(to, 4, 3, 2);
          expect(p.code, `${from.label} -> ${to.label} after the key change\n${explain(p)}`).toBe(0);
        }
        expect(await w.handshakeOf(g.keys.pub)).toBe(session);
        expect(await g.handshakeOf(w.keys.pub)).toBe(sessionAtG);

        // wireguard-go restarted without the new key initiates: wgkit answers with the new
        // key, so wireguard-go cannot complete the handshake and nothing gets through.
        g.settings = { endpoint: 4 };
        await g.restart();
        const refused = await g.ping(w, 4, 2, 2);
        expect(refused.code, `a handshake without the new key went through\n${explain(refused)}`).not.toBe(0);
        expect(await g.handshakeOf(w.keys.pub)).toBe(0);
        // With the new key it completes at once.
        g.settings = { endpoint: 4, presharedKey: psk };
        await g.restart();
        const accepted = await g.ping(w, 4, 2, 5);
        expect(accepted.code, `the new key's handshake failed\n${explain(accepted)}\n${w.log}`).toBe(0);
        expect(await g.handshakeOf(w.keys.pub)).toBeGreaterThan(0);
        expect(await w.handshakeOf(g.keys.pub)).toBeGreaterThan(session);
      } finally {
        await cleanup.run();
      }
    },
    60_000,
  );
});
