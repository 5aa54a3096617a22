// wgkit demo: keys (cross-checked with Debian's wg), config files, and a real tunnel between
// two network namespaces with an embedded wgkit device in each.
import { execFileSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import {
  formatWgConfig,
  formatWgQuickConfig,
  generatePresharedKey,
  generatePrivateKey,
  Key,
  parseWgConfig,
  parseWgQuickConfig,
  stripWgQuickConfig,
  validateConfig,
  version,
} from 'wgkit';

const step = (text) => console.log(`\n== ${text}`);

console.log(`wgkit ${version}`);

step('keys');
const priv = generatePrivateKey();
const pub = priv.publicKey();
const psk = generatePresharedKey();
console.log('private key (printed as)  ', String(priv));
console.log('public key                ', String(pub));
console.log('preshared key (inspected) ', psk);
const wgPub = execFileSync('wg', ['pubkey'], { input: `${priv.toBase64()}\n`, encoding: 'utf8' }).trim();
console.log('`wg pubkey` agrees        ', wgPub === pub.toBase64() ? 'yes' : `NO: ${wgPub}`);
try {
  Key.fromBase64('GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3l=');
} catch (error) {
  console.log('non-canonical key         ', `${error.code}: ${error.message}`);
}

step('config files: wg-quick → object → wg(8) showconf format → back');
const peer = generatePrivateKey().publicKey().toBase64();
const quick = `[Interface]
PrivateKey = ${priv.toBase64()}
Address = 10.77.0.1/24, fd77::1/64
ListenPort = 51820
DNS = 10.77.0.53, home.arpa
PostUp = echo "up %i" # a comment stays in hooks

[Peer]
PublicKey = ${peer}
AllowedIPs = 10.77.0.2/32
AllowedIPs = fd77::2/128
Endpoint = [2001:db8::2]:51820
PersistentKeepalive = 25
`;
const { config } = parseWgQuickConfig(quick);
console.log('parsed object (keys redacted here):');
console.log(JSON.stringify({ ...config, interface: { ...config.interface, privateKey: '…' } }, null, 2));
const wgText = formatWgConfig(config);
console.log('wg(8) part, in `wg showconf` format:\n' + wgText.replace(priv.toBase64(), '(hidden)'));
console.log('equals `wg-quick strip` semantics   ', parseWgConfig(stripWgQuickConfig(quick)).config.peers.length === 1 ? 'yes' : 'NO');
console.log('round trip is the identity          ', isDeepStrictEqual(parseWgQuickConfig(formatWgQuickConfig(config)).config, config) ? 'yes' : 'NO');
const problems = validateConfig({ interface: { listenPort: 70000 }, peers: [{ publicKey: 'x', allowedIPs: ['10.0.0.1/33'] }] });
console.log('validation collects every problem:');
for (const p of problems) console.log(`  ${p.code} at ${p.path}: ${p.message}`);

step('a real tunnel: two network namespaces, an embedded wgkit device in each');
const { WireGuardDevice, WireGuardClient } = await import('wgkit');
const { createHash, randomBytes } = await import('node:crypto');
const { spawn } = await import('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');

const tag = `${process.pid % 100000}`;
const nsA = `wgkit-demo-${tag}-a`;
const nsB = `wgkit-demo-${tag}-b`;
const work = mkdtempSync(join(tmpdir(), 'wgkit-demo-'));
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' });
const inNs = (ns, cmd, args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
const devices = [];
const cleanup = async () => {
  for (const d of devices) await d.close().catch(() => {});
  for (const ns of [nsA, nsB]) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // not created
    }
  }
  rmSync(work, { recursive: true, force: true });
};
process.once('SIGINT', () => cleanup().then(() => process.exit(130)));

try {
  for (const ns of [nsA, nsB]) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['link', 'add', `wdv${tag}a`, 'netns', nsA, 'type', 'veth', 'peer', 'name', `wdv${tag}b`, 'netns', nsB]);
  for (const [ns, dev, addr] of [[nsA, `wdv${tag}a`, '192.0.2.1/24'], [nsB, `wdv${tag}b`, '192.0.2.2/24']]) {
    sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  // Wait for carrier, so the first handshake is not sent into a link that is still down.
  for (let i = 0; i < 100 && !inNs(nsA, 'ip', ['-br', 'link', 'show', `wdv${tag}a`]).includes(' UP '); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`namespaces ${nsA} and ${nsB}, joined by a veth pair (192.0.2.1 ↔ 192.0.2.2)`);

  const keyA = generatePrivateKey();
  const keyB = generatePrivateKey();
  const events = [];
  const record = (who) => (name) => (e) => events.push({ device: who, event: name, ...e });
  const b = await WireGuardDevice.create(`wgdemo${tag}b`, {
    netns: nsB,
    config: { privateKey: keyB, listenPort: 51820, peers: [{ publicKey: keyA.publicKey(), allowedIPs: ['10.77.0.1/32'] }] },
  });
  devices.push(b);
  // A keeps the tunnel alive, so it sends its first handshake as soon as it is configured:
  // create it once B is listening.
  const a = await WireGuardDevice.create(`wgdemo${tag}a`, {
    netns: nsA,
    config: {
      privateKey: keyA,
      listenPort: 51820,
      peers: [{ publicKey: keyB.publicKey(), endpoint: '192.0.2.2:51820', allowedIPs: ['10.77.0.2/32'], persistentKeepalive: 25 }],
    },
  });
  devices.push(a);
  for (const [who, dev] of [['A', a], ['B', b]]) {
    for (const name of ['handshake', 'endpointChanged', 'handshakeFailed', 'peerStale', 'peerActive']) dev.on(name, record(who)(name));
  }
  for (const [ns, dev, addr] of [[nsA, a, '10.77.0.1/24'], [nsB, b, '10.77.0.2/24']]) {
    sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev.name]);
    sh('ip', ['-n', ns, 'link', 'set', dev.name, 'up']);
  }
  console.log(`devices ${a.name} (10.77.0.1) and ${b.name} (10.77.0.2) are up; UAPI sockets in /var/run/wireguard`);

  step('ping through the tunnel');
  console.log(inNs(nsA, 'ping', ['-c', '4', '-i', '0.2', '-w', '15', '10.77.0.2']).trim());

  step('TCP transfer through the tunnel, verified by checksum');
  const size = 64 << 20;
  const payload = join(work, 'payload');
  const received = join(work, 'received');
  writeFileSync(payload, randomBytes(size));
  const sent = createHash('sha256').update(readFileSync(payload)).digest('hex');
  const server = spawn('ip', ['netns', 'exec', nsB, 'socat', '-u', 'TCP-LISTEN:5201,reuseaddr', `CREATE:${received}`]);
  const serverDone = new Promise((resolve) => server.on('exit', resolve));
  await new Promise((r) => setTimeout(r, 300));
  const started = process.hrtime.bigint();
  inNs(nsA, 'socat', ['-u', `FILE:${payload}`, 'TCP:10.77.0.2:5201,retry=20,interval=0.1']);
  await serverDone;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const got = createHash('sha256').update(readFileSync(received)).digest('hex');
  console.log(`sent ${size >> 20} MiB in ${seconds.toFixed(2)} s (${((size * 8) / seconds / 1e9).toFixed(2)} Gbit/s incl. TCP start)`);
  console.log(`sha256 sent     ${sent}`);
  console.log(`sha256 received ${got}  ${got === sent ? 'MATCH' : 'MISMATCH'}`);
  if (got !== sent) process.exitCode = 1;

  step('what Debian `wg show` sees on device A (through our UAPI socket)');
  console.log(sh('wg', ['show', a.name]).trimEnd());

  step('device A as WireGuardClient reads it, and its data-plane counters');
  const info = await new WireGuardClient().device(a.name);
  const peer = info.peers[0];
  console.log({ type: info.type, listenPort: info.listenPort, peer: { endpoint: peer.endpoint, lastHandshake: peer.lastHandshake, rxBytes: peer.rxBytes, txBytes: peer.txBytes } });
  console.log(a.stats());

  step('events seen');
  for (const e of events) console.log(`${e.device}: ${e.event}`, JSON.stringify(e, (k, v) => (typeof v === 'bigint' ? String(v) : v)));
  if (!events.some((e) => e.event === 'handshake')) {
    console.log('no handshake event seen');
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}
console.log('\ncleaned up: devices closed, namespaces deleted');
