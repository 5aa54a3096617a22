// wgkit-userspace ↔ wgkit-userspace, through the shipped binary and Debian's wg, in two network
// namespaces: A initiating over an IPv4 underlay, then B initiating over an IPv6 underlay.
import { userspacePair } from './helpers/interop-pairs.js';
import { defineInteropSuite } from './helpers/interop-suite.js';

defineInteropSuite({
  title: 'wgkit ↔ wgkit, A initiates, IPv4 underlay',
  setup: () => userspacePair('wgkit', 'wgkit', 41),
  initiator: 'a',
  underlay: 4,
  bulk: { from: 'a', family: 6, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'b',
  replayReceiver: 'a',
});

defineInteropSuite({
  title: 'wgkit ↔ wgkit, B initiates, IPv6 underlay',
  setup: () => userspacePair('wgkit', 'wgkit', 42),
  initiator: 'b',
  underlay: 6,
  bulk: { from: 'a', family: 4, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'a',
  replayReceiver: 'b',
});
