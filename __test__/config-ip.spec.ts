import { describe, expect, it } from 'vitest';
import { parseIP, parseIPv4, parseIPv6 } from '../lib/config/ip.js';
import { cOracle } from './helpers/c-oracle.js';

/** glibc's inet_pton on each line (`4 TEXT` or `6 TEXT`): the bytes in hex, or `!`. */
const inetPton = cOracle(`
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\\n")] = 0;
    unsigned char buf[16];
    int v6 = line[0] == '6';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, line + 2, buf) != 1) { printf("!\\n"); continue; }
    for (int i = 0; i < (v6 ? 16 : 4); i++) printf("%02x", buf[i]);
    printf("\\n");
  }
  return 0;
}
`);

const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('hex') : '!');

/** A deterministic generator, so that a failure can be reproduced. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

/** Addresses of both families, compressed or not, then mutated 0-2 times: valid ones and near misses. */
function candidates(count: number, seed: number): string[] {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const octet = () => pick(['0', '1', '9', '10', '99', '100', '255', '256', '01', '999'] as const);
  const v4 = () => Array.from({ length: pick([3, 4, 4, 4, 5]) }, octet).join('.');
  const group = () => Math.floor(next() * 0x10000).toString(16).slice(0, 1 + Math.floor(next() * 4)) || '0';
  const v6 = () => {
    const tail = next() < 0.2;
    const groups = Array.from({ length: pick([6, 7, 8, 8, 8, 9]) - (tail ? 2 : 0) }, () => (next() < 0.4 ? '0' : group()));
    if (tail) groups.push(v4());
    let text = groups.join(':');
    if (next() < 0.6) {
      // Compress a run of groups into `::`.
      const from = Math.floor(next() * groups.length);
      const to = Math.min(groups.length, from + Math.floor(next() * 5));
      text = `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}`;
    }
    return next() < 0.3 ? text.toUpperCase() : text;
  };
  const alphabet = '0123456789abcdefABCDEFg:.:. %';
  const mutate = (text: string) => {
    const at = Math.floor(next() * (text.length + 1));
    const c = pick([...alphabet]);
    switch (Math.floor(next() * 3)) {
      case 0:
        return text.slice(0, at) + c + text.slice(at);
      case 1:
        return text.slice(0, at) + text.slice(at + 1);
      default:
        return text.slice(0, at) + c + text.slice(at + 1);
    }
  };
  return Array.from({ length: count }, () => {
    let text = next() < 0.3 ? v4() : v6();
    for (let m = Math.floor(next() * 3); m > 0; m--) text = mutate(text);
    return text;
  });
}

describe('IP addresses', () => {
  it('parse exactly as glibc inet_pton does, for chosen edge cases', () => {
    const v6 = [
      '::', '::1', '1::', ':1::', '::1:', ':::', '1:::2', '1::2::3', '::::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '::ffff:1.2.3',
      '1.2.3.4::', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.4:1', '::01.2.3.4', '1::1.2.3.256',
      '12345::', 'FFFF:ffff:FFFF:ffff:FFFF:ffff:FFFF:ffff', '0000:0:00:000:0000:0:0:1', '', ':', 'g::', '::g',
    ];
    const v4 = ['0.0.0.0', '255.255.255.255', '1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3', '01.2.3.4', '1.2.3.256', '1.2.3.04', '', '1.2.3.4 '];
    const lines = [...v6.map((a) => `6 ${a}`), ...v4.map((a) => `4 ${a}`)];
    const expected = inetPton(lines);
    v6.forEach((a, i) => expect(hex(parseIPv6(a)), a).toBe(expected[i]));
    v4.forEach((a, i) => expect(hex(parseIPv4(a)), a).toBe(expected[v6.length + i]));
  });

  it('parse exactly as glibc inet_pton does, for 20,000 generated strings', () => {
    const texts = candidates(20_000, 0x5eed);
    const expected = inetPton(texts.flatMap((t) => [`6 ${t}`, `4 ${t}`]));
    let valid = 0;
    texts.forEach((t, i) => {
      const v6 = hex(parseIPv6(t));
      const v4 = hex(parseIPv4(t));
      expect(v6, `6 ${JSON.stringify(t)}`).toBe(expected[2 * i]);
      expect(v4, `4 ${JSON.stringify(t)}`).toBe(expected[2 * i + 1]);
      if (v6 !== '!' || v4 !== '!') valid++;
    });
    // The generator must reach valid addresses too, or the comparison proves little.
    expect(valid).toBeGreaterThan(2_000);
  });

  it("pick the family as wg's parse_ip does: a colon means IPv6", () => {
    expect(parseIP('10.0.0.1')).toEqual({ family: 4, bytes: Uint8Array.from([10, 0, 0, 1]) });
    expect(parseIP('::ffff:10.0.0.1')?.family).toBe(6);
    expect(parseIP('10.0.0.1:')).toBeUndefined();
  });
});
