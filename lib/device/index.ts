export { WireGuardDevice } from './device.js';
export type { DeviceOptions, DeviceStats } from './device.js';
export type {
  DeviceEventMap,
  EndpointChangedEvent,
  HandshakeEvent,
  HandshakeFailedEvent,
  PeerActiveEvent,
  PeerStaleEvent,
} from './events.js';
