import { describe, expect, it } from 'vitest';
import { Key } from '../lib/keys.js';
import type { DeviceInfo, PeerInfo } from '../lib/types.js';
import { configFromDevice, formatWgConfig, formatWgQuickConfig, parseWgConfig } from '../lib/config/index.js';
import { good, pair, psk } from './config-fixtures.js';

function peerInfo(fields: Partial<PeerInfo> & { publicKey: string }): PeerInfo {
  return {
    presharedKey: null,
    endpoint: null,
    lastHandshake: null,
    rxBytes: 0n,
    txBytes: 0n,
    persistentKeepalive: 0,
    allowedIPs: [],
    protocolVersion: 1,
    ...fields,
  };
}

describe('wg showconf format', () => {
  it('a canonical configuration is written back byte for byte', () => {
    const text = good('showconf.conf');
    expect(formatWgConfig(parseWgConfig(text).config)).toBe(text);
  });

  it('formatWgConfig(configFromDevice(device)) is what showconf prints for that device', () => {
    const device: DeviceInfo = {
      name: 'wg0',
      type: 'kernel',
      ifindex: 7,
      publicKey: pair(18).public,
      privateKey: Key.fromBase64(pair(18).private, 'private'),
      listenPort: 51820,
      fwmark: 0xca6c,
      peers: [
        peerInfo({
          publicKey: pair(19).public,
          presharedKey: Key.fromBase64(psk(1), 'preshared'),
          endpoint: '192.95.5.67:1234',
          persistentKeepalive: 25,
          allowedIPs: ['10.192.122.3/32', '10.192.124.0/24'],
          lastHandshake: new Date(),
          rxBytes: 1234n,
        }),
        peerInfo({
          publicKey: pair(20).public,
          endpoint: '[2607:5300:60:6b0::c05f:543]:2468',
          allowedIPs: ['10.192.122.4/32', '192.168.0.0/16'],
        }),
        peerInfo({ publicKey: pair(21).public, endpoint: '[fe80::1%eth0]:51820', allowedIPs: ['10.10.10.230/32'] }),
        peerInfo({ publicKey: pair(22).public }),
      ],
    };
    expect(formatWgConfig(configFromDevice(device))).toBe(good('showconf.conf'));
  });

  it('leaves out zero values as showconf does, and ends an interface without peers with a blank line', () => {
    const device: DeviceInfo = {
      name: 'wg1',
      type: 'userspace',
      ifindex: null,
      publicKey: null,
      privateKey: null,
      listenPort: 0,
      fwmark: 0,
      peers: [],
    };
    expect(configFromDevice(device)).toEqual({ interface: {}, peers: [] });
    expect(formatWgConfig(configFromDevice(device))).toBe('[Interface]\n\n');
    expect(formatWgConfig({ interface: { listenPort: 1 }, peers: [] })).toBe('[Interface]\nListenPort = 1\n\n');
  });

  it('separates peers by one blank line and does not end with one', () => {
    const text = formatWgConfig({
      interface: {},
      peers: [{ publicKey: pair(60).public }, { publicKey: pair(61).public, allowedIPs: [] }],
    });
    expect(text).toBe(`[Interface]\n\n[Peer]\nPublicKey = ${pair(60).public}\n\n[Peer]\nPublicKey = ${pair(61).public}\n`);
  });

  it('writes fwmark as 0x%x and keeps the key order of showconf', () => {
    const text = formatWgConfig({
      interface: { privateKey: pair(62).private, fwMark: 255, listenPort: 9 },
      peers: [{ persistentKeepalive: 5, endpoint: 'h.example:1', allowedIPs: ['::/0'], presharedKey: psk(2), publicKey: pair(63).public }],
    });
    expect(text).toBe(
      `[Interface]\nListenPort = 9\nFwMark = 0xff\nPrivateKey = ${pair(62).private}\n\n` +
        `[Peer]\nPublicKey = ${pair(63).public}\nPresharedKey = ${psk(2)}\nAllowedIPs = ::/0\nEndpoint = h.example:1\nPersistentKeepalive = 5\n`,
    );
  });

  it('the wg format leaves wg-quick fields out; the wg-quick format puts them first', () => {
    const config = { interface: { privateKey: pair(64).private, address: ['10.0.0.1/24'], mtu: 1400 }, peers: [] };
    expect(formatWgConfig(config)).toBe(`[Interface]\nPrivateKey = ${pair(64).private}\n\n`);
    expect(formatWgQuickConfig(config)).toBe(`[Interface]\nAddress = 10.0.0.1/24\nMTU = 1400\nPrivateKey = ${pair(64).private}\n\n`);
  });
});
