import { execFileSync } from 'node:child_process';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import type { ConfigProblem } from '../lib/errors.js';
import { ConfigProblemCodes as C, parseWgConfig, parseWgQuickConfig } from '../lib/config/index.js';
import { pair, psk } from './config-fixtures.js';

const PRIV = pair(50).private;
const PUB = pair(51).public;
const PUB2 = pair(52).public;
/** A key whose padding bits are not zero: 44 characters, but not canonical base64. */
const NON_CANONICAL = `${PUB.slice(0, 42)}${String.fromCharCode(PUB.charCodeAt(42) ^ 1)}=`;

/** Parses and returns the problems of the ConfigError it must throw. */
function problemsOf(text: string, format: 'wg' | 'wg-quick'): readonly ConfigProblem[] {
  const parse = format === 'wg' ? parseWgConfig : parseWgQuickConfig;
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('ERR_WGKIT_INVALID_CONFIG');
    return (error as ConfigError).problems;
  }
  throw new Error('the configuration was accepted');
}

interface BadCase {
  format: 'wg' | 'wg-quick';
  text: string;
  code: string;
  line: number;
  /** The exact message, where wg has one. */
  message?: string;
}

const iface = `[Interface]\nPrivateKey = ${PRIV}\n`;
const peer = `\n[Peer]\nPublicKey = ${PUB}\n`;

const bad: Record<string, BadCase> = {
  'empty value': { format: 'wg', text: '[Interface]\nListenPort =\n', code: C.LINE_UNRECOGNIZED, line: 2, message: "Line unrecognized: `ListenPort='" },
  'unknown key': { format: 'wg', text: `${iface}ListenPorts = 1\n`, code: C.LINE_UNRECOGNIZED, line: 3, message: "Line unrecognized: `ListenPorts=1'" },
  'key before any section': { format: 'wg', text: `ListenPort = 1\n${iface}`, code: C.LINE_UNRECOGNIZED, line: 1 },
  'peer key in [Interface]': { format: 'wg', text: `${iface}Endpoint = 192.0.2.1:1\n`, code: C.LINE_UNRECOGNIZED, line: 3 },
  'interface key in [Peer]': { format: 'wg', text: `${iface}${peer}ListenPort = 1\n`, code: C.LINE_UNRECOGNIZED, line: 6 },
  'wg-quick key in a wg file': { format: 'wg', text: `${iface}Address = 10.0.0.1/24\n`, code: C.LINE_UNRECOGNIZED, line: 3 },
  'wg-quick key in [Peer]': { format: 'wg-quick', text: `${iface}${peer}DNS = 1.1.1.1\n`, code: C.LINE_UNRECOGNIZED, line: 6 },
  'wg-quick key without =': { format: 'wg-quick', text: `${iface}Address\n`, code: C.LINE_UNRECOGNIZED, line: 3, message: "Line unrecognized: `Address'" },
  'unknown section': { format: 'wg', text: '[Interfaces]\n', code: C.LINE_UNRECOGNIZED, line: 1, message: "Line unrecognized: `[Interfaces]'" },
  'short private key': { format: 'wg', text: '[Interface]\nPrivateKey = abc\n', code: C.INVALID_KEY, line: 2 },
  'non-canonical public key': { format: 'wg', text: `${iface}\n[Peer]\nPublicKey = ${NON_CANONICAL}\n`, code: C.INVALID_KEY, line: 5, message: `Key is not the correct length or format: \`${NON_CANONICAL}'` },
  'bad preshared key': { format: 'wg', text: `${iface}${peer}PresharedKey = ${NON_CANONICAL}\n`, code: C.INVALID_KEY, line: 6 },
  'port too large': { format: 'wg', text: '[Interface]\nListenPort = 65536\n', code: C.INVALID_PORT, line: 2 },
  'port as service name': { format: 'wg', text: '[Interface]\nListenPort = http\n', code: C.INVALID_PORT, line: 2 },
  'negative port': { format: 'wg', text: '\n\n[Interface]\nListenPort = -1\n', code: C.INVALID_PORT, line: 4 },
  'fwmark too large': { format: 'wg', text: '[Interface]\nFwMark = 0x100000000\n', code: C.INVALID_FWMARK, line: 2, message: "Fwmark is neither 0/off nor 0-0xffffffff: `0x100000000'" },
  'fwmark upper-case 0X': { format: 'wg', text: '[Interface]\nFwMark = 0X10\n', code: C.INVALID_FWMARK, line: 2 },
  'fwmark on': { format: 'wg', text: '[Interface]\nFwMark = on\n', code: C.INVALID_FWMARK, line: 2 },
  'keepalive too large': { format: 'wg', text: `${iface}${peer}PersistentKeepalive = 65536\n`, code: C.INVALID_KEEPALIVE, line: 6, message: "Persistent keepalive interval is neither 0/off nor 1-65535: `65536'" },
  'keepalive with unit': { format: 'wg', text: `${iface}${peer}PersistentKeepalive = 25s\n`, code: C.INVALID_KEEPALIVE, line: 6 },
  'IPv4 cidr too large': { format: 'wg', text: `${iface}${peer}AllowedIPs = 10.0.0.0/8, 10.0.0.1/33\n`, code: C.INVALID_ALLOWED_IP, line: 6, message: "AllowedIP is not in the correct format: `10.0.0.1/33'" },
  'IPv6 cidr too large': { format: 'wg', text: `${iface}${peer}AllowedIPs = fd00::/129\n`, code: C.INVALID_ALLOWED_IP, line: 6 },
  'bad IPv4 octet': { format: 'wg', text: `${iface}${peer}AllowedIPs = 10.0.0.256/32\n`, code: C.INVALID_ALLOWED_IP, line: 6, message: "Unable to parse IP address: `10.0.0.256'" },
  'empty allowed-IP entry': { format: 'wg', text: `${iface}${peer}AllowedIPs = 10.0.0.0/8,,10.1.0.0/16\n`, code: C.INVALID_ALLOWED_IP, line: 6, message: "Unable to parse IP address: `'" },
  'missing cidr after slash': { format: 'wg', text: `${iface}${peer}AllowedIPs = 10.0.0.0/\n`, code: C.INVALID_ALLOWED_IP, line: 6 },
  'zone in an allowed IP': { format: 'wg', text: `${iface}${peer}AllowedIPs = fe80::1%eth0/128\n`, code: C.INVALID_ALLOWED_IP, line: 6 },
  'endpoint without port': { format: 'wg', text: `${iface}${peer}Endpoint = 192.0.2.1\n`, code: C.INVALID_ENDPOINT, line: 6, message: "Unable to find port of endpoint: `192.0.2.1'" },
  'endpoint without closing brace': { format: 'wg', text: `${iface}${peer}Endpoint = [2001:db8::1\n`, code: C.INVALID_ENDPOINT, line: 6, message: "Unable to find matching brace of endpoint: `[2001:db8::1'" },
  'bracketed endpoint without port': { format: 'wg', text: `${iface}${peer}Endpoint = [2001:db8::1]\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'bracketed endpoint without colon': { format: 'wg', text: `${iface}${peer}Endpoint = [2001:db8::1]51820\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'endpoint port 0': { format: 'wg', text: `${iface}${peer}Endpoint = 192.0.2.1:0\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'endpoint port too large': { format: 'wg', text: `${iface}${peer}Endpoint = vpn.example.com:65536\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'endpoint host with bad characters': { format: 'wg', text: `${iface}${peer}Endpoint = bad!host:51820\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'endpoint bad IPv4': { format: 'wg', text: `${iface}${peer}Endpoint = 999.1.1.1:51820\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'IPv4 in brackets': { format: 'wg', text: `${iface}${peer}Endpoint = [192.0.2.1]:51820\n`, code: C.INVALID_ENDPOINT, line: 6 },
  'peer without public key': { format: 'wg', text: `${iface}\n[Peer]\nAllowedIPs = 10.0.0.0/8\n`, code: C.MISSING_PUBLIC_KEY, line: 4, message: 'A peer is missing a public key' },
  'SaveConfig yes': { format: 'wg-quick', text: `${iface}SaveConfig = yes\n`, code: C.INVALID_SAVECONFIG, line: 3, message: "`yes' is neither true nor false" },
  'SaveConfig empty': { format: 'wg-quick', text: `${iface}SaveConfig =\n`, code: C.INVALID_SAVECONFIG, line: 3, message: "`' is neither true nor false" },
  'MTU too small': { format: 'wg-quick', text: `${iface}MTU = 67\n`, code: C.INVALID_MTU, line: 3 },
  'MTU with unit': { format: 'wg-quick', text: `${iface}MTU = 1500b\n`, code: C.INVALID_MTU, line: 3 },
  'Table with a space': { format: 'wg-quick', text: `${iface}Table = my table\n`, code: C.INVALID_TABLE, line: 3 },
  'Table number too large': { format: 'wg-quick', text: `${iface}Table = 4294967296\n`, code: C.INVALID_TABLE, line: 3 },
  'Address bad octet': { format: 'wg-quick', text: `${iface}Address = 10.0.0.1/24, 10.0.0.300/24\n`, code: C.INVALID_ADDRESS, line: 3 },
  'Address prefix too long': { format: 'wg-quick', text: `${iface}Address = fd00::1/129\n`, code: C.INVALID_ADDRESS, line: 3 },
  'DNS server that is not an address': { format: 'wg-quick', text: `${iface}DNS = 1.1.1\n`, code: C.INVALID_DNS, line: 3 },
  'DNS IPv6 server that is not an address': { format: 'wg-quick', text: `${iface}DNS = fe80::zz\n`, code: C.INVALID_DNS, line: 3 },
  'DNS search domain that is not a name': { format: 'wg-quick', text: `${iface}DNS = 1.1.1.1, bad!domain\n`, code: C.INVALID_DNS, line: 3 },
};

describe('bad configuration files', () => {
  it('has a corpus of at least 25 bad inputs', () => {
    expect(Object.keys(bad).length).toBeGreaterThanOrEqual(25);
  });

  it.each(Object.entries(bad))('%s', (_name, { format, text, code, line, message }) => {
    const problems = problemsOf(text, format);
    const errors = problems.filter((p) => p.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code, line, severity: 'error' });
    expect(errors[0]?.path).toBeUndefined();
    if (message !== undefined) expect(errors[0]?.message).toBe(message);
  });

  it('puts the file name in problems and in the message', () => {
    try {
      parseWgConfig('[Interface]\nListenPort = x\n', { file: 'wg0.conf' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems[0]).toMatchObject({ file: 'wg0.conf', line: 2, code: C.INVALID_PORT });
      expect((error as ConfigError).message).toBe("wg0.conf: line 2: Servname not supported for ai_socktype: `x'");
    }
  });
});

describe('warnings', () => {
  it('a nonzero host part is a warning with wg text, not an error', () => {
    const { config, warnings } = parseWgConfig(`${iface}${peer}AllowedIPs = 10.0.0.1/24, fd00::1/64, 10.0.0.0/24\n`);
    expect(config.peers[0]?.allowedIPs).toEqual(['10.0.0.1/24', 'fd00::1/64', '10.0.0.0/24']);
    expect(warnings).toEqual([
      { code: C.HOST_BITS_SET, severity: 'warning', line: 6, message: 'Warning: AllowedIP has nonzero host part: 10.0.0.1/24' },
      { code: C.HOST_BITS_SET, severity: 'warning', line: 6, message: 'Warning: AllowedIP has nonzero host part: fd00::1/64' },
    ]);
  });

  it('warns about a peer listed twice, at its second PublicKey', () => {
    const { warnings } = parseWgConfig(`${iface}${peer}\n[Peer]\nPublicKey = ${PUB2}\n\n[Peer]\nPublicKey = ${PUB}\n`);
    expect(warnings).toMatchObject([{ code: C.DUPLICATE_PEER, line: 11, severity: 'warning' }]);
  });

  it("warns about a peer that has the interface's own key", () => {
    const { warnings } = parseWgConfig(`${iface}\n[Peer]\nPublicKey = ${pair(50).public}\n`);
    expect(warnings).toMatchObject([{ code: C.PEER_IS_SELF, line: 5, severity: 'warning' }]);
  });

  it('warns about an IPv6 endpoint without brackets (wg splits at the last colon)', () => {
    const { config, warnings } = parseWgConfig(`${iface}${peer}Endpoint = 2001:db8::1:51820\n`);
    expect(config.peers[0]?.endpoint).toBe('2001:db8::1:51820');
    expect(warnings).toMatchObject([{ code: C.ENDPOINT_NOT_BRACKETED, line: 6 }]);
  });

  it('a ConfigError lists the warnings too', () => {
    const problems = problemsOf(`${iface}${peer}AllowedIPs = 10.0.0.1/24\nEndpoint = x\n`, 'wg');
    expect(problems.map((p) => [p.code, p.severity, p.line])).toEqual([
      [C.HOST_BITS_SET, 'warning', 6],
      [C.INVALID_ENDPOINT, 'error', 7],
    ]);
  });
});

describe('collecting problems', () => {
  it('reports every problem of a file, not only the first', () => {
    const text = [
      '[Interface]', // 1
      'PrivateKey = short', // 2
      'ListenPort = 99999', // 3
      'FwMark = nope', // 4
      'Address = 10.0.0.1/40', // 5
      'SaveConfig = maybe', // 6
      'Bogus = 1', // 7
      '[Peer]', // 8
      'AllowedIPs = 10.0.0.0/8, 300.0.0.0/8', // 9
      'Endpoint = nowhere', // 10
      'PersistentKeepalive = forever', // 11
      '[Peer]', // 12
      `PublicKey = ${PUB}`, // 13
      'AllowedIPs = 10.1.2.3/16', // 14
    ].join('\n');
    const problems = problemsOf(text, 'wg-quick');
    expect(problems.map((p) => [p.line, p.code])).toEqual([
      [2, C.INVALID_KEY],
      [3, C.INVALID_PORT],
      [4, C.INVALID_FWMARK],
      [5, C.INVALID_ADDRESS],
      [6, C.INVALID_SAVECONFIG],
      [7, C.LINE_UNRECOGNIZED],
      [9, C.INVALID_ALLOWED_IP],
      [10, C.INVALID_ENDPOINT],
      [11, C.INVALID_KEEPALIVE],
      [14, C.HOST_BITS_SET],
      [8, C.MISSING_PUBLIC_KEY],
    ]);
    try {
      parseWgQuickConfig(text);
    } catch (error) {
      expect((error as Error).message).toBe('line 2: Key is not the correct length or format (the value is not shown) (and 9 more)');
    }
  });

  it('reports an invalid PublicKey once, not also as missing', () => {
    const problems = problemsOf(`${iface}\n[Peer]\nPublicKey = nope\n`, 'wg');
    expect(problems.map((p) => p.code)).toEqual([C.INVALID_KEY]);
  });
});

describe('secrets', () => {
  const secret = PRIV;
  const psKey = psk(5);
  /** Keys with one character changed are still secrets. */
  const almost = `${secret.slice(0, 42)}${String.fromCharCode(secret.charCodeAt(42) ^ 1)}=`;
  const texts: Record<string, string> = {
    'invalid private key': `[Interface]\nPrivateKey = ${almost}\n`,
    'truncated private key': `[Interface]\nPrivateKey = ${secret.slice(0, 40)}\n`,
    'invalid preshared key': `${iface}${peer}PresharedKey = ${psKey.slice(1)}\n`,
    'PrivateKey in [Peer]': `${peer}PrivateKey = ${secret}\n`,
    'PresharedKey in [Interface]': `[Interface]\nPresharedKey = ${psKey}\n`,
    'misspelt key name': `[Interface]\nPrivatKey = ${secret}\n`,
    'key alone on a line': `[Interface]\n${secret}\n`,
    'key with a trailing character': `[Interface]\nPrivateKey = ${secret}x\n`,
    'key before any section': `PrivateKey = ${secret}\n`,
  };

  it.each(Object.entries(texts))('%s: no message shows the key', (_name, text) => {
    for (const format of ['wg', 'wg-quick'] as const) {
      const parse = format === 'wg' ? parseWgConfig : parseWgQuickConfig;
      let thrown: unknown;
      try {
        parse(text);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const shown = [
        (thrown as Error).message,
        (thrown as Error).stack ?? '',
        inspect(thrown, { depth: 5 }),
        JSON.stringify((thrown as ConfigError).problems),
      ].join('\n');
      for (const key of [secret, psKey, almost]) {
        // No 16-character piece of the key appears anywhere.
        for (let i = 0; i + 16 <= key.length - 1; i += 4) expect(shown).not.toContain(key.slice(i, i + 16));
      }
    }
  });
});

describe('messages follow wg', () => {
  /** The first line wg prints when it parses `args` (parsing happens before the device is looked up). */
  function wgSays(args: string[]): string {
    try {
      execFileSync('wg', ['set', 'wgkit-nodev0', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      return String((error as { stderr: string }).stderr).split('\n')[0] ?? '';
    }
    throw new Error('wg accepted the arguments');
  }

  const cases: [string, string[], string][] = [
    ['fwmark', ['fwmark', '0X10'], '[Interface]\nFwMark = 0X10\n'],
    ['fwmark', ['fwmark', '4294967296'], '[Interface]\nFwMark = 4294967296\n'],
    ['keepalive', ['peer', PUB, 'persistent-keepalive', '65536'], `${peer}PersistentKeepalive = 65536\n`],
    ['allowed-ips', ['peer', PUB, 'allowed-ips', '10.0.0.1/33'], `${peer}AllowedIPs = 10.0.0.1/33\n`],
    ['allowed-ips', ['peer', PUB, 'allowed-ips', '10.0.0.0/8,,10.1.0.0/16'], `${peer}AllowedIPs = 10.0.0.0/8,,10.1.0.0/16\n`],
    ['allowed-ips', ['peer', PUB, 'allowed-ips', '10.0.0.999'], `${peer}AllowedIPs = 10.0.0.999\n`],
    ['endpoint', ['peer', PUB, 'endpoint', '192.0.2.1'], `${peer}Endpoint = 192.0.2.1\n`],
    ['endpoint', ['peer', PUB, 'endpoint', '[2001:db8::1'], `${peer}Endpoint = [2001:db8::1\n`],
    ['endpoint', ['peer', PUB, 'endpoint', '[2001:db8::1]'], `${peer}Endpoint = [2001:db8::1]\n`],
    ['public key', ['peer', NON_CANONICAL], `[Peer]\nPublicKey = ${NON_CANONICAL}\n`],
  ];

  it.each(cases)('%s: %j', (_what, args, text) => {
    const problems = problemsOf(text, 'wg');
    expect(problems[0]?.message).toBe(wgSays(args));
  });

  it('host part warning', () => {
    let stderr = '';
    try {
      execFileSync('wg', ['set', 'wgkit-nodev0', 'peer', PUB, 'allowed-ips', 'fd00::1/64'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
    }
    const { warnings } = parseWgConfig(`${peer}AllowedIPs = fd00::1/64\n`);
    expect(stderr.split('\n')[0]).toBe(warnings[0]?.message);
  });
});

describe('endpoint problems', () => {
  it('an unbracketed IPv6 endpoint with a bad port is only an error', () => {
    const problems = problemsOf(`${iface}${peer}Endpoint = 2001:db8::1:0\n`, 'wg');
    expect(problems.map((p) => [p.code, p.severity])).toEqual([[C.INVALID_ENDPOINT, 'error']]);
  });
});
