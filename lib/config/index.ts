/**
 * Configuration files: the wg(8) and wg-quick(8) formats, their JSON-able object form, and
 * validation that reports every problem with a stable code and its line or field path.
 *
 * ```ts
 * const { config, warnings } = parseWgQuickConfig(text, { file: 'wg0.conf' }); // throws ConfigError
 * config.peers.push({ publicKey, allowedIPs: ['10.0.0.2/32'] });
 * const problems = validateConfig(config); // [] when valid; never throws
 * await writeConfigFile('/etc/wireguard/wg0.conf', config); // mode 0600
 * stripWgQuickConfig(text); // what `wg-quick strip` prints
 * formatWgConfig(configFromDevice(info)); // what `wg showconf` prints
 * ```
 */
export { ConfigProblemCodes } from './problems.js';
export type { ConfigProblemCode } from './problems.js';
export { toWgConfig } from './model.js';
export type { WgConfig, WgInterfaceSection, WgPeerSection } from './model.js';
export { parseWgConfig, formatWgConfig } from './wg.js';
export type { ConfigParseOptions, ConfigParseResult } from './wg.js';
export { parseWgQuickConfig, formatWgQuickConfig, stripWgQuickConfig } from './wg-quick.js';
export { validateConfig, checkConfig } from './validate.js';
export type { ConfigValidateOptions } from './validate.js';
export { configFromDevice } from './device.js';
export { readConfigFile, writeConfigFile } from './files.js';
export type { ConfigFileOptions, ConfigFormat } from './files.js';
