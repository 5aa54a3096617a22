// wgkit-userspace ↔ wgkit-userspace with each device's large AEAD batches shared between its
// workers (`WGKIT_CRYPTO_SPREAD=1`; on by default only with 4 or more CPUs, see
// crate/src/device/crypto_pool.rs): the same interop suite, so order, integrity (the bulk
// transfer's sha256), replay protection and roaming are checked with the crypto in parallel.
// The daemons inherit this fork's environment (vitest runs each spec file in its own process).
import { userspacePair } from './helpers/interop-pairs.js';
import { defineInteropSuite } from './helpers/interop-suite.js';

process.env.WGKIT_CRYPTO_SPREAD = '1';

defineInteropSuite({
  title: 'wgkit ↔ wgkit, crypto spread over workers, A initiates, IPv4 underlay',
  setup: () => userspacePair('wgkit', 'wgkit', 43),
  initiator: 'a',
  underlay: 4,
  bulk: { from: 'a', family: 4, bytes: 50 << 20 },
  roamers: ['a', 'b'],
  keepaliveFrom: 'b',
  replayReceiver: 'a',
});
