// A TCP port forward written on wgkit's JS netstack API (openTunnel + TunnelSocket), the way an
// application would: node benchmark/lib/netstack-js-forward.mjs REPO CONFIG [BIND:]PORT:HOST:HOSTPORT...
// Prints one "listening" line per forward once bound; SIGTERM/SIGINT stop it.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';

const [repo, config, ...specs] = process.argv.slice(2);
const { openTunnel } = await import(pathToFileURL(`${repo}/dist/index.js`).href);
const tunnel = await openTunnel(readFileSync(config, 'utf8'), { name: `nsbjs${process.pid.toString(36)}` });
const servers = [];
for (const spec of specs) {
  const parts = spec.split(':');
  if (parts.length === 3) parts.unshift('127.0.0.1');
  const [bind, port, host, hostPort] = parts;
  const server = net.createServer({ allowHalfOpen: true }, (local) => {
    const remote = tunnel.connect({ host, port: Number(hostPort) });
    local.on('error', () => remote.destroy());
    remote.on('error', () => local.destroy());
    local.pipe(remote);
    remote.pipe(local);
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen({ host: bind, port: Number(port), backlog: 4096 }, resolve));
  servers.push(server);
  console.log(`listening -L tcp ${bind}:${port} -> ${host}:${hostPort}`);
}
const stop = async () => {
  for (const s of servers) s.close();
  await tunnel.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
