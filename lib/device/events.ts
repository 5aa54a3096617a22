/**
 * The events of a `WireGuardDevice`. They carry public keys only, never secrets.
 */
import type { JsDeviceEvent } from '../binding.js';
import { fromNative, WgkitError } from '../errors.js';

/** A handshake completed: as initiator when the response arrived, as responder when the
 * first packet of the new session arrived. */
export interface HandshakeEvent {
  publicKey: string;
  at: Date;
  initiator: boolean;
}

/** Handshake initiations went unanswered for 90 s (REKEY_ATTEMPT_TIME) and were given up. */
export interface HandshakeFailedEvent {
  publicKey: string;
  attempts: number;
}

/** Roaming: an authenticated packet came from a new address. */
export interface EndpointChangedEvent {
  publicKey: string;
  previous: string | null;
  endpoint: string;
}

/** No handshake completed for 540 s (3 × REJECT_AFTER_TIME): no session key is left. */
export interface PeerStaleEvent {
  publicKey: string;
  lastHandshake: Date;
}

/** A handshake completed for a peer that was stale. */
export interface PeerActiveEvent {
  publicKey: string;
}

export interface DeviceEventMap {
  handshake: [HandshakeEvent];
  handshakeFailed: [HandshakeFailedEvent];
  endpointChanged: [EndpointChangedEvent];
  peerStale: [PeerStaleEvent];
  peerActive: [PeerActiveEvent];
  /** A failure on a device thread (a TUN or socket error that is not transient), or an
   * internal error (a panic) on one of its threads: then the device stops, a second `error`
   * says so, and `close` follows. As with any EventEmitter, an `error` without a listener
   * throws. */
  error: [WgkitError];
  close: [];
}

type Emit = <K extends keyof DeviceEventMap>(name: K, ...args: DeviceEventMap[K]) => void;

const date = (sec: number | null | undefined, nsec: number | null | undefined) =>
  new Date((sec ?? 0) * 1000 + Math.floor((nsec ?? 0) / 1e6));

/** Turns one native event into its typed form and emits it. */
export function emitNative(event: JsDeviceEvent, emit: Emit): void {
  const publicKey = event.publicKey ?? '';
  switch (event.kind) {
    case 'handshake':
      return emit('handshake', { publicKey, at: date(event.atSec, event.atNsec), initiator: event.initiator ?? false });
    case 'handshakeFailed':
      return emit('handshakeFailed', { publicKey, attempts: event.attempts ?? 0 });
    case 'endpointChanged':
      return emit('endpointChanged', { publicKey, previous: event.oldEndpoint ?? null, endpoint: event.newEndpoint ?? '' });
    case 'peerStale':
      return emit('peerStale', { publicKey, lastHandshake: date(event.atSec, event.atNsec) });
    case 'peerActive':
      return emit('peerActive', { publicKey });
    case 'error': {
      const code = event.errno ? `${event.code}:${event.errno}` : event.code;
      const error = fromNative(Object.assign(new Error(event.message ?? 'device error'), { code }));
      return emit('error', error instanceof WgkitError ? error : new WgkitError('ERR_WGKIT_SYSTEM', String(event.message)));
    }
  }
}
