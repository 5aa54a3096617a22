/**
 * A platform's addon exports only what the platform can serve (crate/src/bindings: kernel,
 * rtnetlink and the embedded device on Linux, the UAPI client on Unix). These tests load the
 * real addon with those exports removed, as the macOS and Windows builds have it, and check
 * that wgkit still imports, the portable functions still work, and the missing features fail
 * with ERR_WGKIT_UNSUPPORTED_PLATFORM through the public API.
 */
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { capabilityOf, withPlatformCheck } from '../lib/platform.js';

const LINUX_ONLY = /^(kernel|rtnl|sysctl|NativeDevice)/;
const UNIX_ONLY = /^uapi/;

/** The real addon's exports without those matching `drop`, as a build for another platform. */
function addonWithout(drop: RegExp): Record<string, unknown> {
  const real = createRequire(import.meta.url)('../lib/native.cjs') as Record<string, unknown>;
  return Object.fromEntries(Object.entries(real).filter(([name]) => !drop.test(name)));
}

// The facade as a macOS build of the addon would give it.
vi.mock('../lib/binding.js', () => ({ default: withPlatformCheck(addonWithout(LINUX_ONLY), 'darwin') }));

const wgkit = await import('../lib/index.js');

async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; message: string; name: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown; message: string; name: string };
  }
  throw new Error('expected a rejection');
}

describe('a platform without the Linux-only exports', () => {
  it('still generates and derives keys', () => {
    const priv = wgkit.Key.fromBase64('GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=', 'private');
    expect(priv.publicKey().toBase64()).toBe('aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=');
    expect(wgkit.generatePrivateKey().publicKey().toBase64()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('rejects creating the embedded device with ERR_WGKIT_UNSUPPORTED_PLATFORM', async () => {
    const error = await rejection(wgkit.WireGuardDevice.create('wgpt0'));
    expect(error).toBeInstanceOf(wgkit.UnsupportedPlatformError);
    expect(error.code).toBe('ERR_WGKIT_UNSUPPORTED_PLATFORM');
    expect(error.code).toBe(wgkit.ErrorCodes.UNSUPPORTED_PLATFORM);
    expect(error.message).toBe(
      'The embedded WireGuard device (TUN) is not available on darwin: wgkit implements it on Linux only. ' +
        'A userspace tunnel without TUN (netstack) is planned for other platforms.',
    );
  });

  it('rejects listing kernel devices, and the client reports it', async () => {
    const client = new wgkit.WireGuardClient({ socketDir: '/nonexistent-wgpt' });
    const error = await rejection(client.listDevices());
    expect(error.name).toBe('UnsupportedPlatformError');
    expect(error.code).toBe('ERR_WGKIT_UNSUPPORTED_PLATFORM');
    expect(error.message).toMatch(/^Kernel WireGuard and rtnetlink is not available on darwin: /);
  });
});

describe('withPlatformCheck', () => {
  it('names the feature and the platform of a missing export, and passes everything else through', () => {
    const addon = withPlatformCheck(addonWithout(UNIX_ONLY), 'win32') as Record<string, unknown>;
    expect(() => addon.uapiListDevices).toThrow(
      expect.objectContaining({
        code: 'ERR_WGKIT_UNSUPPORTED_PLATFORM',
        message: expect.stringMatching(/^The userspace \(UAPI\) backend is not available on win32: wgkit implements it on Linux and macOS only\./),
      }),
    );
    expect(typeof addon.kernelListDevices).toBe('function');
    // An export that no platform lacks reads as usual, even when absent.
    expect(addon.noSuchExport).toBeUndefined();
    expect('uapiListDevices' in addon).toBe(false);
  });

  it('classifies exports by feature', () => {
    expect(capabilityOf('rtnlAddRoute')?.platforms).toBe('Linux');
    expect(capabilityOf('NativeDevice')?.feature).toBe('The embedded WireGuard device (TUN)');
    expect(capabilityOf('uapiGetDevice')?.platforms).toBe('Linux and macOS');
    expect(capabilityOf('NativeKey')).toBeUndefined();
    expect(capabilityOf('strerrorByName')).toBeUndefined();
  });
});
