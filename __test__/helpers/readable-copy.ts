/**
 * The built package copied where any user can read it (a clone may sit in root's home), for
 * tests that run wgkit as `nobody`; and the argv prefix that drops to `nobody` with no
 * capabilities when the suite runs as root.
 */
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

export interface ReadableCopy {
  dir: string;
  remove(): void;
}

export function readableCopy(): ReadableCopy {
  const dir = mkdtempSync(join(tmpdir(), 'wgkit-nobody-'));
  chmodSync(dir, 0o755);
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  for (const d of ['dist', 'bin']) cpSync(join(root, d), join(dir, d), { recursive: true });
  for (const f of readdirSync(join(root, 'lib')).filter((f) => f === 'native.cjs' || f.endsWith('.node'))) {
    cpSync(join(root, 'lib', f), join(dir, 'lib', f));
  }
  // The package's runtime dependencies, as an install would put them (they have none of their own).
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    cpSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), { recursive: true });
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const NOBODY = 65534;

/** `setpriv` to nobody without capabilities when running as root; nothing otherwise. */
export function unprivileged(): string[] {
  return process.getuid?.() === 0
    ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all']
    : [];
}
