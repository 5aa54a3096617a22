/**
 * A netstack tunnel needs no privilege: the same loopback pair as `netstack.spec.ts`, run in a
 * child process as `nobody` with no capabilities (when the suite runs as root; as the user
 * itself otherwise). It checks the child's effective capabilities and the transfer's SHA-256.
 */
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NOBODY, readableCopy, unprivileged } from './helpers/readable-copy.js';

const copy = readableCopy();
afterAll(() => copy.remove());
const script = join(copy.dir, 'pair.mjs');
cpSync(join(import.meta.dirname, 'fixtures', 'netstack', 'unprivileged-pair.mjs'), script);
const entry = pathToFileURL(join(copy.dir, 'dist', 'index.js')).href;

describe('netstack without privilege', () => {
  it('runs a tunnel pair as an unprivileged user with no capabilities', () => {
    const argv = [...unprivileged(), process.execPath, script, entry];
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: '/' });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { uid: number; capEff: string; ok: boolean };
    if (process.getuid?.() === 0) expect(result.uid).toBe(NOBODY);
    expect(BigInt(`0x${result.capEff}`)).toBe(0n);
    expect(result.ok).toBe(true);
  });
});
