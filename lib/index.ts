/**
 * wgkit: WireGuard for Node.js.
 */
export * from './errors.js';
export * from './keys.js';
