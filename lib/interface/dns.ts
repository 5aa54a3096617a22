/**
 * DNS through resolvconf, as wg-quick does it: `resolvconf -a PREFIXIF -m 0 -x` fed with
 * `nameserver` and `search` lines, removed with `resolvconf -d PREFIXIF -f`. PREFIX is `tun.`
 * when `/etc/resolvconf/interface-order` lists a `tun*` pattern (Debian's resolvconf orders
 * interfaces by it). Works with Debian's resolvconf and with openresolv.
 */
import { readFileSync } from 'node:fs';
import { BackendUnavailableError, ErrorCodes, SystemError } from '../errors.js';
import type { Log } from './hooks.js';
import { findOnPath, runProgram } from './process.js';

/** The resolvconf program on PATH (as wg-quick finds it), or undefined. */
export function findResolvconf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findOnPath('resolvconf', env);
}

/** Throws `ERR_WGKIT_DNS_UNAVAILABLE` unless resolvconf exists (checked before `up` changes anything). */
export function requireResolvconf(env?: NodeJS.ProcessEnv): string {
  const program = findResolvconf(env);
  if (!program) {
    throw new BackendUnavailableError(
      ErrorCodes.DNS_UNAVAILABLE,
      'DNS is set but resolvconf(8) was not found; install resolvconf or openresolv, or remove DNS from the configuration',
      { field: 'interface.dns' },
    );
  }
  return program;
}

/** wg-quick's `resolvconf_iface_prefix`. */
export function resolvconfPrefix(orderFile = '/etc/resolvconf/interface-order'): string {
  let text: string;
  try {
    text = readFileSync(orderFile, 'utf8');
  } catch {
    return '';
  }
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z0-9-]+)\*$/.exec(line.trim());
    if (match) return `${match[1]}.`;
  }
  return '';
}

/** The text resolvconf receives. */
export function resolvconfInput(servers: readonly string[], search: readonly string[]): string {
  let text = servers.map((s) => `nameserver ${s}\n`).join('');
  if (search.length > 0) text += `search ${search.join(' ')}\n`;
  return text;
}

export interface DnsContext {
  interface: string;
  log: Log;
  env?: NodeJS.ProcessEnv;
}

/** Registers the servers and search domains for the interface. */
export async function setDns(servers: readonly string[], search: readonly string[], context: DnsContext): Promise<void> {
  if (servers.length === 0) return;
  const program = requireResolvconf(context.env);
  const name = `${resolvconfPrefix()}${context.interface}`;
  context.log(`[#] resolvconf -a ${name} -m 0 -x`);
  const result = await runProgram([program, '-a', name, '-m', '0', '-x'], { input: resolvconfInput(servers, search), env: context.env });
  if (result.code !== 0) {
    throw new SystemError(ErrorCodes.SYSTEM, `resolvconf -a ${name} failed (exit status ${result.code}): ${result.stderr.trim()}`, {
      field: 'interface.dns',
    });
  }
}

/** Removes what `setDns` registered (as wg-quick, failures are ignored by the caller). */
export async function unsetDns(context: DnsContext): Promise<void> {
  const program = requireResolvconf(context.env);
  const name = `${resolvconfPrefix()}${context.interface}`;
  context.log(`[#] resolvconf -d ${name} -f`);
  const result = await runProgram([program, '-d', name, '-f'], { env: context.env });
  if (result.code !== 0) {
    throw new SystemError(ErrorCodes.SYSTEM, `resolvconf -d ${name} failed (exit status ${result.code}): ${result.stderr.trim()}`);
  }
}

/** The nameservers resolvconf holds for the interface (for `save`). */
export async function listDns(iface: string, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const program = findResolvconf(env);
  const name = `${resolvconfPrefix()}${iface}`;
  let text = '';
  if (program) {
    const result = await runProgram([program, '-l', name], { env });
    if (result.code === 0) text = result.stdout;
  }
  if (!text) {
    try {
      text = readFileSync(`/etc/resolvconf/run/interface/${name}`, 'utf8');
    } catch {
      return [];
    }
  }
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^nameserver ([a-zA-Z0-9_=+:%.-]+)$/.exec(line.trim());
    if (match) servers.push(match[1]!);
  }
  return servers;
}
