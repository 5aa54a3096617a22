import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import {
  checkConfig,
  ConfigProblemCodes as C,
  formatWgConfig,
  formatWgQuickConfig,
  readConfigFile,
  validateConfig,
  writeConfigFile,
} from '../lib/config/index.js';
import type { WgConfig } from '../lib/config/index.js';
import { good, pair, psk } from './config-fixtures.js';

const PRIV = pair(70).private;
const PUB = pair(71).public;

function valid(): WgConfig {
  return {
    interface: {
      privateKey: PRIV,
      listenPort: 51820,
      fwMark: 0x1234,
      address: ['10.0.0.1/24', 'fd00::1/64', '192.0.2.1'],
      dns: ['10.0.0.53', 'fd00::53', 'fe80::53%wg0'],
      dnsSearch: ['example.com', 'lan'],
      mtu: 1420,
      table: 'auto',
      preUp: ['echo "a=b" # c'],
      postUp: [''],
      preDown: ['true'],
      postDown: ['logger %i'],
      saveConfig: false,
    },
    peers: [
      {
        publicKey: PUB,
        presharedKey: psk(3),
        allowedIPs: ['10.0.0.2/32', '+10.9.0.0/16', '-fd00::/64', '192.0.2.7'],
        endpoint: '[fe80::1%eth0]:51820',
        persistentKeepalive: 25,
      },
      { publicKey: pair(72).public, endpoint: 'vpn.example.com:443' },
      { publicKey: pair(73).public, endpoint: '198.51.100.1:65535', persistentKeepalive: 0 },
      { publicKey: pair(74).public, endpoint: '[2001:db8::1]:1' },
    ],
  };
}

/** A valid configuration changed by `change`. */
function broken(change: (config: Record<string, any>) => void): unknown {
  const config = structuredClone(valid()) as Record<string, any>;
  change(config);
  return config;
}

const cases: [string, unknown, string, string][] = [
  ['root is not an object', [], C.INVALID_TYPE, '(root)'],
  ['root is null', null, C.INVALID_TYPE, '(root)'],
  ['missing interface', { peers: [] }, C.MISSING_PROPERTY, 'interface'],
  ['missing peers', { interface: {} }, C.MISSING_PROPERTY, 'peers'],
  ['unknown root property', broken((c) => (c.peer = [])), C.UNKNOWN_PROPERTY, 'peer'],
  ['interface is an array', broken((c) => (c.interface = [])), C.INVALID_TYPE, 'interface'],
  ['wrong-case property', broken((c) => (c.interface.PrivateKey = PRIV)), C.UNKNOWN_PROPERTY, 'interface.PrivateKey'],
  ['bad private key', broken((c) => (c.interface.privateKey = 'abc')), C.INVALID_KEY, 'interface.privateKey'],
  ['private key of the wrong type', broken((c) => (c.interface.privateKey = 1)), C.INVALID_TYPE, 'interface.privateKey'],
  ['port too large', broken((c) => (c.interface.listenPort = 65536)), C.INVALID_PORT, 'interface.listenPort'],
  ['port not an integer', broken((c) => (c.interface.listenPort = 1.5)), C.INVALID_PORT, 'interface.listenPort'],
  ['port as a string', broken((c) => (c.interface.listenPort = '51820')), C.INVALID_TYPE, 'interface.listenPort'],
  ['negative fwmark', broken((c) => (c.interface.fwMark = -1)), C.INVALID_FWMARK, 'interface.fwMark'],
  ['fwmark above u32', broken((c) => (c.interface.fwMark = 2 ** 32)), C.INVALID_FWMARK, 'interface.fwMark'],
  ['address prefix too long', broken((c) => (c.interface.address[1] = 'fd00::1/129')), C.INVALID_ADDRESS, 'interface.address[1]'],
  ['address not an array', broken((c) => (c.interface.address = '10.0.0.1/24')), C.INVALID_TYPE, 'interface.address'],
  ['address entry not a string', broken((c) => (c.interface.address[0] = 10)), C.INVALID_TYPE, 'interface.address[0]'],
  ['address with two entries in one string', broken((c) => (c.interface.address[2] = '10.0.0.1/24,10.0.0.2/24')), C.INVALID_ADDRESS, 'interface.address[2]'],
  ['search domain among servers', broken((c) => (c.interface.dns[2] = 'example.com')), C.INVALID_DNS, 'interface.dns[2]'],
  ['server among search domains', broken((c) => (c.interface.dnsSearch[1] = '1.1.1.1')), C.INVALID_DNS, 'interface.dnsSearch[1]'],
  ['MTU too small', broken((c) => (c.interface.mtu = 10)), C.INVALID_MTU, 'interface.mtu'],
  ['table with a space', broken((c) => (c.interface.table = 'my table')), C.INVALID_TABLE, 'interface.table'],
  ['hook with a newline', broken((c) => (c.interface.preUp = ['a', 'b\nc'])), C.INVALID_HOOK, 'interface.preUp[1]'],
  ['hook with leading space', broken((c) => (c.interface.postDown = [' x'])), C.INVALID_HOOK, 'interface.postDown[0]'],
  ['saveConfig as a string', broken((c) => (c.interface.saveConfig = 'true')), C.INVALID_TYPE, 'interface.saveConfig'],
  ['peers not an array', broken((c) => (c.peers = {})), C.INVALID_TYPE, 'peers'],
  ['peer not an object', broken((c) => (c.peers[2] = 'peer')), C.INVALID_TYPE, 'peers[2]'],
  ['peer without public key', broken((c) => delete c.peers[1].publicKey), C.MISSING_PUBLIC_KEY, 'peers[1].publicKey'],
  ['bad public key', broken((c) => (c.peers[3].publicKey = PUB.slice(1))), C.INVALID_KEY, 'peers[3].publicKey'],
  ['bad preshared key', broken((c) => (c.peers[0].presharedKey = 'x')), C.INVALID_KEY, 'peers[0].presharedKey'],
  ['allowed IP with a bad cidr', broken((c) => (c.peers[0].allowedIPs[2] = '-fd00::/200')), C.INVALID_ALLOWED_IP, 'peers[0].allowedIPs[2]'],
  ['allowed IP with whitespace', broken((c) => (c.peers[0].allowedIPs[0] = ' 10.0.0.2/32')), C.INVALID_ALLOWED_IP, 'peers[0].allowedIPs[0]'],
  ['empty endpoint', broken((c) => (c.peers[1].endpoint = '')), C.INVALID_ENDPOINT, 'peers[1].endpoint'],
  ['endpoint without port', broken((c) => (c.peers[1].endpoint = 'vpn.example.com')), C.INVALID_ENDPOINT, 'peers[1].endpoint'],
  ['endpoint port 0', broken((c) => (c.peers[0].endpoint = '[fe80::1%eth0]:0')), C.INVALID_ENDPOINT, 'peers[0].endpoint'],
  ['endpoint with a bad zone', broken((c) => (c.peers[0].endpoint = '[fe80::1%a/b]:1')), C.INVALID_ENDPOINT, 'peers[0].endpoint'],
  ['keepalive too large', broken((c) => (c.peers[2].persistentKeepalive = 70000)), C.INVALID_KEEPALIVE, 'peers[2].persistentKeepalive'],
  ['unknown peer property', broken((c) => (c.peers[3].allowedIps = [])), C.UNKNOWN_PROPERTY, 'peers[3].allowedIps'],
];

describe('validateConfig', () => {
  it('accepts a valid configuration with every field', () => {
    expect(validateConfig(valid())).toEqual([]);
    expect(checkConfig(valid())).toEqual({ config: valid(), warnings: [] });
  });

  it('has a corpus of at least 25 bad objects', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('%s', (_name, value, code, path) => {
    const problems = validateConfig(value);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code, path, severity: 'error' });
    expect(problems[0]?.line).toBeUndefined();
  });

  it('suggests the right spelling of a property', () => {
    const [problem] = validateConfig(broken((c) => (c.interface.ListenPort = 1)));
    expect(problem?.message).toBe("Unknown property `ListenPort' (did you mean `listenPort'?)");
  });

  it('the wg format treats wg-quick fields as unknown', () => {
    const problems = validateConfig(valid(), { format: 'wg' });
    expect(problems.map((p) => p.path)).toEqual([
      'interface.address',
      'interface.dns',
      'interface.dnsSearch',
      'interface.mtu',
      'interface.table',
      'interface.preUp',
      'interface.postUp',
      'interface.preDown',
      'interface.postDown',
      'interface.saveConfig',
    ]);
    expect(new Set(problems.map((p) => p.code))).toEqual(new Set([C.UNKNOWN_PROPERTY]));
  });

  it('reports warnings with paths', () => {
    const config = broken((c) => {
      c.peers[0].allowedIPs.push('10.1.2.3/8');
      c.peers[3].publicKey = PUB;
      c.peers[2].publicKey = pair(70).public;
      c.peers[1].endpoint = '2001:db8::1:51820';
    });
    expect(validateConfig(config).map((p) => [p.severity, p.code, p.path])).toEqual([
      ['warning', C.HOST_BITS_SET, 'peers[0].allowedIPs[4]'],
      ['warning', C.ENDPOINT_NOT_BRACKETED, 'peers[1].endpoint'],
      ['warning', C.PEER_IS_SELF, 'peers[2].publicKey'],
      ['warning', C.DUPLICATE_PEER, 'peers[3].publicKey'],
    ]);
    expect(checkConfig(config).warnings).toHaveLength(4);
  });

  it('collects every problem of an object', () => {
    const config = {
      interface: { privateKey: 'bad', listenPort: -1, fwMark: 'x', mtu: 1e6, extra: true, dns: ['nope!'] },
      peers: [{ allowedIPs: ['1.2.3.4/33', 'x'], endpoint: 'h', persistentKeepalive: -5 }, 7],
    };
    expect(validateConfig(config).map((p) => [p.code, p.path])).toEqual([
      [C.UNKNOWN_PROPERTY, 'interface.extra'],
      [C.INVALID_KEY, 'interface.privateKey'],
      [C.INVALID_PORT, 'interface.listenPort'],
      [C.INVALID_TYPE, 'interface.fwMark'],
      [C.INVALID_DNS, 'interface.dns[0]'],
      [C.INVALID_MTU, 'interface.mtu'],
      [C.MISSING_PUBLIC_KEY, 'peers[0].publicKey'],
      [C.INVALID_ALLOWED_IP, 'peers[0].allowedIPs[0]'],
      [C.INVALID_ALLOWED_IP, 'peers[0].allowedIPs[1]'],
      [C.INVALID_ENDPOINT, 'peers[0].endpoint'],
      [C.INVALID_KEEPALIVE, 'peers[0].persistentKeepalive'],
      [C.INVALID_TYPE, 'peers[1]'],
    ]);
    expect(() => checkConfig(config)).toThrow(ConfigError);
    try {
      checkConfig(config);
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(12);
      expect((error as ConfigError).message).toBe("interface.extra: Unknown property `extra' (and 11 more)");
    }
  });

  it('never shows a secret in a message', () => {
    const secret = PRIV.slice(0, 43);
    const config = broken((c) => {
      c.interface.privateKey = secret;
      c.peers[0].presharedKey = `${psk(3)}=`;
      c.peers[1].presharedKey = [psk(4)];
    });
    const problems = validateConfig(config);
    expect(problems.map((p) => p.code)).toEqual([C.INVALID_KEY, C.INVALID_KEY, C.INVALID_TYPE]);
    let shown = JSON.stringify(problems);
    try {
      formatWgQuickConfig(config as WgConfig);
    } catch (error) {
      shown += (error as Error).message + inspect(error, { depth: 5 });
    }
    expect(shown).toContain('peers[1].presharedKey');
    for (const key of [secret, psk(3), psk(4)]) expect(shown).not.toContain(key.slice(0, 20));
  });

  it('formatting refuses an invalid configuration', () => {
    const config = broken((c) => (c.peers[0].endpoint = 'nope')) as WgConfig;
    expect(() => formatWgConfig(config)).toThrow(ConfigError);
    expect(() => formatWgQuickConfig(config)).toThrow(ConfigError);
  });
});

describe('configuration files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgkit-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes with mode 0600 and reads back the same object', async () => {
    const file = join(dir, 'wg0.conf');
    writeFileSync(file, 'old', { mode: 0o644 });
    await writeConfigFile(file, valid());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(formatWgQuickConfig(valid()));
    expect((await readConfigFile(file)).config).toEqual(valid());
  });

  it('writes and reads the wg format', async () => {
    const file = join(dir, 'wg1.conf');
    await writeConfigFile(file, { interface: { privateKey: PRIV }, peers: [] }, { format: 'wg' });
    expect(readFileSync(file, 'utf8')).toBe(`[Interface]\nPrivateKey = ${PRIV}\n\n`);
    expect((await readConfigFile(file, { format: 'wg' })).config).toEqual({ interface: { privateKey: PRIV }, peers: [] });
  });

  it('names the file in problems', async () => {
    const file = join(dir, 'wg2.conf');
    writeFileSync(file, `${good('minimal.conf')}Address = 10.0.0.1/24\n`);
    await expect(readConfigFile(file, { format: 'wg' })).rejects.toMatchObject({
      problems: [{ code: C.LINE_UNRECOGNIZED, line: 3, file }],
    });
  });
});
