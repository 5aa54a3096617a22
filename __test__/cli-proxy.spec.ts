/**
 * `wgkit-proxy` run as `nobody` (no capabilities, no interface) against a netstack tunnel in
 * this process over loopback: a `-L` forward checked by SHA-256, curl through `--socks5`
 * (names resolved through the tunnel's DNS are covered by the Rust proxy tests) and `--http`,
 * `/readyz`, a clean exit on SIGTERM, and clear errors for bad arguments.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chownSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, openTunnel, publicKey, type NetstackTunnel } from '../lib/index.js';
import { NOBODY, readableCopy, unprivileged } from './helpers/readable-copy.js';

const run = promisify(execFile);
const copy = readableCopy();
const bin = join(copy.dir, 'bin', 'wgkit-proxy.js');

describe('wgkit-proxy', () => {
  let peer: NetstackTunnel;
  let proxy: ChildProcess;
  const lines: Record<string, string> = {};
  const stderr: string[] = [];

  beforeAll(async () => {
    const [pk, xk] = [generatePrivateKey().toBase64(), generatePrivateKey().toBase64()];
    peer = await openTunnel(`[Interface]\nPrivateKey = ${pk}\nAddress = 10.94.0.2/24\n`);
    // A hash service and a tiny HTTP server inside the peer's tunnel.
    peer.createServer((s) => {
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => s.end(h.digest('hex')));
    }).listen(7000);
    peer.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Length: 14\r\n\r\nhello, tunnel\n'));
    }).listen(80);
    const config = join(copy.dir, 'proxy.conf');
    writeFileSync(
      config,
      `[Interface]\nPrivateKey = ${xk}\nAddress = 10.94.0.1/24\n\n[Peer]\nPublicKey = ${publicKey(pk).toBase64()}\nAllowedIPs = 10.94.0.2/32\nEndpoint = 127.0.0.1:${peer.device.info().listenPort}\nPersistentKeepalive = 25\n`,
      { mode: 0o600 },
    );
    if (process.getuid?.() === 0) chownSync(config, NOBODY, NOBODY);
    await peer.device.addConf(`[Peer]\nPublicKey = ${publicKey(xk).toBase64()}\nAllowedIPs = 10.94.0.1/32\n`);
    const argv = [...unprivileged(), process.execPath, bin, config, '-L', '0:10.94.0.2:7000', '--socks5', '0', '--http', '0', '--health', '0'];
    proxy = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    proxy.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    let out = '';
    proxy.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 200 && out.split('\n').filter(Boolean).length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    for (const line of out.trim().split('\n')) lines[line.split(' ')[0]!] = line;
    expect(Object.keys(lines).sort(), stderr.join('')).toEqual(['health', 'http', 'local-tcp', 'socks5']);
  });

  afterAll(async () => {
    if (proxy && proxy.exitCode === null) proxy.kill('SIGKILL');
    await peer?.close();
    copy.remove();
  });

  const portOf = (kind: string) => Number(/127\.0\.0\.1:(\d+)/.exec(lines[kind]!)![1]);

  it('forwards -L to a service inside the tunnel', async () => {
    const data = randomBytes(4 << 20);
    const s = connect(portOf('local-tcp'), '127.0.0.1');
    s.end(data);
    let reply = '';
    s.on('data', (d: Buffer) => (reply += d.toString()));
    await once(s, 'close');
    expect(reply).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('serves curl through --socks5 and --http, and /readyz after the handshake', async () => {
    const viaSocks = await run('curl', ['-s', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${portOf('socks5')}`, 'http://10.94.0.2/']);
    expect(viaSocks.stdout).toBe('hello, tunnel\n');
    const viaHttp = await run('curl', ['-s', '--max-time', '20', '--proxy', `http://127.0.0.1:${portOf('http')}`, 'http://10.94.0.2/']);
    expect(viaHttp.stdout).toBe('hello, tunnel\n');
    const ready = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${portOf('health')}/readyz`]);
    expect(ready.stdout).toBe('200');
  });

  it('runs as nobody with no capabilities and exits cleanly on SIGTERM', async () => {
    const status = (await run('cat', [`/proc/${proxy.pid}/status`])).stdout;
    if (process.getuid?.() === 0 && unprivileged().length > 0) {
      // The child is setpriv's exec of node: the same pid.
      expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(String(NOBODY));
    }
    expect(/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]).toMatch(/^0+$/);
    proxy.kill('SIGTERM');
    const [code] = (await once(proxy, 'exit')) as [number];
    expect(code).toBe(0);
  });

  it('refuses bad arguments with a message and a non-zero exit', async () => {
    const bad = await run(process.execPath, [bin, '/nonexistent.conf', '-L', 'nonsense']).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(1);
    const noListener = await run(process.execPath, [bin, '/x.conf']).catch((e: { code: number; stderr: string }) => e);
    expect((noListener as { stderr: string }).stderr).toContain('no listener given');
  });
});
