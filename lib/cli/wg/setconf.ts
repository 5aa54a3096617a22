/**
 * `setconf`, `addconf` and `syncconf` (wireguard-tools setconf.c).
 */
import { readFile } from 'node:fs/promises';
import { WireGuardClient } from '../../client/client.js';
import { changeFromConfig, syncChangeFromConfig } from '../../client/config-change.js';
import type { DeviceChange, DeviceInfo } from '../../types.js';
import { parseWgConfig } from '../../config/wg.js';
import type { WgConfig } from '../../config/model.js';
import { ConfigError, InvalidArgumentError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { interfaceName, perror, plainMessage } from './perror.js';

export async function setconfMain(prog: string, argv: string[], io: CliIo): Promise<number> {
  const [command, name, file] = argv;
  if (argv.length !== 3) {
    io.err(`Usage: ${prog} ${command} <interface> <configuration filename>\n`);
    return 1;
  }
  let text: string;
  try {
    text = await readFile(file!, 'utf8');
  } catch (error) {
    io.err(perror('fopen', error));
    return 1;
  }
  let config: WgConfig;
  try {
    const parsed = parseWgConfig(text, { file: file! });
    for (const warning of parsed.warnings) io.err(`${warning.message}\n`);
    config = parsed.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // wg stops at the first bad line; a missing public key is found only at the end.
    const first = error.problems.find((p) => p.severity === 'error')!;
    const lineProblem = first.line !== undefined && first.code !== 'ERR_WGKIT_CONFIG_MISSING_PUBLIC_KEY';
    io.err(`${first.message}\n${lineProblem ? 'Configuration parsing error' : 'Invalid configuration'}\n`);
    return 1;
  }
  const client = new WireGuardClient();
  const iface = interfaceName(name!);
  let change: DeviceChange;
  if (command === 'syncconf' && config.peers.length > 0) {
    let running: DeviceInfo;
    try {
      running = await client.device(iface);
    } catch (error) {
      io.err(perror('Unable to retrieve current interface configuration', error));
      return 1;
    }
    change = syncChangeFromConfig(config, running);
  } else {
    change = changeFromConfig(config, command === 'addconf' ? 'append' : 'replace');
  }
  try {
    await client.configure(iface, change, { onResolveRetry: (message: string) => io.err(`${message}\n`) });
  } catch (error) {
    io.err(
      error instanceof InvalidArgumentError && error.errno === undefined
        ? `${plainMessage(error)}\n`
        : perror('Unable to modify interface', error),
    );
    return 1;
  }
  return 0;
}
