import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidArgumentError } from '../lib/errors.js';
import { ConfigProblemCodes as C } from '../lib/config/index.js';
import { exportNetworkd, fromNixosOptions, importNetworkd, isValidInterfaceName } from '../lib/interface/index.js';
import type { InterfaceConfig } from '../lib/interface/index.js';
import { pair, psk } from './config-fixtures.js';

const SERVER = pair(100);
const A = pair(101).public;
const B = pair(102).public;
const PEER_C = pair(103).public;

function realistic(): InterfaceConfig {
  return {
    interface: {
      privateKeyFile: '/etc/systemd/network/wg0.key',
      listenPort: 51820,
      fwMark: 0x1234,
      mtu: 1420,
      address: ['10.0.0.1/24', 'fd00::1/64'],
      dns: ['10.0.0.53', 'fd00::53'],
      dnsSearch: ['example.com', 'lan'],
      table: '1000',
      metric: 700,
    },
    peers: [
      {
        publicKey: A,
        presharedKeyFile: '/etc/systemd/network/a.psk',
        allowedIPs: ['10.0.0.2/32', 'fd00::2/128'],
        endpoint: 'a.example.com:51820',
        persistentKeepalive: 25,
      },
      { publicKey: B, presharedKey: psk(1), allowedIPs: ['192.168.1.0/24'], endpoint: '[2001:db8::1]:51820', persistentKeepalive: 0 },
      { publicKey: PEER_C },
    ],
  };
}

const REALISTIC_NETDEV = `[NetDev]
Name=wg0
Kind=wireguard
MTUBytes=1420

[WireGuard]
PrivateKeyFile=/etc/systemd/network/wg0.key
ListenPort=51820
FirewallMark=4660
RouteTable=1000
RouteMetric=700

[WireGuardPeer]
PublicKey=${A}
PresharedKeyFile=/etc/systemd/network/a.psk
AllowedIPs=10.0.0.2/32,fd00::2/128
Endpoint=a.example.com:51820
PersistentKeepalive=25

[WireGuardPeer]
PublicKey=${B}
PresharedKey=${psk(1)}
AllowedIPs=192.168.1.0/24
Endpoint=[2001:db8::1]:51820
PersistentKeepalive=off

[WireGuardPeer]
PublicKey=${PEER_C}
`;

const REALISTIC_NETWORK = `[Match]
Name=wg0

[Network]
Address=10.0.0.1/24
Address=fd00::1/64
DNS=10.0.0.53 fd00::53
Domains=example.com lan
`;

describe('exportNetworkd', () => {
  it('writes a realistic interface exactly', () => {
    const { netdev, network, warnings } = exportNetworkd('wg0', realistic());
    expect(netdev).toBe(REALISTIC_NETDEV);
    expect(network).toBe(REALISTIC_NETWORK);
    expect(warnings).toEqual([]);
  });

  it('writes the minimal files: no [Network] without addresses, routes off, auto port', () => {
    const config: InterfaceConfig = { interface: { privateKey: SERVER.private, listenPort: 0, allowedIPsAsRoutes: false }, peers: [] };
    const { netdev, network } = exportNetworkd('wg-x', config);
    expect(netdev).toBe(`[NetDev]\nName=wg-x\nKind=wireguard\n\n[WireGuard]\nPrivateKey=${SERVER.private}\nListenPort=auto\nRouteTable=off\n`);
    expect(network).toBe('[Match]\nName=wg-x\n');
  });

  it('writes RouteTable=main for an unset table, and warns about a default route with Table=auto', () => {
    const config: InterfaceConfig = { interface: { privateKey: SERVER.private }, peers: [{ publicKey: A, allowedIPs: ['10.9.0.0/16'] }] };
    expect(exportNetworkd('wg0', config).netdev).toContain('\nRouteTable=main\n');
    expect(exportNetworkd('wg0', config).warnings).toEqual([]);
    config.interface.table = 'auto';
    config.peers[0]!.allowedIPs!.push('::/0');
    const { netdev, warnings } = exportNetworkd('wg0', config);
    expect(netdev).toContain('\nRouteTable=main\n');
    expect(warnings.map((p) => [p.code, p.path, p.severity])).toEqual([[C.NOT_EXPRESSIBLE, 'interface.table', 'warning']]);
  });

  it('reports every field networkd cannot express as a warning, not silently', () => {
    const config = realistic();
    Object.assign(config.interface, {
      preUp: ['a'],
      postUp: [],
      postDown: ['b'],
      saveConfig: true,
      preSetup: ['c'],
      postShutdown: ['d'],
      socketNamespace: 'init',
      interfaceNamespace: 'vpn',
      generatePrivateKeyFile: true,
      dynamicEndpointRefreshSeconds: 30,
      dynamicEndpointRefreshRestartSeconds: 0,
    });
    Object.assign(config.peers[1]!, { name: 'home', dynamicEndpointRefreshRestartSeconds: 5 });
    const { netdev, network, warnings } = exportNetworkd('wg0', config);
    expect(netdev).toBe(REALISTIC_NETDEV);
    expect(network).toBe(REALISTIC_NETWORK);
    expect(warnings.map((p) => [p.code, p.path])).toEqual([
      [C.NOT_EXPRESSIBLE, 'interface.preUp'],
      [C.NOT_EXPRESSIBLE, 'interface.postDown'],
      [C.NOT_EXPRESSIBLE, 'interface.saveConfig'],
      [C.NOT_EXPRESSIBLE, 'interface.preSetup'],
      [C.NOT_EXPRESSIBLE, 'interface.postShutdown'],
      [C.NOT_EXPRESSIBLE, 'interface.socketNamespace'],
      [C.NOT_EXPRESSIBLE, 'interface.interfaceNamespace'],
      [C.NOT_EXPRESSIBLE, 'interface.generatePrivateKeyFile'],
      [C.NOT_EXPRESSIBLE, 'interface.dynamicEndpointRefreshSeconds'],
      [C.NOT_EXPRESSIBLE, 'peers[1].name'],
      [C.NOT_EXPRESSIBLE, 'peers[1].dynamicEndpointRefreshRestartSeconds'],
    ]);
    expect(warnings.every((p) => p.severity === 'warning')).toBe(true);
  });

  it('rejects an invalid name, an invalid config and an allowed IP to remove', () => {
    expect(() => exportNetworkd('wg/0', realistic())).toThrow(InvalidArgumentError);
    expect(() => exportNetworkd('a-very-long-name', realistic())).toThrow(InvalidArgumentError);
    expect(() => exportNetworkd('wg0', { interface: { mtu: 1 }, peers: [] })).toThrow(ConfigError);
    const config = realistic();
    config.peers[2]!.allowedIPs = ['+10.1.0.0/16', '-10.2.0.0/16'];
    try {
      exportNetworkd('wg0', config);
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => [p.code, p.path])).toEqual([[C.NOT_EXPRESSIBLE, 'peers[2].allowedIPs[1]']]);
    }
    config.peers[2]!.allowedIPs = ['+10.1.0.0/16'];
    expect(exportNetworkd('wg0', config).netdev).toContain(`PublicKey=${PEER_C}\nAllowedIPs=10.1.0.0/16\n`);
  });

  it('isValidInterfaceName follows the kernel', () => {
    for (const name of ['wg0', 'a', 'x'.repeat(15), 'wg-home.1']) expect(isValidInterfaceName(name), name).toBe(true);
    for (const name of ['', '.', '..', 'x'.repeat(16), 'a/b', 'a:b', 'a b', 'a\tb']) expect(isValidInterfaceName(name), name).toBe(false);
  });
});

describe('importNetworkd', () => {
  it('reads back what it writes (round trip)', () => {
    const { netdev, network } = exportNetworkd('wg0', realistic());
    expect(importNetworkd(netdev, network)).toEqual({ name: 'wg0', config: realistic(), warnings: [] });
  });

  it('round-trips routes off, inline keys and a NixOS-made config', () => {
    const off: InterfaceConfig = {
      interface: { privateKey: SERVER.private, listenPort: 0, allowedIPsAsRoutes: false, metric: 5, fwMark: 0 },
      peers: [{ publicKey: A, allowedIPs: ['0.0.0.0/0', '::/0'], endpoint: '192.0.2.1:1' }],
    };
    const files = exportNetworkd('wg1', off);
    expect(importNetworkd(files.netdev, files.network).config).toEqual(off);

    const nixos = fromNixosOptions({
      ips: ['10.1.0.1/24'],
      privateKeyFile: '/k/wg.key',
      peers: [{ publicKey: B, allowedIPs: ['10.1.0.0/24'], presharedKeyFile: '/k/b.psk' }],
    });
    const nixosFiles = exportNetworkd('wg2', nixos);
    expect(nixosFiles.netdev).toContain('\nRouteTable=main\n');
    expect(importNetworkd(nixosFiles.netdev, nixosFiles.network).config).toEqual(nixos);
  });

  it('reads hand-written files: comments, repeated keys, continuations, other sections', () => {
    const netdev = `# /etc/systemd/network/50-wg0.netdev
; managed by hand

[NetDev]
Name = wg0
Kind = wireguard
Description = WireGuard tunnel to the office
MTUBytes = 1K

[WireGuard]
  # comments may be indented
PrivateKey=${SERVER.private}
PrivateKeyFile=/etc/wireguard/wg0.key
ListenPort=51820
RouteTable=main

[WireGuardPeer]
PublicKey=${A}
AllowedIPs=10.0.0.0/24
AllowedIPs=10.0.1.0/24, 10.0.2.0/24 fd00::/64
Endpoint=office.example.com:51820
PersistentKeepalive=25

[WireGuardPeer]
PublicKey=${B}
AllowedIPs=192.168.0.0/16
AllowedIPs=
AllowedIPs=192.168.7.0/24,\\
 192.168.8.0/24
RouteTable=main
[X-Custom]
Anything=goes
`;
    const network = `[Match]
Name=wg*

[Network]
Address=10.0.0.5/24
# a comment between repeated keys
Address=fd00::5/64
DNS=10.0.0.53
DNS=fd00::53 10.0.0.54
Domains=office.example.com ~corp.example.com
IPv6AcceptRA=no

[Route]
Destination=10.20.0.0/16
Gateway=10.0.0.1
`;
    const result = importNetworkd(netdev, network, { netdevFile: '50-wg0.netdev', networkFile: '50-wg0.network' });
    expect(result.name).toBe('wg0');
    expect(result.config).toEqual({
      interface: {
        mtu: 1024,
        privateKeyFile: '/etc/wireguard/wg0.key',
        listenPort: 51820,
        table: 'main',
        address: ['10.0.0.5/24', 'fd00::5/64'],
        dns: ['10.0.0.53', 'fd00::53', '10.0.0.54'],
        dnsSearch: ['office.example.com'],
      },
      peers: [
        {
          publicKey: A,
          allowedIPs: ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', 'fd00::/64'],
          endpoint: 'office.example.com:51820',
          persistentKeepalive: 25,
        },
        { publicKey: B, allowedIPs: ['192.168.7.0/24', '192.168.8.0/24'] },
      ],
    });
    expect(result.warnings.map((p) => [p.file, p.line, p.code])).toEqual([
      ['50-wg0.netdev', 7, C.NOT_EXPRESSIBLE], // Description=
      ['50-wg0.netdev', 12, C.CONFLICT], // PrivateKey= and PrivateKeyFile=: the file wins
      ['50-wg0.network', 10, C.NOT_EXPRESSIBLE], // ~corp.example.com
      ['50-wg0.network', 11, C.NOT_EXPRESSIBLE], // IPv6AcceptRA=
      ['50-wg0.network', 13, C.NOT_EXPRESSIBLE], // [Route]
    ]);
  });

  it('reports the metric of peers that differ as an error at the line', () => {
    const netdev = `[NetDev]\nName=wg0\nKind=wireguard\n[WireGuard]\nPrivateKey=${SERVER.private}\nRouteTable=main\n[WireGuardPeer]\nPublicKey=${A}\n[WireGuardPeer]\nPublicKey=${B}\nRouteMetric=50\n`;
    expect(problemsOf(netdev)).toEqual([['.netdev', 11, C.NOT_EXPRESSIBLE, 'error']]);
  });

  it('takes one table given by every peer, and no routes without RouteTable=', () => {
    const peerTables = `[NetDev]\nName=wg0\nKind=wireguard\n[WireGuard]\nPrivateKey=${SERVER.private}\n[WireGuardPeer]\nPublicKey=${A}\nRouteTable=42\nRouteMetric=9\n`;
    expect(importNetworkd(peerTables).config.interface).toEqual({ privateKey: SERVER.private, table: '42', metric: 9 });
    const none = `[NetDev]\nName=wg0\nKind=wireguard\n[WireGuard]\nPrivateKey=${SERVER.private}\n`;
    expect(importNetworkd(none).config.interface).toEqual({ privateKey: SERVER.private, allowedIPsAsRoutes: false });
    for (const off of ['off', 'no', 'false', '0', '']) {
      const text = `${none}RouteTable=${off}\n`;
      expect(importNetworkd(text).config.interface.allowedIPsAsRoutes, off).toBe(false);
    }
  });

  it('matches [Match] Name= globs and negations', () => {
    const netdev = exportNetworkd('wg0', realistic()).netdev;
    for (const name of ['wg0', 'wg?', 'wg[0-9]', 'eth0 wg0', '!eth*', 'w*0']) {
      expect(importNetworkd(netdev, `[Match]\nName=${name}\n`).name, name).toBe('wg0');
    }
    for (const name of ['wg1', 'wg[!0]', '!wg*', 'eth0']) {
      expect(() => importNetworkd(netdev, `[Match]\nName=${name}\n`), name).toThrow(ConfigError);
    }
  });

  /** The problems of bad input as [file, line, code, severity]. */
  function problemsOf(netdev: string, network?: string): [string | undefined, number | undefined, string, string][] {
    try {
      const { warnings } = importNetworkd(netdev, network);
      return warnings.map((p) => [p.file, p.line, p.code, p.severity]);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.problems.map((p) => [p.file, p.line, p.code, p.severity]);
    }
  }

  const HEAD = `[NetDev]\nName=wg0\nKind=wireguard\n\n[WireGuard]\nPrivateKey=${SERVER.private}\n`; // 6 lines
  const PEER = `[WireGuardPeer]\nPublicKey=${A}\n`; // lines 7-8 after HEAD

  const badNetdev: [string, string, number, string, ('error' | 'warning')?][] = [
    ['line without =', `${HEAD}ListenPort 51820\n`, 7, C.LINE_UNRECOGNIZED],
    ['assignment before any section', `Name=wg0\n${HEAD}`, 1, C.LINE_UNRECOGNIZED],
    ['broken section header', `${HEAD}[WireGuardPeer\n`, 7, C.LINE_UNRECOGNIZED],
    ['empty key', `${HEAD}=5\n`, 7, C.LINE_UNRECOGNIZED],
    ['continuation at end of file', `${HEAD}ListenPort=5\\\n`, 7, C.LINE_UNRECOGNIZED],
    ['missing Name', `[NetDev]\nKind=wireguard\n[WireGuard]\nPrivateKey=${SERVER.private}\n`, 1, C.MISSING_SETTING],
    ['missing Kind', `\n[NetDev]\nName=wg0\n[WireGuard]\nPrivateKey=${SERVER.private}\n`, 2, C.MISSING_SETTING],
    ['wrong Kind', `[NetDev]\nName=wg0\nKind=vxlan\n`, 3, C.INVALID_VALUE],
    ['invalid Name', `[NetDev]\nName=wg/0\nKind=wireguard\n[WireGuard]\nPrivateKey=${SERVER.private}\n`, 2, C.INVALID_NAME],
    ['missing private key', `[NetDev]\nName=wg0\nKind=wireguard\n\n[WireGuard]\nListenPort=1\n`, 5, C.MISSING_PRIVATE_KEY],
    ['bad MTUBytes', `${HEAD.replace('Kind=wireguard\n', 'Kind=wireguard\nMTUBytes=9000X\n')}`, 4, C.INVALID_MTU],
    ['MTU too small', `${HEAD.replace('Kind=wireguard\n', 'Kind=wireguard\nMTUBytes=60\n')}`, 4, C.INVALID_MTU],
    ['bad private key', HEAD.replace(SERVER.private, 'c2hvcnQ='), 6, C.INVALID_KEY],
    ['relative PrivateKeyFile', `${HEAD}PrivateKeyFile=wg0.key\n`, 7, C.INVALID_PATH],
    ['ListenPort 0', `${HEAD}ListenPort=0\n`, 7, C.INVALID_PORT],
    ['ListenPort too large', `${HEAD}ListenPort=65536\n`, 7, C.INVALID_PORT],
    ['ListenPort a name', `${HEAD}ListenPort=wireguard\n`, 7, C.INVALID_PORT],
    ['bad FirewallMark', `${HEAD}FirewallMark=0x100000000\n`, 7, C.INVALID_FWMARK],
    ['bad RouteTable', `${HEAD}RouteTable=my table\n`, 7, C.INVALID_TABLE],
    ['bad RouteMetric', `${HEAD}RouteMetric=-1\n`, 7, C.INVALID_METRIC],
    ['peer without PublicKey', `${HEAD}[WireGuardPeer]\nAllowedIPs=10.0.0.0/8\n`, 7, C.MISSING_PUBLIC_KEY],
    ['bad PublicKey', `${HEAD}[WireGuardPeer]\nPublicKey=abc\n`, 8, C.INVALID_KEY],
    ['bad PresharedKey', `${HEAD}${PEER}PresharedKey=abc\n`, 9, C.INVALID_KEY],
    ['relative PresharedKeyFile', `${HEAD}${PEER}PresharedKeyFile=a.psk\n`, 9, C.INVALID_PATH],
    ['bad AllowedIPs entry', `${HEAD}${PEER}AllowedIPs=10.0.0.0/8,10.0.0.300/32\n`, 9, C.INVALID_ALLOWED_IP],
    ['AllowedIPs with a + prefix', `${HEAD}${PEER}AllowedIPs=+10.0.0.0/8\n`, 9, C.INVALID_ALLOWED_IP],
    ['bad Endpoint', `${HEAD}${PEER}Endpoint=office.example.com\n`, 9, C.INVALID_ENDPOINT],
    ['bad PersistentKeepalive', `${HEAD}${PEER}PersistentKeepalive=65536\n`, 9, C.INVALID_KEEPALIVE],
    ['bad peer RouteTable', `${HEAD}${PEER}RouteTable=a b\n`, 9, C.INVALID_TABLE],
    ['bad peer RouteMetric', `${HEAD}${PEER}RouteMetric=x\n`, 9, C.INVALID_METRIC],
    ['peers in different tables', `${HEAD}RouteTable=main\n${PEER}[WireGuardPeer]\nPublicKey=${B}\nRouteTable=7\n`, 12, C.NOT_EXPRESSIBLE],
    ['unknown key (wrong case)', `${HEAD}listenPort=5\n`, 7, C.UNKNOWN_KEY, 'warning'],
    ['unknown section', `${HEAD}[Peer]\nPublicKey=${A}\n`, 7, C.UNKNOWN_KEY, 'warning'],
    ['[Match] in a .netdev', `[Match]\nHost=server\n${HEAD}`, 1, C.NOT_EXPRESSIBLE, 'warning'],
    ['duplicate peer', `${HEAD}${PEER}${PEER}`, 10, C.DUPLICATE_PEER, 'warning'],
    ['peer is self', `${HEAD}[WireGuardPeer]\nPublicKey=${SERVER.public}\n`, 8, C.PEER_IS_SELF, 'warning'],
    ['host bits in AllowedIPs', `${HEAD}${PEER}AllowedIPs=10.0.0.1/8\n`, 9, C.HOST_BITS_SET, 'warning'],
    ['PresharedKey and PresharedKeyFile', `${HEAD}${PEER}PresharedKey=${psk(2)}\nPresharedKeyFile=/k\n`, 9, C.CONFLICT, 'warning'],
  ];

  it.each(badNetdev)('.netdev: %s', (_name, netdev, line, code, severity = 'error') => {
    expect(problemsOf(netdev)).toEqual([['.netdev', line, code, severity]]);
  });

  const badNetwork: [string, string, number, string, ('error' | 'warning')?][] = [
    ['Name does not match', '[Match]\nName=wg1 wg2\n', 2, C.NAME_MISMATCH],
    ['bad Address', '[Match]\nName=wg0\n[Network]\nAddress=10.0.0.1/24\nAddress=10.0.0.1/24 10.0.0.2/24\n', 5, C.INVALID_ADDRESS],
    ['bad DNS', '[Network]\nDNS=10.0.0.53 dns.example.com\n', 2, C.INVALID_DNS],
    ['bad Domains', '[Network]\nDomains=ex ample..com\n', 2, C.INVALID_DNS],
    ['bad [Link] MTUBytes', '[Link]\nMTUBytes=10\n', 2, C.INVALID_MTU],
    ['assignment outside a section', 'Address=10.0.0.1/24\n', 1, C.LINE_UNRECOGNIZED],
    ['line without =', '[Network]\n\nAddress\n', 3, C.LINE_UNRECOGNIZED],
    ['route-only domain', '[Network]\nDomains=~.\n', 2, C.NOT_EXPRESSIBLE, 'warning'],
    ['[Route] section', '[Route]\nDestination=10.0.0.0/8\n', 1, C.NOT_EXPRESSIBLE, 'warning'],
    ['other [Network] setting', '[Network]\nDHCP=no\n', 2, C.NOT_EXPRESSIBLE, 'warning'],
    ['other [Match] condition', '[Match]\nType=wireguard\n', 2, C.NOT_EXPRESSIBLE, 'warning'],
    ['unknown section', '[network]\nAddress=10.0.0.1/24\n', 1, C.UNKNOWN_KEY, 'warning'],
  ];

  it.each(badNetwork)('.network: %s', (_name, network, line, code, severity = 'error') => {
    expect(problemsOf(HEAD, network)).toEqual([['.network', line, code, severity]]);
  });

  it('collects the problems of both files in one ConfigError', () => {
    const netdev = `${HEAD}ListenPort=x\n${PEER}Endpoint=nope\n`;
    try {
      importNetworkd(netdev, '[Network]\nAddress=bad\n');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => [p.file, p.line, p.code])).toEqual([
        ['.netdev', 7, C.INVALID_PORT],
        ['.netdev', 10, C.INVALID_ENDPOINT],
        ['.network', 2, C.INVALID_ADDRESS],
      ]);
      expect((error as ConfigError).message).toBe(".netdev: line 7: ListenPort is not a port number 0-65535: `x' (and 2 more)");
    }
  });

  it('later single-valued assignments win; empty ones unset', () => {
    const netdev = `${HEAD}ListenPort=1\nListenPort=2\nFirewallMark=0x10\nFirewallMark=\nMTUBytes=1400\n[NetDev]\nMTUBytes=1300\n`;
    const { config, warnings } = importNetworkd(netdev);
    expect(config.interface).toEqual({ privateKey: SERVER.private, listenPort: 2, mtu: 1300, allowedIPsAsRoutes: false });
    expect(warnings.map((p) => [p.line, p.code])).toEqual([[11, C.UNKNOWN_KEY]]); // MTUBytes in [WireGuard]
  });

  it('never shows a private or preshared key in a problem message', () => {
    const bad = `${SERVER.private.slice(0, 43)}!`;
    const netdev = `${HEAD.replace(SERVER.private, bad)}${PEER}PresharedKey=${psk(3)}x\n`;
    try {
      importNetworkd(netdev);
      expect.unreachable();
    } catch (error) {
      const text = JSON.stringify((error as ConfigError).problems) + (error as Error).message;
      expect(text).not.toContain(SERVER.private.slice(0, 40));
      expect(text).not.toContain(psk(3).slice(0, 40));
      expect((error as ConfigError).problems).toHaveLength(2);
    }
  });
});
