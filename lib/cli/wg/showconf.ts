/**
 * `showconf` (wireguard-tools showconf.c): the device as a config file for `setconf`.
 */
import { WireGuardClient } from '../../client/client.js';
import { configFromDevice } from '../../config/device.js';
import { formatWgConfig } from '../../config/wg.js';
import type { CliIo } from '../io.js';
import { perror } from './perror.js';

export async function showconfMain(prog: string, argv: string[], io: CliIo): Promise<number> {
  if (argv.length !== 2) {
    io.err(`Usage: ${prog} ${argv[0]} <interface>\n`);
    return 1;
  }
  try {
    const device = await new WireGuardClient().device(argv[1]!);
    io.out(formatWgConfig(configFromDevice(device)));
  } catch (error) {
    io.err(perror('Unable to access interface', error));
    return 1;
  }
  return 0;
}
