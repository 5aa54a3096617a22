/**
 * The DNS message format (RFC 1035 §4, AAAA from RFC 3596, SRV from RFC 2782): queries are
 * encoded, replies decoded. Decoding reads every field through bounds checks, follows name
 * compression pointers only backwards (so a pointer loop cannot exist) and caps names at 255
 * bytes: any malformed or hostile message gives a `DnsError` with code `EBADRESP`, never
 * another exception.
 */
import { DnsError, badResponse } from './dns-error.js';

export const RecordType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
} as const;
export type RecordTypeName = keyof typeof RecordType;

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const CLASS_IN = 1;
const HEADER = 12;
const MAX_NAME = 255;
const MAX_LABEL = 63;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export type RecordData =
  | { type: 'A' | 'AAAA'; address: string }
  | { type: 'CNAME' | 'NS' | 'PTR'; value: string }
  | { type: 'MX'; priority: number; exchange: string }
  | { type: 'TXT'; entries: string[] }
  | { type: 'SRV'; priority: number; weight: number; port: number; name: string }
  | { type: 'SOA'; nsname: string; hostmaster: string; serial: number; refresh: number; retry: number; expire: number; minttl: number }
  | { type: 'other'; bytes: Buffer };

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

export interface DnsMessage {
  id: number;
  /** A reply (QR bit). */
  response: boolean;
  opcode: number;
  authoritative: boolean;
  /** The reply was cut to fit a UDP datagram (TC bit): ask again over TCP. */
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** Lower case, without the trailing dot: how names are compared. */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** The labels of a host name to query; `EBADNAME` unless it is one (ASCII, 1–63 per label, ≤ 253). */
export function nameLabels(name: string): Buffer[] {
  const bad = (why: string) => new DnsError('EBADNAME', `Misformatted domain name \`${name}': ${why}`, { hostname: name });
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0) throw bad('it is empty');
  if (n.length > 253) throw bad('longer than 253 characters');
  // eslint-disable-next-line no-control-regex
  if (!/^[\x21-\x7e]+$/.test(n)) throw bad('only printable ASCII is allowed (convert IDNs with url.domainToASCII)');
  return n.split('.').map((label) => {
    if (label.length === 0) throw bad('an empty label');
    if (label.length > MAX_LABEL) throw bad('a label longer than 63 characters');
    return Buffer.from(label, 'ascii');
  });
}

/** A standard query for `name` of `type` (recursion desired), with an EDNS0 OPT record offering `udpSize` bytes when given. */
export function encodeQuery(id: number, name: string, type: number, options: { udpSize?: number } = {}): Buffer {
  const labels = nameLabels(name);
  const nameLength = labels.reduce((n, l) => n + 1 + l.length, 1);
  const opt = options.udpSize === undefined ? 0 : 11;
  const out = Buffer.alloc(HEADER + nameLength + 4 + opt);
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(0x0100, 2); // RD
  out.writeUInt16BE(1, 4); // QDCOUNT
  if (opt) out.writeUInt16BE(1, 10); // ARCOUNT
  let at = HEADER;
  for (const l of labels) {
    out[at++] = l.length;
    l.copy(out, at);
    at += l.length;
  }
  out[at++] = 0;
  out.writeUInt16BE(type, at);
  out.writeUInt16BE(CLASS_IN, at + 2);
  at += 4;
  if (opt) {
    out[at] = 0; // root name
    out.writeUInt16BE(41, at + 1); // OPT
    out.writeUInt16BE(options.udpSize!, at + 3);
    // TTL (extended rcode, version, flags) and RDLENGTH stay 0.
  }
  return out;
}

/** Reads `message` with every access bounds-checked. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public at = 0,
  ) {}

  need(n: number, what: string): void {
    if (this.at + n > this.buf.length) throw badResponse(`${what} runs past the end of the message`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  /** A possibly compressed name; pointers must point before the label that holds them. */
  name(): string {
    const labels: string[] = [];
    let length = 1;
    let at = this.at;
    let jumped = false;
    for (;;) {
      if (at >= this.buf.length) throw badResponse('a name runs past the end of the message');
      const len = this.buf[at]!;
      if (len === 0) {
        at += 1;
        break;
      }
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        if (at + 2 > this.buf.length) throw badResponse('a name pointer runs past the end of the message');
        const target = ((len & 0x3f) << 8) | this.buf[at + 1]!;
        if (target >= at) throw badResponse('a name pointer points forwards (a compression loop)');
        if (!jumped) this.at = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if (kind !== 0) throw badResponse(`a label of unknown type 0x${kind.toString(16)}`);
      if (at + 1 + len > this.buf.length) throw badResponse('a label runs past the end of the message');
      length += len + 1;
      if (length > MAX_NAME) throw badResponse('a name longer than 255 bytes');
      labels.push(printableLabel(this.buf.subarray(at + 1, at + 1 + len)));
      at += 1 + len;
    }
    if (!jumped) this.at = at;
    return labels.length === 0 ? '.' : labels.join('.');
  }
}

/** A label as text: printable ASCII as is, anything else (and `.`/`\`) escaped as `\DDD` (RFC 4343). */
function printableLabel(b: Buffer): string {
  let s = '';
  for (const c of b) {
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\${c.toString().padStart(3, '0')}`;
  }
  return s;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The longest run of two or more zero groups becomes `::` (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function recordData(r: Reader, type: number, length: number): RecordData {
  const end = r.at + length;
  r.need(length, 'record data');
  const sub = new Reader(r.buf.subarray(0, end), r.at);
  let data: RecordData;
  switch (type) {
    case RecordType.A:
      if (length !== 4) throw badResponse(`an A record of ${length} bytes`);
      data = { type: 'A', address: Array.from(sub.bytes(4, 'A')).join('.') };
      break;
    case RecordType.AAAA:
      if (length !== 16) throw badResponse(`an AAAA record of ${length} bytes`);
      data = { type: 'AAAA', address: ipv6Text(sub.bytes(16, 'AAAA')) };
      break;
    case RecordType.CNAME:
    case RecordType.NS:
    case RecordType.PTR:
      data = { type: type === RecordType.CNAME ? 'CNAME' : type === RecordType.NS ? 'NS' : 'PTR', value: sub.name() };
      break;
    case RecordType.MX:
      data = { type: 'MX', priority: sub.u16('MX preference'), exchange: sub.name() };
      break;
    case RecordType.TXT: {
      const entries: string[] = [];
      while (sub.at < end) {
        const n = sub.u8('TXT length');
        entries.push(sub.bytes(n, 'TXT string').toString('utf8'));
      }
      data = { type: 'TXT', entries };
      break;
    }
    case RecordType.SRV:
      data = { type: 'SRV', priority: sub.u16('SRV'), weight: sub.u16('SRV'), port: sub.u16('SRV'), name: sub.name() };
      break;
    case RecordType.SOA:
      data = {
        type: 'SOA',
        nsname: sub.name(),
        hostmaster: sub.name(),
        serial: sub.u32('SOA'),
        refresh: sub.u32('SOA'),
        retry: sub.u32('SOA'),
        expire: sub.u32('SOA'),
        minttl: sub.u32('SOA'),
      };
      break;
    default:
      data = { type: 'other', bytes: Buffer.from(sub.bytes(length, 'record data')) };
  }
  if (sub.at !== end) throw badResponse(`record data of type ${type} has ${end - sub.at} bytes left over`);
  r.at = end;
  return data;
}

function record(r: Reader): DnsRecord {
  const name = r.name();
  const type = r.u16('record type');
  const cls = r.u16('record class');
  const ttl = r.u32('record TTL');
  const length = r.u16('record length');
  return { name, type, class: cls, ttl: ttl > 0x7fffffff ? 0 : ttl, data: recordData(r, type, length) };
}

/** Decodes one DNS message; throws `DnsError` (`EBADRESP`) if it is malformed. */
export function decodeMessage(message: Uint8Array): DnsMessage {
  const buf = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (buf.length < HEADER) throw badResponse(`${buf.length} bytes is shorter than a header`);
  const r = new Reader(buf);
  const id = r.u16('ID');
  const flags = r.u16('flags');
  const counts = [r.u16('QDCOUNT'), r.u16('ANCOUNT'), r.u16('NSCOUNT'), r.u16('ARCOUNT')] as const;
  const truncated = (flags & 0x0200) !== 0;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) questions.push({ name: r.name(), type: r.u16('question type'), class: r.u16('question class') });
  const sections: DnsRecord[][] = [[], [], []];
  try {
    for (let s = 0; s < 3; s++) for (let i = 0; i < counts[s + 1]!; i++) sections[s]!.push(record(r));
  } catch (error) {
    // A truncated reply may end in the middle of a record: what came before is kept (the
    // caller asks again over TCP anyway).
    if (!truncated) throw error;
  }
  return {
    id,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
  };
}

/** At most this many CNAMEs are followed (a longer chain, or a loop, is `EBADRESP`). */
const MAX_CNAME_CHAIN = 16;

/**
 * The records of `type` for `name` in a reply's answers, following CNAMEs from `name`;
 * `aliases` are the names passed on the way.
 */
export function answersFor(message: DnsMessage, name: string, type: number): { records: DnsRecord[]; aliases: string[] } {
  let current = canonicalName(name);
  const aliases: string[] = [];
  for (let hops = 0; ; hops++) {
    const records = message.answers.filter((a) => a.type === type && a.class === CLASS_IN && canonicalName(a.name) === current);
    if (records.length > 0 || type === RecordType.CNAME) return { records, aliases };
    const cname = message.answers.find((a) => a.type === RecordType.CNAME && canonicalName(a.name) === current);
    if (!cname || cname.data.type !== 'CNAME') return { records: [], aliases };
    if (hops >= MAX_CNAME_CHAIN) throw badResponse(`a CNAME chain longer than ${MAX_CNAME_CHAIN}`);
    current = canonicalName(cname.data.value);
    if (aliases.includes(current)) throw badResponse(`a CNAME loop at ${current}`);
    aliases.push(current);
  }
}
