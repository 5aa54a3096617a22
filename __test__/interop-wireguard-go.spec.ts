// wgkit-userspace ↔ Debian's wireguard-go, through the shipped binaries and Debian's wg, in two
// network namespaces: once with wgkit initiating over an IPv4 underlay, once with wireguard-go
// initiating over an IPv6 underlay (each also carries the tunnel over the other family).
// Side A is wgkit, side B wireguard-go.
import { userspacePair } from './helpers/interop-pairs.js';
import { defineInteropSuite } from './helpers/interop-suite.js';

defineInteropSuite({
  title: 'wgkit ↔ wireguard-go, wgkit initiates, IPv4 underlay',
  setup: () => userspacePair('wgkit', 'wireguard-go', 31),
  initiator: 'a',
  underlay: 4,
  bulk: { from: 'a', family: 4, bytes: 50 << 20 },
  roamers: ['a'],
  keepaliveFrom: 'a',
  replayReceiver: 'a',
});

defineInteropSuite({
  title: 'wgkit ↔ wireguard-go, wireguard-go initiates, IPv6 underlay',
  setup: () => userspacePair('wgkit', 'wireguard-go', 32),
  initiator: 'b',
  underlay: 6,
  bulk: { from: 'b', family: 6, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'a',
  replayReceiver: 'a',
});
