/**
 * The declarative, JSON-able form of a WireGuard configuration: what a wg(8) or wg-quick(8)
 * file says, as plain data. Keys are base64 strings, so `JSON.stringify` and `structuredClone`
 * keep everything. A property that is absent means the file does not set it; an explicit `0`
 * (fwmark, keepalive, port) is kept, because `wg addconf` treats "set to zero" and "not set"
 * differently.
 */

/** The `[Interface]` section: wg(8) fields first, then the wg-quick(8) additions. */
export interface WgInterfaceSection {
  /** Base64 private key. Never printed in a problem message. */
  privateKey?: string;
  /** UDP port 0-65535; 0 lets the kernel choose. */
  listenPort?: number;
  /** Firewall mark 0-0xffffffff; 0 is `off`. */
  fwMark?: number;

  /** wg-quick: interface addresses, `ip` or `ip/prefix` (host bits allowed). */
  address?: string[];
  /** wg-quick: DNS servers (IPv4 or IPv6 addresses). */
  dns?: string[];
  /** wg-quick: DNS search domains (the `DNS` entries that are not addresses). */
  dnsSearch?: string[];
  /** wg-quick: link MTU 68-65535; absent means wg-quick computes it. */
  mtu?: number;
  /** wg-quick: routing table, `auto` (the default), `off`, a number or a name. */
  table?: string;
  /** wg-quick: shell commands run before the link is up, in order, verbatim (`%i` is the interface). */
  preUp?: string[];
  /** wg-quick: shell commands run after the link is up. */
  postUp?: string[];
  /** wg-quick: shell commands run before the link goes down. */
  preDown?: string[];
  /** wg-quick: shell commands run after the link is down. */
  postDown?: string[];
  /** wg-quick: save the running state into the file on `down`. */
  saveConfig?: boolean;
}

/** A `[Peer]` section. */
export interface WgPeerSection {
  /** Base64 public key; required. */
  publicKey: string;
  /** Base64 preshared key. Never printed in a problem message. */
  presharedKey?: string;
  /**
   * `ip/cidr` entries (a bare `ip` means /32 or /128). A `+` or `-` prefix marks an
   * incremental add or remove, as wg(8) accepts; it is kept as written.
   */
  allowedIPs?: string[];
  /** `ip:port`, `[ipv6]:port`, `[ipv6%zone]:port` or `host:port`; host names are not resolved. */
  endpoint?: string;
  /** Seconds 0-65535; 0 is `off`. */
  persistentKeepalive?: number;
}

/** A whole configuration. */
export interface WgConfig {
  interface: WgInterfaceSection;
  peers: WgPeerSection[];
}

/** The wg-quick(8) additions to `[Interface]`, in the order `wg-quick save` writes them. */
export const WG_QUICK_FIELDS = [
  'address',
  'dns',
  'dnsSearch',
  'mtu',
  'table',
  'saveConfig',
  'preUp',
  'postUp',
  'preDown',
  'postDown',
] as const satisfies readonly (keyof WgInterfaceSection)[];

/** The wg(8) fields of `[Interface]`, in the order `wg showconf` writes them. */
export const WG_INTERFACE_FIELDS = ['listenPort', 'fwMark', 'privateKey'] as const satisfies readonly (keyof WgInterfaceSection)[];

/** The fields of `[Peer]`, in the order `wg showconf` writes them. */
export const WG_PEER_FIELDS = [
  'publicKey',
  'presharedKey',
  'allowedIPs',
  'endpoint',
  'persistentKeepalive',
] as const satisfies readonly (keyof WgPeerSection)[];

/** The configuration without its wg-quick fields: what `wg-quick strip` hands to wg. */
export function toWgConfig(config: WgConfig): WgConfig {
  const iface: WgInterfaceSection = {};
  for (const field of WG_INTERFACE_FIELDS) {
    if (config.interface[field] !== undefined) Object.assign(iface, { [field]: config.interface[field] });
  }
  return { interface: iface, peers: structuredClone(config.peers) };
}
