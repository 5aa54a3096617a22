/**
 * `wgkit`: a drop-in for wg(8). Same arguments, output, messages and exit codes.
 */
import { version } from '../version.js';
import { processIo, type CliIo } from './io.js';
import { subcommands } from './wg/commands.js';
import { showMain } from './wg/show.js';

export const PROG_NAME = 'wgkit';

export function usage(prog: string): string {
  let text = `Usage: ${prog} <cmd> [<args>]\n\nAvailable subcommands:\n`;
  for (const c of subcommands) text += `  ${c.name}: ${c.description}\n`;
  text += "You may pass `--help' to any of these subcommands to view usage.\n";
  return text;
}

/** Runs `wgkit` with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = processIo, prog = PROG_NAME): Promise<number> {
  const [first] = argv;
  if (argv.length === 1 && (first === '-v' || first === '--version' || first === 'version')) {
    io.out(`wgkit v${version} - WireGuard for Node.js (wg(8) compatible)\n`);
    return 0;
  }
  if (argv.length === 1 && (first === '-h' || first === '--help' || first === 'help')) {
    io.out(usage(prog));
    return 0;
  }
  if (first === undefined) return showMain(prog, ['show'], io);
  const command = subcommands.find((c) => c.name === first);
  if (!command) {
    io.err(`Invalid subcommand: \`${first}'\n${usage(prog)}`);
    return 1;
  }
  return command.run(prog, argv, io);
}
