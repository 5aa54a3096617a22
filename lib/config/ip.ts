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
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    bytes[i] = octet;
  }
  return bytes;
}

/** Parses IPv6 as inet_pton(AF_INET6) does (glibc: `::` must stand for at least one group). */
export function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** Hex groups separated by single colons; the last may be dotted IPv4 when `ipv4Tail`. */
function parseGroups(text: string, ipv4Tail: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (ipv4Tail && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
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
