// wgkit demo: keys, cross-checked with Debian's wg.
import { execFileSync } from 'node:child_process';
import { generatePresharedKey, generatePrivateKey, Key, version } from 'wgkit';

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
