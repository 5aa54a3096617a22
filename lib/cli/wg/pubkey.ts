/**
 * `pubkey` (wireguard-tools pubkey.c): reads a private key on stdin, writes its public key.
 */
import { WgkitError } from '../../errors.js';
import { Key } from '../../keys.js';
import type { CliIo } from '../io.js';

export function pubkeyMain(prog: string, argv: string[], io: CliIo): number {
  if (argv.length !== 1) {
    io.err(`Usage: ${prog} ${argv[0]}\n`);
    return 1;
  }
  let key: Key;
  try {
    key = Key.fromPubkeyInput(io.readStdin());
  } catch (error) {
    if (error instanceof WgkitError) {
      io.err(`${prog}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  io.out(`${key.publicKey().toBase64()}\n`);
  return 0;
}
