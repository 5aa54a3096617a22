/**
 * Low-latency mode (`cpuLatencyUs`): the device holds a PM QoS CPU latency request while
 * packets pass through its interface and drops it once the tunnel has been quiet for a second.
 * The kernel reports the machine's aggregate request when `/dev/cpu_dma_latency` is read.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, InvalidArgumentError, WireGuardDevice } from '../lib/index.js';
import { Cleanup, run, uniqueName, vethPair, type Netns } from './helpers/netns.js';

/** The request this spec makes: distinct from the kernel's default and from "poll" (0). */
const REQUEST_US = 7;

const cleanup = new Cleanup();
let a: Netns;
let b: Netns;
let devA: WireGuardDevice;
/** The limit before any device of this spec existed. */
let idle: number;

/** The machine-wide CPU latency limit now in force, in microseconds. */
function cpuLatencyLimit(): number {
  return readFileSync('/dev/cpu_dma_latency').readInt32LE(0);
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 6000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what} (limit now ${cpuLatencyLimit()} µs)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  idle = cpuLatencyLimit();
  ({ a, b } = vethPair('wgkl'));
  cleanup.add(a);
  cleanup.add(b);
  const keyA = generatePrivateKey();
  const keyB = generatePrivateKey();
  devA = await WireGuardDevice.create(uniqueName('wgla'), {
    netns: a.name,
    cpuLatencyUs: REQUEST_US,
    config: {
      privateKey: keyA,
      listenPort: 51820,
      peers: [{ publicKey: keyB.publicKey(), endpoint: '192.0.2.2:51821', allowedIPs: ['10.89.0.2/32'] }],
    },
  });
  cleanup.defer(() => devA.close());
  const devB = await WireGuardDevice.create(uniqueName('wglb'), {
    netns: b.name,
    config: { privateKey: keyB, listenPort: 51821, peers: [{ publicKey: keyA.publicKey(), allowedIPs: ['10.89.0.1/32'] }] },
  });
  cleanup.defer(() => devB.close());
  for (const [ns, dev, addr] of [[a, devA, '10.89.0.1/24'], [b, devB, '10.89.0.2/24']] as const) {
    ns.exec('ip', ['addr', 'add', addr, 'dev', dev.name]);
    ns.exec('ip', ['link', 'set', dev.name, 'up']);
  }
});
afterAll(() => cleanup.run());

describe('WireGuardDevice cpuLatencyUs', () => {
  it('holds the request while packets flow and drops it after a quiet second', async () => {
    expect(idle, 'nothing else on this machine may hold a tighter request').toBeGreaterThan(REQUEST_US);
    // Bringing the link up may pass a packet or two (IPv6 multicast); once the interface has
    // been quiet, nothing is requested.
    await waitFor('the interface is quiet', () => cpuLatencyLimit() === idle);

    const ping = spawn('ip', ['netns', 'exec', a.name, 'ping', '-n', '-q', '-c', '60', '-i', '0.05', '-w', '20', '10.89.0.2'], {
      stdio: 'ignore',
    });
    cleanup.defer(() => void ping.kill());
    const exited = once(ping, 'exit');
    await waitFor(`the limit is ${REQUEST_US} µs while pings flow`, () => cpuLatencyLimit() === REQUEST_US);
    const [code] = (await exited) as [number | null];
    expect(code, 'every ping answered through the tunnel').toBe(0);
    const stats = devA.stats();
    expect(stats.tunRxPackets).toBeGreaterThanOrEqual(60n);

    const quietSince = Date.now();
    await waitFor('the request is dropped', () => cpuLatencyLimit() === idle);
    // Dropped after about a second of quiet (4 timer ticks of 250 ms), not at once.
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(500);
  });

  it('closing the device drops a held request', async () => {
    a.exec('ping', ['-n', '-q', '-c', '5', '-i', '0.05', '10.89.0.2']);
    await waitFor(`the limit is ${REQUEST_US} µs`, () => cpuLatencyLimit() === REQUEST_US);
    await devA.close();
    await waitFor('the request is dropped on close', () => cpuLatencyLimit() === idle, 2000);
  });

  it('rejects values out of range before creating anything', async () => {
    for (const bad of [-1, 1.5, 1_000_001, Number.NaN]) {
      const name = uniqueName('wglx');
      const attempt = WireGuardDevice.create(name, { netns: a.name, cpuLatencyUs: bad });
      await expect(attempt).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_WGKIT_INVALID_ARGUMENT', field: 'cpuLatencyUs' });
      expect(() => run('ip', ['-n', a.name, 'link', 'show', name])).toThrow();
    }
  });

  it('takes WGKIT_CPU_LATENCY_US when the option is absent, and validates it', async () => {
    const name = uniqueName('wglx');
    process.env.WGKIT_CPU_LATENCY_US = 'fast';
    try {
      const attempt = WireGuardDevice.create(name, { netns: a.name });
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_WGKIT_INVALID_ARGUMENT' });
      await expect(attempt).rejects.toThrow(/WGKIT_CPU_LATENCY_US "fast" is not a whole number of microseconds/);
      expect(() => run('ip', ['-n', a.name, 'link', 'show', name])).toThrow();
      process.env.WGKIT_CPU_LATENCY_US = '2000000';
      await expect(WireGuardDevice.create(name, { netns: a.name })).rejects.toThrow(/WGKIT_CPU_LATENCY_US 2000000 is out of range/);
      process.env.WGKIT_CPU_LATENCY_US = String(REQUEST_US);
      const dev = await WireGuardDevice.create(name, { netns: a.name, uapi: false });
      try {
        // The environment's request applies the same way: held once packets pass (these have
        // no peer to go to, but they go through the interface).
        await new Promise((r) => setTimeout(r, 600));
        expect(cpuLatencyLimit(), 'no packet yet').toBe(idle);
        a.exec('ip', ['addr', 'add', '10.90.0.1/24', 'dev', name]);
        a.exec('ip', ['link', 'set', name, 'up']);
        expect(() => a.exec('ping', ['-n', '-q', '-c', '5', '-i', '0.05', '-w', '2', '10.90.0.2'])).toThrow();
        await waitFor(`the limit is ${REQUEST_US} µs`, () => cpuLatencyLimit() === REQUEST_US);
        expect(dev.stats().droppedNoRoute).toBeGreaterThan(0n);
      } finally {
        await dev.close();
      }
    } finally {
      delete process.env.WGKIT_CPU_LATENCY_US;
    }
  });
});
