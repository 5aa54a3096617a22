/**
 * Creating and removing the WireGuard link itself, with the kernel when it has WireGuard and
 * the userspace device otherwise (wg-quick's `add_if`): a kernel link over rtnetlink, the
 * embedded device in this process, or a userspace daemon (`wgkit-userspace`, or any
 * wireguard-go compatible program) that serves the UAPI socket and exits when its TUN is deleted.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import native from '../binding.js';
import { WireGuardClient } from '../client/client.js';
import type { ConfigInput } from '../client/client.js';
import { WireGuardDevice } from '../device/device.js';
import { BackendUnavailableError, ErrorCodes, nativeAsync, SystemError, WgkitError } from '../errors.js';
import type { DeviceChange, DeviceInfo } from '../types.js';
import type { Log } from './hooks.js';
import { inNamespace, runProgram } from './process.js';
import { namespaceFile, namespaceTarget, Rtnl } from './rtnl.js';

export type Implementation = 'kernel' | 'userspace';
export type ImplementationChoice = Implementation | 'auto';
export type UserspaceMode = 'in-process' | 'daemon';

export interface LinkOptions {
  implementation?: ImplementationChoice;
  userspace?: UserspaceMode;
  /** Daemon program (default: `$WG_QUICK_USERSPACE_IMPLEMENTATION`, else this package's `wgkit-userspace`). */
  userspaceProgram?: string;
  /** UAPI socket directory (default `/var/run/wireguard`). */
  socketDir?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** wg(8)-level control of one device, whichever backend serves it. */
export interface WgControl {
  readonly implementation: Implementation;
  /** The in-process device, when there is one. */
  readonly device: WireGuardDevice | undefined;
  info(signal?: AbortSignal): Promise<DeviceInfo>;
  setConf(config: ConfigInput, signal?: AbortSignal): Promise<void>;
  syncConf(config: ConfigInput, signal?: AbortSignal): Promise<void>;
  configure(change: DeviceChange, signal?: AbortSignal): Promise<void>;
}

class ClientControl implements WgControl {
  readonly device = undefined;
  constructor(
    readonly implementation: Implementation,
    private readonly name: string,
    private readonly client: WireGuardClient,
  ) {}
  info(signal?: AbortSignal): Promise<DeviceInfo> {
    return this.client.device(this.name, { signal });
  }
  setConf(config: ConfigInput, signal?: AbortSignal): Promise<void> {
    return this.client.setConf(this.name, config, { signal });
  }
  syncConf(config: ConfigInput, signal?: AbortSignal): Promise<void> {
    return this.client.syncConf(this.name, config, { signal });
  }
  configure(change: DeviceChange, signal?: AbortSignal): Promise<void> {
    return this.client.configure(this.name, change, { signal });
  }
}

class DeviceControl implements WgControl {
  readonly implementation = 'userspace';
  constructor(readonly device: WireGuardDevice) {}
  async info(): Promise<DeviceInfo> {
    return this.device.info();
  }
  setConf(config: ConfigInput, signal?: AbortSignal): Promise<void> {
    return this.device.setConf(config, { signal });
  }
  syncConf(config: ConfigInput, signal?: AbortSignal): Promise<void> {
    return this.device.syncConf(config, { signal });
  }
  configure(change: DeviceChange, signal?: AbortSignal): Promise<void> {
    return this.device.configure(change, { signal });
  }
}

/** The client that reaches a device living in `socketNamespace`. */
export function clientFor(socketNamespace: string | undefined, socketDir?: string): WireGuardClient {
  return new WireGuardClient({ netns: namespaceTarget(socketNamespace), socketDir });
}

/** Control of an existing device (kernel or UAPI) by name. */
export function controlFor(name: string, implementation: Implementation, socketNamespace: string | undefined, socketDir?: string): WgControl {
  return new ClientControl(implementation, name, clientFor(socketNamespace, socketDir));
}

/**
 * The `wgkit-userspace` program of this package: beside the running CLI (`bin/`), else the
 * package's `bin/` found from the working directory, else `wgkit-userspace` on PATH.
 */
export function defaultUserspaceProgram(): string {
  const candidates = [process.argv[1] ? join(dirname(process.argv[1]), 'wgkit-userspace.js') : undefined, join(process.cwd(), 'bin/wgkit-userspace.js')];
  for (const candidate of candidates) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return 'wgkit-userspace';
}

function kernelHasWireGuard(): boolean {
  return existsSync('/sys/module/wireguard');
}

function isUnsupportedKind(error: unknown): boolean {
  const errno = (error as { errno?: string }).errno;
  return errno === 'EOPNOTSUPP' || errno === 'ENOTSUP' || errno === 'EAFNOSUPPORT' || errno === 'EPROTONOSUPPORT';
}

async function startDaemon(name: string, socketNamespace: string | undefined, options: LinkOptions, log: Log): Promise<void> {
  const env = options.env ?? process.env;
  const program = options.userspaceProgram ?? env.WG_QUICK_USERSPACE_IMPLEMENTATION ?? defaultUserspaceProgram();
  log(`[#] ${program} ${name}`);
  const direct = program.endsWith('.js') ? [process.execPath, program, name] : [program, name];
  const childEnv = { ...env };
  delete childEnv.WG_PROCESS_FOREGROUND;
  const { code, stderr } = await runProgram(inNamespace(direct, namespaceFile(socketNamespace)), { env: childEnv, untilExit: true });
  if (code !== 0) {
    throw new SystemError(ErrorCodes.SYSTEM, `${program} ${name} failed (exit status ${code})${stderr ? `: ${stderr.trim()}` : ''}`);
  }
}

/**
 * `add_if`: creates the link in `socketNamespace` and returns the control of its device.
 * `auto` tries the kernel first and falls back to userspace only when the kernel has no
 * WireGuard, printing wg-quick's notice.
 */
export async function createLink(name: string, socketNamespace: string | undefined, options: LinkOptions, log: Log): Promise<WgControl> {
  const choice = options.implementation ?? 'auto';
  if (choice !== 'userspace') {
    log(`[#] ip link add ${name} type wireguard`);
    try {
      await nativeAsync(() => native.kernelCreateLink(name, namespaceTarget(socketNamespace), options.signal));
      return controlFor(name, 'kernel', socketNamespace, options.socketDir);
    } catch (error) {
      if (choice === 'kernel' || kernelHasWireGuard() || !(isUnsupportedKind(error) || isBackendUnavailable(error))) throw error;
      log('[!] Missing WireGuard kernel module. Falling back to userspace implementation.');
    }
  }
  if ((options.userspace ?? 'in-process') === 'daemon') {
    await startDaemon(name, socketNamespace, options, log);
    return controlFor(name, 'userspace', socketNamespace, options.socketDir);
  }
  log(`[#] wgkit-userspace ${name} (in process)`);
  const device = await WireGuardDevice.create(name, {
    netns: namespaceTarget(socketNamespace),
    socketDir: options.socketDir,
    signal: options.signal,
  });
  return new DeviceControl(device);
}

function isBackendUnavailable(error: unknown): boolean {
  return error instanceof BackendUnavailableError || (error instanceof WgkitError && error.code === ErrorCodes.BACKEND_UNAVAILABLE);
}

/** `ip link delete`: the link (kernel WireGuard, or the TUN of a userspace device) in `namespace`. */
export async function deleteLink(name: string, control: WgControl | undefined, namespace: string | undefined, log: Log): Promise<void> {
  log(`[#] ip link delete dev ${name}`);
  if (control?.device) {
    await control.device.close();
    return;
  }
  await new Rtnl(namespace).deleteLink(name, ['wireguard', 'tun']);
}
