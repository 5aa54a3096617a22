/**
 * wgkit: WireGuard for Node.js.
 */
export * from './errors.js';
export * from './keys.js';
export * from './types.js';
export { version } from './version.js';
export * from './config/index.js';
export * from './client/index.js';
export * as show from './show/index.js';
export * from './device/index.js';
export * from './interface/index.js';
export * from './netstack/index.js';
