/**
 * The problems a configuration can have, each with a stable code, and the collector that the
 * parsers and the validator report them to. A problem says what is wrong and where: a 1-based
 * `line` for files, a field `path` (`peers[2].allowedIPs[0]`) for objects.
 */
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';

export const ConfigProblemCodes = {
  /** wg: a line that is not a section header or a known `Key = value` of its section (also an empty value, or a key before any section). */
  LINE_UNRECOGNIZED: 'ERR_WGKIT_CONFIG_LINE_UNRECOGNIZED',
  /** A key is not 44 characters of canonical base64. */
  INVALID_KEY: 'ERR_WGKIT_CONFIG_INVALID_KEY',
  /** `ListenPort` is not an integer 0-65535. */
  INVALID_PORT: 'ERR_WGKIT_CONFIG_INVALID_PORT',
  /** `FwMark` is not `off` or an integer 0-0xffffffff (decimal or `0x` hex). */
  INVALID_FWMARK: 'ERR_WGKIT_CONFIG_INVALID_FWMARK',
  /** `PersistentKeepalive` is not `off` or an integer 0-65535. */
  INVALID_KEEPALIVE: 'ERR_WGKIT_CONFIG_INVALID_KEEPALIVE',
  /** An `AllowedIPs` entry is not `[+|-]ip[/cidr]`. */
  INVALID_ALLOWED_IP: 'ERR_WGKIT_CONFIG_INVALID_ALLOWED_IP',
  /** (warning) An `AllowedIPs` entry has bits set after its prefix; the kernel masks them off. */
  HOST_BITS_SET: 'ERR_WGKIT_CONFIG_HOST_BITS_SET',
  /** `Endpoint` is not `ip:port`, `[ipv6]:port`, `[ipv6%zone]:port` or `host:port` with a port 1-65535. */
  INVALID_ENDPOINT: 'ERR_WGKIT_CONFIG_INVALID_ENDPOINT',
  /** (warning) An IPv6 endpoint written without brackets; wg splits it at the last `:`. */
  ENDPOINT_NOT_BRACKETED: 'ERR_WGKIT_CONFIG_ENDPOINT_NOT_BRACKETED',
  /** A `[Peer]` has no `PublicKey`. */
  MISSING_PUBLIC_KEY: 'ERR_WGKIT_CONFIG_MISSING_PUBLIC_KEY',
  /** (warning) Two peers have the same public key; the device merges them into one. */
  DUPLICATE_PEER: 'ERR_WGKIT_CONFIG_DUPLICATE_PEER',
  /** (warning) A peer has the interface's own public key; the kernel ignores such a peer. */
  PEER_IS_SELF: 'ERR_WGKIT_CONFIG_PEER_IS_SELF',
  /** wg-quick: an `Address` entry is not an IP address with an optional `/prefix`. */
  INVALID_ADDRESS: 'ERR_WGKIT_CONFIG_INVALID_ADDRESS',
  /** wg-quick: a `DNS` server is not an IP address, or a search domain is not a domain name. */
  INVALID_DNS: 'ERR_WGKIT_CONFIG_INVALID_DNS',
  /** wg-quick: `MTU` is not an integer 68-65535. */
  INVALID_MTU: 'ERR_WGKIT_CONFIG_INVALID_MTU',
  /** wg-quick: `Table` is not `auto`, `off`, a number 0-4294967295 or a table name. */
  INVALID_TABLE: 'ERR_WGKIT_CONFIG_INVALID_TABLE',
  /** wg-quick: a `PreUp`/`PostUp`/`PreDown`/`PostDown` command cannot be written on one line as it is. */
  INVALID_HOOK: 'ERR_WGKIT_CONFIG_INVALID_HOOK',
  /** wg-quick: `SaveConfig` is neither `true` nor `false`. */
  INVALID_SAVECONFIG: 'ERR_WGKIT_CONFIG_INVALID_SAVECONFIG',
  /** Object form: a field has the wrong JavaScript type (a string where a number belongs, …). */
  INVALID_TYPE: 'ERR_WGKIT_CONFIG_INVALID_TYPE',
  /** Object form: a property that the configuration does not have. */
  UNKNOWN_PROPERTY: 'ERR_WGKIT_CONFIG_UNKNOWN_PROPERTY',
  /** Object form: a required property (`interface`, `peers`) is missing. */
  MISSING_PROPERTY: 'ERR_WGKIT_CONFIG_MISSING_PROPERTY',
  /** Interface: two fields that exclude each other are both set (`privateKey` and `privateKeyFile`, …). */
  CONFLICT: 'ERR_WGKIT_CONFIG_CONFLICT',
  /** Interface: a field needs another one that is not set (`generatePrivateKeyFile` without `privateKeyFile`). */
  MISSING_DEPENDENCY: 'ERR_WGKIT_CONFIG_MISSING_DEPENDENCY',
  /** Interface: neither `privateKey` nor `privateKeyFile` is set where one is required (NixOS, systemd-networkd). */
  MISSING_PRIVATE_KEY: 'ERR_WGKIT_CONFIG_MISSING_PRIVATE_KEY',
  /** Interface: a file path (`privateKeyFile`, `presharedKeyFile`) is not absolute or contains a NUL character. */
  INVALID_PATH: 'ERR_WGKIT_CONFIG_INVALID_PATH',
  /** Interface: a network namespace is neither `init` nor a name valid under /var/run/netns. */
  INVALID_NAMESPACE: 'ERR_WGKIT_CONFIG_INVALID_NAMESPACE',
  /** Interface: a route metric is not an integer 0-4294967295. */
  INVALID_METRIC: 'ERR_WGKIT_CONFIG_INVALID_METRIC',
  /** Interface: an endpoint refresh interval is not a non-negative integer number of seconds. */
  INVALID_REFRESH: 'ERR_WGKIT_CONFIG_INVALID_REFRESH',
  /** Interface: a peer `name` or an interface name is empty, too long or has characters it cannot have. */
  INVALID_NAME: 'ERR_WGKIT_CONFIG_INVALID_NAME',
  /** NixOS, systemd-networkd: a value that is not valid for its option and has no more specific code (`Kind`, `type`, …). */
  INVALID_VALUE: 'ERR_WGKIT_CONFIG_INVALID_VALUE',
  /** systemd-networkd: a file lacks a setting it must have (`[NetDev]` `Name=` or `Kind=`). */
  MISSING_SETTING: 'ERR_WGKIT_CONFIG_MISSING_SETTING',
  /** systemd-networkd: the `.network` file's `[Match] Name=` does not match the `.netdev` file's `Name=`. */
  NAME_MISMATCH: 'ERR_WGKIT_CONFIG_NAME_MISMATCH',
  /** (warning) systemd-networkd: a key or section that systemd does not know; systemd ignores it, and so does the import. */
  UNKNOWN_KEY: 'ERR_WGKIT_CONFIG_UNKNOWN_KEY',
  /**
   * A setting that the other format cannot express. A warning when it is left out (hooks in a
   * `.netdev`, `[Route]` sections in an `InterfaceConfig`); an error when leaving it out would
   * change what the configuration does (peers routed into different tables).
   */
  NOT_EXPRESSIBLE: 'ERR_WGKIT_CONFIG_NOT_EXPRESSIBLE',
} as const;

export type ConfigProblemCode = (typeof ConfigProblemCodes)[keyof typeof ConfigProblemCodes];

/** Where a value came from: a line of a file, or a path in an object. */
export type Location = { line: number } | { path: string };

/** Receives the problems of one value; the checkers in `values.ts` report through it. */
export type Report = (code: ConfigProblemCode, message: string, severity?: 'error' | 'warning') => void;

/** Collects every problem of a configuration, in the order they are found. */
export class ProblemCollector {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly file?: string) {}

  /** A reporter that places its problems at `location`. */
  at(location: Location): Report {
    return (code, message, severity = 'error') => {
      const problem: ConfigProblem = { code, message, severity, ...location };
      if (this.file !== undefined) problem.file = this.file;
      this.problems.push(problem);
    };
  }

  get hasErrors(): boolean {
    return this.problems.some((p) => p.severity === 'error');
  }

  get warnings(): ConfigProblem[] {
    return this.problems.filter((p) => p.severity === 'warning');
  }

  /** Throws a `ConfigError` with every problem when at least one is an error. */
  throwIfErrors(): void {
    if (this.hasErrors) throw new ConfigError(this.problems);
  }
}
