/**
 * IP addresses parsed as glibc's `inet_pton` parses them (which is what wg uses): IPv4 is
 * exactly four decimal octets without leading zeros; IPv6 is hex groups with at most one `::`
 * and an optional dotted IPv4 tail. No zone (`%eth0`) is part of an address here.
 */

export type IPFamily = 4 | 6;

export interface ParsedIP {
  family: IPFamily;
  /** 4 or 16 bytes in network order. */
  bytes: Uint8Array;
}

/** Parses dotted-quad IPv4 as inet_pton(AF_INET) does. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(4);
  return scanIPv4(text, 0, text.length, bytes, 0) ? bytes : undefined;
}

/** Parses IPv6 as inet_pton(AF_INET6) does (glibc: `::` must stand for at least one group). */
export function parseIPv6(text: string): Uint8Array | undefined {
  const gap = text.indexOf('::');
  // A second `::` (":::" included) is never valid.
  if (gap >= 0 && text.indexOf('::', gap + 1) >= 0) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  if (!scanGroups(text, 0, gap < 0 ? text.length : gap, gap < 0, head)) return undefined;
  if (gap >= 0 && !scanGroups(text, gap + 2, text.length, true, tail)) return undefined;
  const count = head.length + tail.length;
  if (gap < 0 ? count !== 8 : count > 7) return undefined;
  const bytes = new Uint8Array(16);
  head.forEach((group, i) => putGroup(bytes, i, group));
  tail.forEach((group, i) => putGroup(bytes, 8 - tail.length + i, group));
  return bytes;
}

const DOT = 0x2e;
const COLON = 0x3a;

function putGroup(bytes: Uint8Array, i: number, group: number): void {
  bytes[2 * i] = group >> 8;
  bytes[2 * i + 1] = group & 0xff;
}

/**
 * Four decimal octets in `text[from, to)`, dot-separated, each `0` or 1-3 digits without a
 * leading zero and at most 255, into `out[at..at + 4]`. Scanned by hand: config files carry
 * tens of thousands of addresses.
 */
function scanIPv4(text: string, from: number, to: number, out: Uint8Array, at: number): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || octets === 4) return false;
      out[at + octets++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false;
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return octets === 4;
}

/** 0-15 for a hex digit of either case, else -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Groups of 1-4 hex digits in `text[from, to)` separated by single colons, appended to `out`;
 * the last may be dotted IPv4 (two groups) when `ipv4Tail`. An empty range is no groups.
 */
function scanGroups(text: string, from: number, to: number, ipv4Tail: boolean, out: number[]): boolean {
  if (from === to) return true;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && text.charCodeAt(i) !== COLON) continue;
    if (ipv4Tail && i === to && text.indexOf('.', start) >= 0) {
      const v4 = new Uint8Array(4);
      if (!scanIPv4(text, start, to, v4, 0)) return false;
      out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else {
      if (i - start < 1 || i - start > 4) return false;
      let group = 0;
      for (let j = start; j < i; j++) {
        const d = hexDigit(text.charCodeAt(j));
        if (d < 0) return false;
        group = group * 16 + d;
      }
      out.push(group);
    }
    start = i + 1;
  }
  return true;
}

/** wg's `parse_ip`: a `:` means IPv6, anything else must be IPv4. */
export function parseIP(text: string): ParsedIP | undefined {
  if (text.includes(':')) {
    const bytes = parseIPv6(text);
    return bytes && { family: 6, bytes };
  }
  const bytes = parseIPv4(text);
  return bytes && { family: 4, bytes };
}

/** The longest prefix length of a family. */
export function maxPrefix(family: IPFamily): number {
  return family === 4 ? 32 : 128;
}

/** Whether any bit after the first `prefix` bits is set (wg's `validate_netmask`, inverted). */
export function hasHostBits(bytes: Uint8Array, prefix: number): boolean {
  for (let i = 0; i < bytes.length; ++i) {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    const hostMask = 0xff >> keep;
    if (((bytes[i] ?? 0) & hostMask) !== 0) return true;
  }
  return false;
}

/** An IPv6 address, optionally followed by `%zone` (an interface name or index). */
export function isIPv6WithZone(text: string): boolean {
  const percent = text.indexOf('%');
  const address = percent < 0 ? text : text.slice(0, percent);
  const zone = percent < 0 ? undefined : text.slice(percent + 1);
  if (zone !== undefined && !/^[a-zA-Z0-9_=+.-]{1,15}$/.test(zone)) return false;
  return parseIPv6(address) !== undefined;
}
