/**
 * wg-quick's firewall rules for a default route, through nft(8): the table `ip|ip6
 * wg-quick-IF` drops packets for the interface's own addresses that arrive on another interface
 * from a non-local source (anti-spoofing), and saves/restores the UDP conntrack mark so that
 * replies to the tunnel's own datagrams keep the fwmark. Removed with the table on `down`.
 * Without nft the rules are skipped with a warning (wg-quick would try iptables-restore).
 */
import { ErrorCodes, SystemError } from '../errors.js';
import type { Log } from './hooks.js';
import type { Family } from './rtnl.js';
import { namespaceFile } from './rtnl.js';
import { findOnPath, inNamespace, runProgram } from './process.js';
import type { ProgramResult } from './process.js';

export function nftAvailable(): boolean {
  return findOnPath('nft') !== undefined;
}

/** The nft script wg-quick's `add_default` writes for one family. */
export function firewallScript(iface: string, family: Family, table: number, addresses: readonly string[]): string {
  const pf = family === 4 ? 'ip' : 'ip6';
  const nftable = `wg-quick-${iface}`;
  let script = `add table ${pf} ${nftable}\n`;
  script += `add chain ${pf} ${nftable} preraw { type filter hook prerouting priority -300; }\n`;
  script += `add chain ${pf} ${nftable} premangle { type filter hook prerouting priority -150; }\n`;
  script += `add chain ${pf} ${nftable} postmangle { type filter hook postrouting priority -150; }\n`;
  for (const address of addresses) {
    script += `add rule ${pf} ${nftable} preraw iifname != "${iface}" ${pf} daddr ${address} fib saddr type != local drop\n`;
  }
  script += `add rule ${pf} ${nftable} postmangle meta l4proto udp mark ${table} ct mark set mark \n`;
  script += `add rule ${pf} ${nftable} premangle meta l4proto udp meta mark set ct mark \n`;
  return script;
}

function nft(args: string[], input: string, namespace: string | undefined): Promise<ProgramResult> {
  return runProgram(inNamespace([findOnPath('nft') ?? 'nft', ...args], namespaceFile(namespace)), { input });
}

/** Adds the rules; returns false (after logging a warning) when nft is missing. */
export async function addFirewall(
  iface: string,
  family: Family,
  table: number,
  addresses: readonly string[],
  namespace: string | undefined,
  log: Log,
): Promise<boolean> {
  if (!nftAvailable()) {
    log(`[!] nft(8) not found: the anti-spoofing and connmark rules for ${iface} were not added`);
    return false;
  }
  log('[#] nft -f /dev/fd/63');
  const result = await nft(['-f', '-'], firewallScript(iface, family, table, addresses), namespace);
  if (result.code !== 0) throw new SystemError(ErrorCodes.SYSTEM, `nft failed (exit status ${result.code}): ${result.stderr.trim()}`);
  return true;
}

/** Deletes every `wg-quick-IF` table (both families), as wg-quick's `remove_firewall`. */
export async function removeFirewall(iface: string, namespace: string | undefined, log: Log): Promise<void> {
  if (!nftAvailable()) return;
  const listed = await nft(['list', 'tables'], '', namespace);
  let script = '';
  for (const line of listed.stdout.split('\n')) {
    // `table ip wg-quick-IF` → `delete table ip wg-quick-IF`
    if (line.trim().endsWith(` wg-quick-${iface}`)) script += `delete ${line.trim()}\n`;
  }
  if (!script) return;
  log('[#] nft -f /dev/fd/63');
  const result = await nft(['-f', '-'], script, namespace);
  if (result.code !== 0) throw new SystemError(ErrorCodes.SYSTEM, `nft failed (exit status ${result.code}): ${result.stderr.trim()}`);
}
