/**
 * The streams a CLI command talks to, so commands can be run in-process by tests.
 */
import { fstatSync, readFileSync } from 'node:fs';

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
  stdoutIsTTY: Boolean(process.stdout.isTTY),
};

function writeAll(fd: 1 | 2, text: string): void {
  // Synchronous, so output is complete before the process exits, as with stdio in C.
  const stream = fd === 1 ? process.stdout : process.stderr;
  const handle = stream as unknown as { _handle?: { setBlocking?: (b: boolean) => void } };
  handle._handle?.setBlocking?.(true);
  stream.write(text);
}
