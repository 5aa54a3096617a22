/**
 * Writing a file that holds a secret (a private key, a configuration with one), so that the
 * secret never lands anywhere but a new file of mode 0600 at `path`: it is written into a
 * fresh file of the same directory, created exclusively without following symlinks
 * (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 from its first instant, a random name nobody
 * can have prepared), synced, then renamed over `path`. The rename replaces whatever `path`
 * was, a symlink included, and never writes through it; a leftover `PATH.tmp` of older
 * versions (or anybody's symlink of that name) is not touched.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The mode of every file written here (owner read and write). */
export const PRIVATE_FILE_MODE = 0o600;

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Fresh names to try before giving up (a collision of 96 random bits means an attacker guessing). */
const NAME_ATTEMPTS = 8;

/** Writes `contents` to `path` through a new file of mode 0600 renamed into place. */
export async function writePrivateFile(path: string, contents: string | Uint8Array): Promise<void> {
  const { handle, temporary } = await createTemporary(path);
  try {
    try {
      // The umask may have taken bits off the creation mode; the file gets exactly 0600.
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

async function createTemporary(path: string): Promise<{ handle: FileHandle; temporary: string }> {
  for (let attempt = 1; ; attempt++) {
    const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(12).toString('hex')}.tmp`);
    try {
      return { handle: await open(temporary, CREATE_EXCLUSIVE, PRIVATE_FILE_MODE), temporary };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === NAME_ATTEMPTS) throw error;
    }
  }
}

/** Makes the rename durable; a directory that cannot be opened for it is left as it is. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the file itself is synced already.
  } finally {
    await handle.close();
  }
}
