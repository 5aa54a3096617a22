/**
 * The helper programs the interface manager may run (resolvconf, nft, a userspace daemon,
 * through nsenter when a namespace is given): found on PATH as a shell finds them, run with
 * their input, their output collected.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The executable `name` in one of PATH's directories, or undefined. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** `argv` prefixed to run inside a namespace file (`nsenter --net=FILE`), or unchanged. */
export function inNamespace(argv: string[], namespaceFile: string | undefined): string[] {
  return namespaceFile === undefined ? argv : ['nsenter', `--net=${namespaceFile}`, ...argv];
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve when the program exits, even if a daemon it started still holds its output open. */
  untilExit?: boolean;
}

/** Runs `argv` with `input` on its standard input; resolves with its status and output. */
export function runProgram(argv: readonly string[], options: RunOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once(options.untilExit ? 'exit' : 'close', (code) => {
      // A daemon may keep the output open for its log: it must not keep this process alive.
      if (options.untilExit) for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the program may exit without reading its input
    child.stdin.end(options.input ?? '');
  });
}
