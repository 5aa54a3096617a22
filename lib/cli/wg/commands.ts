/**
 * The subcommands of `wgkit`, in wg(8)'s order, with wg's descriptions.
 */
import type { CliIo } from '../io.js';
import { genkeyMain } from './genkey.js';
import { pubkeyMain } from './pubkey.js';
import { setMain } from './set.js';
import { showMain } from './show.js';
import { setconfMain } from './setconf.js';
import { showconfMain } from './showconf.js';

export interface Subcommand {
  name: string;
  description: string;
  run(prog: string, argv: string[], io: CliIo): number | Promise<number>;
}

export const subcommands: readonly Subcommand[] = [
  { name: 'show', description: 'Shows the current configuration and device information', run: showMain },
  {
    name: 'showconf',
    description: "Shows the current configuration of a given WireGuard interface, for use with `setconf'",
    run: showconfMain,
  },
  { name: 'set', description: 'Change the current configuration, add peers, remove peers, or change peers', run: setMain },
  { name: 'setconf', description: 'Applies a configuration file to a WireGuard interface', run: setconfMain },
  { name: 'addconf', description: 'Appends a configuration file to a WireGuard interface', run: setconfMain },
  { name: 'syncconf', description: 'Synchronizes a configuration file to a WireGuard interface', run: setconfMain },
  { name: 'genkey', description: 'Generates a new private key and writes it to stdout', run: genkeyMain },
  { name: 'genpsk', description: 'Generates a new preshared key and writes it to stdout', run: genkeyMain },
  { name: 'pubkey', description: 'Reads a private key from stdin and writes a public key to stdout', run: pubkeyMain },
];
