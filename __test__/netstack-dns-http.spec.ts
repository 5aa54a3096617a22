/**
 * Names, HTTP(S) and ping through a netstack tunnel (this process, no TUN) to Debian's
 * wireguard-go on a TUN interface in a network namespace. Behind wireguard-go run a DNS
 * responder (helpers/dns-responder.py: UDP and TCP, its own encoder), an HTTP and an HTTPS
 * server (helpers/web-peer.mjs, a certificate from a CA made here with `openssl`), and the
 * system's `ping`. Checked: lookup/resolve4/resolve6/resolve with CNAME chains, a truncated
 * reply retried over TCP, NXDOMAIN, timeouts, refused TCP fallback, server order, no DNS;
 * every query seen by the tunnel's DNS server; fetch through the undici dispatcher (GET, a
 * 4 MiB POST checked by SHA-256, https with the test CA and refused without it), http.get and
 * https.get through the keep-alive agents; IPv4 and IPv6; ping both ways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, openTunnel, publicKey, TunnelResolver, type NetstackTunnel } from '../lib/index.js';
import { Cleanup, run, vethPair, WireguardGo, type Netns } from './helpers/netns.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const here = new URL('.', import.meta.url).pathname;

const ZONE = {
  'web.test': { A: ['10.97.0.2'], AAAA: ['fd97::2'] },
  'www.test': { CNAME: 'alias.test' },
  'alias.test': { CNAME: 'web.test' },
  'v6only.test': { AAAA: ['fd97::2'] },
  'text.test': { TXT: ['hello tunnel'], MX: [[10, 'mail.test']] },
  'big.test': { A: Array.from({ length: 40 }, (_, i) => `10.97.1.${i + 1}`) },
  'only-in-tunnel.wgkit.invalid': { A: ['10.97.0.2'] },
};

/** A long-running program in `ns`; `lines` collects its stdout lines. */
class Peer {
  readonly lines: string[] = [];
  readonly ready: Promise<void>;
  readonly #child: ChildProcess;

  constructor(ns: Netns, cmd: string, args: string[]) {
    this.#child = spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    this.#child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.ready = new Promise((resolve, reject) => {
      let partial = '';
      this.#child.stdout!.on('data', (d: Buffer) => {
        partial += d.toString();
        const parts = partial.split('\n');
        partial = parts.pop()!;
        for (const l of parts) {
          this.lines.push(l);
          if (l === 'ready') resolve();
        }
      });
      this.#child.on('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${err}`)));
    });
  }

  /** Query log lines (`query udp NAME TYPE`) of `name`. */
  queries(name: string): string[] {
    return this.lines.filter((l) => l.startsWith('query ') && l.split(' ')[2] === name);
  }

  /** The queries for `name` once at least `count` are logged (the log arrives over a pipe, so
   * a line may trail the answer it belongs to), or what is there after 5 s. */
  async queriesAtLeast(name: string, count: number): Promise<string[]> {
    const deadline = Date.now() + 5_000;
    while (this.queries(name).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.queries(name);
  }

  stop(): void {
    this.#child.kill('SIGKILL');
  }
}

function fetchText(response: Response): Promise<string> {
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}

function get(module: typeof http | typeof https, url: string, options: https.RequestOptions): Promise<{ body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    module
      .get(url, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ body, headers: res.headers }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('netstack tunnel: DNS, HTTP and ping through wireguard-go', () => {
  const cleanup = new Cleanup();
  let tunnel: NetstackTunnel;
  let b: Netns;
  let dnsPeer: Peer;
  let udpOnlyDns: Peer;
  let ca: Buffer;

  beforeAll(async () => {
    const pair = vethPair('dnsh');
    cleanup.add(pair.a);
    cleanup.add(pair.b);
    b = pair.b;
    const wg = cleanup.add(await WireguardGo.start(b, 'dnshg'));
    const [tk, gk] = [generatePrivateKey().toBase64(), generatePrivateKey().toBase64()];
    const dir = mkdtempSync(join(tmpdir(), 'dnshttp-'));
    cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
    b.exec('sh', ['-c', `umask 077; echo ${gk} > ${dir}/wg.key`]);
    wg.wg('set', '%i', 'private-key', `${dir}/wg.key`, 'listen-port', '51820', 'peer', publicKey(tk).toBase64(), 'allowed-ips', '10.97.0.1/32,fd97::1/128');
    b.exec('ip', ['addr', 'add', '10.97.0.2/24', 'dev', wg.name]);
    b.exec('ip', ['addr', 'add', 'fd97::2/64', 'dev', wg.name, 'nodad']);
    b.exec('ip', ['link', 'set', wg.name, 'up']);

    // A CA and a server certificate for web.test and the peer's addresses.
    const openssl = (...args: string[]) => run('openssl', args);
    writeFileSync(`${dir}/web.ext`, 'subjectAltName=DNS:web.test,DNS:www.test,DNS:v6only.test,IP:10.97.0.2,IP:fd97::2\n');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=wgkit test CA', '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.pem`);
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=web.test', '-keyout', `${dir}/web.key`, '-out', `${dir}/web.csr`);
    openssl(
      'x509', '-req', '-in', `${dir}/web.csr`, '-CA', `${dir}/ca.pem`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial', '-days', '2',
      '-extfile', `${dir}/web.ext`, '-out', `${dir}/web.pem`,
    );
    ca = readFileSync(`${dir}/ca.pem`);

    dnsPeer = cleanup.add(new Peer(b, 'python3', [join(here, 'helpers/dns-responder.py'), JSON.stringify(ZONE), '10.97.0.2', 'fd97::2']));
    udpOnlyDns = cleanup.add(new Peer(b, 'python3', [join(here, 'helpers/dns-responder.py'), JSON.stringify(ZONE), '10.97.0.2', '--port', '5353', '--no-tcp']));
    const web = cleanup.add(new Peer(b, process.execPath, [join(here, 'helpers/web-peer.mjs'), `${dir}/web.pem`, `${dir}/web.key`]));
    await Promise.all([dnsPeer.ready, udpOnlyDns.ready, web.ready]);

    tunnel = await openTunnel(
      `[Interface]\nPrivateKey = ${tk}\nAddress = 10.97.0.1/24, fd97::1/64\nDNS = 10.97.0.2, fd97::2\n\n[Peer]\nPublicKey = ${publicKey(gk).toBase64()}\nAllowedIPs = 10.97.0.0/24, fd97::/64\nEndpoint = 192.0.2.2:51820\n`,
      { netns: pair.a.name, dns: { timeout: 1500 } },
    );
    cleanup.defer(() => tunnel.close());
  }, 60_000);
  afterAll(() => cleanup.run());

  describe('DNS', () => {
    it('looks names up as dns.lookup does (family, all, order)', async () => {
      const lookup = (name: string, options: dns.LookupOptions) =>
        new Promise<{ address: unknown; family: unknown }>((resolve, reject) =>
          tunnel.lookup(name, options, (error, address, family) => (error ? reject(error) : resolve({ address, family }))),
        );
      expect(await lookup('web.test', { family: 4 })).toEqual({ address: '10.97.0.2', family: 4 });
      expect(await lookup('web.test', { family: 6 })).toEqual({ address: 'fd97::2', family: 6 });
      expect(await lookup('web.test', {})).toEqual({ address: '10.97.0.2', family: 4 });
      expect((await lookup('web.test', { all: true })).address).toEqual([
        { address: '10.97.0.2', family: 4 },
        { address: 'fd97::2', family: 6 },
      ]);
      expect((await lookup('web.test', { all: true, order: 'ipv6first' })).address).toEqual([
        { address: 'fd97::2', family: 6 },
        { address: '10.97.0.2', family: 4 },
      ]);
      expect(await lookup('v6only.test', {})).toEqual({ address: 'fd97::2', family: 6 });
      // Two-argument form and the numeric family.
      const two = await new Promise((resolve) => tunnel.lookup('www.test', (e, a) => resolve([e, a])));
      expect(two).toEqual([null, '10.97.0.2']);
      const numeric = await new Promise((resolve) => tunnel.lookup('www.test', 6, (e, a, f) => resolve([e, a, f])));
      expect(numeric).toEqual([null, 'fd97::2', 6]);
    });

    it('resolves A, AAAA, CNAME chains, TXT and MX', async () => {
      expect(await tunnel.resolve4('web.test')).toEqual(['10.97.0.2']);
      expect(await tunnel.resolve4('web.test', { ttl: true })).toEqual([{ address: '10.97.0.2', ttl: 300 }]);
      expect(await tunnel.resolve6('web.test')).toEqual(['fd97::2']);
      expect(await tunnel.resolve4('www.test')).toEqual(['10.97.0.2']);
      expect(await tunnel.resolve('www.test', 'CNAME')).toEqual(['alias.test']);
      expect(await tunnel.resolve('text.test', 'TXT')).toEqual([['hello tunnel']]);
      expect(await tunnel.resolve('text.test', 'MX')).toEqual([{ priority: 10, exchange: 'mail.test' }]);
    });

    it('asks again over TCP when the UDP reply is truncated', async () => {
      const addresses = await tunnel.resolve4('big.test');
      expect(addresses).toEqual(ZONE['big.test'].A);
      expect(await dnsPeer.queriesAtLeast('big.test', 2)).toEqual(['query udp big.test A', 'query tcp big.test A']);
    });

    it('gives ENOTFOUND for NXDOMAIN and ENODATA for a name without that type', async () => {
      await expect(tunnel.resolve4('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND', syscall: 'queryA', hostname: 'nowhere.test' });
      const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => tunnel.lookup('nowhere.test', {}, (e) => resolve(e)));
      expect(error).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nowhere.test', message: 'getaddrinfo ENOTFOUND nowhere.test' });
      await expect(tunnel.resolve6('only-in-tunnel.wgkit.invalid')).rejects.toMatchObject({ code: 'ENODATA', syscall: 'queryAaaa' });
      await expect(tunnel.resolve('bad..name', 'A')).rejects.toMatchObject({ code: 'EBADNAME' });
    });

    it('tries the servers in order, times out on silent ones, and reports a refused TCP fallback', async () => {
      // 10.97.0.3 is inside the tunnel and answers nothing.
      const silent = new TunnelResolver(tunnel, ['10.97.0.3'], { timeout: 300, tries: 2 });
      const started = Date.now();
      await expect(silent.resolve4('web.test')).rejects.toMatchObject({ code: 'ETIMEOUT', syscall: 'queryA', hostname: 'web.test' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(550);
      const before = dnsPeer.queries('www.test').length;
      const second = new TunnelResolver(tunnel, ['10.97.0.3', '10.97.0.2'], { timeout: 300, tries: 1 });
      expect(await second.resolve4('www.test')).toEqual(['10.97.0.2']);
      expect((await dnsPeer.queriesAtLeast('www.test', before + 1)).length).toBe(before + 1);
      const udpOnly = new TunnelResolver(tunnel, ['10.97.0.2'], { port: 5353, timeout: 1000, tries: 1 });
      expect(await udpOnly.resolve4('web.test')).toEqual(['10.97.0.2']);
      await expect(udpOnly.resolve4('big.test')).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'queryA' });
      expect(await udpOnlyDns.queriesAtLeast('big.test', 1)).toEqual(['query udp big.test A']);
    });

    it('resolves over IPv6 to the second DNS server', async () => {
      const v6 = new TunnelResolver(tunnel, ['fd97::2']);
      expect(await v6.resolve6('www.test')).toEqual(['fd97::2']);
      expect(await v6.resolve4('big.test')).toHaveLength(40);
    });

    it('answers IP literals without a query, and fails with ERR_WGKIT_NO_DNS without DNS servers', async () => {
      const count = dnsPeer.lines.length;
      expect(await tunnel.resolve4('10.97.0.77')).toEqual(['10.97.0.77']);
      expect(await new Promise((r) => tunnel.lookup('fd97::77', { all: true }, (_e, a) => r(a)))).toEqual([{ address: 'fd97::77', family: 6 }]);
      expect(dnsPeer.lines.length).toBe(count);
      const bare = await openTunnel(`[Interface]\nPrivateKey = ${generatePrivateKey().toBase64()}\nAddress = 10.98.0.1/32\n`);
      try {
        await expect(bare.resolve4('web.test')).rejects.toMatchObject({ code: 'ERR_WGKIT_NO_DNS', message: expect.stringContaining('no DNS servers') });
        const [error] = (await once(bare.connect({ host: 'web.test', port: 80 }), 'error')) as [NodeJS.ErrnoException];
        expect(error.code).toBe('ERR_WGKIT_NO_DNS');
      } finally {
        await bare.close();
      }
    });

    it('never leaks a name to the host resolver', async () => {
      const name = 'only-in-tunnel.wgkit.invalid';
      const before = dnsPeer.queries(name).length;
      expect(await tunnel.lookupAddress(name)).toEqual({ address: '10.97.0.2', family: 4 });
      // The tunnel's DNS server saw the queries (A and AAAA), and the host's resolver cannot
      // know the name (`.invalid` is reserved), so the answer came from the tunnel alone.
      expect((await dnsPeer.queriesAtLeast(name, before + 2)).slice(before).sort()).toEqual([`query udp ${name} A`, `query udp ${name} AAAA`]);
      await expect(dns.promises.lookup(name)).rejects.toMatchObject({ code: expect.stringMatching(/^(ENOTFOUND|EAI_AGAIN)$/) });
    });
  });

  describe('TCP and HTTP by name', () => {
    it('connects to a name through lookup', async () => {
      const socket = tunnel.connect({ host: 'web.test', port: 8080 });
      const [, address, family] = (await once(socket, 'lookup')) as [Error | null, string, number];
      expect([address, family]).toEqual(['10.97.0.2', 4]);
      await once(socket, 'connect');
      expect(socket.remoteAddress).toBe('10.97.0.2');
      socket.end('GET /hello HTTP/1.0\r\nHost: web.test\r\n\r\n');
      let reply = '';
      socket.on('data', (d: Buffer) => (reply += d.toString()));
      await once(socket, 'close');
      expect(reply).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(reply).toContain('hello from the peer');
      const [error] = (await once(tunnel.connect({ host: 'nowhere.test', port: 80 }), 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toBe('ENOTFOUND');
    });

    it('fetches through the dispatcher with Node\'s global fetch (GET, a 4 MiB POST, IPv6)', async () => {
      const dispatcher = tunnel.dispatcher;
      const init = { dispatcher } as RequestInit;
      expect(await fetchText(await fetch('http://web.test:8080/hello', init))).toBe('hello from the peer');
      const body = randomBytes(4 << 20);
      const posted = await fetchText(await fetch('http://web.test:8080/sha256', { ...init, method: 'POST', body }));
      expect(posted).toBe(`${body.length} ${sha256(body)}`);
      const v6 = await fetch('http://[fd97::2]:8080/hello', init);
      expect(v6.headers.get('x-remote')).toBe('fd97::1');
      expect(await v6.text()).toBe('hello from the peer');
      expect(await fetchText(await fetch('http://v6only.test:8080/hello', init))).toBe('hello from the peer');
    });

    it('fetches https with the test CA, and refuses the certificate without it', async () => {
      const trusted = tunnel.createDispatcher({ tls: { ca } });
      try {
        const r = await fetch('https://web.test:8443/hello', { dispatcher: trusted } as RequestInit);
        expect(await fetchText(r)).toBe('hello from the peer');
        const body = randomBytes(3 << 20);
        const posted = await fetchText(await fetch('https://www.test:8443/sha256', { dispatcher: trusted, method: 'POST', body } as RequestInit));
        expect(posted).toBe(`${body.length} ${sha256(body)}`);
      } finally {
        await trusted.close();
      }
      const refused = await fetch('https://web.test:8443/hello', { dispatcher: tunnel.dispatcher } as RequestInit).then(
        () => null,
        (e: Error) => e,
      );
      expect((refused?.cause as NodeJS.ErrnoException | undefined)?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('keeps connections alive through httpAgent (http.get) and httpsAgent (https.get, IPv6)', async () => {
      const first = await get(http, 'http://web.test:8080/hello', { agent: tunnel.httpAgent });
      const again = await get(http, 'http://web.test:8080/hello', { agent: tunnel.httpAgent });
      expect(first.body).toBe('hello from the peer');
      expect(again.headers['x-connection']).toBe(first.headers['x-connection']);
      const agent = tunnel.createHttpsAgent({ keepAlive: true, ca });
      try {
        const s1 = await get(https, 'https://web.test:8443/hello', { agent });
        const s2 = await get(https, 'https://web.test:8443/hello', { agent });
        expect(s1.body).toBe('hello from the peer');
        expect(s2.headers['x-connection']).toBe(s1.headers['x-connection']);
        const v6 = await get(https, 'https://v6only.test:8443/hello', { agent });
        expect(v6.headers['x-remote']).toBe('fd97::1');
        // The shared agent with a per-request CA.
        const shared = await get(https, 'https://web.test:8443/hello', { agent: tunnel.httpsAgent, ca });
        expect(shared.body).toBe('hello from the peer');
        await expect(get(https, 'https://web.test:8443/hello', { agent: tunnel.httpsAgent })).rejects.toMatchObject({
          code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        });
      } finally {
        agent.destroy();
      }
    });
  });

  describe('ping', () => {
    it('pings the peer over ICMP and ICMPv6, by address and by name', async () => {
      const v4 = await tunnel.ping('10.97.0.2', { count: 3, interval: 50, timeout: 2000 });
      expect(v4).toMatchObject({ address: '10.97.0.2', sent: 3, received: 3 });
      expect(v4.times).toHaveLength(3);
      for (const t of v4.times) expect(t).toBeGreaterThan(0);
      const v6 = await tunnel.ping('fd97::2', { size: 1200, timeout: 2000 });
      expect(v6).toMatchObject({ address: 'fd97::2', received: 1 });
      expect(await tunnel.ping('web.test', { family: 6, timeout: 2000 })).toMatchObject({ address: 'fd97::2', received: 1 });
      expect(await tunnel.ping('web.test', { size: 0, timeout: 2000 })).toMatchObject({ address: '10.97.0.2', received: 1 });
    });

    it('times out with ETIMEDOUT when nothing answers', async () => {
      await expect(tunnel.ping('10.97.0.3', { timeout: 300, count: 2, interval: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      await expect(tunnel.ping('10.97.0.2', { size: 70000 })).rejects.toMatchObject({ code: 'ERR_WGKIT_INVALID_ARGUMENT', field: 'size' });
    });

    it('answers ping from behind wireguard-go (IPv4 and IPv6)', () => {
      expect(b.exec('ping', ['-c', '3', '-i', '0.2', '-W', '3', '10.97.0.1'])).toMatch(/3 received/);
      expect(b.exec('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '3', '-s', '1000', 'fd97::1'])).toMatch(/3 received/);
    });
  });
});
