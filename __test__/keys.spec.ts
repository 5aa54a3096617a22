import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  generatePresharedKey,
  generatePrivateKey,
  Key,
  KeyFormatError,
  publicKey,
  readKeyFile,
  writeKeyFile,
} from '../lib/index.js';
import { isPublicKeyBase64 } from '../lib/key-base64.js';

const PRIV = 'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=';
const PUB = 'aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=';

const dir = mkdtempSync(join(tmpdir(), 'wgkit-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keys', () => {
  it('derives the known public key', () => {
    expect(publicKey(PRIV).toBase64()).toBe(PUB);
    expect(Key.fromBase64(PRIV, 'private').publicKey().toString()).toBe(PUB);
  });

  it('matches `wg pubkey` for 1,000 random keys', () => {
    const keys = Array.from({ length: 1000 }, () => generatePrivateKey());
    const input = keys.map((k) => k.toBase64()).join('\n') + '\n';
    const out = execFileSync('bash', ['-c', 'while read -r k; do printf "%s\\n" "$k" | wg pubkey || exit 1; done'], {
      input,
      encoding: 'utf8',
    });
    const expected = out.trim().split('\n');
    expect(expected).toHaveLength(1000);
    keys.forEach((k, i) => expect(k.publicKey().toBase64()).toBe(expected[i]));
  });

  it('accepts keys made by `wg genkey` and `wg genpsk`', () => {
    for (let i = 0; i < 20; i++) {
      const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
      const pub = execFileSync('wg', ['pubkey'], { input: priv + '\n', encoding: 'utf8' }).trim();
      expect(publicKey(priv).toBase64()).toBe(pub);
      const psk = execFileSync('wg', ['genpsk'], { encoding: 'utf8' }).trim();
      expect(Key.fromBase64(psk, 'preshared').toBase64()).toBe(psk);
    }
  });

  it('rejects non-canonical and malformed base64 with wg message and a stable code', () => {
    const bad = [
      'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3l=', // nonzero padding bits
      PRIV.slice(0, 43),
      PRIV + '=',
      PRIV.slice(0, 43) + 'A',
      '',
      'GHuMwljFfqd2a7cs6BaUOmHf-K23zME8VNvC5B37S3k=',
      ' ' + PRIV.slice(1),
    ];
    for (const text of bad) {
      let err: unknown;
      try {
        Key.fromBase64(text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(KeyFormatError);
      expect((err as KeyFormatError).code).toBe(ErrorCodes.INVALID_KEY);
      expect((err as Error).message).toBe('Key is not the correct length or format');
    }
  });

  it('checks public keys in JavaScript exactly as Key.fromBase64 parses them', () => {
    const accepts = (text: string) => {
      try {
        Key.fromBase64(text);
        return true;
      } catch {
        return false;
      }
    };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \u00e9';
    const texts = ['', '=', PRIV, PUB, PRIV.slice(0, 43), PRIV + '=', 'A'.repeat(43) + '=', 'A'.repeat(44)];
    for (let i = 0; i < 2000; i++) {
      const key = generatePrivateKey().toBase64().split('');
      // Each character of the alphabet at each position, in turn: every last-character value too.
      key[i % 44] = alphabet[Math.floor(i / 44) % alphabet.length] as string;
      texts.push(key.join(''));
    }
    let valid = 0;
    for (const text of texts) {
      expect(isPublicKeyBase64(text), JSON.stringify(text)).toBe(accepts(text));
      if (accepts(text)) valid++;
    }
    expect(valid).toBeGreaterThan(1000);
    expect(texts.length - valid).toBeGreaterThan(50);
  });

  it('reads hex in either case and writes lower case', () => {
    const k = Key.fromBase64(PRIV);
    const hex = k.toHex();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(Key.fromHex(hex.toUpperCase()).equals(k)).toBe(true);
    expect(() => Key.fromHex('zz'.repeat(32))).toThrow(KeyFormatError);
    expect(Buffer.from(hex, 'hex').equals(k.toBytes())).toBe(true);
  });

  it('generates clamped private keys and distinct preshared keys', () => {
    const k = generatePrivateKey().toBytes();
    expect(k[0]! & 7).toBe(0);
    expect(k[31]! & 0xc0).toBe(0x40);
    expect(generatePresharedKey().equals(generatePresharedKey())).toBe(false);
  });

  it('compares keys and tests for the zero key', () => {
    expect(Key.fromBase64(PRIV).equals(PRIV)).toBe(true);
    expect(Key.fromBase64(PRIV).equals(PUB)).toBe(false);
    expect(Key.fromBase64(PRIV).equals('garbage')).toBe(false);
    expect(Key.zero().isZero()).toBe(true);
    expect(Key.fromBase64(PUB).isZero()).toBe(false);
  });

  it('never shows a secret through inspect, JSON, String or errors', () => {
    const priv = Key.fromBase64(PRIV, 'private');
    const psk = generatePresharedKey();
    for (const k of [priv, psk]) {
      const b64 = k.toBase64();
      expect(inspect(k)).not.toContain(b64);
      expect(inspect({ nested: { k } }, { depth: 10 })).not.toContain(b64);
      expect(JSON.stringify({ k })).toBe('{"k":"(hidden)"}');
      expect(String(k)).toBe('(hidden)');
      expect(`${k}`).not.toContain(b64);
    }
    expect(String(priv.publicKey())).toBe(PUB);
    // A malformed secret is not echoed back.
    try {
      Key.fromBase64(PRIV.slice(0, 40) + 'AAA=', 'private');
    } catch (e) {
      expect(String(e)).not.toContain(PRIV.slice(0, 40));
    }
  });

  it('reads key files as wg does', async () => {
    const path = join(dir, 'k');
    writeFileSync(path, PRIV + '\n\n  \t');
    expect((await readKeyFile(path)).toBase64()).toBe(PRIV);
    writeFileSync(path, '');
    expect((await readKeyFile(path)).isZero()).toBe(true);
    writeFileSync(path, 'short');
    await expect(readKeyFile(path)).rejects.toMatchObject({
      code: ErrorCodes.INVALID_KEY_FILE,
      message: 'Invalid length key in key file',
    });
    writeFileSync(path, PRIV + '\nX');
    await expect(readKeyFile(path)).rejects.toMatchObject({
      code: ErrorCodes.INVALID_KEY_FILE,
      message: "Found trailing character in key file: `X'",
    });
    expect((await readKeyFile('/dev/null')).isZero()).toBe(true);
  });

  it('writes key files with mode 0600, also over an existing file', async () => {
    const path = join(dir, 'out.key');
    writeFileSync(path, 'old', { mode: 0o644 });
    const k = generatePrivateKey();
    await writeKeyFile(path, k);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(k.toBase64() + '\n');
    expect((await readKeyFile(path)).equals(k)).toBe(true);
  });
});
