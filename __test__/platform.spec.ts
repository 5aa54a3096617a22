/**
 * A platform's addon exports only what the platform can serve (crate/src/bindings: kernel,
 * rtnetlink and sysctl on Linux, the UAPI client on Unix and Windows; the embedded device and
 * its netstack everywhere). These tests load the
 * real addon with those exports removed, as the macOS and Windows builds have it, and check
 * that wgkit still imports, the portable functions still work, and the missing features fail
 * with ERR_WGKIT_UNSUPPORTED_PLATFORM through the public API.
 */
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { capabilityOf, withPlatformCheck } from '../lib/platform.js';

const LINUX_ONLY = /^(kernel|rtnl|sysctl)/;
const UNIX_ONLY = /^uapi/;

/**
 * The real addon with the exports matching `drop` missing, as the loader (lib/native.cjs) gives
 * a build for another platform: it copies every name it was generated with from the binary, so
 * a name the binary lacks is present and `undefined`.
 */
function addonWithout(drop: RegExp): Record<string, unknown> {
  const real = createRequire(import.meta.url)('../lib/native.cjs') as Record<string, unknown>;
  return Object.fromEntries(Object.entries(real).map(([name, value]) => [name, drop.test(name) ? undefined : value]));
}

/** wgkit's public API over the real addon stripped as `platform`'s build has it. */
async function wgkitAs(platform: string, drop: RegExp): Promise<typeof import('../lib/index.js')> {
  vi.resetModules();
  vi.doMock('../lib/binding.js', () => {
    const raw = addonWithout(drop);
    return { default: withPlatformCheck(raw, platform), hasNativeExport: (name: string) => raw[name] !== undefined };
  });
  try {
    return await import('../lib/index.js');
  } finally {
    vi.doUnmock('../lib/binding.js');
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; message: string; name: string; errno?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown; message: string; name: string };
  }
  throw new Error('expected a rejection');
}

describe('macOS: an addon without the Linux-only exports', async () => {
  const wgkit = await wgkitAs('darwin', LINUX_ONLY);

  it('still generates and derives keys', () => {
    const priv = wgkit.Key.fromBase64('GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=', 'private');
    expect(priv.publicKey().toBase64()).toBe('aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=');
    expect(wgkit.generatePrivateKey().publicKey().toBase64()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('opens netstack tunnels, which need none of the Linux-only exports', async () => {
    const [ka, kb] = [wgkit.generatePrivateKey().toBase64(), wgkit.generatePrivateKey().toBase64()];
    const a = await wgkit.openTunnel(`[Interface]\nPrivateKey = ${ka}\nAddress = 10.98.0.1/24\n`);
    const b = await wgkit.openTunnel(`[Interface]\nPrivateKey = ${kb}\nAddress = 10.98.0.2/24\n`);
    try {
      await a.device.addConf(
        `[Peer]\nPublicKey = ${wgkit.publicKey(kb).toBase64()}\nAllowedIPs = 10.98.0.2/32\nEndpoint = 127.0.0.1:${b.device.info().listenPort}\n`,
      );
      await b.device.addConf(
        `[Peer]\nPublicKey = ${wgkit.publicKey(ka).toBase64()}\nAllowedIPs = 10.98.0.1/32\nEndpoint = 127.0.0.1:${a.device.info().listenPort}\n`,
      );
      const server = b.createServer((s) => s.pipe(s));
      server.listen(7001, '10.98.0.2');
      const c = a.connect({ host: '10.98.0.2', port: 7001 });
      c.end('through the tunnel');
      const chunks: Buffer[] = [];
      for await (const chunk of c) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('through the tunnel');
      server.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the client manages userspace devices only, as wg does there', async () => {
    const client = new wgkit.WireGuardClient({ socketDir: '/nonexistent-wgpt' });
    expect(await client.listDevices()).toEqual([]);
    const error = await rejection(client.device('wgpt0'));
    expect([error.code, error.errno, error.message]).toEqual(['ERR_WGKIT_DEVICE_NOT_FOUND', 'ENODEV', 'wgpt0: No such device']);
  });
});

describe('Another OS (FreeBSD): an addon without the Linux and UAPI exports', async () => {
  const wgkit = await wgkitAs('freebsd', new RegExp(`${LINUX_ONLY.source}|${UNIX_ONLY.source}`));

  it('rejects listing devices with ERR_WGKIT_UNSUPPORTED_PLATFORM naming freebsd', async () => {
    const error = await rejection(new wgkit.WireGuardClient().listDevices());
    expect(error.name).toBe('UnsupportedPlatformError');
    expect(error.code).toBe('ERR_WGKIT_UNSUPPORTED_PLATFORM');
    expect(error.message).toMatch(/^The userspace \(UAPI\) backend is not available on freebsd: wgkit implements it on Linux, macOS and Windows only\./);
  });

  it('still parses and writes configurations', () => {
    const text = '[Interface]\nListenPort = 51820\nPrivateKey = GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=\n\n';
    const { config } = wgkit.parseWgQuickConfig(text);
    expect(config.interface.listenPort).toBe(51820);
    expect(wgkit.formatWgQuickConfig(config)).toBe(text);
  });
});

describe('withPlatformCheck', () => {
  it('names the feature and the platform of a missing export, and passes everything else through', () => {
    const addon = withPlatformCheck(addonWithout(UNIX_ONLY), 'freebsd') as Record<string, unknown>;
    expect(() => addon.uapiListDevices).toThrow(
      expect.objectContaining({
        code: 'ERR_WGKIT_UNSUPPORTED_PLATFORM',
        message: expect.stringMatching(/^The userspace \(UAPI\) backend is not available on freebsd: wgkit implements it on Linux, macOS and Windows only\./),
      }),
    );
    expect(typeof addon.kernelListDevices).toBe('function');
    // An export that no platform lacks reads as usual, even when absent.
    expect(addon.noSuchExport).toBeUndefined();
  });

  it('classifies exports by feature', () => {
    expect(capabilityOf('rtnlAddRoute')?.platforms).toBe('Linux');
    expect(capabilityOf('NativeDevice')).toBeUndefined();
    expect(capabilityOf('uapiGetDevice')?.platforms).toBe('Linux, macOS and Windows');
    expect(capabilityOf('NativeKey')).toBeUndefined();
    expect(capabilityOf('strerrorByName')).toBeUndefined();
  });
});
