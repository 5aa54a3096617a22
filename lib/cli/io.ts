/**
 * The streams a CLI command talks to, so commands can be run in-process by tests.
 */
import { fstatSync, readFileSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { ErrorCodes, SystemError } from '../errors.js';

/** Standard output or standard error could not be written (`errno` says why, often EPIPE). */
export class OutputError extends SystemError {}

export interface CliIo {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Reads all of standard input. */
  readStdin(): Buffer;
  /** True when standard output is a regular file that others may read or write. */
  stdoutIsWorldAccessibleFile(): boolean;
  /** The environment the command sees. */
  env: NodeJS.ProcessEnv;
  /** True when standard output is a terminal. */
  stdoutIsTTY: boolean;
}

export const processIo: CliIo = {
  out: (text) => writeAll(1, text),
  err: (text) => writeAll(2, text),
  readStdin: () => readFileSync(0),
  stdoutIsWorldAccessibleFile() {
    try {
      const st = fstatSync(1);
      return st.isFile() && (st.mode & 0o007) !== 0;
    } catch {
      return false;
    }
  },
  env: process.env,
  // Not `process.stdout.isTTY`: creating that stream would make a piped descriptor non-blocking.
  stdoutIsTTY: isatty(1),
};

/** How long a write to a descriptor that another process made non-blocking waits for room. */
const EAGAIN_WAIT_MS = 1;
const waitCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `text` synchronously, so output is complete before the process exits, as with
 * stdio in C, and a failed write (EPIPE: the reader is gone) throws an `OutputError` right where
 * the output was written, so the command can undo what it did instead of dying half-way.
 */
function writeAll(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code;
      if (errno === 'EAGAIN') {
        Atomics.wait(waitCell, 0, 0, EAGAIN_WAIT_MS);
        continue;
      }
      throw new OutputError(ErrorCodes.SYSTEM, `Unable to write to standard ${fd === 1 ? 'output' : 'error'}: ${errno ?? String(error)}`, {
        errno,
        cause: error,
      });
    }
  }
}
