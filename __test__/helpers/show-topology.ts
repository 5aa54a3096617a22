/**
 * Test helper: the devices the `wg show` tests read.
 *
 *   netns a: wgs<pid>a  key, port 51820, fwmark 0xca6c, six peers:
 *              b  PSK, endpoint 192.0.2.2:51821, keepalive 25 (set last), 10.0.0.2/32 (real)
 *              e  endpoint [2001:db8:1::2]:51822, 10.0.1.2/32 fd00:e::/64      (real, handshaken)
 *              f1 PSK, endpoint 192.0.2.2:9, six allowed IPs incl. 0.0.0.0/0   (never handshakes)
 *              f2 PSK, endpoint [2001:db8:1::2]:9, keepalive 3661             (never handshakes)
 *              f3 keepalive 65535, no endpoint, no allowed IPs                 (never handshakes)
 *              f4 endpoint [::ffff:192.0.2.2]:9, ::ffff:0:0/96 ::1.2.3.0/120   (never handshakes)
 *            wgs<pid>c  nothing configured
 *            wgs<pid>d  key and port 51830 only
 *   netns b: wgs<pid>b  peer a (same PSK); wgs<pid>e  peer a
 *
 * a and b/e are joined by a veth pair (192.0.2.1|2/24, 2001:db8:1::1|2/64). Traffic goes only
 * between the two namespaces: pings from a to b (10.0.0.2) and, about a megabyte, to e (10.0.1.2).
 * The handshake with e happens more than a second before the one with b, so the pretty output
 * lists b first. The fake peers' endpoints are b's addresses, on a port nobody listens on.
 */
import { WgLab } from './wg-lab.js';

export interface ShowTopology {
  lab: WgLab;
  nsA: string;
  nsB: string;
  /** Interface names. */
  a: string;
  b: string;
  c: string;
  d: string;
  e: string;
}

function genkey(lab: WgLab, ns: string): { priv: string; pub: string } {
  const priv = lab.mustExec(ns, ['wg', 'genkey']).trim();
  const pub = lab.mustExec(ns, ['wg', 'pubkey'], { input: `${priv}\n` }).trim();
  return { priv, pub };
}

/** Pings; a lost packet is fine (status 1), no reply at all is not. */
function ping(lab: WgLab, ns: string, args: readonly string[]): void {
  const r = lab.exec(ns, ['ping', '-q', ...args]);
  if (r.status !== 0 && !(r.status === 1 && / [1-9][0-9]* received/.test(r.stdout))) {
    throw new Error(`ping ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
}

export function buildTopology(lab: WgLab): ShowTopology {
  lab.start();
  const nsA = lab.addNamespace('a');
  const nsB = lab.addNamespace('b');
  const vethA = `wsv${lab.id}a`;
  const vethB = `wsv${lab.id}b`;
  lab.host(['ip', 'link', 'add', vethA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB]);
  for (const [ns, veth, host] of [
    [nsA, vethA, '1'],
    [nsB, vethB, '2'],
  ] as const) {
    lab.mustExec(ns, ['ip', 'addr', 'add', `192.0.2.${host}/24`, 'dev', veth]);
    lab.mustExec(ns, ['ip', 'addr', 'add', `2001:db8:1::${host}/64`, 'dev', veth, 'nodad']);
    lab.mustExec(ns, ['ip', 'link', 'set', veth, 'up']);
  }

  const t: ShowTopology = {
    lab,
    nsA,
    nsB,
    a: lab.ifname('a'),
    b: lab.ifname('b'),
    c: lab.ifname('c'),
    d: lab.ifname('d'),
    e: lab.ifname('e'),
  };
  lab.addDevice(nsA, t.a);
  lab.addDevice(nsB, t.b);
  lab.addDevice(nsB, t.e);
  lab.addDevice(nsA, t.c);
  lab.addDevice(nsA, t.d);

  const [ka, kb, kd, ke, f1, f2, f3, f4] = Array.from({ length: 8 }, () => genkey(lab, nsA));
  if (!ka || !kb || !kd || !ke || !f1 || !f2 || !f3 || !f4) throw new Error('key generation failed');
  const pskAB = lab.file('psk-ab', lab.mustExec(nsA, ['wg', 'genpsk']).trim());
  const psk1 = lab.file('psk-1', lab.mustExec(nsA, ['wg', 'genpsk']).trim());
  const psk2 = lab.file('psk-2', lab.mustExec(nsA, ['wg', 'genpsk']).trim());

  // Fake peers first, so that some of the tied peers come before the real ones in the device.
  lab.mustExec(nsA, [
    'wg', 'set', t.a, 'private-key', lab.file('ka', ka.priv), 'listen-port', '51820', 'fwmark', '0xca6c',
    'peer', f1.pub, 'preshared-key', psk1, 'endpoint', '192.0.2.2:9',
    'allowed-ips', '10.10.0.0/16,10.11.12.0/24,192.168.77.1/32,fd00:1::/64,2001:db8:abcd::/48,0.0.0.0/0',
    'peer', f2.pub, 'preshared-key', psk2, 'endpoint', '[2001:db8:1::2]:9', 'allowed-ips', 'fd00:2::1/128',
    'persistent-keepalive', '3661',
    'peer', kb.pub, 'preshared-key', pskAB, 'endpoint', '192.0.2.2:51821', 'allowed-ips', '10.0.0.2/32',
    'peer', f3.pub, 'persistent-keepalive', '65535',
    'peer', ke.pub, 'endpoint', '[2001:db8:1::2]:51822', 'allowed-ips', '10.0.1.2/32,fd00:e::/64',
    'peer', f4.pub, 'endpoint', '[::ffff:192.0.2.2]:9', 'allowed-ips', '::ffff:0:0/96,::1.2.3.0/120',
  ]);
  lab.mustExec(nsB, ['wg', 'set', t.b, 'private-key', lab.file('kb', kb.priv), 'listen-port', '51821',
    'peer', ka.pub, 'preshared-key', pskAB, 'allowed-ips', '10.0.0.1/32']);
  lab.mustExec(nsB, ['wg', 'set', t.e, 'private-key', lab.file('ke', ke.priv), 'listen-port', '51822',
    'peer', ka.pub, 'allowed-ips', '10.0.1.1/32']);
  lab.mustExec(nsA, ['wg', 'set', t.d, 'private-key', lab.file('kd', kd.priv), 'listen-port', '51830']);

  for (const [ns, dev, addrs] of [
    [nsA, t.a, ['10.0.0.1/24', '10.0.1.1/24']],
    [nsB, t.b, ['10.0.0.2/24']],
    [nsB, t.e, ['10.0.1.2/24']],
  ] as const) {
    for (const addr of addrs) lab.mustExec(ns, ['ip', 'addr', 'add', addr, 'dev', dev]);
    lab.mustExec(ns, ['ip', 'link', 'set', dev, 'up']);
  }

  // About a megabyte each way with e (so the transfer shows MiB), then, a second later, b.
  ping(lab, nsA, ['-f', '-c', '900', '-s', '1200', '-w', '8', '10.0.1.2']);
  lab.mustExec(nsA, ['sleep', '1.2']);
  ping(lab, nsA, ['-c', '3', '-i', '0.2', '-s', '300', '-w', '8', '10.0.0.2']);
  // Only now: a keepalive set earlier would have started the handshake with b at once.
  lab.mustExec(nsA, ['wg', 'set', t.a, 'peer', kb.pub, 'persistent-keepalive', '25']);
  return t;
}
