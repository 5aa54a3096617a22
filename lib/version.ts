/** The package version; kept equal to package.json by `npm version` (scripts/sync-version.mjs). */
export const version = '0.1.0';
