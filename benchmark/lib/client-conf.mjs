// Applies a config through wgkit's own WireGuardClient (UAPI) and reads it back; prints JSON timings.
// Usage: node client-conf.mjs REPO_DIR IFNAME CONFIG.conf
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [repo, name, file] = process.argv.slice(2);
const { WireGuardClient, parseWgConfig } = await import(pathToFileURL(`${repo}/dist/index.js`).href);
const client = new WireGuardClient();
const text = readFileSync(file, 'utf8');
// Parsed as its own timed step (setConf would parse the text itself; the total is the same work).
let t = performance.now();
const parsed = parseWgConfig(text).config;
const parseMs = performance.now() - t;
await client.setConf(name, parsed);
const setMs = performance.now() - t;
t = performance.now();
const dev = await client.device(name);
const getMs = performance.now() - t;
const allowed = dev.peers.reduce((s, p) => s + (p.allowedIPs?.length ?? 0), 0);
console.log(JSON.stringify({ set_ms: setMs, parse_ms: parseMs, get_ms: getMs, peers: dev.peers.length, allowed_ips: allowed }));
