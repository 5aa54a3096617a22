/**
 * The two display choices of `wg show` and how wg makes them from its environment.
 */
import { colorModeFromEnv, useColor, type Environment } from './color.js';

export interface ShowOptions {
  /** Print private and preshared keys as `(hidden)` (pretty output only). */
  hideKeys: boolean;
  /** Keep wg's ANSI colour sequences in pretty output. */
  color: boolean;
}

/** What wg does with an empty environment and stdout not a terminal. */
export const DEFAULT_SHOW_OPTIONS: Readonly<ShowOptions> = Object.freeze({ hideKeys: true, color: false });

/** Keys are hidden unless `WG_HIDE_KEYS` is exactly `never`. */
export function hideKeysFromEnv(env: Environment): boolean {
  return env['WG_HIDE_KEYS'] !== 'never';
}

/**
 * The options wg would use: `WG_HIDE_KEYS`, and `WG_COLOR_MODE` (`always`, `never`, otherwise
 * colour when stdout is a terminal). Defaults to this process's environment and stdout.
 */
export function showOptionsFromEnv(
  env: Environment = process.env,
  stdoutIsTTY: boolean = process.stdout.isTTY === true,
): ShowOptions {
  return { hideKeys: hideKeysFromEnv(env), color: useColor(colorModeFromEnv(env), stdoutIsTTY) };
}

export function resolveShowOptions(options: Partial<ShowOptions> | undefined): ShowOptions {
  return {
    hideKeys: options?.hideKeys ?? DEFAULT_SHOW_OPTIONS.hideKeys,
    color: options?.color ?? DEFAULT_SHOW_OPTIONS.color,
  };
}
