/**
 * The declarative form of a whole interface (`InterfaceConfig`: wg-quick's fields plus
 * NixOS's), its validation, its NixOS and systemd-networkd forms, and its key files.
 *
 * ```ts
 * const config = fromNixosOptions(options); // throws ConfigError, problems at NixOS paths
 * const problems = validateInterfaceConfig(config); // [] when valid; never throws
 * const { netdev, network, warnings } = exportNetworkd('wg0', config);
 * const { name, config: imported } = importNetworkd(netdev, network);
 * const withKeys = await resolveKeys(config); // reads (or generates) the key files
 * ```
 */
export { INIT_NAMESPACE, INTERFACE_EXTRA_FIELDS, PEER_EXTRA_FIELDS } from './model.js';
export type { InterfaceConfig, InterfacePeer, InterfaceSettings } from './model.js';
export { checkInterfaceConfig, validateInterfaceConfig } from './validate.js';
export type { InterfaceValidateOptions } from './validate.js';
export { checkNixosOptions, fromNixosOptions, nixosPeerName, toNixosOptions, validateNixosOptions } from './nixos.js';
export type { NixosInterfaceOptions, NixosLines, NixosPeerOptions } from './nixos.js';
export { exportNetworkd, importNetworkd, isValidInterfaceName } from './networkd.js';
export type { NetworkdFiles, NetworkdImport, NetworkdImportOptions } from './networkd.js';
export { ensurePrivateKeyFile, resolveKeys } from './key-files.js';
export type { ResolveKeysOptions } from './key-files.js';
export { WireGuardInterface } from './interface.js';
export type { InterfaceEventMap, InterfaceOptions } from './interface.js';
export type { EndpointRefreshErrorEvent, EndpointRefreshEvent } from './endpoint-refresh.js';
export type { Implementation, ImplementationChoice, UserspaceMode } from './link.js';
