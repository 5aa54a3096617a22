// Event delivery into JavaScript: a WireGuardDevice in this process (and network namespace)
// takes a handshake and then a flood of authenticated keepalives from wgkit-roam-flood, which
// alternates between two source ports, so every packet roams the peer's endpoint and emits one
// `endpointChanged` event. Counts the events that reach the listener and those the device
// dropped (queue full); prints JSON.
// Usage: node event-rate.mjs REPO_DIR FLOOD_BIN SECONDS
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

const [repo, floodBin, seconds] = process.argv.slice(2);
const { WireGuardDevice, generatePrivateKey } = await import(pathToFileURL(`${repo}/dist/index.js`).href);

const deviceKey = generatePrivateKey();
const peerKey = generatePrivateKey();
const port = 40000 + (process.pid % 20000);
// One worker: with one UDP socket every datagram is received in order, so each one comes from
// the other source port than the one before and roams the endpoint (with several sockets the
// kernel would hash the two source ports to different workers, each seeing one port).
const device = await WireGuardDevice.create('', {
  uapi: false,
  threads: 1,
  config: { privateKey: deviceKey, listenPort: port, peers: [{ publicKey: peerKey.publicKey(), allowedIPs: ['10.250.0.2/32'] }] },
});
let delivered = 0;
let first = 0;
let last = 0;
let maxGapMs = 0;
device.on('endpointChanged', () => {
  const now = performance.now();
  if (delivered === 0) first = now;
  else maxGapMs = Math.max(maxGapMs, now - last);
  last = now;
  delivered++;
});
let handshakes = 0;
device.on('handshake', () => handshakes++);

const flood = spawn(floodBin, [peerKey.toHex(), deviceKey.publicKey().toHex(), `127.0.0.1:${port}`, seconds], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
flood.stdout.on('data', (d) => (out += d));
const [code] = await once(flood, 'exit');
// Let the queue drain: the device queue holds 4096 events, the forwarder hands over 256 a call.
let settled = delivered;
do {
  settled = delivered;
  await new Promise((r) => setTimeout(r, 300));
} while (delivered !== settled);
const stats = device.stats();
await device.close();
if (code !== 0) {
  console.log(JSON.stringify({ ok: false, error: `wgkit-roam-flood exited with status ${code}` }));
  process.exit(1);
}
const sent = JSON.parse(out);
const spanS = (last - first) / 1000;
console.log(
  JSON.stringify({
    ok: true,
    handshakes,
    packets_sent: sent.sent,
    packets_per_second: sent.per_second,
    datagrams_received: Number(stats.rxDatagrams),
    events_delivered: delivered,
    events_dropped: Number(stats.eventsDropped),
    delivered_per_second: spanS > 0 ? delivered / spanS : 0,
    max_gap_ms: maxGapMs,
    seconds: Number(seconds),
  }),
);
