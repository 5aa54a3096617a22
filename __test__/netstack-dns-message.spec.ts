/**
 * The DNS message codec of lib/netstack/dns-message.ts: queries byte for byte, replies with
 * compression pointers and CNAME chains, and hostile replies (truncated anywhere, pointer
 * loops, forward pointers, oversized names, bad record lengths, random bytes) that must give a
 * coded `EBADRESP` error and nothing else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answersFor, decodeMessage, DnsError, encodeQuery, RecordType } from '../lib/index.js';

function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function header(id: number, flags: number, qd: number, an: number, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => h.writeUInt16BE(v, i * 2));
  return h;
}

function rr(owner: Buffer, type: number, data: Buffer, ttl = 60): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([owner, fixed, data]);
}

const question = (n: string, type: number) => Buffer.concat([name(n), Buffer.from([type >> 8, type & 0xff, 0, 1])]);
const ptr = (offset: number) => Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);

/** A reply to `www.example.test A`: www → alias (CNAME), alias → web (CNAME), web A ×2, names compressed. */
function chainReply(): Buffer {
  const q = question('www.example.test', RecordType.A);
  const h = header(0x1234, 0x8180, 1, 4);
  // Offsets: question name at 12; "example.test" at 16.
  const alias = Buffer.concat([Buffer.from([5]), Buffer.from('alias'), ptr(16)]);
  const aliasAt = 12 + q.length + 12 + 10; // owner ptr (2) + fixed (10) → data starts here
  const r1 = rr(ptr(12), RecordType.CNAME, alias);
  const webData = Buffer.concat([Buffer.from([3]), Buffer.from('web'), ptr(16)]);
  const r2 = rr(ptr(aliasAt - 10), RecordType.CNAME, webData);
  const webAt = 12 + q.length + r1.length + 12;
  const r3 = rr(ptr(webAt), RecordType.A, Buffer.from([10, 0, 0, 1]), 30);
  const r4 = rr(ptr(webAt), RecordType.A, Buffer.from([10, 0, 0, 2]), 40);
  return Buffer.concat([h, q, r1, r2, r3, r4]);
}

function expectBadResponse(message: Buffer): DnsError {
  let thrown: unknown;
  try {
    decodeMessage(message);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DnsError);
  expect((thrown as DnsError).code).toBe('EBADRESP');
  return thrown as DnsError;
}

describe('DNS codec: queries', () => {
  it('encodes a query with RD and an EDNS0 OPT record', () => {
    const q = encodeQuery(0xabcd, 'Web.Example.test.', RecordType.AAAA, { udpSize: 1232 });
    expect(q.subarray(0, 12).toString('hex')).toBe('abcd01000001000000000001');
    expect(q.subarray(12, 12 + 18)).toEqual(name('Web.Example.test'));
    expect(q.readUInt16BE(30)).toBe(28);
    expect(q.readUInt16BE(32)).toBe(1);
    expect(q.subarray(34).toString('hex')).toBe('00002904d0000000000000');
    // It decodes as itself.
    const d = decodeMessage(q);
    expect(d.questions).toEqual([{ name: 'Web.Example.test', type: 28, class: 1 }]);
    expect(d.response).toBe(false);
    expect(d.recursionDesired).toBe(true);
  });

  it.each([
    ['', 'it is empty'],
    ['a..b', 'an empty label'],
    [`${'a'.repeat(64)}.test`, 'a label longer than 63'],
    [`${'a.'.repeat(127)}ab`, 'longer than 253'],
    ['bücher.test', 'printable ASCII'],
    ['with space.test', 'printable ASCII'],
  ])('refuses the name %j with EBADNAME', (n, why) => {
    expect(() => encodeQuery(1, n, RecordType.A)).toThrow(expect.objectContaining({ code: 'EBADNAME', message: expect.stringContaining(why) }));
  });
});

describe('DNS codec: replies', () => {
  it('decodes compressed names and follows a CNAME chain', () => {
    const m = decodeMessage(chainReply());
    expect(m).toMatchObject({ id: 0x1234, response: true, truncated: false, rcode: 0, recursionAvailable: true });
    expect(m.answers.map((a) => a.name)).toEqual(['www.example.test', 'alias.example.test', 'web.example.test', 'web.example.test']);
    const { records, aliases } = answersFor(m, 'WWW.example.test.', RecordType.A);
    expect(records.map((r) => [r.data, r.ttl])).toEqual([
      [{ type: 'A', address: '10.0.0.1' }, 30],
      [{ type: 'A', address: '10.0.0.2' }, 40],
    ]);
    expect(aliases).toEqual(['alias.example.test', 'web.example.test']);
    expect(answersFor(m, 'www.example.test', RecordType.AAAA).records).toEqual([]);
  });

  it('decodes AAAA, MX, TXT, SRV and SOA data', () => {
    const q = question('x.test', RecordType.AAAA);
    const v6 = Buffer.from('fd000000000000000000000000000001', 'hex');
    const mx = Buffer.concat([Buffer.from([0, 10]), name('mail.test')]);
    const txt = Buffer.concat([Buffer.from([2]), Buffer.from('hi'), Buffer.from([0]), Buffer.from([3]), Buffer.from('abc')]);
    const srv = Buffer.concat([Buffer.from([0, 1, 0, 2, 0x01, 0xbb]), name('srv.test')]);
    const soaTimes = Buffer.alloc(20);
    [1, 2, 3, 4, 5].forEach((v, i) => soaTimes.writeUInt32BE(v, i * 4));
    const soa = Buffer.concat([name('ns.test'), name('admin.test'), soaTimes]);
    const m = decodeMessage(
      Buffer.concat([
        header(1, 0x8000, 1, 5),
        q,
        rr(ptr(12), RecordType.AAAA, v6),
        rr(ptr(12), RecordType.MX, mx),
        rr(ptr(12), RecordType.TXT, txt),
        rr(ptr(12), RecordType.SRV, srv),
        rr(ptr(12), RecordType.SOA, soa),
      ]),
    );
    expect(m.answers.map((a) => a.data)).toEqual([
      { type: 'AAAA', address: 'fd00::1' },
      { type: 'MX', priority: 10, exchange: 'mail.test' },
      { type: 'TXT', entries: ['hi', '', 'abc'] },
      { type: 'SRV', priority: 1, weight: 2, port: 443, name: 'srv.test' },
      { type: 'SOA', nsname: 'ns.test', hostmaster: 'admin.test', serial: 1, refresh: 2, retry: 3, expire: 4, minttl: 5 },
    ]);
  });

  it('keeps what precedes a cut in a truncated (TC) reply', () => {
    const full = chainReply();
    full.writeUInt16BE(0x8380, 2); // TC
    const m = decodeMessage(full.subarray(0, full.length - 5));
    expect(m.truncated).toBe(true);
    expect(m.answers.length).toBe(3);
  });

  it('refuses a CNAME loop and an endless chain', () => {
    const q = question('a.test', RecordType.A);
    const loop = decodeMessage(
      Buffer.concat([header(1, 0x8000, 1, 2), q, rr(ptr(12), RecordType.CNAME, name('b.test')), rr(name('b.test'), RecordType.CNAME, name('a.test'))]),
    );
    expect(() => answersFor(loop, 'a.test', RecordType.A)).toThrow(expect.objectContaining({ code: 'EBADRESP', message: expect.stringContaining('CNAME loop') }));
    const chain = [];
    for (let i = 0; i < 20; i++) chain.push(rr(name(i === 0 ? 'a.test' : `c${i}.test`), RecordType.CNAME, name(`c${i + 1}.test`)));
    const long = decodeMessage(Buffer.concat([header(1, 0x8000, 1, chain.length), q, ...chain]));
    expect(() => answersFor(long, 'a.test', RecordType.A)).toThrow(expect.objectContaining({ code: 'EBADRESP', message: expect.stringContaining('longer than 16') }));
  });
});

describe('DNS codec: hostile replies', () => {
  it('gives EBADRESP for a reply cut at every byte', () => {
    const full = chainReply();
    for (let n = 0; n < full.length; n++) expectBadResponse(full.subarray(0, n));
    expect(() => decodeMessage(full)).not.toThrow();
  });

  it('refuses a pointer to itself, a pointer loop and forward pointers', () => {
    // A question name that is a pointer to itself (offset 12).
    expect(expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 0), ptr(12), Buffer.from([0, 1, 0, 1])])).message).toContain('forwards');
    // Two pointers to each other: 12 → 14 → 12.
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 0), ptr(14), ptr(12), Buffer.from([0, 1, 0, 1])]));
    // A pointer past the end of the message.
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 0), ptr(0x3fff), Buffer.from([0, 1, 0, 1])]));
    // A label chain through backward pointers only is fine; a pointer in the header region that
    // reads garbage as labels must still end in a coded error or a name, never a hang.
    const weird = Buffer.concat([header(0x0101, 0x8000, 1, 0), ptr(0), Buffer.from([0, 1, 0, 1])]);
    expect(() => {
      try {
        decodeMessage(weird);
      } catch (error) {
        if ((error as DnsError).code !== 'EBADRESP') throw error;
      }
    }).not.toThrow();
  });

  it('refuses names over 255 bytes built from pointers', () => {
    // Record 1 (an unknown type, data not parsed) holds 70 labels "abc", each followed by a
    // pointer to the previous one; record 2's owner points at the last: 70 × 4 + 1 bytes.
    const q = question('x', RecordType.A);
    const dataAt = 12 + q.length + 1 + 10;
    const parts: Buffer[] = [Buffer.from([3, 0x61, 0x62, 0x63, 0])];
    let previous = dataAt;
    let at = dataAt + 5;
    for (let i = 1; i < 70; i++) {
      parts.push(Buffer.concat([Buffer.from([3, 0x61, 0x62, 0x63]), ptr(previous)]));
      previous = at;
      at += 6;
    }
    const chain = rr(Buffer.from([0]), 99, Buffer.concat(parts));
    const ok = decodeMessage(Buffer.concat([header(1, 0x8000, 1, 1), q, chain]));
    expect(ok.answers[0]!.data.type).toBe('other');
    // 63 labels (252 bytes + the root) are still a name.
    const short = Buffer.concat([header(1, 0x8000, 1, 2), q, chain, rr(ptr(dataAt + 5 + 61 * 6), RecordType.A, Buffer.from([1, 2, 3, 4]))]);
    expect(decodeMessage(short).answers[1]!.name.split('.').length).toBe(63);
    const long = Buffer.concat([header(1, 0x8000, 1, 2), q, chain, rr(ptr(previous), RecordType.A, Buffer.from([1, 2, 3, 4]))]);
    expect(expectBadResponse(long).message).toContain('longer than 255');
  });

  it('refuses unknown label types, wrong A/AAAA lengths and data that overruns its record', () => {
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 0), Buffer.from([0x40, 0, 0, 1, 0, 1])]));
    const q = question('x.test', RecordType.A);
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 1), q, rr(ptr(12), RecordType.A, Buffer.from([1, 2, 3]))]));
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 1), q, rr(ptr(12), RecordType.AAAA, Buffer.alloc(4))]));
    // A CNAME whose name runs past its RDLENGTH.
    const cname = rr(ptr(12), RecordType.CNAME, name('long.name.test'));
    cname.writeUInt16BE(3, 10);
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 1), q, cname]));
    // A TXT string longer than its record.
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 1), q, rr(ptr(12), RecordType.TXT, Buffer.from([9, 0x61]))]));
    // More answers announced than present.
    expectBadResponse(Buffer.concat([header(1, 0x8000, 1, 3), q, rr(ptr(12), RecordType.A, Buffer.from([1, 2, 3, 4]))]));
  });

  it('never throws anything but EBADRESP on random bytes or mutated replies', () => {
    const base = chainReply();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
            const b = Buffer.from(base);
            for (const [at, v] of edits) b[at] = v;
            return new Uint8Array(b);
          }),
        ),
        (bytes) => {
          try {
            const m = decodeMessage(bytes);
            answersFor(m, 'www.example.test', RecordType.A);
          } catch (error) {
            if (!(error instanceof DnsError) || error.code !== 'EBADRESP') throw error;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
