// The far end of netstack-stream.sh: a plain Node TCP server on the Linux side of the tunnel
// (in the far peer's namespace). Each connection starts with a 9-byte request: 'U' or 'D' and
// a 64-bit big-endian length. 'U' (upload): the server reads that many bytes, then answers
// "k" and closes. 'D' (download): the server sends that many bytes, then closes.
// Usage: node netstack-stream-server.mjs HOST PORT
import net from 'node:net';

const [host, port] = [process.argv[2], Number(process.argv[3])];
const CHUNK = Buffer.alloc(1 << 20, 0x5a);

function download(sock, total) {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void sock.once('drain', pump);
    }
    sock.end();
  };
  pump();
}

const server = net.createServer((sock) => {
  let head = Buffer.alloc(0);
  let op = '';
  let left = 0n;
  sock.on('error', () => sock.destroy());
  sock.on('data', (d) => {
    if (op === '') {
      head = Buffer.concat([head, d]);
      if (head.length < 9) return;
      op = String.fromCharCode(head[0]);
      left = head.readBigUInt64BE(1);
      d = head.subarray(9);
      if (op === 'D') return download(sock, Number(left));
      if (op !== 'U') return sock.destroy();
    }
    if (op === 'U') {
      left -= BigInt(d.length);
      if (left <= 0n) sock.end('k');
    }
  });
});
server.listen(port, host, () => console.log('ready'));
