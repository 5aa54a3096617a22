/**
 * `set` (wireguard-tools set.c).
 */
import { WireGuardClient } from '../../client/client.js';
import { parseSetArguments } from '../../client/set-arguments.js';
import { InvalidArgumentError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { interfaceName, perror, plainMessage } from './perror.js';

export async function setMain(prog: string, argv: string[], io: CliIo): Promise<number> {
  if (argv.length < 3) {
    io.err(
      `Usage: ${prog} ${argv[0]} <interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>] [peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>] [persistent-keepalive <interval seconds>] [allowed-ips <ip1>/<cidr1>[,<ip2>/<cidr2>]...] ]...\n`,
    );
    return 1;
  }
  let change;
  try {
    change = await parseSetArguments(argv.slice(2));
  } catch (error) {
    io.err(error instanceof InvalidArgumentError ? `${error.message}\n` : perror('fopen', error));
    return 1;
  }
  try {
    await new WireGuardClient().configure(interfaceName(argv[1]!), change, {
      onResolveRetry: (message) => io.err(`${message}\n`),
    });
  } catch (error) {
    io.err(error instanceof InvalidArgumentError && error.errno === undefined ? `${plainMessage(error)}\n` : perror('Unable to modify interface', error));
    return 1;
  }
  return 0;
}
