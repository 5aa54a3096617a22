/**
 * Key files of an interface: `privateKeyFile` and the peers' `presharedKeyFile`, read as wg(8)
 * reads key files (44 base64 characters, then only whitespace; an empty file is the zero key),
 * and the private key file made when `generatePrivateKeyFile` asks for it, as NixOS's
 * `wireguard-<name>-key` service does: only when absent, never overwritten.
 *
 * Errors name the file and never show key material: `SystemError` (`ERR_WGKIT_SYSTEM`) or
 * `PermissionDeniedError` (`ERR_WGKIT_PERMISSION_DENIED`, EACCES/EPERM) with the errno name
 * (`ENOENT`, `EISDIR`, …) when the file cannot be read or made, `KeyFormatError`
 * (`ERR_WGKIT_INVALID_KEY_FILE`) when its contents are not a key; `field` is the path of the
 * option (`interface.privateKeyFile`, `peers[2].presharedKeyFile`).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  ErrorCodes,
  KeyFormatError,
  PermissionDeniedError,
  SystemError,
  WgkitError,
} from '../errors.js';
import { generatePrivateKey, readKeyFile } from '../keys.js';
import type { Key, KeyKind } from '../keys.js';
import type { InterfaceConfig } from './model.js';
import { checkInterfaceConfig } from './validate.js';

export interface ResolveKeysOptions {
  /**
   * Create the private key file when `generatePrivateKeyFile` is set and the file is absent
   * (default true). With false, an absent file is an error as for any other key file.
   */
  generate?: boolean;
}

/** Mode of the directories made for a generated key file. (NixOS's key service uses 0755.) */
export const KEY_DIRECTORY_MODE = 0o700;
/** Mode of a generated key file. */
export const KEY_FILE_MODE = 0o600;

/**
 * A copy of the configuration (validated first: throws `ConfigError`) whose `privateKey` and
 * peers' `presharedKey` come from `privateKeyFile` and `presharedKeyFile`. The file fields and
 * `generatePrivateKeyFile` are left out of the result, so it holds each key once, as wg would
 * be given it. A key file holding the zero key (an empty file) means no key, as for wg: the
 * key is left out. The configuration passed in is not changed.
 */
export async function resolveKeys(config: InterfaceConfig, options: ResolveKeysOptions = {}): Promise<InterfaceConfig> {
  checkInterfaceConfig(config);
  const resolved = structuredClone(config);
  const iface = resolved.interface;
  const privateKeyFile = iface.privateKeyFile;
  if (privateKeyFile !== undefined) {
    const field = 'interface.privateKeyFile';
    const key =
      iface.generatePrivateKeyFile === true && options.generate !== false
        ? await ensurePrivateKeyFile(privateKeyFile, field)
        : await readKey(privateKeyFile, 'private', field);
    if (!key.isZero()) iface.privateKey = key.toBase64();
  }
  delete iface.privateKeyFile;
  delete iface.generatePrivateKeyFile;
  await Promise.all(
    resolved.peers.map(async (peer, i) => {
      if (peer.presharedKeyFile === undefined) return;
      const key = await readKey(peer.presharedKeyFile, 'preshared', `peers[${i}].presharedKeyFile`);
      if (!key.isZero()) peer.presharedKey = key.toBase64();
      delete peer.presharedKeyFile;
    }),
  );
  return resolved;
}

/**
 * The private key in `path`, made first when the file does not exist: the missing parent
 * directories are created with mode 0700, the key is written to a temporary file (0600) in
 * the same directory, flushed, and published with link(2), which fails rather than replace a
 * file another process made meanwhile; a reader never sees a partial key, and an existing file
 * is never overwritten (its key is read instead).
 */
export async function ensurePrivateKeyFile(path: string, field = 'privateKeyFile'): Promise<Key> {
  try {
    return await readKey(path, 'private', field);
  } catch (error) {
    if (!(error instanceof WgkitError) || error.errno !== 'ENOENT') throw error;
  }
  try {
    await makeDirectories(dirname(path));
    await publishNewKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(error, `Cannot create the private key file \`${path}'`, field);
  }
  return await readKey(path, 'private', field);
}

/** Makes each missing directory of `directory` with mode 0700 (kept whatever the umask). */
async function makeDirectories(directory: string): Promise<void> {
  const missing: string[] = [];
  for (let dir = directory; ; dir = dirname(dir)) {
    try {
      await stat(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw error;
      missing.unshift(dir);
    }
  }
  for (const dir of missing) {
    try {
      await mkdir(dir, { mode: KEY_DIRECTORY_MODE });
      await chmod(dir, KEY_DIRECTORY_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

async function publishNewKey(path: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', KEY_FILE_MODE);
  try {
    try {
      await handle.chmod(KEY_FILE_MODE);
      await handle.writeFile(`${generatePrivateKey().toBase64()}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temporary, path);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

async function readKey(path: string, kind: KeyKind, field: string): Promise<Key> {
  const what = kind === 'private' ? 'private key file' : 'preshared key file';
  try {
    return await readKeyFile(path, kind);
  } catch (error) {
    if (error instanceof KeyFormatError) {
      // The native parser's message names at most one stray character, never the key.
      throw new KeyFormatError(ErrorCodes.INVALID_KEY_FILE, `The ${what} \`${path}' is not a key file: ${error.message}`, { field });
    }
    throw fileError(error, `Cannot read the ${what} \`${path}'`, field);
  }
}

/** A WgkitError for a failed file operation, with its errno name. */
function fileError(error: unknown, message: string, field: string): WgkitError {
  const errno = (error as NodeJS.ErrnoException).code;
  if (typeof errno !== 'string') return new SystemError(ErrorCodes.SYSTEM, `${message}: ${String(error)}`, { field });
  const text = `${message}: ${errno}`;
  if (errno === 'EACCES' || errno === 'EPERM') return new PermissionDeniedError(ErrorCodes.PERMISSION_DENIED, text, { errno, field });
  return new SystemError(ErrorCodes.SYSTEM, text, { errno, field });
}
