import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { ConfigProblemCodes as C, validateConfig } from '../lib/config/index.js';
import { checkInterfaceConfig, validateInterfaceConfig } from '../lib/interface/index.js';
import type { InterfaceConfig } from '../lib/interface/index.js';
import { pair, psk } from './config-fixtures.js';

const PRIV = pair(80).private;

function valid(): InterfaceConfig {
  return {
    interface: {
      privateKeyFile: '/run/keys/wg0.key',
      generatePrivateKeyFile: true,
      listenPort: 51820,
      address: ['10.0.0.1/24', 'fd00::1/64'],
      table: 'main',
      metric: 700,
      allowedIPsAsRoutes: true,
      preSetup: ['ip netns add vpn', 'if true; then\n  echo multi-line\nfi'],
      postSetup: [],
      preShutdown: ['true'],
      postShutdown: ['ip netns del vpn'],
      socketNamespace: 'init',
      interfaceNamespace: 'vpn',
      dynamicEndpointRefreshSeconds: 300,
      dynamicEndpointRefreshRestartSeconds: 0,
    },
    peers: [
      {
        name: 'laptop',
        publicKey: pair(81).public,
        presharedKeyFile: '/run/keys/laptop.psk',
        allowedIPs: ['10.0.0.2/32'],
        endpoint: 'laptop.example.com:51820',
        dynamicEndpointRefreshSeconds: 60,
        dynamicEndpointRefreshRestartSeconds: 5,
      },
      { publicKey: pair(82).public, presharedKey: psk(1), allowedIPs: ['10.0.0.3/32'] },
    ],
  };
}

function broken(change: (config: Record<string, any>) => void): unknown {
  const config = structuredClone(valid()) as Record<string, any>;
  change(config);
  return config;
}

describe('validateInterfaceConfig', () => {
  it('accepts a realistic configuration with every NixOS field', () => {
    expect(validateInterfaceConfig(valid())).toEqual([]);
    expect(checkInterfaceConfig(valid())).toEqual({ config: valid(), warnings: [] });
  });

  it('accepts a plain wg-quick configuration (no extra field)', () => {
    expect(validateInterfaceConfig({ interface: { privateKey: PRIV }, peers: [] })).toEqual([]);
  });

  const cases: [string, unknown, string, string][] = [
    ['private key file relative', broken((c) => (c.interface.privateKeyFile = 'keys/wg0.key')), C.INVALID_PATH, 'interface.privateKeyFile'],
    ['private key file empty', broken((c) => (c.interface.privateKeyFile = '')), C.INVALID_PATH, 'interface.privateKeyFile'],
    ['private key file with NUL', broken((c) => (c.interface.privateKeyFile = '/a\0b')), C.INVALID_PATH, 'interface.privateKeyFile'],
    ['private key file a number', broken((c) => (c.interface.privateKeyFile = 1)), C.INVALID_TYPE, 'interface.privateKeyFile'],
    ['generatePrivateKeyFile a string', broken((c) => (c.interface.generatePrivateKeyFile = 'yes')), C.INVALID_TYPE, 'interface.generatePrivateKeyFile'],
    ['metric negative', broken((c) => (c.interface.metric = -1)), C.INVALID_METRIC, 'interface.metric'],
    ['metric above u32', broken((c) => (c.interface.metric = 2 ** 32)), C.INVALID_METRIC, 'interface.metric'],
    ['metric fractional', broken((c) => (c.interface.metric = 1.5)), C.INVALID_METRIC, 'interface.metric'],
    ['metric a string', broken((c) => (c.interface.metric = '700')), C.INVALID_TYPE, 'interface.metric'],
    ['allowedIPsAsRoutes a number', broken((c) => (c.interface.allowedIPsAsRoutes = 1)), C.INVALID_TYPE, 'interface.allowedIPsAsRoutes'],
    ['preSetup a string', broken((c) => (c.interface.preSetup = 'ip netns add vpn')), C.INVALID_TYPE, 'interface.preSetup'],
    ['postSetup entry a number', broken((c) => (c.interface.postSetup = ['ok', 3])), C.INVALID_TYPE, 'interface.postSetup[1]'],
    ['preShutdown entry with NUL', broken((c) => (c.interface.preShutdown = ['a\0b'])), C.INVALID_HOOK, 'interface.preShutdown[0]'],
    ['postShutdown entry null', broken((c) => (c.interface.postShutdown = [null])), C.INVALID_TYPE, 'interface.postShutdown[0]'],
    ['socket namespace with a slash', broken((c) => (c.interface.socketNamespace = 'a/b')), C.INVALID_NAMESPACE, 'interface.socketNamespace'],
    ['socket namespace empty', broken((c) => (c.interface.socketNamespace = '')), C.INVALID_NAMESPACE, 'interface.socketNamespace'],
    ['interface namespace dot', broken((c) => (c.interface.interfaceNamespace = '.')), C.INVALID_NAMESPACE, 'interface.interfaceNamespace'],
    ['interface namespace dot-dot', broken((c) => (c.interface.interfaceNamespace = '..')), C.INVALID_NAMESPACE, 'interface.interfaceNamespace'],
    ['interface namespace too long', broken((c) => (c.interface.interfaceNamespace = 'n'.repeat(256))), C.INVALID_NAMESPACE, 'interface.interfaceNamespace'],
    ['interface namespace a number', broken((c) => (c.interface.interfaceNamespace = 1)), C.INVALID_TYPE, 'interface.interfaceNamespace'],
    ['refresh negative', broken((c) => (c.interface.dynamicEndpointRefreshSeconds = -5)), C.INVALID_REFRESH, 'interface.dynamicEndpointRefreshSeconds'],
    ['restart fractional', broken((c) => (c.interface.dynamicEndpointRefreshRestartSeconds = 0.5)), C.INVALID_REFRESH, 'interface.dynamicEndpointRefreshRestartSeconds'],
    ['refresh infinite', broken((c) => (c.interface.dynamicEndpointRefreshSeconds = Infinity)), C.INVALID_REFRESH, 'interface.dynamicEndpointRefreshSeconds'],
    ['peer name empty', broken((c) => (c.peers[0].name = '')), C.INVALID_NAME, 'peers[0].name'],
    ['peer name with a newline', broken((c) => (c.peers[0].name = 'a\nb')), C.INVALID_NAME, 'peers[0].name'],
    ['peer name a number', broken((c) => (c.peers[1].name = 5)), C.INVALID_TYPE, 'peers[1].name'],
    ['preshared key file relative', broken((c) => (c.peers[0].presharedKeyFile = 'psk')), C.INVALID_PATH, 'peers[0].presharedKeyFile'],
    ['peer refresh negative', broken((c) => (c.peers[0].dynamicEndpointRefreshSeconds = -1)), C.INVALID_REFRESH, 'peers[0].dynamicEndpointRefreshSeconds'],
    ['peer restart a string', broken((c) => (c.peers[0].dynamicEndpointRefreshRestartSeconds = '5')), C.INVALID_TYPE, 'peers[0].dynamicEndpointRefreshRestartSeconds'],
    // The wg and wg-quick fields are checked by the WgConfig validator, with the same paths.
    ['bad listen port', broken((c) => (c.interface.listenPort = 70000)), C.INVALID_PORT, 'interface.listenPort'],
    ['bad allowed IP of peer 1', broken((c) => (c.peers[1].allowedIPs[0] = '10.0.0.300/32')), C.INVALID_ALLOWED_IP, 'peers[1].allowedIPs[0]'],
    ['unknown interface property', broken((c) => (c.interface.privatekeyfile = '/k')), C.UNKNOWN_PROPERTY, 'interface.privatekeyfile'],
    ['unknown peer property', broken((c) => (c.peers[0].nickname = 'x')), C.UNKNOWN_PROPERTY, 'peers[0].nickname'],
  ];

  it.each(cases)('%s', (_name, value, code, path) => {
    const problems = validateInterfaceConfig(value);
    expect(problems.map((p) => [p.code, p.path, p.severity])).toEqual([[code, path, 'error']]);
  });

  it('accepts the namespace names ip netns accepts', () => {
    for (const name of ['init', 'vpn', 'my-ns.1', 'n'.repeat(255), 'with space']) {
      const config = broken((c) => (c.interface.interfaceNamespace = name));
      expect(validateInterfaceConfig(config), name).toEqual([]);
    }
  });

  it('reports both privateKey and privateKeyFile as a conflict naming both', () => {
    const problems = validateInterfaceConfig(
      broken((c) => {
        c.interface.privateKey = PRIV;
        delete c.interface.generatePrivateKeyFile;
      }),
    );
    expect(problems).toEqual([
      {
        code: C.CONFLICT,
        path: 'interface.privateKeyFile',
        severity: 'error',
        message: "`privateKey' and `privateKeyFile' cannot both be set",
      },
    ]);
  });

  it('requires privateKeyFile for generatePrivateKeyFile', () => {
    const problems = validateInterfaceConfig(broken((c) => delete c.interface.privateKeyFile));
    expect(problems).toEqual([
      {
        code: C.MISSING_DEPENDENCY,
        path: 'interface.generatePrivateKeyFile',
        severity: 'error',
        message: "`generatePrivateKeyFile' requires `privateKeyFile'",
      },
    ]);
  });

  it('rejects generatePrivateKeyFile with privateKey (and the key file conflict)', () => {
    const problems = validateInterfaceConfig(broken((c) => (c.interface.privateKey = PRIV)));
    expect(problems.map((p) => [p.code, p.path, p.message])).toEqual([
      [C.CONFLICT, 'interface.privateKeyFile', "`privateKey' and `privateKeyFile' cannot both be set"],
      [C.CONFLICT, 'interface.generatePrivateKeyFile', "`generatePrivateKeyFile' cannot be set together with `privateKey'"],
    ]);
  });

  it('allows generatePrivateKeyFile: false without a key file', () => {
    const config = broken((c) => {
      delete c.interface.privateKeyFile;
      c.interface.generatePrivateKeyFile = false;
    });
    expect(validateInterfaceConfig(config)).toEqual([]);
  });

  it('rejects a preshared key together with a preshared key file', () => {
    const problems = validateInterfaceConfig(broken((c) => (c.peers[0].presharedKey = psk(2))));
    expect(problems).toEqual([
      {
        code: C.CONFLICT,
        path: 'peers[0].presharedKeyFile',
        severity: 'error',
        message: "`presharedKey' and `presharedKeyFile' cannot both be set",
      },
    ]);
  });

  it('collects every problem, wg fields and extra fields, and adds the file name', () => {
    const value = broken((c) => {
      c.interface.listenPort = -1;
      c.interface.metric = -1;
      c.peers[1].allowedIPs = 'x';
      c.peers[1].presharedKeyFile = 'rel';
    });
    const problems = validateInterfaceConfig(value, { file: 'wg0.json' });
    expect(problems.map((p) => [p.code, p.path, p.file])).toEqual([
      [C.INVALID_PORT, 'interface.listenPort', 'wg0.json'],
      [C.INVALID_TYPE, 'peers[1].allowedIPs', 'wg0.json'],
      [C.INVALID_METRIC, 'interface.metric', 'wg0.json'],
      [C.INVALID_PATH, 'peers[1].presharedKeyFile', 'wg0.json'],
      [C.CONFLICT, 'peers[1].presharedKeyFile', 'wg0.json'],
    ]);
  });

  it('reports a non-object like the WgConfig validator', () => {
    for (const value of [null, [], 'x', { interface: [], peers: {} }]) {
      expect(validateInterfaceConfig(value)).toEqual(validateConfig(value));
      expect(validateInterfaceConfig(value).length).toBeGreaterThan(0);
    }
  });

  it('keeps warnings of the WgConfig validator (duplicate peer)', () => {
    const value = broken((c) => c.peers.push({ publicKey: pair(81).public }));
    const { warnings } = checkInterfaceConfig(value);
    expect(warnings.map((p) => [p.code, p.path, p.severity])).toEqual([[C.DUPLICATE_PEER, 'peers[2].publicKey', 'warning']]);
  });

  it('checkInterfaceConfig throws ConfigError with every problem', () => {
    const value = broken((c) => {
      c.interface.socketNamespace = '';
      c.peers[0].name = '';
    });
    let error: unknown;
    try {
      checkInterfaceConfig(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    expect(config.code).toBe('ERR_WGKIT_INVALID_CONFIG');
    expect(config.problems.map((p) => p.code)).toEqual([C.INVALID_NAMESPACE, C.INVALID_NAME]);
    expect(config.message).toBe(
      "interface.socketNamespace: Network namespace is neither `init' nor a valid name under /var/run/netns: `' (and 1 more)",
    );
  });

  it('never shows a key in a problem message', () => {
    const value = broken((c) => {
      c.peers[1].presharedKey = `${psk(1)}x`;
      c.peers[1].presharedKeyFile = '/k';
    });
    const problems = validateInterfaceConfig(value);
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem.message).not.toContain(psk(1).slice(0, 20));
  });

  it('does not change the object it checks', () => {
    const value = valid();
    validateInterfaceConfig(value);
    expect(value).toEqual(valid());
  });
});
