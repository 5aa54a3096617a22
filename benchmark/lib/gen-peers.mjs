// Writes a wg(8) config with N peers, each with one IPv4 /32 and one IPv6 /128 allowed IP.
// Usage: node gen-peers.mjs N OUT.conf [EMPTY.conf]
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [n, out, empty] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const key = () => generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
const priv = generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
const lines = ['[Interface]', `PrivateKey = ${priv}`, 'ListenPort = 51999', ''];
for (let i = 0; i < n; i++) {
  const v4 = `10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
  lines.push('[Peer]', `PublicKey = ${key()}`, `AllowedIPs = ${v4}, fd00:beef::${i.toString(16)}/128`, '');
}
writeFileSync(out, lines.join('\n'));
if (empty) writeFileSync(empty, lines.slice(0, 4).join('\n'));
