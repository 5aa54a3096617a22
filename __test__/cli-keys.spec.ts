import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { version } from '../lib/index.js';
import { asWg, sh, wg, wgkit, WGKIT_BIN } from './helpers/run.js';
import { readFileSync } from 'node:fs';

const PRIV = 'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=';
const dir = mkdtempSync(join(tmpdir(), 'wgkit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wgkit genkey / genpsk / pubkey', () => {
  it('genkey and genpsk print keys that wg accepts', () => {
    for (const cmd of ['genkey', 'genpsk']) {
      const r = wgkit(cmd);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\n$/);
      const viaWg = wg('pubkey', { input: r.stdout });
      expect(viaWg.code).toBe(0);
    }
  });

  it('pubkey agrees with wg pubkey', () => {
    const priv = wgkit('genkey').stdout;
    expect(wgkit('pubkey', { input: priv })).toEqual(wg('pubkey', { input: priv }));
    expect(wgkit('pubkey', { input: PRIV }).stdout).toBe('aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=\n');
  });

  it.each([
    ['empty input', ''],
    ['short input', 'abc\n'],
    ['non-canonical key', 'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3l=\n'],
    ['trailing characters', `${PRIV}\nx`],
    ['trailing whitespace and NULs', `${PRIV} \t\r\n\0\0\n`],
    ['45 characters', `${PRIV}A`],
    ['no newline', PRIV],
    ['bad character', `${PRIV.slice(0, 10)}!${PRIV.slice(11)}\n`],
  ])('pubkey with %s behaves as wg', (_name, input) => {
    expect(asWg(wgkit('pubkey', { input }))).toEqual(wg('pubkey', { input }));
  });

  it.each(['genkey x', 'genpsk --help', 'pubkey x', 'pubkey --help'])('`%s` prints usage and exits 1 as wg', (args) => {
    expect(asWg(wgkit(args, { input: '' }))).toEqual(wg(args, { input: '' }));
  });

  it('warns when writing a key to a world-accessible file, as wg does', () => {
    for (const cmd of ['genkey', 'genpsk']) {
      const ours = sh(`umask 022; node ${WGKIT_BIN} ${cmd} > ${dir}/ours-${cmd}`);
      const theirs = sh(`umask 022; wg ${cmd} > ${dir}/theirs-${cmd}`);
      expect(ours).toEqual(theirs);
      expect(ours.stderr).toBe('Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n');
      const quiet = sh(`umask 077; node ${WGKIT_BIN} ${cmd} > ${dir}/quiet-${cmd}`);
      expect(quiet.stderr).toBe('');
      expect(statSync(`${dir}/quiet-${cmd}`).mode & 0o777).toBe(0o600);
      expect(readFileSync(`${dir}/quiet-${cmd}`, 'utf8')).toMatch(/^.{43}=\n$/);
    }
  });

  it('--help, -h and help print usage; unknown subcommands fail as in wg', () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = wgkit(flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: wgkit <cmd> \[<args>\]\n\nAvailable subcommands:\n/);
      expect(r.stdout).toContain('  genkey: Generates a new private key and writes it to stdout\n');
      expect(r.stdout.endsWith("You may pass `--help' to any of these subcommands to view usage.\n")).toBe(true);
    }
    // Every line we print is one wg prints too.
    const wgLines = new Set(wg('--help').stdout.split('\n'));
    for (const line of asWg(wgkit('--help')).stdout.split('\n')) expect(wgLines.has(line), line).toBe(true);
    const bad = asWg(wgkit('bogus'));
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')[0]).toBe(wg('bogus').stderr.split('\n')[0]);
  });

  it('--version, -v and version print the package version', () => {
    for (const flag of ['--version', '-v', 'version']) {
      const r = wgkit(flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`wgkit v${version} - WireGuard for Node.js (wg(8) compatible)\n`);
    }
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(version).toBe(pkg.version);
  });
});
