/**
 * wgkit: WireGuard for Node.js.
 */
export * from './errors.js';
export * from './keys.js';
/** `wg show` output (pretty, fields, dump, all, interfaces, usage and error texts). */
export * as show from './show/index.js';
