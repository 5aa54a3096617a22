/**
 * A netstack tunnel (this process, no TUN) against Debian's wireguard-go on a TUN interface in
 * a network namespace: TCP both ways checked by SHA-256 over IPv4 and IPv6, UDP, and the
 * handshake seen from both sides. The tunnel's UDP socket lives in a second namespace joined to
 * wireguard-go's by a veth pair; the programs on wireguard-go's side are Python one-liners.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, openTunnel, publicKey, type NetstackTunnel } from '../lib/index.js';
import { Cleanup, vethPair, WireguardGo, type Netns } from './helpers/netns.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Runs `python3 -c script` in `ns`; resolves with its stdout once it exits 0. */
function python(ns: Netns, script: string, input?: Buffer): { done: Promise<string>; ready: Promise<void>; kill: () => void } {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'python3', '-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let seen: () => void = () => undefined;
  const ready = new Promise<void>((r) => (seen = r));
  child.stdout.on('data', (d: Buffer) => {
    out.push(d);
    if (Buffer.concat(out).includes('ready')) seen();
  });
  child.stderr.on('data', (d: Buffer) => err.push(d));
  if (input) child.stdin.end(input);
  else child.stdin.end();
  const done = new Promise<string>((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve(Buffer.concat(out).toString()) : reject(new Error(`python exited ${code}: ${Buffer.concat(err).toString()}`)),
    );
  });
  return { done, ready, kill: () => child.kill('SIGKILL') };
}

/** A TCP server in `ns` on `host:port` that reads one connection to its end and answers the SHA-256. */
const HASH_SERVER = (host: string, port: number) => `
import socket, hashlib, sys
fam = socket.AF_INET6 if ':' in '${host}' else socket.AF_INET
s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${host}', ${port})); s.listen(1)
print('ready', flush=True)
c, _ = s.accept(); h = hashlib.sha256()
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d)
c.sendall(h.hexdigest().encode()); c.close()
`;

describe('netstack tunnel ↔ wireguard-go', () => {
  const cleanup = new Cleanup();
  let tunnel: NetstackTunnel;
  let b: Netns;

  beforeAll(async () => {
    const pair = vethPair('wgns');
    cleanup.add(pair.a);
    cleanup.add(pair.b);
    b = pair.b;
    const wg = cleanup.add(await WireguardGo.start(b, 'wgnsg'));
    const [tk, gk] = [generatePrivateKey().toBase64(), generatePrivateKey().toBase64()];
    b.exec('sh', ['-c', `echo ${gk} > /tmp/${wg.name}.key`]);
    cleanup.defer(() => void b.exec('rm', ['-f', `/tmp/${wg.name}.key`]));
    wg.wg('set', '%i', 'private-key', `/tmp/${wg.name}.key`, 'listen-port', '51820', 'peer', publicKey(tk).toBase64(), 'allowed-ips', '10.96.0.1/32,fd96::1/128');
    b.exec('ip', ['addr', 'add', '10.96.0.2/24', 'dev', wg.name]);
    b.exec('ip', ['addr', 'add', 'fd96::2/64', 'dev', wg.name, 'nodad']);
    b.exec('ip', ['link', 'set', wg.name, 'up']);
    tunnel = await openTunnel(
      `[Interface]\nPrivateKey = ${tk}\nAddress = 10.96.0.1/24, fd96::1/64\n\n[Peer]\nPublicKey = ${publicKey(gk).toBase64()}\nAllowedIPs = 10.96.0.2/32, fd96::2/128\nEndpoint = 192.0.2.2:51820\n`,
      { netns: pair.a.name },
    );
    cleanup.defer(() => tunnel.close());
  });
  afterAll(() => cleanup.run());

  for (const host of ['10.96.0.2', 'fd96::2']) {
    it(`connects out to a server behind wireguard-go (${host})`, async () => {
      const server = python(b, HASH_SERVER(host, 7001));
      try {
        await Promise.race([server.ready, server.done]);
        const data = randomBytes(16 << 20);
        const c = tunnel.connect({ host, port: 7001 });
        await once(c, 'connect');
        c.end(data);
        let reply = '';
        c.on('data', (d: Buffer) => (reply += d.toString()));
        await once(c, 'close');
        expect(reply).toBe(sha256(data));
        await server.done;
      } finally {
        server.kill();
      }
    });
  }

  it('accepts a connection from behind wireguard-go', async () => {
    const server = tunnel.createServer((s) => {
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => s.end(h.digest('hex')));
    });
    server.listen(7002, '10.96.0.1');
    await once(server, 'listening');
    const data = randomBytes(4 << 20);
    const client = python(
      b,
      `import socket, sys
c = socket.create_connection(('10.96.0.1', 7002), timeout=20)
c.sendall(sys.stdin.buffer.read()); c.shutdown(socket.SHUT_WR)
r = b''
while True:
    d = c.recv(65536)
    if not d: break
    r += d
print(r.decode())`,
      data,
    );
    expect((await client.done).trim()).toBe(sha256(data));
    server.close();
  });

  it('exchanges UDP datagrams', async () => {
    const echo = python(
      b,
      `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.96.0.2', 7003)); s.settimeout(20)
print('ready', flush=True)
for _ in range(3):
    d, a = s.recvfrom(65535); s.sendto(d.upper(), a)`,
    );
    try {
      await Promise.race([echo.ready, echo.done]);
      const u = tunnel.createSocket('udp4');
      u.bind(0);
      await once(u, 'listening');
      for (const text of ['one', 'two', 'three']) {
        const got = once(u, 'message');
        u.send(Buffer.from(text), 7003, '10.96.0.2');
        const [msg] = (await got) as [Buffer];
        expect(msg.toString()).toBe(text.toUpperCase());
      }
      u.close();
      await echo.done;
    } finally {
      echo.kill();
    }
  });

  it('shows the session on both sides', () => {
    const peer = tunnel.device.info().peers[0]!;
    expect(peer.lastHandshake).toBeDefined();
    expect(peer.rxBytes).toBeGreaterThan(0n);
    expect(peer.txBytes).toBeGreaterThan(16n << 20n);
  });
});
