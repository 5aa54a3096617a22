import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WGKIT_BIN = `${ROOT}bin/wgkit.js`;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command through bash (so redirections and umask work), capturing everything. */
export function sh(script: string, options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync('bash', ['-c', script], {
    input: options.input,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** `wgkit ARGS` (the built CLI). */
export function wgkit(args: string, options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): RunResult {
  return sh(`node ${WGKIT_BIN} ${args}`, options);
}

/** Debian's `wg ARGS`. */
export function wg(args: string, options: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): RunResult {
  return sh(`wg ${args}`, options);
}

/** Replaces the program name so wg's and wgkit's messages can be compared. */
export function asWg(r: RunResult): RunResult {
  const fix = (s: string) => s.replace(/\bwgkit\b/g, 'wg');
  return { code: r.code, stdout: fix(r.stdout), stderr: fix(r.stderr) };
}
