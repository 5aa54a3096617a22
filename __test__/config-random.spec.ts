/**
 * Randomised round trips: seeded random configurations (every field, odd but valid values) must
 * validate, and read back from both formats as the same object.
 */
import { describe, expect, it } from 'vitest';
import {
  formatWgConfig,
  formatWgQuickConfig,
  parseWgConfig,
  parseWgQuickConfig,
  stripWgQuickConfig,
  toWgConfig,
  validateConfig,
} from '../lib/config/index.js';
import type { WgConfig, WgPeerSection } from '../lib/config/index.js';
import { keys } from './config-fixtures.js';

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(max: number): number {
    return Math.floor(this.next() * (max + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length - 1)];
    if (item === undefined) throw new Error('empty');
    return item;
  }
  maybe<T>(make: () => T): T | undefined {
    return this.next() < 0.5 ? make() : undefined;
  }
  list<T>(max: number, make: () => T): T[] {
    return Array.from({ length: 1 + this.int(max - 1) }, make);
  }
  ipv4(): string {
    return Array.from({ length: 4 }, () => this.int(255)).join('.');
  }
  ipv6(): string {
    const groups = Array.from({ length: 8 }, () => this.int(0xffff).toString(16));
    const text = groups.join(':');
    return this.next() < 0.5 ? text : text.replace(/^(.*?):.*?:.*?:/, '$1::');
  }
  cidr(): string {
    const prefix = this.next() < 0.5 ? `${this.ipv4()}/${this.int(32)}` : `${this.ipv6()}/${this.int(128)}`;
    return this.pick(['', '', '', '+', '-']) + prefix;
  }
  name(): string {
    return this.list(3, () => this.pick(['a', 'vpn', 'x-1', 'host_2', 'EU']) + this.pick(['', 'b', '9'])).join('.');
  }
  endpoint(): string {
    const port = 1 + this.int(65534);
    return this.pick([
      () => `${this.ipv4()}:${port}`,
      () => `[${this.ipv6()}]:${port}`,
      () => `[fe80::${this.int(0xffff).toString(16)}%eth${this.int(9)}]:${port}`,
      () => `${this.name()}:${port}`,
    ])();
  }
  hook(): string {
    const chars = Array.from({ length: this.int(60) }, () => String.fromCharCode(0x20 + this.int(0x5e)));
    return `x${chars.join('')}#=y`;
  }
}

function generate(seed: number): WgConfig {
  const g = new Gen(random(seed));
  const key = (): { private: string; public: string } => g.pick(keys.pairs);
  const iface: WgConfig['interface'] = {};
  const set = <K extends keyof WgConfig['interface']>(field: K, value: WgConfig['interface'][K] | undefined): void => {
    if (value !== undefined) iface[field] = value;
  };
  set('privateKey', g.maybe(() => key().private));
  set('listenPort', g.maybe(() => g.int(65535)));
  set('fwMark', g.maybe(() => g.int(0xffffffff)));
  set('address', g.maybe(() => g.list(3, () => (g.next() < 0.5 ? `${g.ipv4()}/${g.int(32)}` : g.ipv6()))));
  set('dns', g.maybe(() => g.list(3, () => (g.next() < 0.5 ? g.ipv4() : g.ipv6()))));
  set('dnsSearch', g.maybe(() => g.list(3, () => g.name())));
  set('mtu', g.maybe(() => 68 + g.int(65535 - 68)));
  set('table', g.maybe(() => g.pick(['auto', 'off', 'main', String(g.int(0xffffffff))])));
  set('preUp', g.maybe(() => g.list(3, () => g.hook())));
  set('postUp', g.maybe(() => g.list(3, () => g.hook())));
  set('preDown', g.maybe(() => g.list(3, () => g.hook())));
  set('postDown', g.maybe(() => g.list(3, () => g.hook())));
  set('saveConfig', g.maybe(() => g.next() < 0.5));
  const peers = Array.from({ length: g.int(6) }, (): WgPeerSection => {
    const peer: WgPeerSection = { publicKey: key().public };
    const psk = g.maybe(() => g.pick(keys.preshared));
    if (psk !== undefined) peer.presharedKey = psk;
    const allowed = g.maybe(() => g.list(5, () => g.cidr()));
    if (allowed !== undefined) peer.allowedIPs = allowed;
    const endpoint = g.maybe(() => g.endpoint());
    if (endpoint !== undefined) peer.endpoint = endpoint;
    const keepalive = g.maybe(() => g.int(65535));
    if (keepalive !== undefined) peer.persistentKeepalive = keepalive;
    return peer;
  });
  return { interface: iface, peers };
}

describe('random configurations', () => {
  it.each(Array.from({ length: 300 }, (_, i) => i + 1))('seed %i round-trips', (seed) => {
    const config = generate(seed);
    expect(validateConfig(config).filter((p) => p.severity === 'error')).toEqual([]);
    const quickText = formatWgQuickConfig(config);
    expect(parseWgQuickConfig(quickText).config).toEqual(config);
    expect(parseWgConfig(formatWgConfig(config)).config).toEqual(toWgConfig(config));
    expect(parseWgConfig(stripWgQuickConfig(quickText)).config).toEqual(toWgConfig(config));
  });
});
