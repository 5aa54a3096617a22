/**
 * Netstack tunnels in one process over loopback: no root, no TUN, no namespace. TCP both ways
 * with SHA-256, half-close, many connections through one server, backpressure (`write()`
 * false, `'drain'`), UDP both ways over IPv4 and IPv6, a refused connection with Node's error
 * shape, and a closed tunnel ending its sockets.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, openTunnel, publicKey, type NetstackTunnel, type TunnelSocket } from '../lib/index.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(s: TunnelSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Two tunnels that are each other's peer: a = 10.97.0.1 / fd97::1, b = .2 / ::2. */
async function pair(): Promise<[NetstackTunnel, NetstackTunnel]> {
  const [ka, kb] = [generatePrivateKey().toBase64(), generatePrivateKey().toBase64()];
  const a = await openTunnel(`[Interface]\nPrivateKey = ${ka}\nAddress = 10.97.0.1/24, fd97::1/64\n`);
  const b = await openTunnel(`[Interface]\nPrivateKey = ${kb}\nAddress = 10.97.0.2/24, fd97::2/64\n`);
  const portOf = (t: NetstackTunnel) => t.device.info().listenPort;
  await a.device.addConf(
    `[Peer]\nPublicKey = ${publicKey(kb).toBase64()}\nAllowedIPs = 10.97.0.2/32, fd97::2/128\nEndpoint = 127.0.0.1:${portOf(b)}\n`,
  );
  await b.device.addConf(
    `[Peer]\nPublicKey = ${publicKey(ka).toBase64()}\nAllowedIPs = 10.97.0.1/32, fd97::1/128\nEndpoint = 127.0.0.1:${portOf(a)}\n`,
  );
  return [a, b];
}

describe('netstack tunnels over loopback', () => {
  let a: NetstackTunnel;
  let b: NetstackTunnel;
  beforeAll(async () => {
    [a, b] = await pair();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('carries TCP both ways, intact, with half-close', async () => {
    const server = b.createServer((s) => {
      const hash = createHash('sha256');
      s.on('data', (d: Buffer) => hash.update(d));
      s.on('end', () => s.end(hash.digest('hex')));
    });
    server.listen(8001, '10.97.0.2');
    await once(server, 'listening');
    const data = randomBytes(8 << 20);
    const started = performance.now();
    const c = a.connect({ host: '10.97.0.2', port: 8001 });
    await once(c, 'connect');
    expect(c.remoteAddress).toBe('10.97.0.2');
    expect(c.remotePort).toBe(8001);
    expect(c.localAddress).toBe('10.97.0.1');
    c.end(data);
    const reply = (await readAll(c)).toString();
    const gbit = ((data.length * 8) / ((performance.now() - started) / 1000)) / 1e9;
    console.log(`netstack JS socket: 8 MiB in one stream, ${gbit.toFixed(2)} Gbit/s`);
    expect(reply).toBe(sha256(data));
    expect(c.bytesWritten).toBe(data.length);
    server.close();
  });

  it('serves many connections at once through one server, over IPv6', async () => {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(8002, 'fd97::2');
    await once(server, 'listening');
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const body = randomBytes(1000 + i * 500);
        const c = a.connect(8002, 'fd97::2');
        c.end(body);
        return (await readAll(c)).equals(body);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    server.close();
  });

  it('pushes back on a writer whose reader does not read, then drains', async () => {
    let serverSide: TunnelSocket | undefined;
    const server = b.createServer((s) => {
      serverSide = s;
      s.pause();
      s.on('error', () => undefined);
    });
    server.listen(8003);
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const c = a.connect({ host: '10.97.0.2', port: 8003 });
    await once(c, 'connect');
    await accepted;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let written = 0;
    while (c.write(chunk)) {
      written += chunk.length;
      expect(written).toBeLessThan(64 << 20);
    }
    // The receiver's window and both sides' buffers are bounded: the writer had to stop.
    expect(written).toBeGreaterThan(0);
    const drained = once(c, 'drain');
    let received = 0;
    serverSide!.on('data', (d: Buffer) => (received += d.length));
    serverSide!.resume();
    await drained;
    expect(received).toBeGreaterThan(0);
    c.destroy();
    server.close();
  });

  it('refuses a connection to a closed port as Node does', async () => {
    const c = a.connect({ host: '10.97.0.2', port: 9 });
    const [e] = (await once(c, 'error')) as [NodeJS.ErrnoException];
    expect(e.code).toBe('ECONNREFUSED');
    expect(e.syscall).toBe('connect');
    expect(e.message).toBe('connect ECONNREFUSED 10.97.0.2:9');
  });

  it('sends UDP both ways over IPv4 and IPv6', async () => {
    for (const [type, bAddr] of [
      ['udp4', '10.97.0.2'],
      ['udp6', 'fd97::2'],
    ] as const) {
      const server = b.createSocket(type);
      server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
      server.bind(5300);
      await once(server, 'listening');
      const client = a.createSocket(type);
      client.bind(0);
      await once(client, 'listening');
      const msg = Buffer.from(`hello over ${type}`);
      const echo = once(client, 'message');
      client.send(msg, 5300, bAddr);
      const [got, rinfo] = (await echo) as [Buffer, { address: string; port: number }];
      expect(got.equals(msg)).toBe(true);
      expect(rinfo).toMatchObject({ address: bAddr, port: 5300 });
      client.close();
      server.close();
    }
  });

  it('rejects bad arguments with a code', async () => {
    expect(() => a.connect({ host: '', port: 80 })).toThrow(expect.objectContaining({ code: 'ERR_WGKIT_INVALID_ARGUMENT', field: 'host' }));
    expect(() => a.connect({ host: '10.0.0.1', port: 65536 })).toThrow(expect.objectContaining({ code: 'ERR_WGKIT_INVALID_ARGUMENT', field: 'port' }));
    // A name resolves through the tunnel's DNS, which this config has none of.
    const [error] = (await once(a.connect({ host: 'example.com', port: 80 }), 'error')) as [NodeJS.ErrnoException];
    expect(error).toMatchObject({ code: 'ERR_WGKIT_NO_DNS', hostname: 'example.com' });
  });
});

describe('a closed tunnel', () => {
  it('ends its sockets and refuses new ones', async () => {
    const [a, b] = await pair();
    const server = b.createServer(() => undefined);
    server.listen(8004);
    await once(server, 'listening');
    const c = a.connect({ host: '10.97.0.2', port: 8004 });
    await once(c, 'connect');
    const closed = once(c, 'close');
    c.resume();
    await a.close();
    c.destroy();
    await closed;
    expect(() => a.connect({ host: '10.97.0.2', port: 8004 })).toThrow(expect.objectContaining({ code: 'ERR_WGKIT_DEVICE_NOT_FOUND' }));
    await b.close();
  });

  it('needs an Address', async () => {
    await expect(openTunnel(`[Interface]\nPrivateKey = ${generatePrivateKey().toBase64()}\n`)).rejects.toMatchObject({
      code: 'ERR_WGKIT_INVALID_ARGUMENT',
    });
  });
});
