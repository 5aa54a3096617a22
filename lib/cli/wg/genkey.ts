/**
 * `genkey` and `genpsk` (wireguard-tools genkey.c): a new key in base64 on stdout, with wg's
 * warning when stdout is a world-accessible file.
 */
import { Key } from '../../keys.js';
import type { CliIo } from '../io.js';

export function genkeyMain(prog: string, argv: string[], io: CliIo): number {
  const [subcommand] = argv;
  if (argv.length !== 1) {
    io.err(`Usage: ${prog} ${subcommand}\n`);
    return 1;
  }
  if (io.stdoutIsWorldAccessibleFile()) {
    io.err('Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n');
  }
  const key = subcommand === 'genkey' ? Key.generatePrivate() : Key.generatePreshared();
  io.out(`${key.toBase64()}\n`);
  return 0;
}
