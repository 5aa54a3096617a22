/**
 * The human units of `wg show`: byte counts (show.c `bytes`), durations (`pretty_time`),
 * "ago" (`ago`) and keepalive intervals (`every`).
 *
 * Each function returns the text wg prints. With `color` the text carries wg's ANSI sequences
 * (the unit names are cyan); without, they are filtered out as wg does.
 */
import { TERMINAL_FG_CYAN, TERMINAL_FG_RED, TERMINAL_RESET, terminalText } from './color.js';

const U64 = 64;

function toU64(value: bigint | number, what: string): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`${what} must be an integer, got ${value}`);
  }
  return BigInt.asUintN(U64, BigInt(value));
}

/**
 * C's `printf("%.2f", x)` for x = `value` / 2^`shift`, where `value` is an integer that a double
 * holds exactly: glibc prints the exact value rounded to 2 decimals, ties to even.
 */
function fixed2(value: bigint, shift: bigint): string {
  const scaled = value * 100n;
  let n = scaled >> shift;
  const rest = scaled - (n << shift);
  const half = 1n << (shift - 1n);
  if (rest > half || (rest === half && (n & 1n) === 1n)) n += 1n;
  const cents = (n % 100n).toString().padStart(2, '0');
  return `${n / 100n}.${cents}`;
}

const UNITS: readonly (readonly [string, bigint])[] = [
  ['KiB', 10n],
  ['MiB', 20n],
  ['GiB', 30n],
  ['TiB', 40n],
];

/**
 * A byte count as `wg show` prints it: `N B` below 1 KiB, otherwise `%.2f` of KiB, MiB, GiB or
 * TiB (TiB for everything from 1 TiB up). Counts above 2^53 are first rounded to a double, as
 * wg's `(double)b` does.
 */
export function formatBytes(bytes: bigint | number, color = false): string {
  const b = toU64(bytes, 'bytes');
  if (b < 1024n) return terminalText(`${b} ${TERMINAL_FG_CYAN}B${TERMINAL_RESET}`, color);
  // (double)b: the nearest double (ties to even), an integer again.
  const asDouble = BigInt(Number(b));
  let unit = UNITS[UNITS.length - 1] as readonly [string, bigint];
  for (const candidate of UNITS) {
    if (b < 1n << (candidate[1] + 10n)) {
      unit = candidate;
      break;
    }
  }
  return terminalText(`${fixed2(asDouble, unit[1])} ${TERMINAL_FG_CYAN}${unit[0]}${TERMINAL_RESET}`, color);
}

const MINUTE = 60n;
const HOUR = 60n * MINUTE;
const DAY = 24n * HOUR;
const YEAR = 365n * DAY;

/**
 * show.c `pretty_time`: years (of 365 days), days, hours, minutes and seconds, each only when
 * non-zero, joined by `, `, with the unit in the singular for exactly 1. Zero gives the empty
 * string. A negative count wraps to unsigned 64 bits, as in C.
 */
export function formatDuration(seconds: bigint | number, color = false): string {
  let left = toU64(seconds, 'seconds');
  const parts: string[] = [];
  for (const [name, size] of [
    ['year', YEAR],
    ['day', DAY],
    ['hour', HOUR],
    ['minute', MINUTE],
    ['second', 1n],
  ] as const) {
    const count = left / size;
    left %= size;
    if (count) parts.push(`${count} ${TERMINAL_FG_CYAN}${name}${count === 1n ? '' : 's'}${TERMINAL_RESET}`);
  }
  return terminalText(parts.join(', '), color);
}

/** Whole seconds since the epoch, rounded down, as `time(NULL)` and `tv_sec` count them. */
export function epochSeconds(date: Date): bigint {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new RangeError('Invalid Date');
  return BigInt(Math.floor(ms / 1000));
}

/** The text wg prints for a handshake in the future (relative to its clock). */
export const CLOCK_WOUND_BACKWARD = `(${TERMINAL_FG_RED}System clock wound backward; connection problems may ensue.${TERMINAL_RESET})`;

/**
 * show.c `ago`: compares whole seconds. `Now` when equal, the red "System clock wound
 * backward" notice when `then` is later than `now`, otherwise `<duration> ago`.
 */
export function formatAgo(then: Date, now: Date, color = false): string {
  const t = epochSeconds(then);
  const n = epochSeconds(now);
  if (n === t) return 'Now';
  if (n < t) return terminalText(CLOCK_WOUND_BACKWARD, color);
  return `${formatDuration(n - t, color)} ago`;
}

/** show.c `every`: `every <duration>` for a persistent keepalive interval in seconds. */
export function formatEvery(seconds: number, color = false): string {
  return `every ${formatDuration(seconds & 0xffff, color)}`;
}
