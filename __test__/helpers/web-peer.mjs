// An HTTP server on port 8080 and an HTTPS server on 8443 (both dual-stack), run by tests in a
// network namespace behind a WireGuard peer. GET /hello answers a fixed text; POST /sha256
// answers the SHA-256 of the body. Every response has `x-connection`, a number per TCP
// connection (keep-alive reuse shows as the same number). Usage: web-peer.mjs CERT KEY.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

let connections = 0;
const ids = new WeakMap();
const handler = (req, res) => {
  if (!ids.has(req.socket)) ids.set(req.socket, ++connections);
  res.setHeader('x-connection', String(ids.get(req.socket)));
  res.setHeader('x-remote', req.socket.remoteAddress ?? '');
  if (req.method === 'GET' && req.url === '/hello') {
    res.end('hello from the peer');
    return;
  }
  if (req.method === 'POST' && req.url === '/sha256') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d) => {
      h.update(d);
      n += d.length;
    });
    req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
    return;
  }
  res.statusCode = 404;
  res.end('not found');
};

const [cert, key] = process.argv.slice(2).map((f) => readFileSync(f));
const plain = http.createServer({ keepAliveTimeout: 30_000 }, handler);
const secure = https.createServer({ cert, key, keepAliveTimeout: 30_000 }, handler);
let up = 0;
const ready = () => {
  if (++up === 2) console.log('ready');
};
plain.listen(8080, '::', ready);
secure.listen(8443, '::', ready);
process.on('SIGTERM', () => process.exit(0));
