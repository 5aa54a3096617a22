import { describe, expect, it } from 'vitest';
import {
  formatWgConfig,
  formatWgQuickConfig,
  parseWgConfig,
  parseWgQuickConfig,
  toWgConfig,
  validateConfig,
} from '../lib/config/index.js';
import { good, goodNames, pair, psk } from './config-fixtures.js';

/** The fixtures that are plain wg(8) files (no wg-quick keys). */
const wgOnly = ['ipv6-spellings.conf', 'minimal.conf', 'off-values.conf', 'repeated-allowedips.conf', 'showconf.conf'];

describe('config round trip', () => {
  it('has a corpus of at least 10 configurations', () => {
    expect(goodNames.length).toBeGreaterThanOrEqual(10);
    for (const name of wgOnly) expect(goodNames).toContain(name);
  });

  describe.each(goodNames)('%s', (name) => {
    const text = good(name);

    it('wg-quick: parse → format → parse is the identity', () => {
      const first = parseWgQuickConfig(text);
      const formatted = formatWgQuickConfig(first.config);
      const second = parseWgQuickConfig(formatted);
      expect(second.config).toEqual(first.config);
      expect(second.warnings).toEqual(first.warnings.map((w) => ({ ...w, line: expect.any(Number) })));
      expect(formatWgQuickConfig(second.config)).toBe(formatted);
    });

    it('the object form survives JSON and validates cleanly', () => {
      const { config, warnings } = parseWgQuickConfig(text);
      const copy: unknown = JSON.parse(JSON.stringify(config));
      expect(copy).toEqual(config);
      const problems = validateConfig(copy);
      expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(problems.map((p) => p.code)).toEqual(warnings.map((w) => w.code));
    });

    it('wg: the wg(8) part round-trips through the wg format', () => {
      const quick = parseWgQuickConfig(text).config;
      const formatted = formatWgConfig(quick);
      const reparsed = parseWgConfig(formatted).config;
      expect(reparsed).toEqual(toWgConfig(quick));
    });
  });

  it.each(wgOnly)('%s is also a valid wg(8) file with the same content', (name) => {
    expect(parseWgConfig(good(name)).config).toEqual(parseWgQuickConfig(good(name)).config);
  });

  it('reads every peer of the 120-peer hub', () => {
    const { config } = parseWgQuickConfig(good('hub-120-peers.conf'));
    expect(config.peers).toHaveLength(120);
    expect(config.interface).toEqual({
      address: ['10.80.0.1/16', 'fd80::1/64'],
      listenPort: 51820,
      privateKey: pair(0).private,
      postUp: ['iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE # NAT=on'],
      postDown: ['iptables -D FORWARD -i %i -j ACCEPT; iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE # NAT=off'],
      saveConfig: false,
    });
    expect(config.peers[119]).toEqual({
      publicKey: pair(120).public,
      presharedKey: psk(4),
      allowedIPs: ['10.80.0.122/32', 'fd80::78/128'],
      endpoint: '198.51.100.120:40120',
    });
    expect(config.peers[6]).toEqual({
      publicKey: pair(7).public,
      allowedIPs: ['10.80.0.9/32', 'fd80::7/128'],
      persistentKeepalive: 25,
    });
  });

  it('matches section and key names case-insensitively', () => {
    const { config } = parseWgQuickConfig(good('odd-casing.conf'));
    expect(config).toEqual({
      interface: {
        privateKey: pair(1).private,
        listenPort: 40000,
        fwMark: 0x1f,
        address: ['192.168.77.1/24'],
        dns: ['192.168.77.53'],
        postUp: ['echo Up'],
      },
      peers: [
        { publicKey: pair(2).public, allowedIPs: ['192.168.77.2/32'], endpoint: '203.0.113.9:40001', persistentKeepalive: 15 },
        { publicKey: pair(3).public, allowedIPs: ['192.168.77.3/32'] },
      ],
    });
  });

  it('removes comments and all whitespace as wg does', () => {
    const { config } = parseWgConfig(good('comments.conf'));
    expect(config).toEqual({
      interface: { privateKey: pair(4).private, listenPort: 51821 },
      peers: [{ publicKey: pair(5).public, allowedIPs: ['10.1.0.0/16', '10.2.0.0/16'], endpoint: '192.0.2.7:51821' }],
    });
  });

  it('keeps hook commands verbatim, with # and =, in order', () => {
    const { config } = parseWgQuickConfig(good('hooks.conf'));
    expect(config.interface.preUp).toEqual(['sysctl -w net.ipv4.ip_forward=1', 'echo "starting %i" | logger -t wg # logged']);
    expect(config.interface.postUp).toEqual([
      'ip rule add from 10.50.0.0/24 table 200; ip route add default via 10.50.0.254 table 200 #=comment=',
      `printf '%s\\n' "a=b # not a comment for bash"`,
    ]);
    expect(config.interface.preDown).toEqual(['ip rule del from 10.50.0.0/24 table 200']);
    expect(config.interface.postDown).toEqual(['logger "stopped %i"', '']);
    expect(config.interface.table).toBe('200');
  });

  it('accumulates repeated AllowedIPs and keeps +/- prefixes', () => {
    const { config } = parseWgConfig(good('repeated-allowedips.conf'));
    expect(config.peers.map((p) => p.allowedIPs)).toEqual([
      ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', 'fd00:1::/64', '10.0.3.7', 'fd00:2::7'],
      ['+10.20.0.0/16', '-10.21.0.0/16', '+fd00:20::/48'],
    ]);
  });

  it('reads off, 0 and decimal values, and keeps explicit zeros', () => {
    const { config } = parseWgConfig(good('off-values.conf'));
    expect(config.interface).toEqual({ privateKey: pair(15).private, fwMark: 0xffffffff, listenPort: 0 });
    expect(config.peers.map((p) => p.persistentKeepalive)).toEqual([0, 0]);
    expect(formatWgConfig(config)).toContain('FwMark = 0xffffffff\nPrivateKey');
    expect(formatWgConfig(config)).toContain('PersistentKeepalive = 0\n');
  });

  it('classifies DNS entries as wg-quick does and reads the other wg-quick options', () => {
    const client = parseWgQuickConfig(good('client-ipv6.conf')).config.interface;
    expect(client.dns).toEqual(['2606:4700:4700::1111', '1.1.1.1']);
    expect(client.dnsSearch).toEqual(['corp.example.com', 'lan']);
    expect(client.mtu).toBe(1420);
    const options = parseWgQuickConfig(good('quick-options.conf')).config.interface;
    expect(options).toEqual({
      address: ['10.7.0.1/24', '10.7.1.1/24', 'fd07::1/64', 'fd07:1::1/64'],
      table: 'off',
      mtu: 1280,
      saveConfig: true,
      dns: ['10.7.0.53', 'fd07::53'],
      dnsSearch: ['search.example'],
      privateKey: pair(24).private,
    });
  });

  it('reads CRLF files and a last line without a newline', () => {
    const { config } = parseWgQuickConfig(good('crlf.conf'));
    expect(config.interface.postUp).toEqual(['echo crlf']);
    expect(config.peers[0]?.endpoint).toBe('203.0.113.3:51820');
  });

  it('keeps host-name endpoints unresolved', () => {
    const { config } = parseWgQuickConfig(good('hostnames.conf'));
    expect(config.peers.map((p) => p.endpoint)).toEqual(['vpn.example.com:51820', 'edge-01.eu-west.example.net.:443', 'localhost:1']);
  });

  it('writes wg-quick fields first, in wg-quick save order', () => {
    const text = formatWgQuickConfig(parseWgQuickConfig(good('client-ipv6.conf')).config);
    expect(text).toBe(
      [
        '[Interface]',
        'Address = 10.66.66.2/32',
        'Address = fd42:42:42::2/128',
        'DNS = 2606:4700:4700::1111',
        'DNS = 1.1.1.1',
        'DNS = corp.example.com',
        'DNS = lan',
        'MTU = 1420',
        `PrivateKey = ${pair(121).private}`,
        '',
        '[Peer]',
        `PublicKey = ${pair(122).public}`,
        `PresharedKey = ${psk(0)}`,
        'AllowedIPs = 0.0.0.0/0, ::/0',
        'Endpoint = [2001:db8:10::1]:51820',
        'PersistentKeepalive = 25',
        '',
      ].join('\n'),
    );
  });
});
