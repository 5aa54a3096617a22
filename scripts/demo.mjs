// wgkit demo: keys (cross-checked with Debian's wg) and config files.
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
