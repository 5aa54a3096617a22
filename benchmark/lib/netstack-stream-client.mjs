// The near end of netstack-stream.sh: one TCP stream to netstack-stream-server.mjs, either as a
// JS TunnelSocket of a netstack tunnel opened in this process (`js`), or through a SOCKS5 proxy
// (`socks5`, e.g. `wgkit-proxy --socks5`). Prints one line: `up GBITS` or `down GBITS`.
// Usage: node netstack-stream-client.mjs js CONFIG-FILE HOST PORT up|down BYTES
//        node netstack-stream-client.mjs socks5 PROXY-HOST:PORT HOST PORT up|down BYTES
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';

const [mode, where, host, portText, direction, bytesText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(bytesText);
const CHUNK = Buffer.alloc(1 << 20, 0xa5);

function request(op) {
  const h = Buffer.alloc(9);
  h[0] = op.charCodeAt(0);
  h.writeBigUInt64BE(BigInt(total), 1);
  return h;
}

/** A SOCKS5 CONNECT to an IPv4 HOST:PORT through the proxy at `where`. */
async function socks5() {
  const [ph, pp] = [where.slice(0, where.lastIndexOf(':')), Number(where.slice(where.lastIndexOf(':') + 1))];
  const s = net.connect(pp, ph);
  await once(s, 'connect');
  s.setNoDelay(true);
  const reader = (n) =>
    new Promise((resolve, reject) => {
      let got = Buffer.alloc(0);
      const on = (d) => {
        got = Buffer.concat([got, d]);
        if (got.length >= n) {
          s.off('data', on);
          s.pause();
          if (got.length > n) s.unshift(got.subarray(n));
          resolve(got.subarray(0, n));
        }
      };
      s.on('data', on);
      s.once('error', reject);
      s.resume();
    });
  s.write(Buffer.from([5, 1, 0]));
  const hello = await reader(2);
  if (hello[0] !== 5 || hello[1] !== 0) throw new Error(`SOCKS5 greeting refused: ${hello.toString('hex')}`);
  const req = Buffer.alloc(10);
  req.set([5, 1, 0, 1]);
  host.split('.').forEach((b, i) => (req[4 + i] = Number(b)));
  req.writeUInt16BE(port, 8);
  s.write(req);
  const reply = await reader(10);
  if (reply[1] !== 0) throw new Error(`SOCKS5 CONNECT failed: reply ${reply[1]}`);
  return { sock: s, close: async () => undefined };
}

async function tunnelSocket() {
  const { openTunnel } = await import(new URL('../../dist/index.js', import.meta.url).href);
  const tunnel = await openTunnel(readFileSync(where, 'utf8'));
  const sock = tunnel.connect({ host, port });
  await once(sock, 'connect');
  return { sock, close: () => tunnel.close() };
}

const { sock, close } = mode === 'js' ? await tunnelSocket() : await socks5();
sock.on('error', (e) => {
  console.error(`stream error: ${e.message}`);
  process.exit(1);
});
const start = process.hrtime.bigint();
if (direction === 'up') {
  sock.write(request('U'));
  let left = total;
  const reply = new Promise((resolve) => sock.once('data', resolve));
  sock.resume();
  while (left > 0) {
    const n = Math.min(left, CHUNK.length);
    left -= n;
    if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) await once(sock, 'drain');
  }
  await reply;
} else {
  let got = 0;
  sock.on('data', (d) => (got += d.length));
  const ended = once(sock, 'end');
  sock.write(request('D'));
  sock.resume();
  await ended;
  if (got !== total) throw new Error(`received ${got} of ${total} bytes`);
}
const secs = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`${direction} ${((total * 8) / secs / 1e9).toFixed(3)}`);
sock.destroy();
await close();
process.exit(0);
