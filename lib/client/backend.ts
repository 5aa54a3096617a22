/**
 * The backends behind `WireGuardClient`: each lists, reads and configures the devices it
 * serves. Kernel devices are reached over generic netlink, userspace devices (wireguard-go,
 * boringtun, wgkit's own) over the UAPI socket.
 */
import type { JsDevice, JsDeviceConfig } from '../binding.js';
import type { DeviceType } from '../types.js';

export interface Backend {
  readonly type: DeviceType;
  /** Device names, in the backend's order; an unavailable backend lists nothing. */
  list(signal?: AbortSignal): Promise<string[]>;
  /** True when this backend serves `name` (cheap; used to pick a backend). */
  has(name: string): Promise<boolean>;
  get(name: string, signal?: AbortSignal): Promise<JsDevice>;
  set(name: string, config: JsDeviceConfig, signal?: AbortSignal): Promise<void>;
}
