/**
 * Split-message acceptance on kernel WireGuard (runs inside the kernel guest; control-plane.md
 * §2.13, T03): changes too big for one netlink message are sent in ≤ 8 KiB pieces, and dumps
 * that span many messages are coalesced per peer. Every case is read back EXACTLY (the set of
 * CIDRs of each peer), both through the client and through Debian's wg, and wgkit's CLI prints
 * what wg prints. The device lives in a network namespace of its own, reached with the client's
 * `netns` option, so these dumps also cross namespaces.
 *
 * The namespace is deliberately not deleted: destroying a device with 10,000 peers costs one
 * RCU grace period per peer (netif_napi_del → synchronize_net), ≈ 150 s under TCG, with the
 * RTNL lock held. It dies with the guest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireGuardClient, type DeviceInfo } from '../../lib/index.js';
import { WGKIT_BIN } from '../helpers/run.js';
import { addLink, exec, randomPublicKey, sh, sortedIPs } from './helpers.js';

const ns = 'wgsplit';
const client = new WireGuardClient({ netns: ns });
const dev = 'wgsplit0';
const dir = mkdtempSync(join(tmpdir(), 'wgkit-split-'));

beforeAll(() => {
  exec(['ip', 'netns', 'add', ns]);
  addLink(dev, ns);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Peer → sorted CIDRs, from the client. */
function clientView(d: DeviceInfo): Map<string, string[]> {
  return new Map(d.peers.map((p) => [p.publicKey, sortedIPs(p.allowedIPs)]));
}

/** Peer → sorted CIDRs, from `wg show DEV allowed-ips` (Debian's wg reading the kernel). */
function wgView(): Map<string, string[]> {
  const out = sh(['wg', 'show', dev, 'allowed-ips'], { ns });
  const map = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [key, rest] = line.split('\t') as [string, string];
    map.set(key, rest === '(none)' ? [] : sortedIPs(rest.split(' ')));
  }
  return map;
}

/** wgkit and wg print the same bytes (and status) for `args`. */
function expectSameCli(args: string[]): string {
  const theirs = exec(['wg', ...args], { ns });
  const ours = exec([process.execPath, WGKIT_BIN, ...args], { ns });
  expect(theirs.status, theirs.stderr).toBe(0);
  expect({ status: ours.status, stderr: ours.stderr }).toEqual({ status: 0, stderr: '' });
  // One assertion over the whole text, but a short diff: compare lengths and the first difference.
  if (ours.stdout !== theirs.stdout) {
    let i = 0;
    while (ours.stdout[i] === theirs.stdout[i]) i++;
    expect(ours.stdout.slice(Math.max(0, i - 200), i + 200)).toBe(theirs.stdout.slice(Math.max(0, i - 200), i + 200));
    expect(ours.stdout.length).toBe(theirs.stdout.length);
  }
  return theirs.stdout;
}

const hex = (n: number) => n.toString(16);

/**
 * Two views (peer → sorted CIDRs) are equal, in peer order too when `ordered`. Compared as
 * text lines and reported as missing/extra lines (deep equality of 130,560-element arrays is
 * too slow under TCG, and its diff unreadable).
 */
function expectSameView(got: Map<string, string[]>, want: Map<string, string[]>, ordered = false): void {
  const lines = (m: Map<string, string[]>) => [...m].map(([k, ips]) => `${k} ${ips.join(' ')}`);
  const [g, w] = [lines(got), lines(want)];
  if (!ordered) {
    g.sort();
    w.sort();
  }
  if (g.join('\n') === w.join('\n')) return;
  const [gs, ws] = [new Set(g), new Set(w)];
  const short = (l: string) => (l.length > 300 ? `${l.slice(0, 300)}… (${l.split(' ').length - 1} CIDRs)` : l);
  expect({
    peers: got.size,
    missing: w.filter((l) => !gs.has(l)).slice(0, 5).map(short),
    extra: g.filter((l) => !ws.has(l)).slice(0, 5).map(short),
    firstDifference: g.findIndex((l, i) => l !== w[i]),
  }).toEqual({ peers: want.size, missing: [], extra: [], firstDifference: -1 });
}

describe('split messages on a kernel device', () => {
  it('one peer with 130,560 allowed IPs (255×256 a.b.0.0/16 and a::b/128)', async () => {
    const ips: string[] = [];
    for (let a = 1; a <= 255; a++) {
      for (let b = 0; b <= 255; b++) ips.push(`${a}.${b}.0.0/16`, b === 0 ? `${hex(a)}::/128` : `${hex(a)}::${hex(b)}/128`);
    }
    expect(ips).toHaveLength(130_560);
    const peer = randomPublicKey();
    await client.configure(dev, { replacePeers: true, peers: [{ publicKey: peer, allowedIPs: ips }] });
    const want = new Map([[peer, sortedIPs(ips)]]);
    const d = await client.device(dev);
    expect(d.peers).toHaveLength(1);
    expect(d.peers[0]!.allowedIPs).toHaveLength(130_560);
    expectSameView(clientView(d), want);
    expectSameView(wgView(), want);
    expectSameCli(['show', dev, 'allowed-ips']);
  });

  it('40 peers × 52 IPs (set with wg setconf, read by the client; 53 tokens a line)', async () => {
    const peers = Array.from({ length: 40 }, (_, i) => ({
      key: randomPublicKey(),
      ips: Array.from({ length: 52 }, (_, j) => (j % 2 === 0 ? `10.${i}.${j}.0/24` : `fd00:${hex(i + 1)}::${hex(j)}/128`)),
    }));
    const conf = join(dir, '40x52.conf');
    writeFileSync(conf, `[Interface]\n${peers.map((p) => `\n[Peer]\nPublicKey = ${p.key}\nAllowedIPs = ${p.ips.join(', ')}\n`).join('')}`);
    sh(['wg', 'setconf', dev, conf], { ns });
    const d = await client.device(dev);
    expectSameView(clientView(d), new Map(peers.map((p) => [p.key, sortedIPs(p.ips)])), true);
    const out = expectSameCli(['show', dev, 'allowed-ips']);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(40);
    for (const line of lines) expect(line.split(/[\t ]/)).toHaveLength(53);
  });

  it('29 peers without IPs and one with 2 (showconf works)', async () => {
    const empty = Array.from({ length: 29 }, randomPublicKey);
    const last = randomPublicKey();
    await client.setConf(
      dev,
      `[Interface]\nListenPort = 41029\n${empty.map((k) => `\n[Peer]\nPublicKey = ${k}\n`).join('')}\n[Peer]\nPublicKey = ${last}\nAllowedIPs = 10.29.0.0/16, fd29::/64\n`,
    );
    const d = await client.device(dev);
    expect(d.peers.map((p) => p.publicKey)).toEqual([...empty, last]);
    expectSameView(clientView(d), new Map([...empty.map((k) => [k, []] as [string, string[]]), [last, ['10.29.0.0/16', 'fd29::/64']]]), true);
    const conf = expectSameCli(['showconf', dev]);
    expect(conf.match(/^\[Peer\]$/gm)).toHaveLength(30);
    expect(conf).toContain(`PublicKey = ${last}\nAllowedIPs = 10.29.0.0/16, fd29::/64\n`);
    expectSameView(wgView(), clientView(d), true);
  });

  it('10,000 peers with 2 IPs each', async () => {
    const peers = Array.from({ length: 10_000 }, (_, i) => ({
      publicKey: randomPublicKey(),
      allowedIPs: [`10.${i >> 8}.${i & 255}.0/24`, `fd00:1:${hex(i + 1)}::/48`],
    }));
    await client.configure(dev, { replacePeers: true, peers });
    const d = await client.device(dev);
    // The kernel keeps peers in the order they were added.
    const want = new Map(peers.map((p) => [p.publicKey, sortedIPs(p.allowedIPs)]));
    expectSameView(clientView(d), want, true);
    expectSameView(wgView(), want, true);
    expectSameCli(['showconf', dev]);
  });
});
