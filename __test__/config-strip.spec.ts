import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWgConfig, parseWgQuickConfig, stripWgQuickConfig, toWgConfig } from '../lib/config/index.js';
import { good, goodNames, pair } from './config-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'wgkit-strip-'));
chmodSync(dir, 0o700);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What Debian's `wg-quick strip` prints for `text` (the file must be named IFNAME.conf). */
function debianStrip(text: string): string {
  const file = join(dir, 'wgq0.conf');
  writeFileSync(file, text, { mode: 0o600 });
  return execFileSync('wg-quick', ['strip', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Inputs that exercise wg-quick's line handling (strip does not validate, so they need not be valid). */
const tricky: Record<string, string> = {
  'empty file': '',
  'only blank lines': '\n\n  \n',
  'last line without newline': '[Interface]\nListenPort = 1',
  'blank last line without newline': '[Interface]\nListenPort = 1\n   ',
  'leading and trailing whitespace': '  \t[Interface]\t \n   ListenPort = 1   \n',
  'wg-quick keys outside [Interface] stay': '[Peer]\nAddress = 10.0.0.1/24\nDNS = 1.1.1.1\n',
  'keys before any section stay': 'MTU = 1420\n[Interface]\nMTU = 1420\n',
  'a spaced header is not [Interface] for wg-quick': '[ Interface ]\nAddress = 10.0.0.1/24\n',
  'any [ header leaves the interface': '[Interface]\n[Whatever\nTable = off\n',
  'mixed case keys': '[INTERFACE]\naddress = 1.2.3.4/32\nMtU=1\npOsTdOwN = x # y\n',
  'key without =': '[Interface]\nAddress\nPreUp\n',
  'comment before =': '[Interface]\nPostUp # = x\n',
  'CRLF': '[Interface]\r\nAddress = 10.0.0.1/24\r\nListenPort = 1\r\n',
  'hash in header': '[Interface]#x\nSaveConfig = true\n',
  'tabs and vertical tabs': '[Interface]\n\vAddress = 1.2.3.4\v\n\tPrivateKey = k\t\n',
};

describe('stripWgQuickConfig', () => {
  it.each(goodNames)('equals Debian `wg-quick strip` for %s', (name) => {
    const text = good(name);
    expect(stripWgQuickConfig(text)).toBe(debianStrip(text));
  });

  it.each(Object.entries(tricky))('equals Debian `wg-quick strip` for %s', (_name, text) => {
    expect(stripWgQuickConfig(text)).toBe(debianStrip(text));
  });

  it.each(goodNames)('%s: the stripped text parses as wg(8) to the wg part of the wg-quick parse', (name) => {
    const text = good(name);
    expect(parseWgConfig(stripWgQuickConfig(text)).config).toEqual(toWgConfig(parseWgQuickConfig(text).config));
  });

  it('removes exactly the wg-quick keys of [Interface]', () => {
    const text = `[Interface]\nAddress = 10.0.0.1/24\nPrivateKey = ${pair(40).private}\nPostUp = echo a=b # c\n\n[Peer]\nPublicKey = ${pair(41).public}\n`;
    expect(stripWgQuickConfig(text)).toBe(`[Interface]\nPrivateKey = ${pair(40).private}\n\n[Peer]\nPublicKey = ${pair(41).public}\n\n`);
  });
});
