/**
 * WireGuard keys. Key material stays in the native addon, where it is zeroized when the key
 * is garbage collected; a private or preshared key never shows its value through
 * `util.inspect`, `JSON.stringify`, `String()` or an error message. `toBase64()`, `toHex()`
 * and `toBytes()` are the explicit ways to reveal it.
 */
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import native from './binding.js';
import type { NativeKey } from './binding.js';
import { ErrorCodes, KeyFormatError, native as call } from './errors.js';
import { writePrivateFile } from './private-file.js';

export type KeyKind = 'private' | 'public' | 'preshared';

/** What `toString()`/`toJSON()` show for a secret key, as `wg show` does. */
export const HIDDEN = '(hidden)';

export class Key {
  readonly #native: NativeKey;
  readonly kind: KeyKind;

  private constructor(handle: NativeKey, kind: KeyKind) {
    this.#native = handle;
    this.kind = kind;
  }

  /** Parses base64 exactly as wg accepts it (44 characters, canonical). */
  static fromBase64(text: string, kind: KeyKind = 'public'): Key {
    if (typeof text !== 'string') throw notAKey(kind);
    return new Key(call(() => native.NativeKey.fromBase64(text)), kind);
  }

  /** Parses 64 hex characters of either case. */
  static fromHex(text: string, kind: KeyKind = 'public'): Key {
    if (typeof text !== 'string') throw notAKey(kind);
    return new Key(call(() => native.NativeKey.fromHex(text)), kind);
  }

  /** Wraps 32 raw bytes. */
  static fromBytes(bytes: Uint8Array, kind: KeyKind = 'public'): Key {
    return new Key(call(() => native.NativeKey.fromBytes(bytes)), kind);
  }

  /** Accepts a Key (kept as it is) or a base64 string. */
  static from(value: Key | string, kind: KeyKind = 'public'): Key {
    if (value instanceof Key) return value;
    return Key.fromBase64(value, kind);
  }

  /** The all-zero key, which means "no key" (setting it removes a key). */
  static zero(kind: KeyKind = 'private'): Key {
    return new Key(native.NativeKey.zero(), kind);
  }

  /** A new private key from the OS CSPRNG, clamped. */
  static generatePrivate(): Key {
    return new Key(native.NativeKey.generatePrivate(), 'private');
  }

  /** A new preshared key from the OS CSPRNG. */
  static generatePreshared(): Key {
    return new Key(native.NativeKey.generatePreshared(), 'preshared');
  }

  /** Parses the contents of a key file as `wg` reads one (an empty file is the zero key). */
  static fromKeyFileContents(contents: Uint8Array | string, kind: KeyKind = 'private'): Key {
    const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
    return new Key(call(() => native.NativeKey.fromKeyFile(bytes)), kind);
  }

  /** Parses what `wg pubkey` reads on stdin (44 characters, then only whitespace). */
  static fromPubkeyInput(input: Uint8Array): Key {
    return new Key(call(() => native.NativeKey.fromPubkeyInput(input)), 'private');
  }

  /** The public key of a private key. */
  publicKey(): Key {
    return new Key(this.#native.publicKey(), 'public');
  }

  get isSecret(): boolean {
    return this.kind !== 'public';
  }

  /** Constant-time test for the all-zero key. */
  isZero(): boolean {
    return this.#native.isZero();
  }

  /** Constant-time comparison of the key material (the kind is not compared). */
  equals(other: Key | string): boolean {
    const o = typeof other === 'string' ? tryParse(other) : other;
    return o !== undefined && this.#native.equals(o.#native);
  }

  /** Reveals the key as base64. */
  toBase64(): string {
    return this.#native.toBase64();
  }

  /** Reveals the key as lower-case hex (the UAPI form). */
  toHex(): string {
    return this.#native.toHex();
  }

  /** Reveals the key as a copy of its 32 bytes. */
  toBytes(): Buffer {
    return this.#native.toBytes();
  }

  /** A public key's base64; `(hidden)` for a secret key. */
  toString(): string {
    return this.isSecret ? HIDDEN : this.toBase64();
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return `Key <${this.kind} ${this.toString()}>`;
  }
}

function tryParse(text: string): Key | undefined {
  try {
    return Key.fromBase64(text);
  } catch {
    return undefined;
  }
}

function notAKey(kind: KeyKind): KeyFormatError {
  return new KeyFormatError(ErrorCodes.INVALID_KEY, `Key is not the correct length or format (${kind} key must be a string)`);
}

/** A new private key (CSPRNG, clamped). */
export function generatePrivateKey(): Key {
  return Key.generatePrivate();
}

/** A new preshared key (CSPRNG). */
export function generatePresharedKey(): Key {
  return Key.generatePreshared();
}

/** The public key of a private key given as a Key or base64. */
export function publicKey(privateKey: Key | string): Key {
  return Key.from(privateKey, 'private').publicKey();
}

/** Reads a key file as wg does: 44 characters plus trailing whitespace; empty is the zero key. */
export async function readKeyFile(path: string, kind: KeyKind = 'private'): Promise<Key> {
  const contents = await readFile(path);
  return Key.fromKeyFileContents(contents, kind);
}

/**
 * Writes a key file, newline-terminated: a new file of mode 0600 replaces `path` (a symlink at
 * `path` is replaced, not followed).
 */
export async function writeKeyFile(path: string, key: Key): Promise<void> {
  await writePrivateFile(path, `${key.toBase64()}\n`);
}
