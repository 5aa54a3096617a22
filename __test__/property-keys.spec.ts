/**
 * Property tests (fast-check) of the key codecs: lib/keys.ts (native) and lib/key-base64.ts
 * (the JavaScript grammar check). Any 32 bytes round-trip through base64 and hex; the
 * JavaScript check accepts exactly what the native decoder accepts, on arbitrary strings and
 * on one-character mutations of real keys; every refusal is a KeyFormatError with a code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, KeyFormatError } from '../lib/errors.js';
import { isPublicKeyBase64 } from '../lib/key-base64.js';
import { Key } from '../lib/keys.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** `decode(input)`, or undefined when it threw a KeyFormatError with a key code (anything else fails). */
function decodeOrKeyError(decode: () => Key): Key | undefined {
  try {
    return decode();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyFormatError);
    expect([ErrorCodes.INVALID_KEY, ErrorCodes.INVALID_KEY_FILE]).toContain((error as KeyFormatError).code);
    return undefined;
  }
}

/** A real key with one character replaced (any character, or a base64 one), inserted or removed. */
const mutatedKey = fc
  .tuple(bytes32, fc.nat({ max: 44 }), fc.oneof(fc.constantFrom(...BASE64, '=', ' ', '\n', '-', '_'), fc.string({ maxLength: 1, unit: 'binary' })), fc.constantFrom('replace', 'insert', 'delete'))
  .map(([b, at, c, how]) => {
    const k = Buffer.from(b).toString('base64');
    if (how === 'insert') return k.slice(0, at) + c + k.slice(at);
    if (how === 'delete') return k.slice(0, at) + k.slice(at + 1);
    return k.slice(0, at) + c + k.slice(at + 1);
  });

describe('key codec properties', () => {
  it('any 32 bytes round-trip through base64 and hex, as Node encodes them', () => {
    fc.assert(
      fc.property(bytes32, (b) => {
        const key = Key.fromBytes(b);
        const b64 = key.toBase64();
        expect(b64).toBe(Buffer.from(b).toString('base64'));
        expect(isPublicKeyBase64(b64)).toBe(true);
        expect(Key.fromBase64(b64).toBytes().equals(Buffer.from(b))).toBe(true);
        const hex = key.toHex();
        expect(hex).toBe(Buffer.from(b).toString('hex'));
        expect(Key.fromHex(hex).equals(key)).toBe(true);
        expect(Key.fromHex(hex.toUpperCase()).equals(key)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the JavaScript base64 check accepts exactly what the native decoder accepts', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedKey, fc.string({ maxLength: 50 }), fc.string({ unit: 'binary', maxLength: 46 })), (text) => {
        const native = decodeOrKeyError(() => Key.fromBase64(text));
        expect(isPublicKeyBase64(text)).toBe(native !== undefined);
        if (native !== undefined) expect(native.toBase64()).toBe(text);
      }),
      { numRuns: 3000 },
    );
  });

  it('hex decoding accepts exactly 64 hex digits and refuses the rest with a code', () => {
    const hexish = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 62, maxLength: 66 }),
      fc.string({ maxLength: 70 }),
    );
    fc.assert(
      fc.property(hexish, (text) => {
        const key = decodeOrKeyError(() => Key.fromHex(text));
        expect(key !== undefined).toBe(/^[0-9a-fA-F]{64}$/.test(text));
        if (key !== undefined) expect(key.toHex()).toBe(text.toLowerCase());
      }),
      { numRuns: 2000 },
    );
  });

  it('key files and pubkey input: a key or a KeyFormatError, never anything else', () => {
    const contents = fc.oneof(
      fc.tuple(bytes32, fc.constantFrom('', '\n', ' \n', '\r\n', '\n\n', 'x')).map(([b, tail]) => Buffer.from(Buffer.from(b).toString('base64') + tail)),
      fc.uint8Array({ maxLength: 100 }),
    );
    fc.assert(
      fc.property(contents, (data) => {
        const fromFile = decodeOrKeyError(() => Key.fromKeyFileContents(data));
        const fromPubkey = decodeOrKeyError(() => Key.fromPubkeyInput(data));
        const text = Buffer.from(data).toString('latin1');
        const b64 = text.slice(0, 44);
        // An empty key file is the zero key (wg: it removes the key).
        if (data.length === 0) expect(fromFile?.isZero()).toBe(true);
        else if (fromFile !== undefined) expect(fromFile.toBase64()).toBe(b64);
        if (fromPubkey !== undefined) expect(fromPubkey.toBase64()).toBe(b64);
        // A canonical key followed by nothing but a newline is always accepted by both.
        if (isPublicKeyBase64(b64) && (text.length === 44 || text.slice(44) === '\n')) {
          expect(fromFile).toBeDefined();
          expect(fromPubkey).toBeDefined();
        }
      }),
      { numRuns: 1000 },
    );
  });
});
