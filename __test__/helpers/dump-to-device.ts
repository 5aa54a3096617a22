/**
 * Test helper: the read model (`DeviceInfo`) from `wg show NAME dump` or `wg show all dump`.
 *
 * The dump holds whole seconds of the latest handshake only, so the Date built from it has no
 * sub-second part.
 */
import { Key } from '../../lib/keys.js';
import type { DeviceInfo, PeerInfo } from '../../lib/types.js';

const NONE = '(none)';

function field(fields: readonly string[], index: number, line: string): string {
  const value = fields[index];
  if (value === undefined) throw new Error(`dump line has no field ${index}: ${JSON.stringify(line)}`);
  return value;
}

function fwmark(text: string): number {
  if (text === 'off') return 0;
  if (!/^0x[0-9a-f]+$/.test(text)) throw new Error(`bad fwmark in dump: ${text}`);
  return parseInt(text.slice(2), 16);
}

function deviceFromFields(name: string, f: readonly string[], line: string): DeviceInfo {
  if (f.length !== 4) throw new Error(`device line must have 4 fields: ${JSON.stringify(line)}`);
  const priv = field(f, 0, line);
  const pub = field(f, 1, line);
  return {
    name,
    type: 'userspace',
    ifindex: null,
    publicKey: pub === NONE ? null : pub,
    privateKey: priv === NONE ? null : Key.fromBase64(priv, 'private'),
    listenPort: Number(field(f, 2, line)),
    fwmark: fwmark(field(f, 3, line)),
    peers: [],
  };
}

function peerFromFields(f: readonly string[], line: string): PeerInfo {
  if (f.length !== 8) throw new Error(`peer line must have 8 fields: ${JSON.stringify(line)}`);
  const psk = field(f, 1, line);
  const endpoint = field(f, 2, line);
  const allowed = field(f, 3, line);
  const handshake = BigInt(field(f, 4, line));
  const keepalive = field(f, 7, line);
  return {
    publicKey: field(f, 0, line),
    presharedKey: psk === NONE ? null : Key.fromBase64(psk, 'preshared'),
    endpoint: endpoint === NONE ? null : endpoint,
    lastHandshake: handshake === 0n ? null : new Date(Number(handshake) * 1000),
    rxBytes: BigInt(field(f, 5, line)),
    txBytes: BigInt(field(f, 6, line)),
    persistentKeepalive: keepalive === 'off' ? 0 : Number(keepalive),
    allowedIPs: allowed === NONE ? [] : allowed.split(','),
    protocolVersion: 1,
  };
}

function lines(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error('dump must end with a newline');
  return text.slice(0, -1).split('\n');
}

/** `wg show NAME dump` → the device. */
export function dumpToDevice(name: string, dump: string): DeviceInfo {
  const [first, ...rest] = lines(dump);
  if (first === undefined) throw new Error('empty dump');
  const device = deviceFromFields(name, first.split('\t'), first);
  device.peers = rest.map((line) => peerFromFields(line.split('\t'), line));
  return device;
}

/** `wg show all dump` → the devices, in the order listed. */
export function allDumpToDevices(dump: string): DeviceInfo[] {
  const devices: DeviceInfo[] = [];
  for (const line of lines(dump)) {
    const [name, ...f] = line.split('\t');
    if (name === undefined || name === '') throw new Error(`dump line without interface: ${JSON.stringify(line)}`);
    const last = devices[devices.length - 1];
    if (f.length === 4) devices.push(deviceFromFields(name, f, line));
    else if (last !== undefined && last.name === name) last.peers.push(peerFromFields(f, line));
    else throw new Error(`peer line before its device: ${JSON.stringify(line)}`);
  }
  return devices;
}
