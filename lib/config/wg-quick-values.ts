/**
 * The checks of wg-quick's own values (Address, DNS, MTU, Table, SaveConfig, hooks), shared by
 * the wg-quick parser and the object validator. Messages follow wg-quick where it has one.
 */
import { isHostName } from './hostname.js';
import { isIPv6WithZone, maxPrefix, parseIP, parseIPv4 } from './ip.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';
import { DECIMAL } from './values.js';

/** The smallest MTU that still carries IPv4 (RFC 791). */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
export const MAX_TABLE = 0xffffffff;

/** wg-quick `Address`: an IP with an optional `/prefix`; host bits are the point here. */
export function checkAddress(text: string, report: Report): string | undefined {
  const slash = text.indexOf('/');
  const ip = parseIP(slash < 0 ? text : text.slice(0, slash));
  const mask = slash < 0 ? undefined : text.slice(slash + 1);
  const validMask = mask === undefined || (DECIMAL.test(mask) && ip !== undefined && Number(mask) <= maxPrefix(ip.family));
  if (ip !== undefined && validMask) return text;
  report(Codes.INVALID_ADDRESS, `Address is not an IP address with an optional /prefix: \`${text}'`);
  return undefined;
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
