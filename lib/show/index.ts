/**
 * `wg show` output, byte for byte as wireguard-tools 1.0.20210914 prints it, from the read
 * model (`DeviceInfo`). Everything here is pure: the current time and the display options are
 * arguments.
 */
export * from './address.js';
export * from './color.js';
export * from './command.js';
export * from './fields.js';
export * from './messages.js';
export * from './options.js';
export * from './pretty.js';
export * from './sort.js';
export * from './units.js';
export { HIDDEN_KEY, NONE, OFF } from './values.js';
