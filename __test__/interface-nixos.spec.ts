import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { ConfigProblemCodes as C } from '../lib/config/index.js';
import {
  checkNixosOptions,
  fromNixosOptions,
  nixosPeerName,
  toNixosOptions,
  validateNixosOptions,
} from '../lib/interface/index.js';
import type { InterfaceConfig, NixosInterfaceOptions } from '../lib/interface/index.js';
import { pair, psk } from './config-fixtures.js';

const SERVER = pair(90);
const PEERS = [pair(91).public, pair(92).public, pair(93).public];

/** A realistic NixOS interface: key files, namespaces, hooks as a string and as lines. */
function nixos(): NixosInterfaceOptions {
  return {
    ips: ['10.100.0.1/24', 'fd42:42:42::1/64'],
    privateKeyFile: '/var/lib/wireguard/wg0.key',
    generatePrivateKeyFile: true,
    listenPort: 51820,
    preSetup: 'ip netns add vpn || true',
    postSetup: ['iptables -A FORWARD -i wg0 -j ACCEPT', 'iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE'],
    postShutdown: ['iptables -D FORWARD -i wg0 -j ACCEPT'],
    table: '1000',
    metric: 700,
    mtu: 1380,
    fwMark: '0x6e6978',
    socketNamespace: 'init',
    interfaceNamespace: 'vpn',
    dynamicEndpointRefreshSeconds: 300,
    peers: [
      {
        name: 'laptop',
        publicKey: PEERS[0]!,
        presharedKeyFile: '/var/lib/wireguard/laptop.psk',
        allowedIPs: ['10.100.0.2/32', 'fd42:42:42::2/128'],
      },
      {
        publicKey: PEERS[1]!,
        presharedKey: psk(4),
        allowedIPs: ['10.100.0.3/32'],
        endpoint: 'home.example.org:51820',
        persistentKeepalive: 25,
        dynamicEndpointRefreshSeconds: 60,
        dynamicEndpointRefreshRestartSeconds: 5,
      },
      { publicKey: PEERS[2]!, allowedIPs: ['192.168.50.0/24'], endpoint: '[2001:db8::7]:51820' },
    ],
  };
}

/** What `fromNixosOptions(nixos())` must give. */
function expected(): InterfaceConfig {
  return {
    interface: {
      address: ['10.100.0.1/24', 'fd42:42:42::1/64'],
      privateKeyFile: '/var/lib/wireguard/wg0.key',
      generatePrivateKeyFile: true,
      listenPort: 51820,
      preSetup: ['ip netns add vpn || true'],
      postSetup: ['iptables -A FORWARD -i wg0 -j ACCEPT', 'iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE'],
      postShutdown: ['iptables -D FORWARD -i wg0 -j ACCEPT'],
      table: '1000',
      metric: 700,
      mtu: 1380,
      fwMark: 0x6e6978,
      socketNamespace: 'init',
      interfaceNamespace: 'vpn',
      dynamicEndpointRefreshSeconds: 300,
    },
    peers: [
      {
        name: 'laptop',
        publicKey: PEERS[0]!,
        presharedKeyFile: '/var/lib/wireguard/laptop.psk',
        allowedIPs: ['10.100.0.2/32', 'fd42:42:42::2/128'],
      },
      {
        publicKey: PEERS[1]!,
        presharedKey: psk(4),
        allowedIPs: ['10.100.0.3/32'],
        endpoint: 'home.example.org:51820',
        persistentKeepalive: 25,
        dynamicEndpointRefreshSeconds: 60,
        dynamicEndpointRefreshRestartSeconds: 5,
      },
      { publicKey: PEERS[2]!, allowedIPs: ['192.168.50.0/24'], endpoint: '[2001:db8::7]:51820' },
    ],
  };
}

function broken(change: (options: Record<string, any>) => void): unknown {
  const options = structuredClone(nixos()) as Record<string, any>;
  change(options);
  return options;
}

describe('fromNixosOptions', () => {
  it('maps a realistic interface', () => {
    expect(fromNixosOptions(nixos())).toEqual(expected());
  });

  it('maps the form `nix eval --json` prints (every default, nulls) to the same config', () => {
    const evaluated = {
      ...nixos(),
      privateKey: null,
      preShutdown: '',
      allowedIPsAsRoutes: true,
      type: 'wireguard',
      extraOptions: {},
      peers: nixos().peers!.map((peer) => ({
        name: nixosPeerName(peer.publicKey),
        presharedKey: null,
        presharedKeyFile: null,
        endpoint: null,
        persistentKeepalive: null,
        dynamicEndpointRefreshSeconds: null,
        dynamicEndpointRefreshRestartSeconds: null,
        ...peer,
      })),
    };
    expect(fromNixosOptions(evaluated as NixosInterfaceOptions)).toEqual(expected());
  });

  it('applies the NixOS defaults: table "main", nothing else', () => {
    expect(fromNixosOptions({ privateKey: SERVER.private })).toEqual({
      interface: { privateKey: SERVER.private, table: 'main' },
      peers: [],
    });
  });

  it('keeps the non-default values of boolean and numeric options', () => {
    const config = fromNixosOptions({
      privateKey: SERVER.private,
      allowedIPsAsRoutes: false,
      generatePrivateKeyFile: false,
      dynamicEndpointRefreshSeconds: 0,
      fwMark: '4660',
      listenPort: 0,
    });
    expect(config.interface).toEqual({ privateKey: SERVER.private, table: 'main', allowedIPsAsRoutes: false, fwMark: 0x1234, listenPort: 0 });
  });

  it('reads fwMark as wg does: decimal, hex, off', () => {
    for (const [text, mark] of [['0x10', 16], ['16', 16], ['off', 0], ['0', 0]] as const) {
      expect(fromNixosOptions({ privateKey: SERVER.private, fwMark: text }).interface.fwMark).toBe(mark);
    }
  });

  it('escapes the default peer name as NixOS does', () => {
    expect(nixosPeerName('ab/c-d+e f=')).toBe('ab-c\\x2dd\\x2be\\x20f\\x3d');
    const named = fromNixosOptions({
      privateKey: SERVER.private,
      peers: [{ publicKey: PEERS[0]!, allowedIPs: [], name: `${nixosPeerName(PEERS[0]!)}x` }],
    });
    expect(named.peers[0]!.name).toBe(`${nixosPeerName(PEERS[0]!)}x`);
  });

  it('a multi-line script stays one hook entry', () => {
    const config = fromNixosOptions({ privateKey: SERVER.private, preSetup: 'a\nb' });
    expect(config.interface.preSetup).toEqual(['a\nb']);
  });
});

describe('validateNixosOptions', () => {
  it('accepts the realistic interface', () => {
    expect(validateNixosOptions(nixos())).toEqual([]);
  });

  it('NixOS assertion: exactly one of privateKey and privateKeyFile (neither)', () => {
    const problems = validateNixosOptions(
      broken((o) => {
        delete o.privateKeyFile;
        delete o.generatePrivateKeyFile;
      }),
    );
    expect(problems).toEqual([
      { code: C.MISSING_PRIVATE_KEY, path: 'privateKey', severity: 'error', message: "Either `privateKey' or `privateKeyFile' must be set" },
    ]);
  });

  it('NixOS assertion: exactly one of privateKey and privateKeyFile (both)', () => {
    const problems = validateNixosOptions(
      broken((o) => {
        o.privateKey = SERVER.private;
        delete o.generatePrivateKeyFile;
      }),
    );
    expect(problems.map((p) => [p.code, p.path, p.message])).toEqual([
      [C.CONFLICT, 'privateKeyFile', "`privateKey' and `privateKeyFile' cannot both be set"],
    ]);
  });

  it('NixOS assertion: generatePrivateKeyFile must not be set with privateKey', () => {
    const problems = validateNixosOptions(
      broken((o) => {
        o.privateKey = SERVER.private;
        o.privateKeyFile = null;
      }),
    );
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      [C.MISSING_DEPENDENCY, 'generatePrivateKeyFile'],
      [C.CONFLICT, 'generatePrivateKeyFile'],
    ]);
  });

  it('NixOS assertion: not both presharedKey and presharedKeyFile', () => {
    const problems = validateNixosOptions(broken((o) => (o.peers[0].presharedKey = psk(5))));
    expect(problems.map((p) => [p.code, p.path, p.message])).toEqual([
      [C.CONFLICT, 'peers[0].presharedKeyFile', "`presharedKey' and `presharedKeyFile' cannot both be set"],
    ]);
  });

  const cases: [string, unknown, string, string][] = [
    ['root not an object', [], C.INVALID_TYPE, '(root)'],
    ['unknown option', broken((o) => (o.address = ['10.0.0.1/24'])), C.UNKNOWN_PROPERTY, 'address'],
    ['wrong-case option', broken((o) => (o.listenport = 1)), C.UNKNOWN_PROPERTY, 'listenport'],
    ['unknown peer option', broken((o) => (o.peers[2].publicKeyFile = '/k')), C.UNKNOWN_PROPERTY, 'peers[2].publicKeyFile'],
    ['bad ips entry', broken((o) => (o.ips[1] = 'fd42::1/129')), C.INVALID_ADDRESS, 'ips[1]'],
    ['ips not a list', broken((o) => (o.ips = '10.0.0.1/24')), C.INVALID_TYPE, 'ips'],
    ['ips null', broken((o) => (o.ips = null)), C.INVALID_TYPE, 'ips'],
    ['relative private key file', broken((o) => (o.privateKeyFile = 'wg0.key')), C.INVALID_PATH, 'privateKeyFile'],
    ['bad private key', broken((o) => {
      o.privateKey = 'short';
      o.privateKeyFile = null;
      o.generatePrivateKeyFile = false;
    }), C.INVALID_KEY, 'privateKey'],
    ['listen port out of range', broken((o) => (o.listenPort = 65536)), C.INVALID_PORT, 'listenPort'],
    ['preSetup a number', broken((o) => (o.preSetup = 5)), C.INVALID_TYPE, 'preSetup'],
    ['preSetup string with NUL', broken((o) => (o.preSetup = 'a\0')), C.INVALID_HOOK, 'preSetup'],
    ['postSetup line with NUL', broken((o) => (o.postSetup[1] = 'a\0')), C.INVALID_HOOK, 'postSetup[1]'],
    ['table auto', broken((o) => (o.table = 'auto')), C.INVALID_TABLE, 'table'],
    ['table off', broken((o) => (o.table = 'off')), C.INVALID_TABLE, 'table'],
    ['table bad name', broken((o) => (o.table = 'my table')), C.INVALID_TABLE, 'table'],
    ['table a number', broken((o) => (o.table = 1000)), C.INVALID_TYPE, 'table'],
    ['metric negative', broken((o) => (o.metric = -1)), C.INVALID_METRIC, 'metric'],
    ['mtu too small', broken((o) => (o.mtu = 60)), C.INVALID_MTU, 'mtu'],
    ['fwMark not a number', broken((o) => (o.fwMark = 'mark')), C.INVALID_FWMARK, 'fwMark'],
    ['fwMark a number', broken((o) => (o.fwMark = 5)), C.INVALID_TYPE, 'fwMark'],
    ['allowedIPsAsRoutes a string', broken((o) => (o.allowedIPsAsRoutes = 'no')), C.INVALID_TYPE, 'allowedIPsAsRoutes'],
    ['socket namespace with a slash', broken((o) => (o.socketNamespace = '/run/netns/x')), C.INVALID_NAMESPACE, 'socketNamespace'],
    ['interface namespace empty', broken((o) => (o.interfaceNamespace = '')), C.INVALID_NAMESPACE, 'interfaceNamespace'],
    ['refresh negative', broken((o) => (o.dynamicEndpointRefreshSeconds = -1)), C.INVALID_REFRESH, 'dynamicEndpointRefreshSeconds'],
    ['refresh null', broken((o) => (o.dynamicEndpointRefreshSeconds = null)), C.INVALID_TYPE, 'dynamicEndpointRefreshSeconds'],
    ['type amneziawg', broken((o) => (o.type = 'amneziawg')), C.INVALID_VALUE, 'type'],
    ['extraOptions set', broken((o) => (o.extraOptions = { Jc: 5 })), C.INVALID_VALUE, 'extraOptions'],
    ['peers not a list', broken((o) => (o.peers = {})), C.INVALID_TYPE, 'peers'],
    ['peer not an object', broken((o) => (o.peers[1] = 'peer')), C.INVALID_TYPE, 'peers[1]'],
    ['peer without public key', broken((o) => delete o.peers[1].publicKey), C.MISSING_PUBLIC_KEY, 'peers[1].publicKey'],
    ['peer without allowedIPs', broken((o) => delete o.peers[2].allowedIPs), C.MISSING_PROPERTY, 'peers[2].allowedIPs'],
    ['peer bad allowed IP', broken((o) => (o.peers[0].allowedIPs[1] = 'fd42::/200')), C.INVALID_ALLOWED_IP, 'peers[0].allowedIPs[1]'],
    ['peer bad endpoint', broken((o) => (o.peers[1].endpoint = 'home.example.org')), C.INVALID_ENDPOINT, 'peers[1].endpoint'],
    ['peer keepalive too large', broken((o) => (o.peers[1].persistentKeepalive = 65536)), C.INVALID_KEEPALIVE, 'peers[1].persistentKeepalive'],
    ['peer preshared key file relative', broken((o) => (o.peers[0].presharedKeyFile = 'psk')), C.INVALID_PATH, 'peers[0].presharedKeyFile'],
    ['peer refresh negative', broken((o) => (o.peers[1].dynamicEndpointRefreshSeconds = -1)), C.INVALID_REFRESH, 'peers[1].dynamicEndpointRefreshSeconds'],
    ['peer restart negative', broken((o) => (o.peers[1].dynamicEndpointRefreshRestartSeconds = -1)), C.INVALID_REFRESH, 'peers[1].dynamicEndpointRefreshRestartSeconds'],
    ['peer name empty', broken((o) => (o.peers[0].name = '')), C.INVALID_NAME, 'peers[0].name'],
  ];

  it.each(cases)('%s', (_name, value, code, path) => {
    const problems = validateNixosOptions(value);
    expect(problems.map((p) => [p.code, p.path, p.severity])).toEqual([[code, path, 'error']]);
  });

  it('reports warnings at NixOS paths and carries the file name', () => {
    const value = broken((o) => o.peers.push({ publicKey: PEERS[0], allowedIPs: ['10.100.0.9/24'] }));
    const { warnings } = checkNixosOptions(value, { file: 'wg0.nix' });
    expect(warnings.map((p) => [p.code, p.path, p.file])).toEqual([
      [C.HOST_BITS_SET, 'peers[3].allowedIPs[0]', 'wg0.nix'],
      [C.DUPLICATE_PEER, 'peers[3].publicKey', 'wg0.nix'],
    ]);
  });

  it('fromNixosOptions throws ConfigError with every problem', () => {
    const value = broken((o) => {
      o.listenPort = -1;
      o.ips[0] = 'x';
      o.type = 'amneziawg';
    });
    expect(() => fromNixosOptions(value as NixosInterfaceOptions)).toThrow(ConfigError);
    try {
      fromNixosOptions(value as NixosInterfaceOptions);
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.path)).toEqual(['type', 'listenPort', 'ips[0]']);
    }
  });
});

describe('toNixosOptions', () => {
  it('NixOS options → InterfaceConfig → NixOS options gives the options back', () => {
    const { options, warnings } = toNixosOptions(fromNixosOptions(nixos()));
    expect(warnings).toEqual([]);
    // A single-string hook comes back as a one-line list (the same script for NixOS).
    expect(options).toEqual({ ...nixos(), preSetup: ['ip netns add vpn || true'] });
  });

  it('InterfaceConfig → NixOS options → InterfaceConfig gives the config back', () => {
    expect(fromNixosOptions(toNixosOptions(expected()).options)).toEqual(expected());
  });

  it('leaves NixOS defaults out and maps table off to allowedIPsAsRoutes', () => {
    const config: InterfaceConfig = { interface: { privateKey: SERVER.private, table: 'off', fwMark: 0 }, peers: [] };
    expect(toNixosOptions(config).options).toEqual({ privateKey: SERVER.private, allowedIPsAsRoutes: false, fwMark: '0x0' });
    const main: InterfaceConfig = { interface: { privateKey: SERVER.private, table: 'main', allowedIPsAsRoutes: true }, peers: [] };
    expect(toNixosOptions(main).options).toEqual({ privateKey: SERVER.private });
  });

  it('gives the interface restart interval to each peer without one', () => {
    const config: InterfaceConfig = {
      interface: { privateKey: SERVER.private, table: 'main', dynamicEndpointRefreshRestartSeconds: 10 },
      peers: [
        { publicKey: PEERS[0]!, allowedIPs: [] },
        { publicKey: PEERS[1]!, dynamicEndpointRefreshRestartSeconds: 3 },
      ],
    };
    expect(toNixosOptions(config).options.peers).toEqual([
      { publicKey: PEERS[0], allowedIPs: [], dynamicEndpointRefreshRestartSeconds: 10 },
      { publicKey: PEERS[1], allowedIPs: [], dynamicEndpointRefreshRestartSeconds: 3 },
    ]);
  });

  it('warns about the fields NixOS has no option for', () => {
    const config: InterfaceConfig = {
      interface: {
        privateKey: SERVER.private,
        dns: ['10.0.0.53'],
        dnsSearch: ['lan'],
        preUp: ['a'],
        postDown: ['b'],
        saveConfig: false,
      },
      peers: [{ publicKey: PEERS[0]!, allowedIPs: ['0.0.0.0/0', '+::/0'] }],
    };
    const { options, warnings } = toNixosOptions(config);
    expect(warnings.map((p) => [p.code, p.path, p.severity])).toEqual([
      [C.NOT_EXPRESSIBLE, 'interface.table', 'warning'],
      [C.NOT_EXPRESSIBLE, 'interface.dns', 'warning'],
      [C.NOT_EXPRESSIBLE, 'interface.dnsSearch', 'warning'],
      [C.NOT_EXPRESSIBLE, 'interface.preUp', 'warning'],
      [C.NOT_EXPRESSIBLE, 'interface.postDown', 'warning'],
      [C.NOT_EXPRESSIBLE, 'interface.saveConfig', 'warning'],
    ]);
    expect(options).toEqual({ privateKey: SERVER.private, peers: [{ publicKey: PEERS[0], allowedIPs: ['0.0.0.0/0', '::/0'] }] });
  });

  it('rejects an allowed IP to remove, and an invalid config', () => {
    const remove: InterfaceConfig = { interface: {}, peers: [{ publicKey: PEERS[0]!, allowedIPs: ['-10.0.0.0/8'] }] };
    try {
      toNixosOptions(remove);
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => [p.code, p.path])).toEqual([[C.NOT_EXPRESSIBLE, 'peers[0].allowedIPs[0]']]);
    }
    expect(() => toNixosOptions({ interface: { metric: -1 }, peers: [] })).toThrow(ConfigError);
  });
});
