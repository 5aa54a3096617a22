/**
 * The wg(8) value checks shared by the file parser and the object validator. Each check
 * reports its problems through a `Report` and returns the parsed value, or undefined when the
 * value is invalid. Messages are wg's; a private or preshared key is never quoted.
 */
import { Key } from '../keys.js';
import { isPublicKeyBase64 } from '../key-base64.js';
import type { KeyKind } from '../keys.js';
import { hasHostBits, maxPrefix, parseIP } from './ip.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';

export const MAX_PORT = 65535;
export const MAX_FWMARK = 0xffffffff;
export const MAX_KEEPALIVE = 65535;

/** Digits only, as wg's numbers must be (strtoul after a `char_is_digit` check). */
export const DECIMAL = /^[0-9]+$/;

/** wg's `key_from_base64`. The value of a private or preshared key is never quoted. */
export function checkKey(text: string, kind: KeyKind, report: Report): string | undefined {
  if (isKeyText(text, kind)) return text;
  const shown = kind === 'public' ? `: \`${text}'` : ' (the value is not shown)';
  report(Codes.INVALID_KEY, `Key is not the correct length or format${shown}`);
  return undefined;
}

/** Whether `text` is a key in wg's base64; a secret one is checked in constant time (natively). */
export function isKeyText(text: string, kind: KeyKind): boolean {
  if (kind === 'public') return isPublicKeyBase64(text);
  try {
    Key.fromBase64(text, kind);
    return true;
  } catch {
    return false;
  }
}

/** `ListenPort` as written in a file: 0-65535. (wg also accepts /etc/services names; wgkit does not.) */
export function parseListenPort(text: string, report: Report): number | undefined {
  // wg resolves the port with getaddrinfo(3); these are the messages it then prints.
  if (text === '') {
    report(Codes.INVALID_PORT, 'Unable to parse empty port');
    return undefined;
  }
  if (!DECIMAL.test(text)) {
    report(Codes.INVALID_PORT, `Servname not supported for ai_socktype: \`${text}'`);
    return undefined;
  }
  return checkListenPort(Number(text), text, report);
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
