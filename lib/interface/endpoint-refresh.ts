/**
 * Dynamic endpoint refresh (NixOS `dynamicEndpointRefreshSeconds`): a peer whose endpoint is a
 * host name has it re-resolved every N seconds (the peer's own setting, else the interface's;
 * 0 = off); the peer is updated only when the address changed. A failed resolution (after wg's
 * `WG_ENDPOINT_RESOLUTION_RETRIES` policy) is reported and retried after the restart delay
 * (`dynamicEndpointRefreshRestartSeconds`, default: the refresh interval). Timers never keep
 * the process alive by themselves.
 */
import { splitEndpoint } from '../config/endpoint.js';
import { isHostName } from '../config/hostname.js';
import { resolveEndpoint } from '../client/resolve-endpoint.js';
import type { InterfaceConfig } from './model.js';

export interface EndpointRefreshEvent {
  publicKey: string;
  /** The peer's `name`, or its public key. */
  name: string;
  /** The configured `host:port`. */
  host: string;
  previous: string | null;
  endpoint: string;
}

export interface EndpointRefreshErrorEvent {
  publicKey: string;
  name: string;
  host: string;
  error: Error;
  /** Seconds until the next attempt. */
  retryIn: number;
}

export interface RefreshTarget {
  publicKey: string;
  name: string;
  host: string;
  intervalSeconds: number;
  restartSeconds: number;
}

export interface RefreshHooks {
  /** The peer's endpoint on the device now (null when none or the peer is gone). */
  current(publicKey: string): Promise<string | null>;
  /** Sets the peer's endpoint (update only). */
  update(publicKey: string, endpoint: string): Promise<void>;
  refreshed(event: EndpointRefreshEvent): void;
  failed(event: EndpointRefreshErrorEvent): void;
  env?: NodeJS.ProcessEnv;
}

/** The peers of a config that need refreshing, with their effective intervals. */
export function refreshTargets(config: InterfaceConfig): RefreshTarget[] {
  const targets: RefreshTarget[] = [];
  for (const peer of config.peers) {
    if (!peer.endpoint) continue;
    const parts = splitEndpoint(peer.endpoint);
    if ('error' in parts || !isHostName(parts.host)) continue;
    const interval = peer.dynamicEndpointRefreshSeconds ?? config.interface.dynamicEndpointRefreshSeconds ?? 0;
    if (interval <= 0) continue;
    const restart = peer.dynamicEndpointRefreshRestartSeconds ?? config.interface.dynamicEndpointRefreshRestartSeconds ?? interval;
    targets.push({
      publicKey: peer.publicKey,
      name: peer.name ?? peer.publicKey,
      host: peer.endpoint,
      intervalSeconds: interval,
      restartSeconds: restart > 0 ? restart : interval,
    });
  }
  return targets;
}

export class EndpointRefresher {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #abort = new AbortController();
  #stopped = false;

  constructor(
    private readonly targets: readonly RefreshTarget[],
    private readonly hooks: RefreshHooks,
  ) {}

  start(): void {
    for (const target of this.targets) this.#schedule(target, target.intervalSeconds);
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  get active(): boolean {
    return !this.#stopped && this.targets.length > 0;
  }

  #schedule(target: RefreshTarget, seconds: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => void this.#refresh(target), seconds * 1000);
    timer.unref();
    this.#timers.set(target.publicKey, timer);
  }

  async #refresh(target: RefreshTarget): Promise<void> {
    if (this.#stopped) return;
    try {
      const endpoint = await resolveEndpoint(target.host, { signal: this.#abort.signal, env: this.hooks.env });
      if (this.#stopped) return;
      const previous = await this.hooks.current(target.publicKey);
      if (previous !== endpoint) {
        await this.hooks.update(target.publicKey, endpoint);
        this.hooks.refreshed({ publicKey: target.publicKey, name: target.name, host: target.host, previous, endpoint });
      }
      this.#schedule(target, target.intervalSeconds);
    } catch (error) {
      if (this.#stopped) return;
      this.hooks.failed({
        publicKey: target.publicKey,
        name: target.name,
        host: target.host,
        error: error instanceof Error ? error : new Error(String(error)),
        retryIn: target.restartSeconds,
      });
      this.#schedule(target, target.restartSeconds);
    }
  }
}
