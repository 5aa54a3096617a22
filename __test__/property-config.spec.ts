/**
 * Property tests (fast-check) of the wg(8) and wg-quick(8) parsers and writers. Unlike
 * config-random.spec.ts (fixed seeds, valid values only), fast-check shrinks a failure to a
 * minimal case and also feeds the parsers arbitrary text: they must either return a config
 * or throw a ConfigError whose problems all carry a stable code and a line; and whatever they
 * accept must come back the same when written out and read again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ErrorCodes } from '../lib/errors.js';
import {
  ConfigProblemCodes,
  formatWgConfig,
  formatWgQuickConfig,
  parseWgConfig,
  parseWgQuickConfig,
  stripWgQuickConfig,
  toWgConfig,
  validateConfig,
} from '../lib/config/index.js';
import type { WgConfig, WgInterfaceSection, WgPeerSection } from '../lib/config/index.js';
import { keys } from './config-fixtures.js';

const RUNS = { numRuns: 400 };
const KNOWN_CODES = new Set<string>(Object.values(ConfigProblemCodes));

const ipv4 = fc.ipV4();
const ipv6Groups = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'));
const ipv6 = fc.oneof(ipv6Groups, fc.ipV6());
const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/);
const hostName = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const endpoint = fc.oneof(
  fc.tuple(ipv4, port).map(([a, p]) => `${a}:${p}`),
  fc.tuple(ipv6Groups, port).map(([a, p]) => `[${a}]:${p}`),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 9 }), port).map(([h, z, p]) => `[fe80::${h.toString(16)}%eth${z}]:${p}`),
  fc.tuple(hostName, port).map(([h, p]) => `${h}:${p}`),
);
const allowedIP = fc
  .tuple(
    fc.constantFrom('', '', '+', '-'),
    fc.oneof(
      fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, c]) => `${a}/${c}`),
      fc.tuple(ipv6Groups, fc.integer({ min: 0, max: 128 })).map(([a, c]) => `${a}/${c}`),
    ),
  )
  .map(([sign, p]) => sign + p);
/** A hook: any printable ASCII, verbatim (including `#` and `=`), not starting or ending with space. */
const hook = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }).map((s) => `x${s}y`);
const pairs = fc.constantFrom(...keys.pairs);
const preshared = fc.constantFrom(...keys.preshared);
const some = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { minLength: 1, maxLength: 4 });

const interfaceSection: fc.Arbitrary<WgInterfaceSection> = fc.record(
  {
    privateKey: pairs.map((p) => p.private),
    listenPort: fc.integer({ min: 0, max: 65535 }),
    fwMark: fc.integer({ min: 0, max: 0xffffffff }),
    address: some(fc.oneof(fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, c]) => `${a}/${c}`), ipv6Groups)),
    dns: some(fc.oneof(ipv4, ipv6Groups)),
    dnsSearch: some(hostName),
    mtu: fc.integer({ min: 68, max: 65535 }),
    table: fc.oneof(fc.constantFrom('auto', 'off', 'main'), fc.integer({ min: 0, max: 0xffffffff }).map(String)),
    preUp: some(hook),
    postUp: some(hook),
    preDown: some(hook),
    postDown: some(hook),
    saveConfig: fc.boolean(),
  },
  { requiredKeys: [] },
);

const peerSection: fc.Arbitrary<WgPeerSection> = fc.record(
  {
    publicKey: pairs.map((p) => p.public),
    presharedKey: preshared,
    allowedIPs: some(allowedIP),
    endpoint,
    persistentKeepalive: fc.integer({ min: 0, max: 65535 }),
  },
  { requiredKeys: ['publicKey'] },
);

const config: fc.Arbitrary<WgConfig> = fc.record({
  interface: interfaceSection,
  peers: fc.array(peerSection, { maxLength: 5 }),
});

/** Text made of the formats' own pieces (so parsers get past the first line), or anything. */
const fragment = fc.oneof(
  fc.constantFrom(
    '[Interface]',
    '[Peer]',
    '[peer]',
    '[Interface',
    '',
    '# comment',
    'PrivateKey = ',
    'PublicKey = ',
    'PresharedKey = ',
    'ListenPort = ',
    'FwMark = ',
    'AllowedIPs = ',
    'Endpoint = ',
    'PersistentKeepalive = ',
    'Address = ',
    'DNS = ',
    'MTU = ',
    'Table = ',
    'PreUp = ',
    'PostDown = ',
    'SaveConfig = ',
    ' = ',
    '=',
    ',',
    '/',
    ':',
    '[',
    ']',
    '%',
    '0x',
    'off',
    'true',
    '\t',
    '\r',
    '\\',
  ),
  pairs.map((p) => p.public),
  preshared,
  ipv4,
  ipv6,
  allowedIP,
  endpoint,
  fc.integer({ min: -1, max: 0x1_0000_0001 }).map(String),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const line = fc.array(fragment, { maxLength: 6 }).map((parts) => parts.join(''));
const text = fc.oneof(
  fc.array(line, { maxLength: 14 }).map((lines) => lines.join('\n')),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

/** Runs `parse`; any throw must be a ConfigError with coded, located problems. */
function parseOrConfigError(parse: (t: string) => { config: WgConfig }, input: string): WgConfig | undefined {
  try {
    return parse(input).config;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.code).toBe(ErrorCodes.INVALID_CONFIG);
    expect(e.problems.some((p) => p.severity === 'error')).toBe(true);
    for (const p of e.problems) {
      expect(KNOWN_CODES.has(p.code), p.code).toBe(true);
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.message.length).toBeGreaterThan(0);
    }
    return undefined;
  }
}

describe('config properties', () => {
  it('wg-quick: parse(format(config)) == config, and wg: parse(format(config)) == its wg part', () => {
    fc.assert(
      fc.property(config, (c) => {
        expect(validateConfig(c).filter((p) => p.severity === 'error')).toEqual([]);
        const quick = formatWgQuickConfig(c);
        expect(parseWgQuickConfig(quick).config).toEqual(c);
        expect(parseWgConfig(formatWgConfig(c)).config).toEqual(toWgConfig(c));
        expect(parseWgConfig(stripWgQuickConfig(quick)).config).toEqual(toWgConfig(c));
      }),
      RUNS,
    );
  });

  it('the parsers throw nothing but coded ConfigErrors on arbitrary text', () => {
    fc.assert(
      fc.property(text, (t) => {
        parseOrConfigError(parseWgConfig, t);
        parseOrConfigError(parseWgQuickConfig, t);
        expect(typeof stripWgQuickConfig(t)).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('whatever a parser accepts, written out, reads back the same', () => {
    fc.assert(
      fc.property(text, (t) => {
        const quick = parseOrConfigError(parseWgQuickConfig, t);
        if (quick !== undefined) expect(parseWgQuickConfig(formatWgQuickConfig(quick)).config).toEqual(quick);
        const wg = parseOrConfigError(parseWgConfig, t);
        if (wg !== undefined) expect(parseWgConfig(formatWgConfig(wg)).config).toEqual(wg);
      }),
      { numRuns: 2000 },
    );
  });

  it('validateConfig never throws, whatever object it is given', () => {
    const loose = fc.record(
      {
        interface: fc.dictionary(
          fc.constantFrom('privateKey', 'listenPort', 'fwMark', 'address', 'dns', 'mtu', 'table', 'preUp', 'saveConfig', 'other'),
          fc.anything(),
        ),
        peers: fc.oneof(fc.array(fc.dictionary(fc.constantFrom('publicKey', 'presharedKey', 'allowedIPs', 'endpoint', 'persistentKeepalive'), fc.anything())), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(loose, (c) => {
        const problems = validateConfig(c as unknown as WgConfig);
        for (const p of problems) expect(KNOWN_CODES.has(p.code), p.code).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
