/**
 * Reading and writing configuration files. Problems name the file; files are written as new
 * files of mode 0600 (they hold a private key) renamed into place, never through a symlink.
 */
import { readFile } from 'node:fs/promises';
import { writePrivateFile } from '../private-file.js';
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

/**
 * Validates, formats and writes a configuration: a new file of mode 0600 replaces `path` (a
 * symlink at `path` is replaced, not followed).
 */
export async function writeConfigFile(path: string, config: WgConfig, options: ConfigFileOptions = {}): Promise<void> {
  const text = options.format === 'wg' ? formatWgConfig(config) : formatWgQuickConfig(config);
  await writePrivateFile(path, text);
}
