/**
 * The value checks shared by the file parsers and the object validator. Each check reports its
 * problems through a `Report` and returns the parsed value, or undefined when the value is
 * invalid. Messages follow wg(8) and wg-quick(8) where they have one; a private or preshared
 * key is never quoted.
 */
import { Key } from '../keys.js';
import type { KeyKind } from '../keys.js';
import { hasHostBits, maxPrefix, parseIP, parseIPv4, parseIPv6 } from './ip.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';

export const MAX_PORT = 65535;
export const MAX_FWMARK = 0xffffffff;
export const MAX_KEEPALIVE = 65535;
/** The smallest MTU that still carries IPv4 (RFC 791). */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
export const MAX_TABLE = 0xffffffff;

const DECIMAL = /^[0-9]+$/;

/** wg's `key_from_base64`. The value of a private or preshared key is never quoted. */
export function checkKey(text: string, kind: KeyKind, report: Report): string | undefined {
  try {
    Key.fromBase64(text, kind);
    return text;
  } catch {
    const shown = kind === 'public' ? `: \`${text}'` : ' (the value is not shown)';
    report(Codes.INVALID_KEY, `Key is not the correct length or format${shown}`);
    return undefined;
  }
}

/** `ListenPort` as written in a file: 0-65535. (wg also accepts /etc/services names; wgkit does not.) */
export function parseListenPort(text: string, report: Report): number | undefined {
  const port = DECIMAL.test(text) ? Number(text) : NaN;
  return checkListenPort(port, text, report);
}

export function checkListenPort(port: number, shown: string, report: Report): number | undefined {
  if (Number.isInteger(port) && port >= 0 && port <= MAX_PORT) return port;
  report(Codes.INVALID_PORT, `ListenPort is not a port number 0-65535: \`${shown}'`);
  return undefined;
}

/** wg's `parse_fwmark`: `off`, or decimal, or `0x` hex, at most 0xffffffff. */
export function parseFwMark(text: string, report: Report): number | undefined {
  if (text.toLowerCase() === 'off') return 0;
  let mark = NaN;
  if (/^0x[0-9a-fA-F]+$/.test(text)) mark = parseInt(text.slice(2), 16);
  else if (DECIMAL.test(text)) mark = Number(text);
  return checkFwMark(mark, text, report);
}

export function checkFwMark(mark: number, shown: string, report: Report): number | undefined {
  if (Number.isInteger(mark) && mark >= 0 && mark <= MAX_FWMARK) return mark;
  report(Codes.INVALID_FWMARK, `Fwmark is neither 0/off nor 0-0xffffffff: \`${shown}'`);
  return undefined;
}

/** wg's `parse_persistent_keepalive`: `off`, or 0-65535. */
export function parsePersistentKeepalive(text: string, report: Report): number | undefined {
  if (text.toLowerCase() === 'off') return 0;
  return checkPersistentKeepalive(DECIMAL.test(text) ? Number(text) : NaN, text, report);
}

export function checkPersistentKeepalive(seconds: number, shown: string, report: Report): number | undefined {
  if (Number.isInteger(seconds) && seconds >= 0 && seconds <= MAX_KEEPALIVE) return seconds;
  report(Codes.INVALID_KEEPALIVE, `Persistent keepalive interval is neither 0/off nor 1-65535: \`${shown}'`);
  return undefined;
}

/**
 * One `AllowedIPs` entry as wg's `parse_allowedips` reads it: an optional `+` (add) or `-`
 * (remove) prefix, an IP, and an optional `/cidr` (default /32 or /128). Bits set after the
 * prefix are a warning, as in wg.
 */
export function checkAllowedIP(entry: string, report: Report): string | undefined {
  const unprefixed = entry.startsWith('+') || entry.startsWith('-') ? entry.slice(1) : entry;
  const slash = unprefixed.indexOf('/');
  const ipText = slash < 0 ? unprefixed : unprefixed.slice(0, slash);
  const ip = parseIP(ipText);
  if (ip === undefined) {
    report(Codes.INVALID_ALLOWED_IP, `Unable to parse IP address: \`${ipText}'`);
    return undefined;
  }
  if (slash < 0) return entry;
  const maskText = unprefixed.slice(slash + 1);
  const cidr = DECIMAL.test(maskText) ? Number(maskText) : NaN;
  if (!(cidr <= maxPrefix(ip.family))) {
    report(Codes.INVALID_ALLOWED_IP, `AllowedIP is not in the correct format: \`${unprefixed}'`);
    return undefined;
  }
  if (hasHostBits(ip.bytes, cidr)) {
    report(Codes.HOST_BITS_SET, `Warning: AllowedIP has nonzero host part: ${ipText}/${maskText}`, 'warning');
  }
  return entry;
}

/** wg-quick `Address`: an IP with an optional `/prefix`; host bits are the point here. */
export function checkAddress(text: string, report: Report): string | undefined {
  const slash = text.indexOf('/');
  const ip = parseIP(slash < 0 ? text : text.slice(0, slash));
  const maskText = slash < 0 ? '0' : text.slice(slash + 1);
  if (ip !== undefined && DECIMAL.test(maskText) && Number(maskText) <= maxPrefix(ip.family)) return text;
  report(Codes.INVALID_ADDRESS, `Address is not an IP address with an optional /prefix: \`${text}'`);
  return undefined;
}

/**
 * `Endpoint`: `ip:port`, `[ipv6]:port`, `[ipv6%zone]:port` or `host:port`, split as wg's
 * `parse_endpoint` does (at the closing brace, otherwise at the last `:`), with the messages
 * wg prints. wg resolves host names while parsing; wgkit only checks their syntax. The port
 * must be a number 1-65535.
 */
export function checkEndpoint(text: string, report: Report): string | undefined {
  const invalid = (message: string): undefined => {
    report(Codes.INVALID_ENDPOINT, `${message}: \`${text}'`);
    return undefined;
  };
  if (text === '') {
    report(Codes.INVALID_ENDPOINT, 'Unable to parse empty endpoint');
    return undefined;
  }
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return invalid('Unable to find matching brace of endpoint');
    if (text[close + 1] !== ':' || close + 2 >= text.length) return invalid('Unable to find port of endpoint');
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!isIPv6WithZone(host)) return invalid('Endpoint address in brackets is not an IPv6 address');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0 || colon + 1 >= text.length) return invalid('Unable to find port of endpoint');
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) {
      if (!isIPv6WithZone(host)) return invalid('Endpoint address is not an IPv6 address');
      report(Codes.ENDPOINT_NOT_BRACKETED, `IPv6 endpoint address should be in brackets: \`${text}'`, 'warning');
    } else if (parseIPv4(host) === undefined && !isHostName(host)) {
      return invalid('Endpoint host is neither an IP address nor a host name');
    }
  }
  if (!DECIMAL.test(port) || Number(port) < 1 || Number(port) > MAX_PORT) {
    return invalid('Endpoint port is not 1-65535');
  }
  return text;
}

/** An IPv6 address, optionally followed by `%zone` (an interface name or index). */
function isIPv6WithZone(text: string): boolean {
  const percent = text.indexOf('%');
  const address = percent < 0 ? text : text.slice(0, percent);
  const zone = percent < 0 ? undefined : text.slice(percent + 1);
  if (zone !== undefined && !/^[a-zA-Z0-9_=+.-]{1,15}$/.test(zone)) return false;
  return parseIPv6(address) !== undefined;
}

/**
 * A DNS name: dot-separated labels of letters, digits, `-` and `_` (not starting or ending
 * with `-`), at most 63 characters each and 253 in all, an optional final dot. A name made
 * only of digits and dots is a malformed IPv4 address, not a name.
 */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253 || /^[0-9.]+$/.test(name)) return false;
  return name.split('.').every((label) => /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(label));
}

/** wg-quick's rule: `^[0-9.]+$` or anything with a `:` is a server; the rest are search domains. */
export function isDnsServerSyntax(entry: string): boolean {
  return /^[0-9.]+$/.test(entry) || entry.includes(':');
}

/** A wg-quick `DNS` server: an IPv4 or IPv6 address (IPv6 may carry a `%zone`). */
export function checkDnsServer(text: string, report: Report): string | undefined {
  if (isDnsServerSyntax(text) && (parseIPv4(text) !== undefined || isIPv6WithZone(text))) return text;
  report(Codes.INVALID_DNS, `DNS server is not an IP address: \`${text}'`);
  return undefined;
}

/** A wg-quick `DNS` search domain: a domain name that wg-quick would not take for a server. */
export function checkDnsSearch(text: string, report: Report): string | undefined {
  if (!isDnsServerSyntax(text) && isHostName(text)) return text;
  report(Codes.INVALID_DNS, `DNS search domain is not a domain name: \`${text}'`);
  return undefined;
}

/** wg-quick `MTU`: a decimal number 68-65535. */
export function parseMtu(text: string, report: Report): number | undefined {
  return checkMtu(DECIMAL.test(text) ? Number(text) : NaN, text, report);
}

export function checkMtu(mtu: number, shown: string, report: Report): number | undefined {
  if (Number.isInteger(mtu) && mtu >= MIN_MTU && mtu <= MAX_MTU) return mtu;
  report(Codes.INVALID_MTU, `MTU is not ${MIN_MTU}-${MAX_MTU}: \`${shown}'`);
  return undefined;
}

/** wg-quick `Table`: `auto`, `off`, a number 0-4294967295, or a table name from rt_tables. */
export function checkTable(text: string, report: Report): string | undefined {
  const valid = DECIMAL.test(text) ? Number(text) <= MAX_TABLE : /^[a-zA-Z_][a-zA-Z0-9_.-]*$/.test(text);
  if (valid) return text;
  report(Codes.INVALID_TABLE, `Table is neither auto, off, 0-4294967295 nor a table name: \`${text}'`);
  return undefined;
}

/** wg-quick's `read_bool` (case-insensitive, as wg-quick matches it). */
export function parseSaveConfig(text: string, report: Report): boolean | undefined {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  report(Codes.INVALID_SAVECONFIG, `\`${text}' is neither true nor false`);
  return undefined;
}

/**
 * A hook command in the object form must survive being written as `PreUp = cmd` and read back:
 * one line, no NUL, nothing that wg-quick would trim away at either end.
 */
export function checkHook(command: string, report: Report): string | undefined {
  if (/[\n\0]/.test(command)) {
    report(Codes.INVALID_HOOK, 'Hook command contains a newline or NUL character');
    return undefined;
  }
  if (/^[ \t\n\v\f\r]|[ \t\n\v\f\r]$/.test(command)) {
    report(Codes.INVALID_HOOK, 'Hook command starts or ends with whitespace, which wg-quick removes');
    return undefined;
  }
  return command;
}
