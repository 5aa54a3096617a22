/**
 * The declarative form of a whole interface, as wg-quick(8) files and NixOS's
 * `networking.wireguard.interfaces.<name>` describe it: the wg(8) and wg-quick(8) fields of
 * `WgConfig`, plus what NixOS adds (key files, route metric, namespaces, setup hooks, endpoint
 * refresh). Plain JSON-able data; a parsed wg-quick file is already an `InterfaceConfig`.
 */
import type { WgInterfaceSection, WgPeerSection } from '../config/model.js';

/** `[Interface]` plus the NixOS options that wg-quick files cannot express. */
export interface InterfaceSettings extends WgInterfaceSection {
  /** NixOS `privateKeyFile`: read the private key from this file (wg's key file format). */
  privateKeyFile?: string;
  /** NixOS `generatePrivateKeyFile`: create `privateKeyFile` (0600, parent directories) when absent. */
  generatePrivateKeyFile?: boolean;
  /** NixOS `metric`: the metric of the routes made from allowed IPs. */
  metric?: number;
  /** NixOS `allowedIPsAsRoutes` (default true): add routes for the peers' allowed IPs. */
  allowedIPsAsRoutes?: boolean;
  /** NixOS `preSetup`: shell commands run before the interface is created. */
  preSetup?: string[];
  /** NixOS `postSetup`: shell commands run after the interface is up. */
  postSetup?: string[];
  /** NixOS `preShutdown`: shell commands run before the interface is deleted. */
  preShutdown?: string[];
  /** NixOS `postShutdown`: shell commands run after the interface is deleted. */
  postShutdown?: string[];
  /**
   * NixOS `socketNamespace`: the network namespace (a name under /var/run/netns, or `init`)
   * where the interface is created and where its UDP socket lives. Default: this process's.
   */
  socketNamespace?: string;
  /**
   * NixOS `interfaceNamespace`: the namespace the interface is moved to after creation, where
   * its addresses and routes are set (`init` is the init namespace). Default: `socketNamespace`.
   */
  interfaceNamespace?: string;
  /** NixOS `dynamicEndpointRefreshSeconds`: re-resolve host-name endpoints this often; 0 = off. */
  dynamicEndpointRefreshSeconds?: number;
  /** Default of the peers' `dynamicEndpointRefreshRestartSeconds`. */
  dynamicEndpointRefreshRestartSeconds?: number;
}

/** `[Peer]` plus the NixOS peer options. */
export interface InterfacePeer extends WgPeerSection {
  /** NixOS `name`: a label for logs and events (default: the public key). */
  name?: string;
  /** NixOS `presharedKeyFile`: read the preshared key from this file. */
  presharedKeyFile?: string;
  /** Per-peer override of the interface's `dynamicEndpointRefreshSeconds`. */
  dynamicEndpointRefreshSeconds?: number;
  /** Seconds to wait after a failed resolution before trying again (default: the refresh interval). */
  dynamicEndpointRefreshRestartSeconds?: number;
}

/** A whole interface: the same shape as `WgConfig`, with the extra fields above. */
export interface InterfaceConfig {
  interface: InterfaceSettings;
  peers: InterfacePeer[];
}

/** The `InterfaceSettings` fields that are neither wg(8) nor wg-quick(8) fields. */
export const INTERFACE_EXTRA_FIELDS = [
  'privateKeyFile',
  'generatePrivateKeyFile',
  'metric',
  'allowedIPsAsRoutes',
  'preSetup',
  'postSetup',
  'preShutdown',
  'postShutdown',
  'socketNamespace',
  'interfaceNamespace',
  'dynamicEndpointRefreshSeconds',
  'dynamicEndpointRefreshRestartSeconds',
] as const satisfies readonly (keyof InterfaceSettings)[];

/** The `InterfacePeer` fields that are not wg(8) fields. */
export const PEER_EXTRA_FIELDS = [
  'name',
  'presharedKeyFile',
  'dynamicEndpointRefreshSeconds',
  'dynamicEndpointRefreshRestartSeconds',
] as const satisfies readonly (keyof InterfacePeer)[];

/** The name NixOS and `ip netns` use for the init network namespace. */
export const INIT_NAMESPACE = 'init';
