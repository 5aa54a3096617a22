/**
 * Which native features this platform has. The addon exports only what its platform can
 * serve: kernel WireGuard, rtnetlink and sysctl exist on Linux only, the embedded device and its
 * netstack everywhere (a device with an interface, TUN, on Linux and utun on macOS: elsewhere
 * `NativeDevice.create` fails with `ERR_WGKIT_UNSUPPORTED_PLATFORM` from the addon itself), the
 * UAPI client on Linux, macOS and Windows (named pipes).
 * `withPlatformCheck` wraps the addon so that using a missing feature throws
 * `ERR_WGKIT_UNSUPPORTED_PLATFORM` naming it and the platform, instead of
 * `undefined is not a function`; importing wgkit works everywhere.
 */
import { ErrorCodes, UnsupportedPlatformError } from './errors.js';

interface Capability {
  /** What the user asked for, as the message names it. */
  readonly feature: string;
  /** Where it exists. */
  readonly platforms: string;
}

const KERNEL: Capability = { feature: 'Kernel WireGuard and rtnetlink', platforms: 'Linux' };
const UAPI: Capability = { feature: 'The userspace (UAPI) backend', platforms: 'Linux, macOS and Windows' };

/** The native export a feature is reached through, by name prefix. */
const CAPABILITY_BY_PREFIX: readonly (readonly [string, Capability])[] = [
  ['kernel', KERNEL],
  ['rtnl', KERNEL],
  ['sysctl', KERNEL],
  ['uapi', UAPI],
];

/** The feature a native export belongs to, when it is one that some platforms lack. */
export function capabilityOf(exportName: string): Capability | undefined {
  return CAPABILITY_BY_PREFIX.find(([prefix]) => exportName.startsWith(prefix))?.[1];
}

/** The error for a feature this platform does not have. */
export function unsupportedPlatform(capability: Capability, platform: string): UnsupportedPlatformError {
  return new UnsupportedPlatformError(
    ErrorCodes.UNSUPPORTED_PLATFORM,
    `${capability.feature} is not available on ${platform}: wgkit implements it on ` +
      `${capability.platforms} only. A netstack tunnel (openTunnel()) works on every platform.`,
  );
}

/**
 * `addon`, where reading a platform-specific export that it lacks (the generated loader copies
 * every name it was generated with, so a missing one reads as `undefined`) throws
 * `UnsupportedPlatformError` (`ERR_WGKIT_UNSUPPORTED_PLATFORM`). Other reads are unchanged.
 */
export function withPlatformCheck<T extends object>(addon: T, platform: string = process.platform): T {
  return new Proxy(addon, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (value === undefined && typeof property === 'string') {
        const capability = capabilityOf(property);
        if (capability !== undefined) throw unsupportedPlatform(capability, platform);
      }
      return value;
    },
  });
}
