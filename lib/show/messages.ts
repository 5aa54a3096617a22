/**
 * The messages `wg show` writes to stderr, with their trailing newlines. `prog` is wg's
 * `argv[0]` (PROG_NAME) and `command` the subcommand's name (`show`).
 */
import { SHOW_FIELDS } from './fields.js';

/** show.c `show_usage`. */
export function showUsage(prog = 'wg', command = 'show'): string {
  return `Usage: ${prog} ${command} { <interface> | all | interfaces } [${SHOW_FIELDS.join(' | ')}]\n`;
}

/** An unknown field: ugly_print writes this, then the usage. */
export function invalidParameter(param: string): string {
  return `Invalid parameter: \`${param}'\n`;
}

/** `perror("Unable to access interface")` for `wg show NAME`; `error` is strerror's text. */
export function unableToAccessInterface(error: string): string {
  return `Unable to access interface: ${error}\n`;
}

/** One device of `wg show all` that could not be read; the loop goes on. */
export function unableToAccessNamedInterface(name: string, error: string): string {
  return `Unable to access interface ${name}: ${error}\n`;
}

/** `perror("Unable to list interfaces")` for `wg show all` and `wg show interfaces`. */
export function unableToListInterfaces(error: string): string {
  return `Unable to list interfaces: ${error}\n`;
}
