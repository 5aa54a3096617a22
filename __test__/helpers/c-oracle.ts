/**
 * A C program as a test oracle: compiled once per source into a temporary directory, then fed
 * one line per question on stdin; answers one line each (glibc's own `inet_pton`, `printf`…).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export function cOracle(source: string): (lines: readonly string[]) => string[] {
  let bin: string | undefined;
  afterAll(() => {
    if (bin) rmSync(join(bin, '..'), { recursive: true, force: true });
  });
  return (lines) => {
    if (!bin) {
      const dir = mkdtempSync(join(tmpdir(), 'wgkit-c-oracle-'));
      writeFileSync(join(dir, 'oracle.c'), source);
      execFileSync('cc', ['-O0', '-o', join(dir, 'oracle'), join(dir, 'oracle.c')]);
      bin = join(dir, 'oracle');
    }
    const out = execFileSync(bin, { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
    return out.slice(0, -1).split('\n');
  };
}
