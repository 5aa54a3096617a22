/**
 * The wg-quick(8) format: a wg(8) file whose `[Interface]` may also have `Address`, `DNS`,
 * `MTU`, `Table`, `PreUp`, `PostUp`, `PreDown`, `PostDown` and `SaveConfig`. These lines are
 * recognised as wg-quick's `parse_options` recognises them (linux.bash); every other line
 * goes to the wg(8) reader unchanged, with its own line number.
 */
import { checkConfig } from './validate.js';
import type { WgConfig, WgInterfaceSection } from './model.js';
import { ConfigProblemCodes as Codes, ProblemCollector } from './problems.js';
import type { Report } from './problems.js';
import {
  checkAddress,
  checkDnsSearch,
  checkDnsServer,
  checkTable,
  isDnsServerSyntax,
  parseMtu,
  parseSaveConfig,
} from './wg-quick-values.js';
import { renderConfig, splitLines, WgConfigReader } from './wg.js';
import type { ConfigParseOptions, ConfigParseResult } from './wg.js';

type HookField = 'preUp' | 'postUp' | 'preDown' | 'postDown';

/** wg-quick's keys (matched case-insensitively, only inside `[Interface]`). */
const HOOKS: Record<string, HookField> = { preup: 'preUp', postup: 'postUp', predown: 'preDown', postdown: 'postDown' };
const WG_QUICK_KEYS = new Set(['address', 'mtu', 'dns', 'table', 'saveconfig', ...Object.keys(HOOKS)]);

/** What bash's `read -r line` keeps of a line: IFS whitespace is trimmed at both ends. */
function readLine(raw: string): string {
  return raw.replace(/^[ \t\n]+|[ \t\n]+$/g, '');
}

/** `${x##*([[:space:]])}` and `${x%%*([[:space:]])}`. */
function trimSpace(text: string): string {
  return text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
}

interface QuickLine {
  /** The line as `read` returns it. */
  line: string;
  /** The text before the first `=` (comment removed), trimmed. */
  key: string;
  /** Whether there is a `=` before any comment. */
  hasValue: boolean;
  /** The text after the first `=`, comment removed, trimmed. */
  value: string;
  /** The text after the first `=` with any `#` kept, trimmed (hooks use this). */
  unstripped: string;
}

function splitQuickLine(raw: string): QuickLine {
  const line = readLine(raw);
  const hash = line.indexOf('#');
  const stripped = hash < 0 ? line : line.slice(0, hash);
  const equals = stripped.indexOf('=');
  return {
    line,
    key: trimSpace(equals < 0 ? stripped : stripped.slice(0, equals)),
    hasValue: equals >= 0,
    value: trimSpace(stripped.slice(equals + 1)),
    unstripped: trimSpace(line.slice(line.indexOf('=') + 1)),
  };
}

/** Tracks `[Interface]` as wg-quick does: any key starting with `[` leaves it. */
class SectionTracker {
  #inInterface = false;

  /** Whether wg-quick takes this line for itself. */
  isWgQuickLine(parsed: QuickLine): boolean {
    if (parsed.key.startsWith('[')) this.#inInterface = parsed.key.toLowerCase() === '[interface]';
    return this.#inInterface && WG_QUICK_KEYS.has(parsed.key.toLowerCase());
  }
}

/**
 * Parses a wg-quick(8) configuration; throws `ConfigError` listing every problem if any is an
 * error. Hook commands are kept verbatim (a `#` or `=` in them is part of the command).
 */
export function parseWgQuickConfig(text: string, options: ConfigParseOptions = {}): ConfigParseResult {
  const problems = new ProblemCollector(options.file);
  const reader = new WgConfigReader(problems);
  const sections = new SectionTracker();
  splitLines(text).forEach((raw, i) => {
    const parsed = splitQuickLine(raw);
    if (!sections.isWgQuickLine(parsed)) reader.readLine(raw, i + 1);
    else readWgQuickKey(reader.config.interface, parsed, problems.at({ line: i + 1 }));
  });
  const config = reader.finish();
  problems.throwIfErrors();
  return { config, warnings: problems.warnings };
}

function readWgQuickKey(iface: WgInterfaceSection, { key, hasValue, value, unstripped }: QuickLine, report: Report): void {
  const name = key.toLowerCase();
  if (!hasValue) {
    report(Codes.LINE_UNRECOGNIZED, `Line unrecognized: \`${key}'`);
    return;
  }
  const hook = HOOKS[name];
  if (hook !== undefined) {
    (iface[hook] ??= []).push(unstripped);
    return;
  }
  switch (name) {
    case 'address':
      for (const entry of words(value)) {
        if (checkAddress(entry, report) !== undefined) (iface.address ??= []).push(entry);
      }
      break;
    case 'dns':
      for (const entry of words(value)) {
        if (isDnsServerSyntax(entry)) {
          if (checkDnsServer(entry, report) !== undefined) (iface.dns ??= []).push(entry);
        } else if (checkDnsSearch(entry, report) !== undefined) {
          (iface.dnsSearch ??= []).push(entry);
        }
      }
      break;
    case 'mtu':
      // An empty value resets to automatic, as `MTU=""` does in wg-quick.
      delete iface.mtu;
      if (value !== '') setIfDefined(iface, 'mtu', parseMtu(value, report));
      break;
    case 'table':
      delete iface.table;
      if (value !== '') setIfDefined(iface, 'table', checkTable(value, report));
      break;
    default:
      setIfDefined(iface, 'saveConfig', parseSaveConfig(value, report));
  }
}

/** `${value//,/ }` unquoted: split at commas and IFS whitespace. */
function words(value: string): string[] {
  return value.split(/[, \t\n]+/).filter((word) => word !== '');
}

function setIfDefined<K extends keyof WgInterfaceSection>(iface: WgInterfaceSection, key: K, value: WgInterfaceSection[K]): void {
  if (value !== undefined) iface[key] = value;
}

/**
 * The wg(8) part of a wg-quick file, byte for byte what `wg-quick strip` prints: every line
 * wg-quick does not handle itself, trimmed as bash's `read` trims it, then one more newline.
 * Nothing is validated.
 */
export function stripWgQuickConfig(text: string): string {
  const sections = new SectionTracker();
  const lines = splitLines(text);
  // `read` fails on a last line without a newline; wg-quick keeps it only when it is not blank.
  if (!text.endsWith('\n') && lines.length > 0 && readLine(lines[lines.length - 1] ?? '') === '') lines.pop();
  let out = '';
  for (const raw of lines) {
    const parsed = splitQuickLine(raw);
    if (!sections.isWgQuickLine(parsed)) out += `${parsed.line}\n`;
  }
  return `${out}\n`;
}

/**
 * Writes a configuration in the wg-quick format: `[Interface]` starts with the wg-quick fields
 * in the order `wg-quick save` writes them (one `Address` and one `DNS` line per entry), then
 * continues as `wg showconf` does. Throws `ConfigError` if the configuration is invalid.
 */
export function formatWgQuickConfig(config: WgConfig): string {
  checkConfig(config);
  const iface = config.interface;
  const extra: string[] = [];
  for (const address of iface.address ?? []) extra.push(`Address = ${address}`);
  for (const entry of [...(iface.dns ?? []), ...(iface.dnsSearch ?? [])]) extra.push(`DNS = ${entry}`);
  if (iface.mtu !== undefined) extra.push(`MTU = ${iface.mtu}`);
  if (iface.table !== undefined) extra.push(`Table = ${iface.table}`);
  if (iface.saveConfig !== undefined) extra.push(`SaveConfig = ${iface.saveConfig}`);
  for (const [key, field] of [
    ['PreUp', 'preUp'],
    ['PostUp', 'postUp'],
    ['PreDown', 'preDown'],
    ['PostDown', 'postDown'],
  ] as const) {
    for (const command of iface[field] ?? []) extra.push(`${key} = ${command}`);
  }
  return renderConfig(config, extra);
}
