// Writes a wg(8) config for the scale benchmark: N peers, each with an endpoint, a persistent
// keepalive and two allowed IPs (an IPv4 /32 and an IPv6 /128), every third with a preshared key;
// the interface has a private key. Keys are derived from a counter (fast for 1M peers; wg only
// needs 32 bytes, not valid curve points chosen at random).
// Usage: node gen-scale-peers.mjs N OUT.conf [EMPTY.conf]
import { createHash, generateKeyPairSync } from 'node:crypto';
import { openSync, writeSync, closeSync, writeFileSync } from 'node:fs';

const [n, out, empty] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
if (!Number.isInteger(n) || n < 0 || n > 1 << 24 || !out) {
  console.error('usage: node gen-scale-peers.mjs N OUT.conf [EMPTY.conf]');
  process.exit(2);
}
const priv = generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
const seed = createHash('sha256').update(`${process.pid}-${Date.now()}`).digest();
const key = (i, tag) => createHash('sha256').update(seed).update(`${tag}${i}`).digest('base64');
const head = ['[Interface]', `PrivateKey = ${priv}`, 'ListenPort = 51998', ''].join('\n') + '\n';
const fd = openSync(out, 'w', 0o600);
writeSync(fd, head);
let chunk = [];
for (let i = 0; i < n; i++) {
  const v4 = `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
  const port = 1024 + (i % 60000);
  chunk.push('[Peer]', `PublicKey = ${key(i, 'p')}`);
  if (i % 3 === 0) chunk.push(`PresharedKey = ${key(i, 's')}`);
  chunk.push(
    `AllowedIPs = ${v4}, fd00:5ca1::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128`,
    `Endpoint = 192.0.2.${1 + (i % 250)}:${port}`,
    'PersistentKeepalive = 25',
    '',
  );
  if (chunk.length > 60000) {
    writeSync(fd, chunk.join('\n') + '\n');
    chunk = [];
  }
}
if (chunk.length) writeSync(fd, chunk.join('\n') + '\n');
closeSync(fd);
if (empty) writeFileSync(empty, head, { mode: 0o600 });
