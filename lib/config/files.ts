/**
 * Reading and writing configuration files. Problems name the file; files are written with
 * mode 0600 (they hold a private key), through a temporary file renamed into place, as
 * `wg-quick save` does.
 */
import { chmod, open, readFile, rename, rm } from 'node:fs/promises';
import type { WgConfig } from './model.js';
import { formatWgConfig, parseWgConfig } from './wg.js';
import type { ConfigParseResult } from './wg.js';
import { formatWgQuickConfig, parseWgQuickConfig } from './wg-quick.js';

export type ConfigFormat = 'wg' | 'wg-quick';

export interface ConfigFileOptions {
  /** `wg-quick` (the default) also accepts Address, DNS, MTU, Table, hooks and SaveConfig. */
  format?: ConfigFormat;
}

/** Reads and parses a file; throws `ConfigError` (problems carry `file`) if it has errors. */
export async function readConfigFile(path: string, options: ConfigFileOptions = {}): Promise<ConfigParseResult> {
  const text = await readFile(path, 'utf8');
  const parse = options.format === 'wg' ? parseWgConfig : parseWgQuickConfig;
  return parse(text, { file: path });
}

/** Validates, formats and writes a configuration with mode 0600. */
export async function writeConfigFile(path: string, config: WgConfig, options: ConfigFileOptions = {}): Promise<void> {
  const text = options.format === 'wg' ? formatWgConfig(config) : formatWgQuickConfig(config);
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  await chmod(path, 0o600);
}
