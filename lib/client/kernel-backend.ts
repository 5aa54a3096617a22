/**
 * Kernel devices over generic netlink (family `wireguard`), listed with rtnetlink. All calls
 * go to one network namespace (default: this process's).
 */
import native from '../binding.js';
import type { JsDevice, JsDeviceConfig } from '../binding.js';
import { nativeAsync } from '../errors.js';
import type { Backend } from './backend.js';

export class KernelBackend implements Backend {
  readonly type = 'kernel' as const;

  constructor(private readonly netns?: string | number) {}

  async list(signal?: AbortSignal): Promise<string[]> {
    const links = await nativeAsync(() => native.kernelListDevices(this.netns, signal));
    return links.map((l) => l.name);
  }

  async has(name: string): Promise<boolean> {
    return (await this.list()).includes(name);
  }

  get(name: string, signal?: AbortSignal): Promise<JsDevice> {
    return nativeAsync(() => native.kernelGetDevice(name, this.netns, signal));
  }

  set(name: string, config: JsDeviceConfig, signal?: AbortSignal): Promise<void> {
    return nativeAsync(() => native.kernelSetDevice(name, config, this.netns, signal));
  }

  /** `ip link add NAME type wireguard`. */
  createLink(name: string, signal?: AbortSignal): Promise<void> {
    return nativeAsync(() => native.kernelCreateLink(name, this.netns, signal));
  }

  /** `ip link del NAME` (WireGuard links only). */
  deleteLink(name: string, signal?: AbortSignal): Promise<void> {
    return nativeAsync(() => native.kernelDeleteLink(name, this.netns, signal));
  }
}
