// Soak traffic: repeated TCP transfers of random blobs in both directions, each verified by
// SHA-256 on the receiving side.
//
//   node soak-traffic.mjs server PORT
//   node soak-traffic.mjs client HOST PORT SECONDS MBITS OUT.jsonl
//
// The client runs two loops at once for SECONDS: "a_to_b" uploads (client sends, server
// verifies) and "b_to_a" downloads (server sends, client verifies). Every transfer is one TCP
// connection: a JSON header line {op, id, size}, then `size` random bytes, then the sender's
// SHA-256 of them (32 bytes). An upload ends with the server's verdict line {id, match, sha256}.
// Each loop is held to MBITS Mbit/s (a token bucket on the sender) so that the soak leaves the
// shared cores room. A transfer that makes no progress for STALL_MS, or whose connection
// fails, is recorded with its cause; the loop goes on with the next one. One JSON line per
// transfer goes to OUT.jsonl (kind "transfer").
import { createHash, randomFillSync, randomInt } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const MIN_SIZE = 8 << 20;
const MAX_SIZE = 64 << 20;
const CHUNK = 64 << 10;
const STALL_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes `size` random bytes then their SHA-256 to `sock`, at most `mbits` Mbit/s. */
async function sendBlob(sock, size, mbits) {
  const hash = createHash('sha256');
  const bytesPerMs = (mbits * 1e6) / 8 / 1000;
  const t0 = Date.now();
  let sent = 0;
  while (sent < size) {
    if (sock.destroyed) throw new Error(sock.errored?.message ?? 'connection closed while sending');
    const n = Math.min(CHUNK, size - sent);
    const buf = randomFillSync(Buffer.allocUnsafe(n));
    hash.update(buf);
    sent += n;
    const ok = sock.write(buf);
    if (!ok) await drained(sock);
    const ahead = sent / bytesPerMs - (Date.now() - t0);
    if (ahead > 1) await sleep(ahead);
  }
  const digest = hash.digest();
  sock.write(digest);
  return digest.toString('hex');
}

function drained(sock) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`send stalled for ${STALL_MS / 1000} s`)), STALL_MS);
    const done = (err) => {
      clearTimeout(timer);
      sock.off('drain', onDrain);
      sock.off('close', onClose);
      err ? reject(err) : resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error(sock.errored?.message ?? 'connection closed while sending'));
    sock.on('drain', onDrain);
    sock.on('close', onClose);
  });
}

/**
 * Reads `size` bytes from `sock`, hashing them, then the sender's 32-byte digest. Resolves with
 * {got, digest, computed}; rejects on a stall of STALL_MS, on an error, or on a close before
 * the end.
 */
function receiver(sock, size) {
  return new Promise((resolve, reject) => {
    let stage = 'data';
    let pending = Buffer.alloc(0);
    let got = 0;
    const hash = createHash('sha256');
    let computed = null;
    let lastProgress = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) finish(new Error(`no data for ${STALL_MS / 1000} s (${got} of ${size} bytes)`));
    }, 1000);
    const finish = (err, value) => {
      clearInterval(watchdog);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', onError);
      err ? reject(err) : resolve(value);
    };
    const onData = (d) => {
      lastProgress = Date.now();
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      if (stage === 'data') {
        const n = Math.min(size - got, pending.length);
        if (n > 0) hash.update(pending.subarray(0, n));
        got += n;
        pending = pending.subarray(n);
        if (got < size) return;
        computed = hash.digest('hex');
        stage = 'digest';
      }
      if (pending.length >= 32) finish(null, { got, digest: pending.subarray(0, 32).toString('hex'), computed });
    };
    const onClose = () => finish(new Error(`connection closed (${stage}, ${got} of ${size} bytes)`));
    const onError = (e) => finish(new Error(`${e.code ?? e.message} (${stage}, ${got} of ${size} bytes)`));
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', onError);
  });
}

// ---- server (far side) ----
function server(port) {
  const srv = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    // The header line alone first: it says whether we receive or send.
    let buf = Buffer.alloc(0);
    const onHeader = async (d) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      sock.off('data', onHeader);
      sock.pause();
      const header = JSON.parse(buf.subarray(0, nl).toString());
      const rest = buf.subarray(nl + 1);
      try {
        if (header.op === 'up') {
          const p = receiver(sock, header.size);
          if (rest.length) sock.unshift(rest);
          sock.resume();
          const r = await p;
          const match = r.computed === r.digest;
          sock.end(JSON.stringify({ id: header.id, match, sha256: r.computed, received: r.got }) + '\n');
        } else if (header.op === 'down') {
          sock.resume();
          await sendBlob(sock, header.size, header.mbits);
          sock.end();
        } else sock.destroy();
      } catch (e) {
        process.stderr.write(`server: transfer ${header.id} (${header.op}): ${e.message}\n`);
        sock.destroy();
      }
    };
    sock.on('data', onHeader);
  });
  srv.listen(port, () => process.stdout.write(`listening ${port}\n`));
}

// ---- client (wgkit side) ----
function connect(host, port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS / 1000} s`));
    }, CONNECT_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`connect: ${e.code ?? e.message}`));
    });
  });
}

async function oneTransfer(dir, id, host, port, mbits) {
  const size = randomInt(MIN_SIZE, MAX_SIZE + 1);
  const t0 = Date.now();
  const rec = { kind: 'transfer', dir, id, size, start: new Date(t0).toISOString() };
  let sock;
  try {
    sock = await connect(host, port);
    sock.on('error', () => {});
    if (dir === 'a_to_b') {
      const verdict = verdictReader(sock);
      sock.write(JSON.stringify({ op: 'up', id, size }) + '\n');
      const sent = await sendBlob(sock, size, mbits);
      const v = await verdict.after(STALL_MS);
      Object.assign(rec, { ok: true, bytes: v.received, sha256_sent: sent, sha256_received: v.sha256, match: v.match && v.sha256 === sent });
    } else {
      const p = receiver(sock, size);
      sock.write(JSON.stringify({ op: 'down', id, size, mbits }) + '\n');
      const r = await p;
      Object.assign(rec, { ok: true, bytes: r.got, sha256_sent: r.digest, sha256_received: r.computed, match: r.digest === r.computed });
    }
  } catch (e) {
    Object.assign(rec, { ok: false, match: null, error: e.message });
  } finally {
    sock?.destroy();
  }
  rec.ms = Date.now() - t0;
  if (rec.ok) rec.mbits = (rec.bytes * 8) / 1e3 / rec.ms;
  return rec;
}

/**
 * The upload verdict line. `after(ms)` (called once the blob is sent) resolves with it, or
 * rejects when it does not come within `ms`, on an error, or on an early close.
 */
function verdictReader(sock) {
  let buf = Buffer.alloc(0);
  let settle;
  let result = null;
  const p = new Promise((resolve, reject) => (settle = (err, v) => (err ? reject(err) : resolve(v))));
  p.catch(() => {});
  const done = (err, v) => {
    if (result) return;
    result = { err, v };
    sock.off('data', onData);
    sock.off('close', onClose);
    settle(err, v);
  };
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    const nl = buf.indexOf(10);
    if (nl < 0) return;
    try {
      done(null, JSON.parse(buf.subarray(0, nl).toString()));
    } catch (e) {
      done(e);
    }
  };
  const onClose = () =>
    done(new Error(sock.errored ? `${sock.errored.code ?? sock.errored.message} before the verdict` : 'connection closed before the verdict'));
  sock.on('data', onData);
  sock.on('close', onClose);
  return {
    after(ms) {
      const timer = setTimeout(() => done(new Error(`no verdict within ${ms / 1000} s of the last byte sent`)), ms);
      return p.finally(() => clearTimeout(timer));
    },
  };
}

async function client(host, port, seconds, mbits, out) {
  const end = Date.now() + seconds * 1000;
  let next = 0;
  const loop = async (dir) => {
    while (Date.now() < end) {
      const rec = await oneTransfer(dir, ++next, host, port, mbits);
      appendFileSync(out, JSON.stringify(rec) + '\n');
      if (!rec.ok) await sleep(1000);
    }
  };
  await Promise.all([loop('a_to_b'), loop('b_to_a')]);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') server(Number(args[0]));
else if (mode === 'client') await client(args[0], Number(args[1]), Number(args[2]), Number(args[3]), args[4]);
else {
  process.stderr.write('usage: soak-traffic.mjs server PORT | client HOST PORT SECONDS MBITS OUT.jsonl\n');
  process.exit(2);
}
