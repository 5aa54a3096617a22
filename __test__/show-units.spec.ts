/**
 * The pure parts of lib/show: units, "ago", colour filtering and decisions, address text and
 * peer order. glibc itself (printf "%.2f", inet_ntop) is the oracle where wg relies on it.
 */
import { describe, expect, it } from 'vitest';
import {
  colorModeFromEnv,
  compareByHandshake,
  filterAnsi,
  formatAgo,
  formatAllowedIP,
  formatBytes,
  formatDuration,
  formatEndpoint,
  formatEvery,
  formatInterfaces,
  formatIP,
  hideKeysFromEnv,
  showAll,
  showOptionsFromEnv,
  showUsage,
  sortPeersByHandshake,
  splitAllowedIP,
  useColor,
  invalidParameter,
  unableToAccessInterface,
  unableToAccessNamedInterface,
  unableToListInterfaces,
} from '../lib/show/index.js';
import type { DeviceInfo, PeerInfo } from '../lib/types.js';
import { cOracle } from './helpers/c-oracle.js';

/** A C program on glibc: `b N` prints wg's four `%.2f` quotients, `6 ADDR` inet_ntop(inet_pton(ADDR)). */
const oracle = cOracle(`
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\\n")] = 0;
    if (line[0] == 'b') {
      uint64_t b = strtoull(line + 2, NULL, 10);
      printf("%.2f %.2f %.2f %.2f\\n", (double)b / 1024, (double)b / (1024 * 1024),
             (double)b / (1024 * 1024 * 1024), (double)b / (1024 * 1024 * 1024) / 1024);
    } else {
      unsigned char buf[16];
      char out[INET6_ADDRSTRLEN];
      int family = line[0] == '6' ? AF_INET6 : AF_INET;
      if (inet_pton(family, line + 2, buf) != 1) { printf("!\\n"); continue; }
      printf("%s\\n", inet_ntop(family, buf, out, sizeof out));
    }
  }
  return 0;
}
`);

const CYAN = '\x1b[36m';
const RESET = '\x1b[0m';

describe('formatBytes', () => {
  it('prints whole bytes below 1 KiB and two decimals above', () => {
    expect(formatBytes(0n)).toBe('0 B');
    expect(formatBytes(1n)).toBe('1 B');
    expect(formatBytes(1023n)).toBe('1023 B');
    expect(formatBytes(1024n)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(1024n * 1024n - 1n)).toBe('1024.00 KiB');
    expect(formatBytes(1024n * 1024n)).toBe('1.00 MiB');
    expect(formatBytes(1n << 30n)).toBe('1.00 GiB');
    expect(formatBytes((1n << 40n) - 1n)).toBe('1024.00 GiB');
    expect(formatBytes(1n << 40n)).toBe('1.00 TiB');
    expect(formatBytes(1n << 50n)).toBe('1024.00 TiB');
    expect(formatBytes((1n << 64n) - 1n)).toBe('16777216.00 TiB');
  });

  it('rounds exact ties to even, as glibc printf does', () => {
    // 1152 / 1024 = 1.125 exactly; 1408 / 1024 = 1.375 exactly.
    expect(formatBytes(1152n)).toBe('1.12 KiB');
    expect(formatBytes(1408n)).toBe('1.38 KiB');
  });

  it('colours the unit cyan', () => {
    expect(formatBytes(5n, true)).toBe(`5 ${CYAN}B${RESET}`);
    expect(formatBytes(2048n, true)).toBe(`2.00 ${CYAN}KiB${RESET}`);
  });

  it('matches glibc printf for edge and random counts', () => {
    const values: bigint[] = [];
    for (let shift = 10n; shift <= 63n; shift++) {
      const p = 1n << shift;
      values.push(p - 1n, p, p + 1n, p + (p >> 3n), p * 3n + (p >> 7n), p + (p >> 8n) * 5n);
    }
    for (let k = 1n; k < 200n; k += 2n) values.push(128n * k, (1n << 20n) + (1n << 13n) * k);
    for (let i = 0; i < 3000; i++) {
      const bits = BigInt(10 + Math.floor(Math.random() * 54));
      values.push(BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 52)) << (bits > 52n ? bits - 52n : 0n)) | 1024n);
    }
    values.push((1n << 64n) - 1n, (1n << 53n) + 1n, (1n << 54n) + 3n);
    const counts = values.map((v) => BigInt.asUintN(64, v));
    const lines = oracle(counts.map((v) => `b ${v}`));
    counts.forEach((b, i) => {
      const [kib, mib, gib, tib] = (lines[i] as string).split(' ');
      const expected =
        b < 1024n ? `${b} B` : b < 1n << 20n ? `${kib} KiB` : b < 1n << 30n ? `${mib} MiB` : b < 1n << 40n ? `${gib} GiB` : `${tib} TiB`;
      expect(formatBytes(b), `bytes ${b}`).toBe(expected);
    });
  });

  it('takes numbers and wraps negative counts to unsigned 64 bits', () => {
    expect(formatBytes(2 ** 20)).toBe('1.00 MiB');
    expect(formatBytes(-1n)).toBe('16777216.00 TiB');
    expect(() => formatBytes(1.5)).toThrow(RangeError);
  });
});

describe('formatDuration, formatAgo, formatEvery', () => {
  const MIN = 60;
  const HOUR = 60 * MIN;
  const DAY = 24 * HOUR;
  const YEAR = 365 * DAY;

  it('lists non-zero units with plural rules and commas', () => {
    expect(formatDuration(0)).toBe('');
    expect(formatDuration(1)).toBe('1 second');
    expect(formatDuration(2)).toBe('2 seconds');
    expect(formatDuration(59)).toBe('59 seconds');
    expect(formatDuration(60)).toBe('1 minute');
    expect(formatDuration(61)).toBe('1 minute, 1 second');
    expect(formatDuration(3600)).toBe('1 hour');
    expect(formatDuration(3661)).toBe('1 hour, 1 minute, 1 second');
    expect(formatDuration(7322)).toBe('2 hours, 2 minutes, 2 seconds');
    expect(formatDuration(DAY)).toBe('1 day');
    expect(formatDuration(DAY + 1)).toBe('1 day, 1 second');
    expect(formatDuration(364 * DAY + 23 * HOUR + 59 * MIN + 59)).toBe('364 days, 23 hours, 59 minutes, 59 seconds');
    expect(formatDuration(YEAR)).toBe('1 year');
    // Years are 365 days: a leap year's extra day shows.
    expect(formatDuration(366 * DAY)).toBe('1 year, 1 day');
    expect(formatDuration(2 * YEAR + 3 * DAY + 4 * HOUR + 5 * MIN + 6)).toBe('2 years, 3 days, 4 hours, 5 minutes, 6 seconds');
    expect(formatDuration(56 * YEAR + 60)).toBe('56 years, 1 minute');
    expect(formatDuration(65535)).toBe('18 hours, 12 minutes, 15 seconds');
    expect(formatDuration((1n << 64n) - 1n)).toBe('584942417355 years, 26 days, 7 hours, 15 seconds');
  });

  it('colours the unit names cyan', () => {
    expect(formatDuration(61, true)).toBe(`1 ${CYAN}minute${RESET}, 1 ${CYAN}second${RESET}`);
  });

  it('says Now within the same whole second and counts whole seconds otherwise', () => {
    const at = (s: number) => new Date(s * 1000);
    expect(formatAgo(at(1000), at(1000))).toBe('Now');
    expect(formatAgo(at(1000.1), at(1000.9))).toBe('Now');
    expect(formatAgo(at(1000.999), at(1001))).toBe('1 second ago');
    expect(formatAgo(at(1000), at(1061))).toBe('1 minute, 1 second ago');
    expect(formatAgo(at(0), at(YEAR + DAY))).toBe('1 year, 1 day ago');
    expect(formatAgo(at(-1.5), at(0))).toBe('2 seconds ago');
    expect(formatAgo(at(1000), at(1061), true)).toBe(`1 ${CYAN}minute${RESET}, 1 ${CYAN}second${RESET} ago`);
  });

  it('warns in red when the handshake is in the future', () => {
    const at = (s: number) => new Date(s * 1000);
    expect(formatAgo(at(1001), at(1000.999))).toBe('(System clock wound backward; connection problems may ensue.)');
    expect(formatAgo(at(1001), at(1000), true)).toBe('(\x1b[31mSystem clock wound backward; connection problems may ensue.\x1b[0m)');
    expect(() => formatAgo(new Date(NaN), at(0))).toThrow(RangeError);
  });

  it('prints keepalive intervals', () => {
    expect(formatEvery(1)).toBe('every 1 second');
    expect(formatEvery(25)).toBe('every 25 seconds');
    expect(formatEvery(65535)).toBe('every 18 hours, 12 minutes, 15 seconds');
    expect(formatEvery(120, true)).toBe(`every 2 ${CYAN}minutes${RESET}`);
  });
});

describe('colour', () => {
  it('filters each ESC [ up to and including the next letter', () => {
    expect(filterAnsi('\x1b[0m')).toBe('');
    expect(filterAnsi('\x1b[32m\x1b[1minterface\x1b[0m: \x1b[32mwg0\x1b[0m\n')).toBe('interface: wg0\n');
    expect(filterAnsi('a\x1b[1;32mb')).toBe('ab');
    expect(filterAnsi('a\x1b[12')).toBe('a');
    expect(filterAnsi('a\x1b[[\x1b[0mb')).toBe('ab');
    // A lone ESC, or an ESC not followed by [, stays.
    expect(filterAnsi('a\x1bb\x1b')).toBe('a\x1bb\x1b');
    // Letters only: a non-ASCII character does not end the sequence.
    expect(filterAnsi('\x1b[é1Zx')).toBe('x');
    expect(filterAnsi('')).toBe('');
    expect(filterAnsi('x')).toBe('x');
  });

  it('keeps an ESC [ that ends the text', () => {
    expect(filterAnsi('\x1b[')).toBe('\x1b[');
    expect(filterAnsi('ab\x1b[')).toBe('ab\x1b[');
    expect(filterAnsi('ab\x1b[m')).toBe('ab');
    expect(filterAnsi('\x1b[0mab\x1b[')).toBe('ab\x1b[');
  });

  it('decides colour and key hiding from the environment as wg does', () => {
    expect(colorModeFromEnv({})).toBe('auto');
    expect(colorModeFromEnv({ WG_COLOR_MODE: 'always' })).toBe('always');
    expect(colorModeFromEnv({ WG_COLOR_MODE: 'never' })).toBe('never');
    expect(colorModeFromEnv({ WG_COLOR_MODE: 'Always' })).toBe('auto');
    expect(colorModeFromEnv({ WG_COLOR_MODE: '' })).toBe('auto');
    expect(useColor('auto', true)).toBe(true);
    expect(useColor('auto', false)).toBe(false);
    expect(useColor('always', false)).toBe(true);
    expect(useColor('never', true)).toBe(false);
    expect(hideKeysFromEnv({})).toBe(true);
    expect(hideKeysFromEnv({ WG_HIDE_KEYS: 'never' })).toBe(false);
    expect(hideKeysFromEnv({ WG_HIDE_KEYS: 'NEVER' })).toBe(true);
    expect(hideKeysFromEnv({ WG_HIDE_KEYS: 'always' })).toBe(true);
    expect(showOptionsFromEnv({ WG_HIDE_KEYS: 'never', WG_COLOR_MODE: 'bogus' }, true)).toEqual({ hideKeys: false, color: true });
    expect(showOptionsFromEnv({}, false)).toEqual({ hideKeys: true, color: false });
  });
});

describe('addresses', () => {
  it('match glibc inet_ntop', () => {
    const v6 = [
      '::', '::1', '::2', '1::', '0:1::', '::1:0:0:0:0:0:0', '1:0:0:2:0:0:0:3', '1:0:0:2:0:0:3:4', '1:0:2:0:0:3:0:0',
      '::1.2.3.4', '::ffff:1.2.3.4', '::ffff:0:0', '::0.1.0.0', '::102:304', '0:0:0:0:0:1:0:0', '::ffff:0:102:304',
      '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000:0000:0001:0000:0000:0001', 'fe80::1', 'FFFF:ffff:FFFF:ffff:FFFF:ffff:FFFF:ffff',
      '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1::1.2.3.4', '0:0:0:0:0:0:1.2.3.4',
      '::ffff:255.255.255.255', '0::0:ffff:1.2.3.4', '::0:0:1', '0:0::1:0:0:0',
    ];
    for (let i = 0; i < 300; i++) {
      const words = Array.from({ length: 8 }, () => (Math.random() < 0.45 ? 0 : Math.floor(Math.random() * 0x10000)));
      v6.push(words.map((w) => w.toString(16)).join(':'));
    }
    const v4 = ['0.0.0.0', '255.255.255.255', '10.0.0.1', '192.0.2.33'];
    const expected = oracle([...v6.map((a) => `6 ${a}`), ...v4.map((a) => `4 ${a}`)]);
    [...v6, ...v4].forEach((a, i) => expect(formatIP(a), a).toBe(expected[i]));
  });

  it('leave text that is not an address alone', () => {
    for (const text of ['', 'x', '1.2.3', '1.2.3.256', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', '::1.2.3', ':1.2.3.4', '1:::2', 'g::']) {
      expect(formatIP(text)).toBe(text);
    }
  });

  it('split and print allowed IPs', () => {
    expect(splitAllowedIP('2001:DB8::0/032')).toEqual({ ip: '2001:db8::', cidr: '32' });
    expect(formatAllowedIP('::FFFF:0:0/96')).toBe('::ffff:0.0.0.0/96');
    expect(formatAllowedIP('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(formatAllowedIP('10.0.0.1')).toBe('10.0.0.1');
  });

  it('print endpoints as getnameinfo does', () => {
    expect(formatEndpoint('192.0.2.1:51820')).toBe('192.0.2.1:51820');
    expect(formatEndpoint('192.0.2.1:00080')).toBe('192.0.2.1:80');
    expect(formatEndpoint('[2001:DB8:0::1]:51820')).toBe('[2001:db8::1]:51820');
    expect(formatEndpoint('[fe80::0:1%eth0]:1')).toBe('[fe80::1%eth0]:1');
    expect(formatEndpoint('[::ffff:192.0.2.1]:9')).toBe('[::ffff:192.0.2.1]:9');
    for (const text of ['host:1', '[::1]', '[::1]:', '[::1]:70000', '1.2.3.4:x', '[nope]:1', 'nothing']) {
      expect(formatEndpoint(text)).toBe(text);
    }
  });
});

function peer(name: string, lastHandshake: Date | null): PeerInfo {
  return {
    publicKey: name,
    presharedKey: null,
    endpoint: null,
    lastHandshake,
    rxBytes: 0n,
    txBytes: 0n,
    persistentKeepalive: 0,
    allowedIPs: [],
    protocolVersion: 1,
  };
}

describe('peer order', () => {
  it('puts the newest handshake first and never-handshaken peers last, keeping ties in order', () => {
    const peers = [
      peer('never1', null),
      peer('old', new Date(1_000_000)),
      peer('tieA', new Date(5_000_000)),
      peer('never2', null),
      peer('newest', new Date(9_000_000)),
      peer('tieB', new Date(5_000_000)),
      peer('zero', new Date(0)),
      peer('sub-second', new Date(5_000_001)),
      peer('never3', null),
    ];
    expect(sortPeersByHandshake(peers).map((p) => p.publicKey)).toEqual([
      'newest',
      'sub-second',
      'tieA',
      'tieB',
      'old',
      'never1',
      'never2',
      'zero',
      'never3',
    ]);
    // The input is not changed.
    expect(peers[0]?.publicKey).toBe('never1');
  });

  it('compares as peer_cmp does', () => {
    const a = peer('a', new Date(2000));
    const b = peer('b', new Date(1000));
    const n = peer('n', null);
    expect(compareByHandshake(a, b)).toBe(-1);
    expect(compareByHandshake(b, a)).toBe(1);
    expect(compareByHandshake(a, a)).toBe(0);
    expect(compareByHandshake(n, a)).toBe(1);
    expect(compareByHandshake(a, n)).toBe(-1);
    expect(compareByHandshake(n, n)).toBe(0);
    // Before the epoch still counts as a handshake.
    expect(compareByHandshake(peer('p', new Date(-5000)), n)).toBe(-1);
  });
});

describe('messages and layout', () => {
  it('has the usage and error texts of 1.0.20210914', () => {
    expect(showUsage()).toBe(
      'Usage: wg show { <interface> | all | interfaces } [public-key | private-key | listen-port | fwmark | peers | preshared-keys | endpoints | allowed-ips | latest-handshakes | transfer | persistent-keepalive | dump]\n',
    );
    expect(showUsage('wgkit', 'show')).toMatch(/^Usage: wgkit show \{/);
    expect(invalidParameter('x')).toBe("Invalid parameter: `x'\n");
    expect(unableToAccessInterface('No such device')).toBe('Unable to access interface: No such device\n');
    expect(unableToAccessNamedInterface('wg0', 'Protocol error')).toBe('Unable to access interface wg0: Protocol error\n');
    expect(unableToListInterfaces('Permission denied')).toBe('Unable to list interfaces: Permission denied\n');
  });

  it('lists interfaces on one line', () => {
    expect(formatInterfaces([])).toBe('');
    expect(formatInterfaces(['wg0'])).toBe('wg0\n');
    expect(formatInterfaces(['wg0', 'wg1', 'x'])).toBe('wg0 wg1 x\n');
  });

  const bare = (name: string): DeviceInfo => ({
    name,
    type: 'userspace',
    ifindex: null,
    publicKey: null,
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [],
  });
  const now = new Date(0);

  it('separates devices with a blank line after every device that is not last in the list', () => {
    const err = { name: 'bad', error: 'Protocol error' };
    expect(showAll([bare('a'), bare('b')], undefined, now)).toEqual({ stdout: 'interface: a\n\ninterface: b\n', stderr: '', status: 0 });
    expect(showAll([bare('a'), err], undefined, now)).toEqual({
      stdout: 'interface: a\n\n',
      stderr: 'Unable to access interface bad: Protocol error\n',
      status: 0,
    });
    expect(showAll([err, bare('a')], undefined, now)).toEqual({
      stdout: 'interface: a\n',
      stderr: 'Unable to access interface bad: Protocol error\n',
      status: 0,
    });
    expect(showAll([err], undefined, now).status).toBe(1);
    expect(showAll([], undefined, now)).toEqual({ stdout: '', stderr: '', status: 0 });
  });

  it('stops `all` with an invalid field at the first device read', () => {
    const r = showAll([{ name: 'bad', error: 'E' }, bare('a'), bare('b')], 'nope', now, { prog: 'wgkit' });
    expect(r).toEqual({
      stdout: '',
      stderr: "Unable to access interface bad: E\nInvalid parameter: `nope'\nUsage: wgkit show { <interface> | all | interfaces } [public-key | private-key | listen-port | fwmark | peers | preshared-keys | endpoints | allowed-ips | latest-handshakes | transfer | persistent-keepalive | dump]\n",
      status: 1,
    });
    expect(showAll([bare('a'), bare('b')], 'fwmark', now)).toEqual({ stdout: 'a\toff\nb\toff\n', stderr: '', status: 0 });
    expect(showAll([bare('a'), bare('b')], 'endpoints', now).stdout).toBe('a\tb\t');
  });
});
