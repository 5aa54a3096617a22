import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, KeyFormatError, PermissionDeniedError, SystemError, WgkitError } from '../lib/errors.js';
import { Key } from '../lib/keys.js';
import { ensurePrivateKeyFile, resolveKeys } from '../lib/interface/index.js';
import type { InterfaceConfig } from '../lib/interface/index.js';
import { pair, psk } from './config-fixtures.js';

const SERVER = pair(110);
const PEER = pair(111).public;
const PEER2 = pair(112).public;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wgkit-key-files-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Runs `fn` and returns what it throws. */
async function thrown(fn: () => Promise<unknown>): Promise<WgkitError> {
  try {
    await fn();
  } catch (error) {
    return error as WgkitError;
  }
  throw new Error('expected an error');
}

describe('resolveKeys', () => {
  it('generates the private key file with its parent directories, 0600 in 0700', async () => {
    const keyFile = join(dir, 'a', 'b', 'wg0.key');
    const config: InterfaceConfig = { interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true, listenPort: 1 }, peers: [] };
    const resolved = await resolveKeys(config);
    expect(mode(join(dir, 'a'))).toBe(0o700);
    expect(mode(join(dir, 'a', 'b'))).toBe(0o700);
    expect(mode(keyFile)).toBe(0o600);
    const text = readFileSync(keyFile, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(resolved).toEqual({ interface: { privateKey: text.trim(), listenPort: 1 }, peers: [] });
    // No temporary file is left behind.
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['wg0.key']);
    // The input is not changed.
    expect(config.interface.privateKeyFile).toBe(keyFile);
    expect(config.interface.privateKey).toBeUndefined();
  });

  it('a second call keeps the same key', async () => {
    const keyFile = join(dir, 'wg0.key');
    const config: InterfaceConfig = { interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] };
    const first = await resolveKeys(config);
    const second = await resolveKeys(config);
    expect(first.interface.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(second.interface.privateKey).toBe(first.interface.privateKey);
  });

  it('concurrent calls agree on one key', async () => {
    const keyFile = join(dir, 'new', 'wg0.key');
    const config: InterfaceConfig = { interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] };
    const results = await Promise.all(Array.from({ length: 8 }, () => resolveKeys(config)));
    const keys = new Set(results.map((r) => r.interface.privateKey));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toBe(readFileSync(keyFile, 'utf8').trim());
    expect(readdirSync(join(dir, 'new'))).toEqual(['wg0.key']);
  });

  it('never overwrites an existing key file, and keeps the modes of existing directories', async () => {
    const keyFile = join(dir, 'wg0.key');
    writeFileSync(keyFile, `${SERVER.private}\n`, { mode: 0o640 });
    chmodSync(dir, 0o755);
    const resolved = await resolveKeys({ interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] });
    expect(resolved.interface.privateKey).toBe(SERVER.private);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${SERVER.private}\n`);
    expect(mode(keyFile)).toBe(0o640);
    expect(mode(dir)).toBe(0o755);
  });

  it('does not overwrite an existing file that is not a key', async () => {
    const keyFile = join(dir, 'wg0.key');
    writeFileSync(keyFile, 'garbage\n');
    const error = await thrown(() => resolveKeys({ interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] }));
    expect(error).toBeInstanceOf(KeyFormatError);
    expect(error.code).toBe('ERR_WGKIT_INVALID_KEY_FILE');
    expect(error.field).toBe('interface.privateKeyFile');
    expect(error.message).toBe(`The private key file \`${keyFile}' is not a key file: Invalid length key in key file`);
    expect(readFileSync(keyFile, 'utf8')).toBe('garbage\n');
  });

  it('reads the private key file and the preshared key files as wg reads them', async () => {
    const keyFile = join(dir, 'wg0.key');
    const pskFile = join(dir, 'peer.psk');
    writeFileSync(keyFile, `${SERVER.private}\n\n  \t\n`);
    writeFileSync(pskFile, psk(6));
    const config: InterfaceConfig = {
      interface: { privateKeyFile: keyFile, address: ['10.0.0.1/24'] },
      peers: [
        { publicKey: PEER, presharedKeyFile: pskFile, allowedIPs: ['10.0.0.2/32'] },
        { publicKey: PEER2, presharedKey: psk(7) },
      ],
    };
    expect(await resolveKeys(config)).toEqual({
      interface: { privateKey: SERVER.private, address: ['10.0.0.1/24'] },
      peers: [
        { publicKey: PEER, presharedKey: psk(6), allowedIPs: ['10.0.0.2/32'] },
        { publicKey: PEER2, presharedKey: psk(7) },
      ],
    });
  });

  it('an empty key file is the zero key: no key', async () => {
    const pskFile = join(dir, 'empty.psk');
    writeFileSync(pskFile, '');
    const resolved = await resolveKeys({ interface: {}, peers: [{ publicKey: PEER, presharedKeyFile: pskFile }] });
    expect(resolved.peers).toEqual([{ publicKey: PEER }]);
  });

  it('a missing key file is a SystemError with ENOENT naming the file', async () => {
    const keyFile = join(dir, 'missing.key');
    const error = await thrown(() => resolveKeys({ interface: { privateKeyFile: keyFile }, peers: [] }));
    expect(error).toBeInstanceOf(SystemError);
    expect(error.code).toBe('ERR_WGKIT_SYSTEM');
    expect(error.errno).toBe('ENOENT');
    expect(error.field).toBe('interface.privateKeyFile');
    expect(error.message).toBe(`Cannot read the private key file \`${keyFile}': ENOENT`);
    expect(existsSync(keyFile)).toBe(false);
  });

  it('with generate: false, a missing file is not created', async () => {
    const keyFile = join(dir, 'missing.key');
    const config: InterfaceConfig = { interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] };
    const error = await thrown(() => resolveKeys(config, { generate: false }));
    expect(error.errno).toBe('ENOENT');
    expect(existsSync(keyFile)).toBe(false);
  });

  it('names the peer of a missing preshared key file', async () => {
    const pskFile = join(dir, 'none.psk');
    const error = await thrown(() =>
      resolveKeys({ interface: {}, peers: [{ publicKey: PEER }, { publicKey: PEER2, presharedKeyFile: pskFile }] }),
    );
    expect(error).toBeInstanceOf(SystemError);
    expect(error.errno).toBe('ENOENT');
    expect(error.field).toBe('peers[1].presharedKeyFile');
    expect(error.message).toBe(`Cannot read the preshared key file \`${pskFile}': ENOENT`);
  });

  it('a directory instead of a key file is EISDIR', async () => {
    const error = await thrown(() => resolveKeys({ interface: { privateKeyFile: dir }, peers: [] }));
    expect(error).toBeInstanceOf(SystemError);
    expect(error.errno).toBe('EISDIR');
  });

  it('a key file that cannot be created (parent is a file) is an error naming the file', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    const keyFile = join(dir, 'file', 'wg0.key');
    const error = await thrown(() => resolveKeys({ interface: { privateKeyFile: keyFile, generatePrivateKeyFile: true }, peers: [] }));
    expect(error).toBeInstanceOf(SystemError);
    expect(error.errno).toBe('ENOTDIR');
    expect(error.message).toContain(keyFile);
  });

  it('never shows key material in an error message or in util.inspect', async () => {
    const keyFile = join(dir, 'wg0.key');
    const pskFile = join(dir, 'peer.psk');
    // A valid key followed by junk: the file is rejected; the key must not leak.
    writeFileSync(keyFile, `${SERVER.private}junk\n`);
    writeFileSync(pskFile, `${psk(5).slice(0, 30)}\n`);
    for (const config of [
      { interface: { privateKeyFile: keyFile }, peers: [] },
      { interface: {}, peers: [{ publicKey: PEER, presharedKeyFile: pskFile }] },
    ] satisfies InterfaceConfig[]) {
      const error = await thrown(() => resolveKeys(config));
      expect(error).toBeInstanceOf(KeyFormatError);
      const shown = `${error.message}\n${inspect(error, { depth: 10, showHidden: true })}\n${String(error.stack)}`;
      expect(shown).not.toContain(SERVER.private.slice(0, 16));
      expect(shown).not.toContain(psk(5).slice(0, 16));
    }
  });

  it('validates the configuration first', async () => {
    await expect(resolveKeys({ interface: { privateKeyFile: 'relative.key' }, peers: [] })).rejects.toBeInstanceOf(ConfigError);
    await expect(
      resolveKeys({ interface: { privateKey: SERVER.private, privateKeyFile: join(dir, 'k') }, peers: [] }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('ensurePrivateKeyFile', () => {
  it('returns the key of a new file as a secret Key', async () => {
    const keyFile = join(dir, 'k');
    const key = await ensurePrivateKeyFile(keyFile);
    expect(key).toBeInstanceOf(Key);
    expect(key.isSecret).toBe(true);
    expect(key.toBase64()).toBe(readFileSync(keyFile, 'utf8').trim());
    expect(inspect(key)).not.toContain(key.toBase64());
    expect((await ensurePrivateKeyFile(keyFile)).equals(key)).toBe(true);
  });

  it('works when the directory exists', async () => {
    mkdirSync(join(dir, 'exists'), { mode: 0o750 });
    await ensurePrivateKeyFile(join(dir, 'exists', 'k'));
    expect(mode(join(dir, 'exists'))).toBe(0o750);
    expect(mode(join(dir, 'exists', 'k'))).toBe(0o600);
  });
});
