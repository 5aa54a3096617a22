/**
 * Differential tests against Debian's `wg`: `wg set` parses its arguments with the same
 * functions as `wg setconf` (config.c) before it looks for the device, so whether it gets as
 * far as "Unable to modify interface" tells whether wg accepted a value.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { parseWgConfig } from '../lib/config/index.js';
import { pair } from './config-fixtures.js';

const PUB = pair(80).public;

function wgAccepts(args: string[]): boolean {
  try {
    execFileSync('wg', ['set', 'wgkit-nodev0', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return true;
  } catch (error) {
    return String((error as { stderr: string }).stderr).includes('Unable to modify interface');
  }
}

function weAccept(text: string): boolean {
  try {
    parseWgConfig(text);
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return false;
    throw error;
  }
}

// Debian's wg (2021) predates the +/- prefixes, so they are left out here.
const allowedIPs = [
  '1.2.3.4', '01.2.3.4', '1.2.3', '1.2.3.4.5', '255.255.255.255', '256.1.1.1', '1.2.3.-4', '0x1.2.3.4', '1..2.3',
  '::', '::1', '1::', ':1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8::', '::ffff:1.2.3.4', '::ffff:1.2.3', '1.2.3.4::', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4',
  'fffff::', 'FFFF::', 'g::', '::1:', ':::', '1:::2', '1::2::3', 'fe80::1%eth0', '[::1]', '::01.2.3.4', '::1.2.3.04',
  '1::1.2.3.4', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789', '::0:0:0:0:0:0:0', '0:0:0:0:0:0:0::', '::0:0:0:0:0:0:0:0',
  '1.2.3.4/0', '1.2.3.4/32', '1.2.3.4/33', '1.2.3.4/032', '1.2.3.4/+1', '1.2.3.4/-1', '1.2.3.4/1a', '1.2.3.4/',
  '::/128', '::/129', '::/0128', '1.2.3.4//1', '1.2.3.4/1/2', '1.2.3.4/99999999999999999999999', 'a.b.c.d', '',
];

const fwmarks = [
  'off', 'OFF', 'Off', '0', '00', '0x0', '0x', '0X1', '0x1g', '4294967295', '4294967296', '0xffffffff', '0x100000000',
  '0xFFFFFFFF', '-1', '+1', '1e3', '0x0x1', '99999999999999999999999', '0x00000000000000001', 'x1', 'of',
];

const keepalives = ['off', 'OFF', '0', '1', '65535', '65536', '-1', '+1', '1.5', '0x10', '007', 'offf', '99999999999999999999'];

const key = pair(81).public;
const keyStrings = [
  key,
  key.slice(0, 43),
  `${key}=`,
  `${key.slice(0, 42)}==`,
  `${key.slice(0, 42)}${String.fromCharCode(key.charCodeAt(42) ^ 1)}=`,
  `${key.slice(0, 43)}A`,
  `!${key.slice(1)}`,
  `-${key.slice(1)}`,
  `_${key.slice(1)}`,
  'A'.repeat(43) + '=',
  'B'.repeat(43) + '=',
];

describe('acceptance matches Debian wg', () => {
  it.each(allowedIPs)('AllowedIPs = %s', (value) => {
    const args = value === '' ? [] : ['allowed-ips', value];
    if (value === '') {
      // An empty AllowedIPs line is "Line unrecognized" in a file.
      expect(weAccept(`[Peer]\nPublicKey = ${PUB}\nAllowedIPs = \n`)).toBe(false);
      return;
    }
    expect(weAccept(`[Peer]\nPublicKey = ${PUB}\nAllowedIPs = ${value}\n`)).toBe(wgAccepts(['peer', PUB, ...args]));
  });

  it.each(fwmarks)('FwMark = %s', (value) => {
    expect(weAccept(`[Interface]\nFwMark = ${value}\n`)).toBe(wgAccepts(['fwmark', value]));
  });

  it.each(keepalives)('PersistentKeepalive = %s', (value) => {
    expect(weAccept(`[Peer]\nPublicKey = ${PUB}\nPersistentKeepalive = ${value}\n`)).toBe(
      wgAccepts(['peer', PUB, 'persistent-keepalive', value]),
    );
  });

  it.each(keyStrings)('PublicKey = %s', (value) => {
    expect(weAccept(`[Peer]\nPublicKey = ${value}\n`)).toBe(wgAccepts(['peer', value]));
  });

  it('the corpus has both accepted and rejected values of each kind', () => {
    for (const [values, accepts] of [
      [fwmarks, (v: string) => weAccept(`[Interface]\nFwMark = ${v}\n`)],
      [keepalives, (v: string) => weAccept(`[Peer]\nPublicKey = ${PUB}\nPersistentKeepalive = ${v}\n`)],
      [allowedIPs, (v: string) => weAccept(`[Peer]\nPublicKey = ${PUB}\nAllowedIPs = ${v}\n`)],
    ] as const) {
      const results = new Set(values.map(accepts));
      expect(results).toEqual(new Set([true, false]));
    }
  });
});
