/**
 * Test helper: runs a `wg show` command against the lab and renders the same output from the
 * state read with `wg show all dump`, for a byte-for-byte comparison.
 *
 * Two reads of a device are not always of the same state, and this helper only compares when
 * they are:
 *  - counters and handshakes move (keepalives, handshake retries): the state is read right
 *    before and right after the command, and the attempt counts only if both reads agree;
 *  - wireguard-go reports peers in Go map order, which changes from one read to the next: the
 *    attempt counts only if the command's read listed the peers in the order of one of the
 *    dumps. In script output the peers appear in read order; in pretty output only the order of
 *    peers without a handshake (which sort as ties) shows the read order;
 *  - "ago" depends on when wg looked at the clock: every whole second from just before the
 *    command started to just after it ended is tried.
 * An attempt that meets these conditions and still differs is retried once, then reported.
 */
import type { DeviceInfo } from '../../lib/types.js';
import { allDumpToDevices } from './dump-to-device.js';
import type { TimedRun, WgLab } from './wg-lab.js';

export type OutputKind = 'pretty' | 'script';

export interface ShowCase {
  /** Network namespace wg runs in. */
  ns: string;
  /** Arguments after `wg`. */
  args: readonly string[];
  /** The WG_* variables (nothing else of the environment is passed). */
  env?: Record<string, string>;
  kind: OutputKind;
  /** Run wg on a pseudo-terminal (so that its auto colour mode turns colour on). */
  pty?: boolean;
  /** The device the command shows, for single-device commands. */
  device?: string;
  /** Our rendering of what wg should print, from the devices in dump order. */
  render: (devices: DeviceInfo[], now: Date) => string;
}

export interface ShowComparison {
  wg: TimedRun;
  ours: string;
  attempts: number;
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const KEY = /[A-Za-z0-9+/]{43}=/g;

/** Per device, the peer public keys in the order they appear in `output`. */
export function peerKeysInOutput(output: string, devices: readonly DeviceInfo[], single?: string): Map<string, string[]> {
  const byName = new Map(devices.map((d) => [d.name, d]));
  const seen = new Map<string, string[]>();
  let current = single;
  for (const raw of output.split('\n')) {
    const line = raw.replace(ANSI, '');
    if (single === undefined) {
      const iface = /^interface: (.+)$/.exec(line)?.[1];
      const prefix = line.split('\t')[0];
      if (iface !== undefined && byName.has(iface)) current = iface;
      else if (prefix !== undefined && line.includes('\t') && byName.has(prefix)) current = prefix;
    }
    if (current === undefined) continue;
    const device = byName.get(current);
    if (device === undefined) continue;
    const peers = new Set(device.peers.map((p) => p.publicKey));
    for (const key of line.match(KEY) ?? []) {
      if (!peers.has(key)) continue;
      const list = seen.get(current) ?? [];
      list.push(key);
      seen.set(current, list);
    }
  }
  return seen;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether wg's read (as its output shows it) listed every device's peers in `devices`' order. */
export function readOrderMatches(output: string, devices: readonly DeviceInfo[], kind: OutputKind, single?: string): boolean {
  const seen = peerKeysInOutput(output, devices, single);
  for (const device of devices) {
    const keys = seen.get(device.name);
    if (keys === undefined) continue;
    if (kind === 'script') {
      if (!sameList(keys, device.peers.map((p) => p.publicKey))) return false;
    } else {
      const tied = device.peers.filter((p) => p.lastHandshake === null).map((p) => p.publicKey);
      const tiedSet = new Set(tied);
      if (!sameList(keys.filter((k) => tiedSet.has(k)), tied)) return false;
    }
  }
  return true;
}

function sortedLines(text: string): string {
  return text.split('\n').sort().join('\n');
}

/** The whole seconds `time(NULL)` may have returned while `run` ran. */
export function candidateNows(run: TimedRun): Date[] {
  const first = Math.floor(run.started / 1000);
  const last = Math.floor(run.ended / 1000);
  const nows: Date[] = [];
  for (let s = first; s <= last; s++) nows.push(new Date(s * 1000));
  return nows;
}

/** Reads the lab's state with `wg show all dump` in `ns`. */
export function readState(lab: WgLab, ns: string): string {
  const r = lab.wg(ns, ['show', 'all', 'dump']);
  // Devices that cannot be read are reported on stderr and left out.
  const unexpected = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Unable to access interface '));
  if (r.status !== 0 || unexpected.length) throw new Error(`wg show all dump failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function compareWithWg(lab: WgLab, c: ShowCase, maxAttempts = 80): ShowComparison {
  let mismatches = 0;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const before = readState(lab, c.ns);
    const run = c.pty ? lab.wgOnPty(c.ns, c.args, c.env ?? {}) : lab.wg(c.ns, c.args, c.env ?? {});
    const after = readState(lab, c.ns);
    if (sortedLines(before) !== sortedLines(after)) continue;
    const candidates = [allDumpToDevices(before), allDumpToDevices(after)].filter((devices) =>
      readOrderMatches(run.stdout, devices, c.kind, c.device),
    );
    const first = candidates[0];
    if (first === undefined) continue;
    const nows = candidateNows(run);
    for (const devices of candidates) {
      for (const now of nows) {
        const ours = c.render(devices, now);
        if (ours === run.stdout) return { wg: run, ours, attempts: attempt };
      }
    }
    if (++mismatches > 1) return { wg: run, ours: c.render(first, nows[0] as Date), attempts: attempt };
  }
  throw new Error(`wg ${c.args.join(' ')}: no stable read in the same peer order after ${maxAttempts} attempts`);
}
