/**
 * `wg show <interface>`: the pretty, human-oriented output (show.c `pretty_print`).
 *
 * The text is built as the sequence of `terminal_printf` calls wg makes, each with wg's ANSI
 * sequences, and each call's text is filtered on its own when colour is off, as terminal.c does.
 */
import type { DeviceInfo } from '../types.js';
import { splitAllowedIP, formatEndpoint } from './address.js';
import {
  TERMINAL_BOLD,
  TERMINAL_FG_CYAN,
  TERMINAL_FG_GREEN,
  TERMINAL_FG_YELLOW,
  TERMINAL_RESET,
  terminalText,
} from './color.js';
import { resolveShowOptions, type ShowOptions } from './options.js';
import { sortPeersByHandshake } from './sort.js';
import { epochSeconds, formatAgo, formatBytes, formatEvery } from './units.js';
import { maskedKey, presharedKeyOf, u16, u64 } from './values.js';

function field(name: string, value: string): string {
  return `  ${TERMINAL_BOLD}${name}${TERMINAL_RESET}: ${value}\n`;
}

/**
 * The pretty output of one device, as `wg show NAME` prints it. `now` is the time the
 * "latest handshake: ... ago" lines count from (wg uses the current time).
 */
export function formatPretty(device: DeviceInfo, now: Date, options?: Partial<ShowOptions>): string {
  const { hideKeys, color } = resolveShowOptions(options);
  const calls: string[] = [];
  const print = (text: string): void => {
    calls.push(terminalText(text, color));
  };

  print(TERMINAL_RESET);
  print(`${TERMINAL_FG_GREEN}${TERMINAL_BOLD}interface${TERMINAL_RESET}: ${TERMINAL_FG_GREEN}${device.name}${TERMINAL_RESET}\n`);
  if (device.publicKey !== null) print(field('public key', device.publicKey));
  if (device.privateKey !== null) print(field('private key', maskedKey(device.privateKey, hideKeys)));
  if (u16(device.listenPort) !== '0') print(field('listening port', u16(device.listenPort)));
  if (device.fwmark >>> 0) print(field('fwmark', `0x${(device.fwmark >>> 0).toString(16)}`));

  const peers = sortPeersByHandshake(device.peers);
  if (peers.length) print('\n');
  peers.forEach((peer, index) => {
    print(`${TERMINAL_FG_YELLOW}${TERMINAL_BOLD}peer${TERMINAL_RESET}: ${TERMINAL_FG_YELLOW}${peer.publicKey}${TERMINAL_RESET}\n`);
    const psk = presharedKeyOf(peer);
    if (psk !== null) print(field('preshared key', maskedKey(psk, hideKeys)));
    if (peer.endpoint !== null) print(field('endpoint', formatEndpoint(peer.endpoint)));
    print(`  ${TERMINAL_BOLD}allowed ips${TERMINAL_RESET}: `);
    if (peer.allowedIPs.length) {
      peer.allowedIPs.forEach((allowed, i) => {
        const { ip, cidr } = splitAllowedIP(allowed);
        const separator = i + 1 < peer.allowedIPs.length ? ', ' : '\n';
        print(`${ip}${TERMINAL_FG_CYAN}/${TERMINAL_RESET}${cidr}${separator}`);
      });
    } else {
      print('(none)\n');
    }
    if (peer.lastHandshake !== null && epochSeconds(peer.lastHandshake) !== 0n) {
      print(field('latest handshake', formatAgo(peer.lastHandshake, now, true)));
    }
    if (u64(peer.rxBytes) !== '0' || u64(peer.txBytes) !== '0') {
      print(`  ${TERMINAL_BOLD}transfer${TERMINAL_RESET}: `);
      print(`${formatBytes(peer.rxBytes, true)} received, `);
      print(`${formatBytes(peer.txBytes, true)} sent\n`);
    }
    if (peer.persistentKeepalive & 0xffff) {
      print(field('persistent keepalive', formatEvery(peer.persistentKeepalive, true)));
    }
    if (index + 1 < peers.length) print('\n');
  });
  return calls.join('');
}
