/**
 * Terminal colour, as wireguard-tools' terminal.c decides and applies it.
 *
 * `wg show` builds every pretty-printed line with ANSI sequences in it. When colour is off,
 * each `terminal_printf` call strips them from its own formatted text: an `ESC [` starts a
 * sequence that runs up to and including the next ASCII letter. An `ESC [` that forms the last
 * two characters of one call's text is left alone, which is why the filter works on one call's
 * text at a time (see `filterAnsi`).
 */

/** The sequences of terminal.h that `wg show` uses. */
export const TERMINAL_RESET = '\x1b[0m';
export const TERMINAL_BOLD = '\x1b[1m';
export const TERMINAL_FG_RED = '\x1b[31m';
export const TERMINAL_FG_GREEN = '\x1b[32m';
export const TERMINAL_FG_YELLOW = '\x1b[33m';
export const TERMINAL_FG_CYAN = '\x1b[36m';

/** `WG_COLOR_MODE`: `always`, `never`, or anything else (including unset), which means auto. */
export type ColorMode = 'always' | 'never' | 'auto';

/** Environment variables as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Reads `WG_COLOR_MODE` exactly as wg does: only the exact strings `always` and `never` count. */
export function colorModeFromEnv(env: Environment): ColorMode {
  const value = env['WG_COLOR_MODE'];
  if (value === 'always') return 'always';
  if (value === 'never') return 'never';
  return 'auto';
}

/** Whether `wg show` colours its output: the mode, or in auto mode whether stdout is a terminal. */
export function useColor(mode: ColorMode, stdoutIsTTY: boolean): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  return stdoutIsTTY;
}

function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/**
 * terminal.c `filter_ansi` on the text of one `terminal_printf` call: removes every `ESC [`
 * together with what follows it up to and including the next ASCII letter (to the end of the
 * text when no letter follows). An `ESC [` at the very end of the text is kept.
 */
export function filterAnsi(text: string): string {
  const len = text.length;
  if (len < 2) return text;
  let out = '';
  let kept = 0;
  for (let i = 0; i < len - 2; ++i) {
    if (text.charCodeAt(i) !== 0x1b || text.charCodeAt(i + 1) !== 0x5b) continue;
    out += text.slice(kept, i);
    let j = i + 2;
    while (j < len && !isAsciiLetter(text.charCodeAt(j))) ++j;
    // The letter that ends the sequence is removed as well.
    kept = Math.min(j + 1, len);
    i = kept - 1;
  }
  return out + text.slice(kept);
}

/** The text one `terminal_printf` call writes: unchanged with colour, filtered without. */
export function terminalText(text: string, color: boolean): string {
  return color ? text : filterAnsi(text);
}
