/**
 * A netstack tunnel needs no privilege: the same loopback pair as `netstack.spec.ts`, run in a
 * child process as `nobody` with no capabilities (when the suite runs as root; as the user
 * itself otherwise). It checks the child's effective capabilities and the transfer's SHA-256.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
// The built package, copied where any user can read it (a clone may sit in root's home).
const copy = mkdtempSync(join(tmpdir(), 'wgkit-nobody-'));
chmodSync(copy, 0o755);
cpSync(join(root, 'package.json'), join(copy, 'package.json'));
cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
for (const f of readdirSync(join(root, 'lib')).filter((f) => f === 'native.cjs' || f.endsWith('.node'))) {
  cpSync(join(root, 'lib', f), join(copy, 'lib', f));
}
cpSync(join(root, '__test__', 'fixtures', 'netstack', 'unprivileged-pair.mjs'), join(copy, 'pair.mjs'));
const script = join(copy, 'pair.mjs');
const entry = pathToFileURL(join(copy, 'dist', 'index.js')).href;
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('netstack without privilege', () => {
  it('runs a tunnel pair as an unprivileged user with no capabilities', () => {
    const asRoot = process.getuid?.() === 0;
    const argv = asRoot
      ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, script, entry]
      : [process.execPath, script, entry];
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: '/' });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { uid: number; capEff: string; ok: boolean };
    if (asRoot) expect(result.uid).toBe(65534);
    expect(BigInt(`0x${result.capEff}`)).toBe(0n);
    expect(result.ok).toBe(true);
  });
});
