// The portable smoke test that scripts/platform-tests.sh runs in another platform's official
// Node (arm64 Linux under qemu, Windows x64 under wine):
//   node platform-smoke.mjs PACKAGE_DIR RESULT_FILE
// PACKAGE_DIR holds the package as installed (package.json, dist/, lib/native.cjs and
// lib/wgkit.<platform>.node), so the generated loader picks the .node by itself. Results go
// to RESULT_FILE (wine's node.exe cannot write to a pipe); the last line is
// "N passed, M failed" and the exit status is 1 if anything failed. No root, no TUN: the tunnel
// checks use two netstack tunnels in this process over loopback UDP.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkgArg, resultFile] = process.argv.slice(2);
if (!pkgArg || !resultFile) {
  console.error('usage: node platform-smoke.mjs PACKAGE_DIR RESULT_FILE');
  process.exit(2);
}
const pkg = resolve(pkgArg);
const requireFromPackage = createRequire(join(pkg, 'package.json'));
const lines = [];
let passed = 0;
let failed = 0;
const finish = () => {
  lines.push(`${passed} passed, ${failed} failed`);
  writeFileSync(resultFile, lines.join('\n') + '\n');
  process.exitCode = failed === 0 ? 0 : 1;
};

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    lines.push(`ok   ${name}`);
  } catch (error) {
    failed += 1;
    lines.push(`FAIL ${name}: ${error && error.stack ? error.stack : String(error)}`);
  }
}

function equal(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, expected ${e}`);
}

let wgkit;
try {
  wgkit = await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href);
} catch (error) {
  failed += 1;
  lines.push(`FAIL import wgkit: ${error && error.stack ? error.stack : String(error)}`);
  finish();
  process.exit();
}
lines.push(`node ${process.version} ${process.platform}-${process.arch}`);

const PRIV = 'GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=';
const PUB = 'aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=';

await check('the loader picked the package own .node', () => {
  const native = requireFromPackage('./lib/native.cjs');
  if (typeof native.NativeKey !== 'function') throw new Error('no NativeKey export');
  const loaded = Object.keys(requireFromPackage.cache).filter((f) => f.endsWith('.node'));
  if (loaded.length !== 1 || !loaded[0].startsWith(join(pkg, 'lib'))) throw new Error(`loaded ${JSON.stringify(loaded)}`);
  lines.push(`     ${loaded[0]}`);
});

await check('public key of a known private key (X25519)', () => {
  equal(wgkit.publicKey(PRIV).toBase64(), PUB, 'public key');
});

await check('generated keys: canonical base64, distinct, derivable', () => {
  const a = wgkit.generatePrivateKey();
  const b = wgkit.generatePrivateKey();
  if (a.toBase64() === b.toBase64()) throw new Error('two generated keys are equal');
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(a.publicKey().toBase64())) throw new Error('bad public key');
  equal(wgkit.Key.fromBase64(a.toBase64(), 'private').publicKey().toBase64(), a.publicKey().toBase64(), 'derived');
  equal(wgkit.generatePresharedKey().toBase64().length, 44, 'preshared key length');
});

await check('hex round trip', () => {
  const k = wgkit.Key.fromBase64(PUB);
  equal(wgkit.Key.fromHex(k.toHex()).toBase64(), PUB, 'hex');
});

await check('a malformed key is ERR_WGKIT_INVALID_KEY', () => {
  try {
    wgkit.publicKey('not a key');
  } catch (error) {
    equal(error.code, 'ERR_WGKIT_INVALID_KEY', 'code');
    return;
  }
  throw new Error('no error');
});

const CONFIG = `[Interface]
PrivateKey = ${PRIV}
ListenPort = 51820
Address = 10.0.0.1/24, fd00::1/64
MTU = 1420

[Peer]
PublicKey = ${PUB}
AllowedIPs = 10.0.0.2/32, fd00::2/128
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 25
`;

await check('wg-quick config: parse, write, parse again', () => {
  const first = wgkit.parseWgQuickConfig(CONFIG).config;
  const text = wgkit.formatWgQuickConfig(first);
  const second = wgkit.parseWgQuickConfig(text).config;
  equal(wgkit.formatWgQuickConfig(second), text, 'second write');
  equal(first.interface.listenPort, 51820, 'listen port');
  equal(first.peers.length, 1, 'peers');
  if (!text.includes('PersistentKeepalive = 25')) throw new Error(`written config lacks keepalive:\n${text}`);
});

await check('an invalid config is ERR_WGKIT_INVALID_CONFIG with its line', () => {
  try {
    wgkit.parseWgQuickConfig('[Interface]\nListenPort = 70000\n');
  } catch (error) {
    equal(error.code, 'ERR_WGKIT_INVALID_CONFIG', 'code');
    equal(error.problems[0].line, 2, 'line');
    return;
  }
  throw new Error('no error');
});

await check('errno text from the C library (wg perror messages)', () => {
  const native = requireFromPackage('./lib/native.cjs');
  equal(native.strerrorByName('ENODEV'), 'No such device', 'ENODEV');
  equal(native.strerrorByName('EACCES'), 'Permission denied', 'EACCES');
  // A socket errno: glibc's words on every platform (the Windows CRT has none, musl its own).
  equal(native.strerrorByName('EADDRINUSE'), 'Address already in use', 'EADDRINUSE');
  equal(native.strerrorByName('ENOPE'), null, 'unknown name');
});

const linux = process.platform === 'linux';
// A device with an interface: TUN on Linux, utun on macOS (not run here); elsewhere the addon
// refuses it itself.
const INTERFACE_PLATFORMS = ['linux', 'darwin'];
await check(`the embedded device is exported${INTERFACE_PLATFORMS.includes(process.platform) ? '' : '; with an interface it is ERR_WGKIT_UNSUPPORTED_PLATFORM'}`, async () => {
  const native = requireFromPackage('./lib/native.cjs');
  equal(typeof native.NativeDevice, 'function', 'NativeDevice export');
  equal(typeof native.kernelGetDevice, linux ? 'function' : 'undefined', 'kernelGetDevice export');
  // The UAPI client is everywhere: Unix sockets, and on Windows wireguard-go's named pipes.
  equal(typeof native.uapiGetDevice, 'function', 'uapiGetDevice export');
  if (INTERFACE_PLATFORMS.includes(process.platform)) return;
  try {
    await wgkit.WireGuardDevice.create('wgpt0');
  } catch (error) {
    equal(error.code, 'ERR_WGKIT_UNSUPPORTED_PLATFORM', 'code');
    if (!error.message.includes(process.platform)) throw new Error(`message does not name the platform: ${error.message}`);
    return;
  }
  throw new Error('no error');
});

// Two netstack tunnels in this process, each the other's peer over loopback UDP: no root, no
// TUN. A handshake event, 4 MiB of TCP each way checked by SHA-256, and the UAPI (a Unix socket
// in a temporary directory; on Windows a named pipe) read and changed with WireGuardClient.
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
async function readAll(socket) {
  const chunks = [];
  for await (const c of socket) chunks.push(c);
  return Buffer.concat(chunks);
}
const withTimeout = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms).unref())]);

// Where the addon has the netstack tunnel (by platform, not by what the addon exports, so that a
// lost export fails here).
const NETSTACK_PLATFORMS = ['linux', 'win32', 'darwin'];
if (!NETSTACK_PLATFORMS.includes(process.platform)) {
  await check('a netstack tunnel is ERR_WGKIT_UNSUPPORTED_PLATFORM', async () => {
    try {
      await wgkit.openTunnel(`[Interface]\nPrivateKey = ${PRIV}\nAddress = 10.97.0.1/24\n`);
    } catch (error) {
      equal(error.code, 'ERR_WGKIT_UNSUPPORTED_PLATFORM', 'code');
      return;
    }
    throw new Error('no error');
  });
} else {
  await check('two netstack tunnels over loopback UDP: handshake event, TCP by SHA-256, UAPI get/set', async () => {
    const socketDir = process.platform === 'win32' ? undefined : mkdtempSync(join(tmpdir(), 'wgkit-smoke-'));
    const name = `wgsmoke${process.pid % 100000}`;
    const [ka, kb] = [wgkit.generatePrivateKey().toBase64(), wgkit.generatePrivateKey().toBase64()];
    const opened = [];
    try {
      const a = await wgkit.openTunnel(`[Interface]\nPrivateKey = ${ka}\nAddress = 10.97.0.1/24, fd97::1/64\n`);
      opened.push(a);
      const b = await wgkit.openTunnel(`[Interface]\nPrivateKey = ${kb}\nAddress = 10.97.0.2/24\n`, { name, uapi: true, socketDir });
      opened.push(b);
      const handshake = once(a.device, 'handshake');
      await a.device.addConf(
        `[Peer]\nPublicKey = ${wgkit.publicKey(kb).toBase64()}\nAllowedIPs = 10.97.0.2/32\nEndpoint = 127.0.0.1:${b.device.info().listenPort}\n`,
      );
      // b learns its peer through its UAPI, as `wg addconf` would.
      const client = new wgkit.WireGuardClient({ socketDir });
      await client.addConf(
        name,
        `[Peer]\nPublicKey = ${wgkit.publicKey(ka).toBase64()}\nAllowedIPs = 10.97.0.1/32\nEndpoint = 127.0.0.1:${a.device.info().listenPort}\n`,
      );
      const server = b.createServer((s) => {
        const hash = createHash('sha256');
        let n = 0;
        s.on('data', (d) => {
          hash.update(d);
          n += d.length;
        });
        s.on('end', () => s.end(Buffer.concat([Buffer.from(`${hash.digest('hex')} ${n}\n`), randomBytes(4 << 20)])));
      });
      server.listen(8001, '10.97.0.2');
      await once(server, 'listening');
      const data = randomBytes(4 << 20);
      const c = a.connect({ host: '10.97.0.2', port: 8001 });
      await withTimeout(once(c, 'connect'), 20000, 'connect');
      c.end(data);
      const reply = await withTimeout(readAll(c), 60000, 'transfer');
      const newline = reply.indexOf(10);
      equal(reply.subarray(0, newline).toString(), `${sha256(data)} ${data.length}`, 'upload as the server hashed it');
      equal(reply.length - newline - 1, 4 << 20, 'download length');
      const [event] = await withTimeout(handshake, 5000, 'handshake event');
      equal(event.publicKey, wgkit.publicKey(kb).toBase64(), 'handshake event peer');
      server.close();
      const info = await client.device(name);
      equal(info.publicKey, wgkit.publicKey(kb).toBase64(), 'UAPI public key');
      equal(info.peers.length, 1, 'UAPI peers');
      if (!(info.peers[0].rxBytes > data.length)) throw new Error(`UAPI rx bytes ${info.peers[0].rxBytes}`);
      await client.configure(name, { peers: [{ publicKey: wgkit.publicKey(ka).toBase64(), persistentKeepalive: 17 }] });
      equal(b.device.info().peers[0].persistentKeepalive, 17, 'keepalive set over the UAPI, read from the tunnel');
    } finally {
      for (const t of opened.reverse()) await t.close();
      if (socketDir) rmSync(socketDir, { recursive: true, force: true });
    }
  });

  // The wgkit-proxy CLI, run in this process (its main(), as bin/wgkit-proxy.js runs it): a -L
  // forward from a local port into a netstack tunnel whose peer is a second tunnel here, bytes
  // relayed by the native engine and checked by SHA-256, then SIGTERM stops it with exit code 0.
  await check('wgkit-proxy: a -L forward into a tunnel carries 1 MiB both ways; SIGTERM stops it cleanly', async () => {
    const { main } = await import(pathToFileURL(join(pkg, 'dist', 'cli', 'wgkit-proxy.js')).href);
    const dir = mkdtempSync(join(tmpdir(), 'wgkit-smoke-proxy-'));
    const [ka, kb] = [wgkit.generatePrivateKey().toBase64(), wgkit.generatePrivateKey().toBase64()];
    let far;
    let run;
    try {
      far = await wgkit.openTunnel(`[Interface]\nPrivateKey = ${kb}\nAddress = 10.98.0.2/24\n`);
      await far.device.addConf(`[Peer]\nPublicKey = ${wgkit.publicKey(ka).toBase64()}\nAllowedIPs = 10.98.0.1/32\n`);
      const echo = far.createServer((s) => s.pipe(s));
      echo.listen(7, '10.98.0.2');
      await once(echo, 'listening');
      const config = join(dir, 'proxy.conf');
      writeFileSync(
        config,
        `[Interface]\nPrivateKey = ${ka}\nAddress = 10.98.0.1/24\n\n[Peer]\nPublicKey = ${wgkit.publicKey(kb).toBase64()}\n` +
          `AllowedIPs = 10.98.0.2/32\nEndpoint = 127.0.0.1:${far.device.info().listenPort}\n`,
      );
      const out = [];
      const err = [];
      let ready;
      const readyLine = new Promise((r) => (ready = r));
      const io = {
        out: (t) => {
          out.push(t);
          ready();
        },
        err: (t) => err.push(t),
        readStdin: () => Buffer.alloc(0),
        stdoutIsWorldAccessibleFile: () => false,
        env: process.env,
        stdoutIsTTY: false,
      };
      run = main([config, '-L', '127.0.0.1:0:10.98.0.2:7'], io);
      await withTimeout(Promise.race([readyLine, run.then((code) => Promise.reject(new Error(`exited ${code}: ${err.join('')}`)))]), 20000, 'ready line');
      const m = /^local-tcp 127\.0\.0\.1:(\d+) -> 10\.98\.0\.2:7\n$/.exec(out[0]);
      if (!m) throw new Error(`ready line ${JSON.stringify(out[0])}`);
      const data = randomBytes(1 << 20);
      const c = netConnect({ host: '127.0.0.1', port: Number(m[1]) });
      await withTimeout(once(c, 'connect'), 20000, 'connect to the forward');
      c.end(data);
      const back = await withTimeout(readAll(c), 60000, 'echo through the forward');
      equal(sha256(back), sha256(data), 'the echo through the forward (SHA-256)');
      process.emit('SIGTERM');
      equal(await withTimeout(run, 10000, 'stop on SIGTERM'), 0, 'exit code after SIGTERM');
      run = undefined;
      echo.close();
    } finally {
      if (run) {
        process.emit('SIGTERM');
        await run.catch(() => undefined);
      }
      if (far) await far.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

finish();
