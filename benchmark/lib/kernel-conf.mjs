// Runs inside the kernel guest (scripts/kernel-vm/run.sh): kernel WireGuard, one fresh link per
// method, the same config applied with `wg setconf` and with wgkit's WireGuardClient (generic
// netlink), each read back; prints one JSON line per method.
// Usage: node kernel-conf.mjs REPO_DIR CONFIG.conf
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [repo, file] = process.argv.slice(2);
const { WireGuardClient, parseWgConfig } = await import(pathToFileURL(`${repo}/dist/index.js`).href);
const text = readFileSync(file, 'utf8');
const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });

function fresh(name) {
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  } catch {
    // not there yet
  }
  run('ip', ['link', 'add', name, 'type', 'wireguard']);
}

fresh('wgbk0');
let t = performance.now();
run('wg', ['setconf', 'wgbk0', file]);
let setMs = performance.now() - t;
t = performance.now();
const dump = run('wg', ['show', 'wgbk0', 'dump']);
let getMs = performance.now() - t;
const peersWg = dump.trimEnd().split('\n').length - 1;
console.log(JSON.stringify({ method: 'wg', set_ms: setMs, get_ms: getMs, peers: peersWg }));
run('ip', ['link', 'del', 'wgbk0']);

fresh('wgbk1');
const client = new WireGuardClient();
// Parsed as its own timed step (setConf would parse the text itself; the total is the same work).
t = performance.now();
const parsed = parseWgConfig(text).config;
const parseMs = performance.now() - t;
await client.setConf('wgbk1', parsed);
setMs = performance.now() - t;
t = performance.now();
const dev = await client.device('wgbk1');
getMs = performance.now() - t;
const allowed = dev.peers.reduce((s, p) => s + (p.allowedIPs?.length ?? 0), 0);
console.log(JSON.stringify({ method: 'client', set_ms: setMs, parse_ms: parseMs, get_ms: getMs, peers: dev.peers.length, allowed_ips: allowed, backend: dev.type ?? null }));
run('ip', ['link', 'del', 'wgbk1']);
