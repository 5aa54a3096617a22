// Files that hold a private key (`writeKeyFile`, `writeConfigFile`) are new files of mode 0600
// renamed into place: a symlink at the path or at the old fixed `PATH.tmp` never carries the
// secret elsewhere, and a leftover `PATH.tmp` gives the result neither its mode nor its contents.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatWgQuickConfig, writeConfigFile } from '../lib/config/index.js';
import { generatePrivateKey, writeKeyFile } from '../lib/keys.js';
import { writePrivateFile } from '../lib/private-file.js';

const dir = mkdtempSync(join(tmpdir(), 'wgkit-private-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
/** A fresh directory for the file, and a file outside it that a symlink may point at. */
function setup(): { home: string; outside: string } {
  count += 1;
  const home = join(dir, `case${count}`);
  const outside = join(dir, `outside${count}`);
  mkdirSync(home, { mode: 0o700 });
  writeFileSync(outside, 'belongs to somebody else\n', { mode: 0o644 });
  return { home, outside };
}

const mode = (path: string) => statSync(path).mode & 0o777;

const writers = [
  ['writeKeyFile', async (path: string) => {
    const key = generatePrivateKey();
    await writeKeyFile(path, key);
    return `${key.toBase64()}\n`;
  }],
  ['writeConfigFile', async (path: string) => {
    const config = { interface: { privateKey: generatePrivateKey().toBase64() }, peers: [] };
    await writeConfigFile(path, config);
    return formatWgQuickConfig(config);
  }],
] as const;

describe.each(writers)('%s', (_name, write) => {
  it('replaces a symlink at the path instead of writing through it', async () => {
    const { home, outside } = setup();
    const path = join(home, 'wg0.conf');
    symlinkSync(outside, path);
    const text = await write(path);
    expect(readFileSync(outside, 'utf8')).toBe('belongs to somebody else\n');
    expect(mode(outside)).toBe(0o644);
    expect(lstatSync(path).isFile()).toBe(true);
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('never opens the old fixed PATH.tmp, a symlink there included', async () => {
    const { home, outside } = setup();
    const path = join(home, 'wg0.conf');
    symlinkSync(outside, `${path}.tmp`);
    const text = await write(path);
    expect(readFileSync(outside, 'utf8')).toBe('belongs to somebody else\n');
    expect(lstatSync(`${path}.tmp`).isSymbolicLink()).toBe(true);
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('gives the result mode 0600 whatever the old file, a leftover PATH.tmp and the umask', async () => {
    const { home } = setup();
    const path = join(home, 'wg0.conf');
    writeFileSync(path, 'old\n', { mode: 0o644 });
    writeFileSync(`${path}.tmp`, 'leftover\n', { mode: 0o644 });
    const umask = process.umask(0o277);
    let text: string;
    try {
      text = await write(path);
    } finally {
      process.umask(umask);
    }
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(readFileSync(`${path}.tmp`, 'utf8')).toBe('leftover\n');
    expect(mode(`${path}.tmp`)).toBe(0o644);
    expect(readdirSync(home).sort()).toEqual(['wg0.conf', 'wg0.conf.tmp']);
  });
});

describe('writePrivateFile', () => {
  it('fails cleanly when the path cannot be replaced, leaving no temporary file', async () => {
    const { home } = setup();
    const path = join(home, 'a-directory');
    mkdirSync(path);
    writeFileSync(join(home, 'unrelated'), 'x');
    await expect(writePrivateFile(path, 'secret\n')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(home).sort()).toEqual(['a-directory', 'unrelated']);
    expect(readdirSync(path)).toEqual([]);
  });

  it('fails with ENOENT in a missing directory', async () => {
    await expect(writePrivateFile(join(dir, 'missing', 'wg0.conf'), 'secret\n')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
