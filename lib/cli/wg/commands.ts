/**
 * The subcommands of `wgkit`, in wg(8)'s order, with wg's descriptions.
 */
import type { CliIo } from '../io.js';
import { genkeyMain } from './genkey.js';
import { pubkeyMain } from './pubkey.js';

export interface Subcommand {
  name: string;
  description: string;
  run(prog: string, argv: string[], io: CliIo): number | Promise<number>;
}

export const subcommands: readonly Subcommand[] = [
  { name: 'genkey', description: 'Generates a new private key and writes it to stdout', run: genkeyMain },
  { name: 'genpsk', description: 'Generates a new preshared key and writes it to stdout', run: genkeyMain },
  { name: 'pubkey', description: 'Reads a private key from stdin and writes a public key to stdout', run: pubkeyMain },
];
