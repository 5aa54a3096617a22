// Writes package.json's version into lib/version.ts (run by the npm `version` lifecycle).
import { readFileSync, writeFileSync } from 'node:fs';
const root = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
writeFileSync(
  new URL('lib/version.ts', root),
  `/** The package version; kept equal to package.json by \`npm version\` (scripts/sync-version.mjs). */\nexport const version = '${version}';\n`,
);
