/** Shared fixtures of the config specs: the key pairs generated once with `wg genkey`, and the good corpus. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('./fixtures/config', import.meta.url));

interface KeysFile {
  pairs: { private: string; public: string }[];
  preshared: string[];
}

export const keys = JSON.parse(readFileSync(join(FIXTURES, 'keys.json'), 'utf8')) as KeysFile;

export function pair(i: number): { private: string; public: string } {
  const found = keys.pairs[i];
  if (found === undefined) throw new Error(`no key pair ${i}`);
  return found;
}

export function psk(i: number): string {
  const found = keys.preshared[i];
  if (found === undefined) throw new Error(`no preshared key ${i}`);
  return found;
}

/** The realistic configurations, by file name. */
export const goodNames = readdirSync(join(FIXTURES, 'good')).sort();

export function good(name: string): string {
  return readFileSync(join(FIXTURES, 'good', name), 'utf8');
}
