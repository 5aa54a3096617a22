/**
 * Userspace devices over the cross-platform UAPI (`/var/run/wireguard/NAME.sock`; on Windows the
 * named pipe `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME`, and `socketDir` is then a
 * pipe prefix).
 */
import native from '../binding.js';
import type { JsDevice, JsDeviceConfig } from '../binding.js';
import { native as call, nativeAsync } from '../errors.js';
import type { Backend } from './backend.js';

export class UserspaceBackend implements Backend {
  readonly type = 'userspace' as const;

  constructor(private readonly socketDir?: string) {}

  list(signal?: AbortSignal): Promise<string[]> {
    return nativeAsync(() => native.uapiListDevices(this.socketDir, signal));
  }

  async has(name: string): Promise<boolean> {
    return call(() => native.uapiHasDevice(name, this.socketDir));
  }

  get(name: string, signal?: AbortSignal): Promise<JsDevice> {
    return nativeAsync(() => native.uapiGetDevice(name, this.socketDir, signal));
  }

  set(name: string, config: JsDeviceConfig, signal?: AbortSignal): Promise<void> {
    return nativeAsync(() => native.uapiSetDevice(name, config, this.socketDir, signal));
  }
}
