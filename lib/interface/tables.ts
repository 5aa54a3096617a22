/**
 * Routing table names, as `ip route ... table NAME` resolves them: the reserved names, then
 * `/etc/iproute2/rt_tables` (and iproute2's packaged copy), then the `rt_tables.d` drop-ins.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, ErrorCodes } from '../errors.js';

export const TABLE_MAIN = 254;
const RESERVED: Record<string, number> = { unspec: 0, default: 253, main: TABLE_MAIN, local: 255 };
const DIRECTORIES = ['/usr/share/iproute2', '/usr/lib/iproute2', '/etc/iproute2'];

function tablesFrom(text: string, into: Map<string, number>): void {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const match = /^(0x[0-9a-fA-F]+|[0-9]+)\s+(\S+)$/.exec(line);
    if (match) into.set(match[2]!, Number(match[1]));
  }
}

function readTables(): Map<string, number> {
  const tables = new Map<string, number>();
  for (const dir of DIRECTORIES) {
    const files = [`${dir}/rt_tables`];
    try {
      for (const f of readdirSync(`${dir}/rt_tables.d`).sort()) if (f.endsWith('.conf')) files.push(`${dir}/rt_tables.d/${f}`);
    } catch {
      // no drop-in directory
    }
    for (const file of files) {
      try {
        tablesFrom(readFileSync(file, 'utf8'), tables);
      } catch {
        // absent file
      }
    }
  }
  return tables;
}

/** The number of a table given as a number or a name; throws for an unknown name. */
export function tableNumber(table: string, field = 'interface.table'): number {
  if (/^[0-9]+$/.test(table)) return Number(table);
  if (/^0x[0-9a-fA-F]+$/.test(table)) return Number(table);
  const reserved = RESERVED[table];
  if (reserved !== undefined) return reserved;
  const number = readTables().get(table);
  if (number === undefined) {
    throw new InvalidArgumentError(ErrorCodes.INVALID_ARGUMENT, `Error: argument "${table}" is wrong: "table" value is invalid`, { field });
  }
  return number;
}
