/**
 * `wg show` as a whole (show.c `show_main`), minus the reading of devices: what the arguments
 * ask for, and given the devices read, the bytes for stdout and stderr and the exit status.
 */
import type { DeviceInfo } from '../types.js';
import { formatField, isShowField } from './fields.js';
import { invalidParameter, showUsage, unableToAccessInterface, unableToAccessNamedInterface } from './messages.js';
import { resolveShowOptions, type ShowOptions } from './options.js';
import { formatPretty } from './pretty.js';

/** What `wg show ARGS` asks for. `field` is unchecked: wg checks it only once it has a device. */
export type ShowRequest =
  /** `wg`, `wg show`, `wg show all [FIELD]`. */
  | { kind: 'all'; field?: string }
  /** `wg show interfaces`. */
  | { kind: 'interfaces' }
  /** `wg show -h|--help|help`: the usage on stderr, exit status 0. */
  | { kind: 'help' }
  /** Too many arguments: the usage on stderr, exit status 1. */
  | { kind: 'usage' }
  /** `wg show NAME [FIELD]`. */
  | { kind: 'device'; name: string; field?: string };

/** Reads the arguments after `show` (none for a bare `wg`). */
export function parseShowArgs(args: readonly string[]): ShowRequest {
  if (args.length > 2) return { kind: 'usage' };
  const [first, second] = args;
  if (first === undefined || first === 'all') return second === undefined ? { kind: 'all' } : { kind: 'all', field: second };
  if (first === 'interfaces') return second === undefined ? { kind: 'interfaces' } : { kind: 'usage' };
  if (second === undefined && (first === '-h' || first === '--help' || first === 'help')) return { kind: 'help' };
  return second === undefined ? { kind: 'device', name: first } : { kind: 'device', name: first, field: second };
}

export interface ShowResult {
  stdout: string;
  stderr: string;
  status: number;
}

export interface ShowRunOptions extends Partial<ShowOptions> {
  /** wg's argv[0] in the usage text. */
  prog?: string;
  /** The subcommand's name in the usage text. */
  command?: string;
}

/** A device of `wg show all` that could not be read; `error` is strerror's text. */
export interface InterfaceAccessError {
  name: string;
  error: string;
}

export type ShowAllEntry = DeviceInfo | InterfaceAccessError;

function isAccessError(entry: ShowAllEntry): entry is InterfaceAccessError {
  return 'error' in entry;
}

/** `wg show interfaces`: the names on one line, space-separated; nothing at all for none. */
export function formatInterfaces(names: readonly string[]): string {
  return names.length ? `${names.join(' ')}\n` : '';
}

/** `wg show NAME [FIELD]` for a device that was read. */
export function showDevice(device: DeviceInfo, field: string | undefined, now: Date, options?: ShowRunOptions): ShowResult {
  if (field === undefined) return { stdout: formatPretty(device, now, resolveShowOptions(options)), stderr: '', status: 0 };
  if (!isShowField(field)) {
    return { stdout: '', stderr: invalidParameter(field) + showUsage(options?.prog, options?.command), status: 1 };
  }
  return { stdout: formatField(device, field), stderr: '', status: 0 };
}

/** `wg show NAME [FIELD]` for a device that could not be read. */
export function showDeviceError(error: string): ShowResult {
  return { stdout: '', stderr: unableToAccessInterface(error), status: 1 };
}

/**
 * `wg show all [FIELD]` given every listed interface, in list order, as a device or the error
 * reading it. Pretty output separates devices with a blank line (after every device that is
 * not last in the list, even when the next one fails). An invalid field stops at the first
 * device read, with status 1. The status is 1 when no device could be read, 0 when the list is
 * empty or some device was printed.
 */
export function showAll(entries: readonly ShowAllEntry[], field: string | undefined, now: Date, options?: ShowRunOptions): ShowResult {
  const resolved = resolveShowOptions(options);
  let stdout = '';
  let stderr = '';
  let status = entries.length ? 1 : 0;
  for (const [index, entry] of entries.entries()) {
    if (isAccessError(entry)) {
      stderr += unableToAccessNamedInterface(entry.name, entry.error);
      continue;
    }
    if (field !== undefined) {
      if (!isShowField(field)) {
        stderr += invalidParameter(field) + showUsage(options?.prog, options?.command);
        status = 1;
        break;
      }
      stdout += formatField(entry, field, true);
    } else {
      stdout += formatPretty(entry, now, resolved);
      if (index + 1 < entries.length) stdout += '\n';
    }
    status = 0;
  }
  return { stdout, stderr, status };
}

/** The usage on stderr: status 0 for `help`, 1 for wrong arguments. */
export function showUsageResult(request: { kind: 'help' | 'usage' }, options?: ShowRunOptions): ShowResult {
  return { stdout: '', stderr: showUsage(options?.prog, options?.command), status: request.kind === 'help' ? 0 : 1 };
}
