// Runs one interface-manager scenario in a private mount namespace (set up by the caller with
// `unshare -m`), where /etc/hosts and /etc/resolvconf.conf are the test's own files. Prints one
// JSON line with what it observed. Imports the built package (dist/).
//
//   node interface-isolated.mjs SCENARIO JSON_ARGS
import { readFileSync, writeFileSync } from 'node:fs';
import { WireGuardInterface } from '../../dist/interface/interface.js';

const [scenario, json] = process.argv.slice(2);
const args = JSON.parse(json);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function config(extra = {}, peer = {}) {
  return {
    interface: { privateKey: args.privateKey, address: ['10.99.0.1/24'], socketNamespace: args.netns, mtu: 1420, ...extra },
    peers: [{ publicKey: args.peerKey, endpoint: args.endpoint, allowedIPs: ['10.99.0.0/24'], persistentKeepalive: 1, ...peer }],
  };
}

async function dns() {
  const out = {};
  const iface = await WireGuardInterface.up(args.name, config({ dns: ['10.99.0.53', 'fd99::53'], dnsSearch: ['corp.example', 'lab.example'] }));
  out.during = readFileSync(args.resolvConf, 'utf8');
  await iface.down();
  out.after = readFileSync(args.resolvConf, 'utf8');
  try {
    await WireGuardInterface.up(args.name, config({ dns: ['10.99.0.53'] }), { env: { ...process.env, PATH: '/nonexistent' } });
    out.missing = 'no error';
  } catch (error) {
    out.missing = { code: error.code, message: error.message };
  }
  return out;
}

async function refresh() {
  const out = { events: [], errors: [] };
  const iface = await WireGuardInterface.up(args.name, config({ dynamicEndpointRefreshSeconds: 1 }, { endpoint: `${args.host}:${args.port}`, name: 'peer-b' }), {
    env: { ...process.env, WG_ENDPOINT_RESOLUTION_RETRIES: '0' },
  });
  iface.on('endpointRefresh', (e) => out.events.push({ name: e.name, host: e.host, previous: e.previous, endpoint: e.endpoint }));
  iface.on('endpointRefreshError', (e) => out.errors.push({ name: e.name, retryIn: e.retryIn, message: e.error.message }));
  try {
    out.initial = (await iface.info()).peers[0].endpoint;
    await sleep(2500);
    out.eventsWhileUnchanged = out.events.length;
    writeFileSync(args.hosts, `127.0.0.1 localhost\n${args.second} ${args.host}\n`);
    for (let i = 0; i < 50 && out.events.length === 0; i++) await sleep(200);
    out.afterChange = (await iface.info()).peers[0].endpoint;
    writeFileSync(args.hosts, '127.0.0.1 localhost\n');
    for (let i = 0; i < 50 && out.errors.length === 0; i++) await sleep(200);
    out.afterFailure = (await iface.info()).peers[0].endpoint;
  } finally {
    await iface.down();
  }
  return out;
}

const scenarios = { dns, refresh };
try {
  const result = await scenarios[scenario]();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ fatal: String(error?.stack ?? error) })}\n`);
  process.exit(1);
}
