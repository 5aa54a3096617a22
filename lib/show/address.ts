/**
 * Addresses as wg prints them: `inet_ntop` text for allowed IPs, and `getnameinfo`
 * (NI_NUMERICHOST | NI_NUMERICSERV) text for endpoints, `[host]:port` for IPv6.
 *
 * The read model already holds addresses as text. These functions bring any spelling of an
 * address (upper-case hex, uncompressed zeros, leading zeros in the port) to the exact text of
 * glibc's `inet_ntop`, so the printed output does not depend on how a backend spelled it. Text
 * that is not an address is returned unchanged.
 */

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

function parseHexGroups(text: string): number[] | undefined {
  if (text === '') return [];
  const words: number[] = [];
  for (const group of text.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    words.push(parseInt(group, 16));
  }
  return words;
}

/** The eight 16-bit words of an IPv6 address (with `::` and a trailing dotted quad allowed). */
function parseIPv6(text: string): number[] | undefined {
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (lastColon >= 0 && body.includes('.', lastColon)) {
    const v4 = parseIPv4(body.slice(lastColon + 1));
    if (!v4) return undefined;
    tail.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    // Drop the dotted quad; its colon stays only when it is part of a `::`.
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  let words: number[];
  if (halves.length === 1) {
    const all = parseHexGroups(body);
    if (!all) return undefined;
    words = [...all, ...tail];
    if (words.length !== 8) return undefined;
  } else if (halves.length === 2) {
    const head = parseHexGroups(halves[0] as string);
    const rest = parseHexGroups(halves[1] as string);
    if (!head || !rest) return undefined;
    const known = head.length + rest.length + tail.length;
    if (known > 7) return undefined;
    words = [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
  } else {
    return undefined;
  }
  return words;
}

/** glibc `inet_ntop(AF_INET6)`: the longest run (first on ties) of two or more zero words becomes `::`. */
function formatIPv6Words(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;

  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // An IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address.
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      const hi = words[6] as number;
      const lo = words[7] as number;
      out += `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
      return out;
    }
    out += (words[i] as number).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** An IPv4 or IPv6 address as glibc's `inet_ntop` writes it; other text is returned as it is. */
export function formatIP(text: string): string {
  if (text.includes(':')) {
    const words = parseIPv6(text);
    return words ? formatIPv6Words(words) : text;
  }
  const bytes = parseIPv4(text);
  return bytes ? bytes.join('.') : text;
}

/** An allowed IP split as wg prints it: the address (inet_ntop) and the prefix length. */
export interface AllowedIPText {
  ip: string;
  /** The prefix length as text (`%u`); empty when the input had no `/`. */
  cidr: string;
}

/** Splits `ip/cidr` at the last `/` and normalises both parts. */
export function splitAllowedIP(text: string): AllowedIPText {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return { ip: formatIP(text), cidr: '' };
  const cidrText = text.slice(slash + 1);
  const cidr = /^[0-9]+$/.test(cidrText) ? String(Number(cidrText)) : cidrText;
  return { ip: formatIP(text.slice(0, slash)), cidr };
}

/** An allowed IP as `wg show` script output prints it: `ip/cidr`. */
export function formatAllowedIP(text: string): string {
  const { ip, cidr } = splitAllowedIP(text);
  return text.includes('/') ? `${ip}/${cidr}` : ip;
}

function formatPort(text: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? String(port) : undefined;
}

/**
 * An endpoint as wg prints it: `a.b.c.d:port` or `[v6]:port`, where a v6 host keeps its
 * `%scope` suffix. Text in another shape is returned unchanged.
 */
export function formatEndpoint(text: string): string {
  if (text.startsWith('[')) {
    const close = text.lastIndexOf(']');
    if (close < 0 || text[close + 1] !== ':') return text;
    const port = formatPort(text.slice(close + 2));
    if (port === undefined) return text;
    const host = text.slice(1, close);
    const percent = host.indexOf('%');
    const address = percent < 0 ? host : host.slice(0, percent);
    const scope = percent < 0 ? '' : host.slice(percent);
    const words = parseIPv6(address);
    if (!words) return text;
    return `[${formatIPv6Words(words)}${scope}]:${port}`;
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return text;
  const bytes = parseIPv4(text.slice(0, colon));
  const port = formatPort(text.slice(colon + 1));
  if (!bytes || port === undefined) return text;
  return `${bytes.join('.')}:${port}`;
}
