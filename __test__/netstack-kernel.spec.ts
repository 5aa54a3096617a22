/**
 * A netstack tunnel (this process, no TUN, no interface on the host side) and `wgkit-proxy`
 * against the Linux kernel's WireGuard: Debian's kernel under qemu (TCG, scripts/kernel-vm/)
 * whose `wg0` has both as peers. The guest's eth0 is a tap device in a host network namespace,
 * where the tunnel's UDP socket and the proxy live. Services behind `wg0` (hash, source, UDP
 * echo, DNS, HTTP) are one Python process in the guest (__test__/guest/tunnel-services.py).
 *
 * Covered: TCP both ways (connections opened from either side, MiBs of data each way, SHA-256
 * checked) over IPv4 and IPv6 inside the tunnel, UDP both ways over both families, DNS queries
 * to the guest's DNS service, ICMP echo from the guest to the netstack's addresses, the proxy's
 * `-L`, `-U` and `-R` forwards, and curl through `--socks5` (socks5h: the name resolved by the
 * guest's DNS through the tunnel) and `--http` (absolute URI and CONNECT); the tunnel API's own
 * `resolve4`/`resolve6` (the config's DNS is the guest), `fetch` through its undici dispatcher,
 * `http.get` through its agent and `ping()` of the kernel's addresses. One guest boot for the
 * whole file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, openTunnel, publicKey, type NetstackTunnel, type TunnelSocket } from '../lib/index.js';
import { execAsync, explain, KernelGuest, must, NetnsPlace, sleep, type ShResult } from './helpers/interop.js';
import { projectRoot } from './helpers/kernel-vm.js';
import { Netns, uniqueName } from './helpers/netns.js';

const SERVICES = join(projectRoot, '__test__', 'guest', 'tunnel-services.py');
const PROXY = join(projectRoot, 'bin', 'wgkit-proxy.js');
/** The name the guest's DNS service answers (tunnel-services.py DNS_NAMES). */
const NAME = 'kernel.wgkit.test';

// Inside the tunnel: the netstack tunnel .1, the kernel's wg0 .2, wgkit-proxy .3.
const TUN = { v4: '10.97.0.1', v6: 'fd97::1' };
const KERNEL = { v4: '10.97.0.2', v6: 'fd97::2' };
const PROXY_ADDR = { v4: '10.97.0.3', v6: 'fd97::3' };
// The underlay: the tap in the host namespace and the guest's eth0.
const HOST_UNDERLAY = '192.0.2.1';
const GUEST_UNDERLAY = '192.0.2.2';
const TUNNEL_PORT = 51821;
const PROXY_PORT = 51822;
/** The proxy's `-R` target: a hash service on the host namespace's loopback. */
const HOST_HASH_PORT = 7201;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// The guest sees the project directory read-write at the same path: keys, the proxy's config
// and the guest's control files go there.
const dir = join(projectRoot, '.cache', `netstack-kernel-${process.pid}`);

/** A process this file started; `stop()` kills it (TERM, then KILL). */
class Started {
  out = '';
  err = '';
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.err += d.toString()));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async until(test: (out: string) => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test(this.out)) {
      if (!this.running) throw new Error(`${what}: the process exited (${this.child.exitCode ?? this.child.signalCode})\n${this.err}`);
      if (Date.now() > deadline) throw new Error(`${what}: not ready after ${ms} ms\n${this.out}\n${this.err}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (this.running) this.child.kill('SIGKILL');
  }
}

interface SentReply {
  sent: string;
  reply: string;
}

/** A DNS query for `name` (one question, recursion desired). */
function dnsQuery(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([head, ...labels, Buffer.from([0]), tail]);
}

/** The id, rcode and answer addresses of a DNS response to a one-question query. */
function dnsParse(msg: Buffer): { id: number; rcode: number; qr: boolean; answers: string[] } {
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const ancount = msg.readUInt16BE(6);
  let i = 12;
  while (msg[i] !== 0) i += 1 + msg[i]!;
  i += 5;
  const answers: string[] = [];
  for (let n = 0; n < ancount; n++) {
    if ((msg[i]! & 0xc0) === 0xc0) i += 2;
    else {
      while (msg[i] !== 0) i += 1 + msg[i]!;
      i += 1;
    }
    const type = msg.readUInt16BE(i);
    const len = msg.readUInt16BE(i + 8);
    const rdata = msg.subarray(i + 10, i + 10 + len);
    if (type === 1) answers.push([...rdata].join('.'));
    if (type === 28) {
      const words = [];
      for (let w = 0; w < 16; w += 2) words.push(rdata.readUInt16BE(w).toString(16));
      answers.push(words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'));
    }
    i += 10 + len;
  }
  return { id, rcode: flags & 0xf, qr: (flags & 0x8000) !== 0, answers };
}

/** Reads a TunnelSocket to its end. */
async function readAll(s: TunnelSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  await once(s, 'end');
  return Buffer.concat(chunks);
}

describe('netstack tunnel and wgkit-proxy ↔ kernel WireGuard in a qemu guest', () => {
  let hostNs: Netns | undefined;
  let host: NetnsPlace;
  let guest: KernelGuest | undefined;
  let tunnel: NetstackTunnel | undefined;
  let proxy: Started | undefined;
  let hostHash: Started | undefined;
  const proxyLines: Record<string, string> = {};
  const tap = uniqueName('nskt');
  let bootSeconds = 0;

  /** Runs `script` in the guest and returns its stdout; throws with the output on failure. */
  const inGuest = (script: string, timeoutMs = 120_000) => must(guest!, script, timeoutMs);
  /** The guest's JSON answer from tunnel-services.py. */
  const guestJson = async <T>(args: string, timeoutMs?: number): Promise<T> =>
    JSON.parse(await inGuest(`python3 ${SERVICES} ${args}`, timeoutMs)) as T;
  /** Runs argv in the host namespace (where the proxy's listeners are). */
  const inHostNs = (argv: string[], timeoutMs = 60_000): Promise<ShResult> =>
    execAsync(['ip', 'netns', 'exec', hostNs!.name, ...argv], timeoutMs);

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const tunnelKey = generatePrivateKey().toBase64();
    const proxyKey = generatePrivateKey().toBase64();
    const guestKey = generatePrivateKey().toBase64();
    const pub = (k: string) => publicKey(k).toBase64();
    writeFileSync(join(dir, 'guest.key'), `${guestKey}\n`, { mode: 0o600 });

    hostNs = Netns.create('nskernel');
    host = new NetnsPlace(hostNs);
    await must(
      host,
      `set -e
       ip tuntap add dev ${tap} mode tap
       ip addr add ${HOST_UNDERLAY}/24 dev ${tap}
       ip link set ${tap} up`,
    );
    const t0 = Date.now();
    guest = await KernelGuest.boot(hostNs, tap, dir, 900_000);
    bootSeconds = (Date.now() - t0) / 1000;
    const ready = join(dir, 'services-ready');
    await inGuest(
      `set -e
       ip addr add ${GUEST_UNDERLAY}/24 dev eth0
       ip link set eth0 up
       ip link add wg0 type wireguard
       wg set wg0 private-key ${join(dir, 'guest.key')} listen-port 51820 \\
         peer ${pub(tunnelKey)} allowed-ips ${TUN.v4}/32,${TUN.v6}/128 endpoint ${HOST_UNDERLAY}:${TUNNEL_PORT} \\
         peer ${pub(proxyKey)} allowed-ips ${PROXY_ADDR.v4}/32,${PROXY_ADDR.v6}/128 endpoint ${HOST_UNDERLAY}:${PROXY_PORT}
       ip addr add ${KERNEL.v4}/24 dev wg0
       ip addr add ${KERNEL.v6}/64 dev wg0 nodad
       ip link set wg0 up
       setsid python3 ${SERVICES} serve ${ready} ${KERNEL.v4} ${KERNEL.v6} >${join(dir, 'services.log')} 2>&1 </dev/null &
       for _ in $(seq 600); do [ -e ${ready} ] && break; sleep 0.1; done
       [ -e ${ready} ] || { cat ${join(dir, 'services.log')} >&2; exit 1; }
       ping -c 1 -W 5 ${HOST_UNDERLAY} >/dev/null`,
    );
    const setupSeconds = (Date.now() - t0) / 1000;

    tunnel = await openTunnel(
      `[Interface]\nPrivateKey = ${tunnelKey}\nAddress = ${TUN.v4}/24, ${TUN.v6}/64\nDNS = ${KERNEL.v4}\nListenPort = ${TUNNEL_PORT}\n\n` +
        `[Peer]\nPublicKey = ${pub(guestKey)}\nAllowedIPs = ${KERNEL.v4}/32, ${KERNEL.v6}/128\nEndpoint = ${GUEST_UNDERLAY}:51820\n`,
      { netns: hostNs.name },
    );

    // The proxy's -R target, on the host namespace's loopback.
    hostHash = new Started(spawn('ip', ['netns', 'exec', hostNs.name, 'python3', SERVICES, 'hash-server', '127.0.0.1', String(HOST_HASH_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await hostHash.until((o) => o.includes('ready'), 'the host hash service');

    const config = join(dir, 'proxy.conf');
    writeFileSync(
      config,
      `[Interface]\nPrivateKey = ${proxyKey}\nAddress = ${PROXY_ADDR.v4}/24, ${PROXY_ADDR.v6}/64\nDNS = ${KERNEL.v4}\nListenPort = ${PROXY_PORT}\n\n` +
        `[Peer]\nPublicKey = ${pub(guestKey)}\nAllowedIPs = ${KERNEL.v4}/32, ${KERNEL.v6}/128\nEndpoint = ${GUEST_UNDERLAY}:51820\n`,
      { mode: 0o600 },
    );
    const argv = [
      'netns', 'exec', hostNs.name, process.execPath, PROXY, config,
      '-L', `0:${KERNEL.v4}:7001`,
      '-U', `0:${KERNEL.v4}:7003`,
      '-R', `${PROXY_ADDR.v4}:7103:127.0.0.1:${HOST_HASH_PORT}`,
      '--socks5', '0', '--http', '0',
    ];
    proxy = new Started(spawn('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
    await proxy.until((o) => o.split('\n').filter(Boolean).length >= 5, 'wgkit-proxy');
    for (const line of proxy.out.trim().split('\n')) proxyLines[line.split(' ')[0]!] = line;
    expect(Object.keys(proxyLines).sort(), proxy.err).toEqual(['http', 'local-tcp', 'local-udp', 'remote-tcp', 'socks5']);
    console.log(`netstack-kernel: guest boot ${bootSeconds.toFixed(1)} s, boot + wg0 + guest services ${setupSeconds.toFixed(1)} s`);
  }, 300_000);

  afterAll(async () => {
    await proxy?.stop();
    await hostHash?.stop();
    await tunnel?.close().catch(() => undefined);
    await guest?.shutdown();
    hostNs?.delete();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  /** The port a proxy listener bound on the host namespace's loopback. */
  const portOf = (kind: string) => Number(/127\.0\.0\.1:(\d+)/.exec(proxyLines[kind] ?? '')?.[1]);

  for (const [family, size] of [['v4', 4 << 20], ['v6', 2 << 20]] as const) {
    it(`TCP from the netstack to the kernel's side, ${size >> 20} MiB each way (IP${family})`, async () => {
      const data = randomBytes(size);
      const up = tunnel!.connect({ host: KERNEL[family], port: 7001, timeout: 30_000 });
      await once(up, 'connect');
      up.end(data);
      expect((await readAll(up)).toString()).toBe(sha256(data));

      const down = tunnel!.connect({ host: KERNEL[family], port: 7004, timeout: 30_000 });
      await once(down, 'connect');
      down.write(`${size}\n`);
      const got = await readAll(down);
      expect(got.length).toBe(64 + size);
      expect(sha256(got.subarray(64))).toBe(got.subarray(0, 64).toString());
    }, 180_000);
  }

  for (const [family, size] of [['v4', 4 << 20], ['v6', 1 << 20]] as const) {
    it(`TCP from the kernel's side to a netstack server, ${size >> 20} MiB (IP${family})`, async () => {
      const received: string[] = [];
      const server = tunnel!.createServer((s) => {
        const h = createHash('sha256');
        s.on('data', (d: Buffer) => h.update(d));
        s.on('end', () => {
          const digest = h.digest('hex');
          received.push(digest);
          s.end(digest);
        });
      });
      server.listen(7002, TUN[family]);
      await once(server, 'listening');
      try {
        const r = await guestJson<SentReply>(`tcp-send ${TUN[family]} 7002 --random ${size}`);
        expect(r.reply).toBe(r.sent);
        expect(received).toEqual([r.sent]);
      } finally {
        server.close();
      }
    }, 180_000);
  }

  for (const family of ['v4', 'v6'] as const) {
    it(`UDP both ways (IP${family})`, async () => {
      const u = tunnel!.createSocket(family === 'v4' ? 'udp4' : 'udp6');
      u.bind(7005, TUN[family]);
      await once(u, 'listening');
      try {
        // The netstack asks, the kernel's side echoes.
        for (const text of ['one', 'two', 'three']) {
          const got = once(u, 'message');
          u.send(Buffer.from(text), 7003, KERNEL[family]);
          const [msg, rinfo] = (await got) as [Buffer, { address: string; port: number }];
          expect(msg.toString()).toBe(text.toUpperCase());
          expect(rinfo).toMatchObject({ address: KERNEL[family], port: 7003 });
        }
        // The kernel's side asks, the netstack echoes.
        u.on('message', (msg, rinfo) => u.send(Buffer.from(msg.toString().toUpperCase()), rinfo.port, rinfo.address));
        const r = await guestJson<{ replies: string[] }>(`udp-echo-client ${TUN[family]} 7005 alpha beta gamma`);
        expect(r.replies).toEqual(['ALPHA', 'BETA', 'GAMMA']);
      } finally {
        u.close();
      }
    }, 120_000);
  }

  it('asks the DNS server behind the kernel (A over IPv4, AAAA over IPv6, NXDOMAIN)', async () => {
    const ask = async (type: 'udp4' | 'udp6', server: string, id: number, name: string, qtype: number) => {
      const u = tunnel!.createSocket(type);
      u.bind(0);
      await once(u, 'listening');
      try {
        const got = once(u, 'message');
        u.send(dnsQuery(id, name, qtype), 53, server);
        const [msg] = (await Promise.race([got, sleep(20_000).then(() => { throw new Error(`no DNS answer from ${server}`); })])) as [Buffer];
        return dnsParse(msg);
      } finally {
        u.close();
      }
    };
    expect(await ask('udp4', KERNEL.v4, 0x1234, NAME, 1)).toEqual({ id: 0x1234, rcode: 0, qr: true, answers: [KERNEL.v4] });
    expect(await ask('udp6', KERNEL.v6, 0x4321, NAME, 28)).toEqual({ id: 0x4321, rcode: 0, qr: true, answers: [KERNEL.v6] });
    expect(await ask('udp4', KERNEL.v4, 0x0bad, 'nowhere.wgkit.test', 1)).toEqual({ id: 0x0bad, rcode: 3, qr: true, answers: [] });
  }, 120_000);

  it("answers the guest's ping on both addresses", async () => {
    const out = await inGuest(
      `set -e
       ping -c 3 -i 0.3 -W 5 ${TUN.v4}
       ping -6 -c 3 -i 0.3 -W 5 ${TUN.v6}`,
    );
    expect(out.match(/3 packets transmitted, 3 received, 0% packet loss/g)).toHaveLength(2);
    expect(out).toContain(`from ${TUN.v4}: icmp_seq=1`);
    expect(out).toContain(`from ${TUN.v6}: icmp_seq=1`);
  }, 120_000);

  it('resolves, fetches and pings through the tunnel API: lookup, the undici dispatcher, the http agent, ping()', async () => {
    expect(await tunnel!.resolve4(NAME)).toEqual([KERNEL.v4]);
    expect(await tunnel!.resolve6(NAME)).toEqual([KERNEL.v6]);
    const answer = (path: string) => `hello from the kernel guest: GET ${path} HTTP/1.1 Host=${NAME}:8080\n`;
    const res = await fetch(`http://${NAME}:8080/fetch`, { dispatcher: tunnel!.dispatcher } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(answer('/fetch'));
    const viaAgent = await new Promise<string>((resolve, reject) => {
      http
        .get(`http://${NAME}:8080/agent`, { agent: tunnel!.httpAgent }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve(Buffer.concat(chunks).toString()));
          r.on('error', reject);
        })
        .on('error', reject);
    });
    expect(viaAgent).toBe(answer('/agent'));
    for (const address of [KERNEL.v4, KERNEL.v6]) {
      const ping = await tunnel!.ping(address, { count: 3, timeout: 10_000 });
      expect(ping, address).toMatchObject({ address, sent: 3, received: 3 });
      expect(ping.times).toHaveLength(3);
    }
  }, 120_000);

  it('forwards wgkit-proxy -L to a TCP service behind the kernel (4 MiB)', async () => {
    const data = randomBytes(4 << 20);
    const child = spawn('ip', ['netns', 'exec', hostNs!.name, 'python3', SERVICES, 'tcp-send', '127.0.0.1', String(portOf('local-tcp'))], { stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new Started(child);
    child.stdin!.end(data);
    const [code] = (await once(child, 'exit')) as [number];
    expect(code, client.err).toBe(0);
    expect(JSON.parse(client.out)).toEqual({ sent: sha256(data), reply: sha256(data) });
  }, 120_000);

  it('forwards wgkit-proxy -U to a UDP service behind the kernel', async () => {
    const r = await inHostNs(['python3', SERVICES, 'udp-echo-client', '127.0.0.1', String(portOf('local-udp')), 'red', 'green', 'blue']);
    expect(r.code, explain(r)).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ replies: ['RED', 'GREEN', 'BLUE'] });
  }, 120_000);

  it("forwards wgkit-proxy -R from the kernel's side to the host namespace (2 MiB)", async () => {
    const r = await guestJson<SentReply>(`tcp-send ${PROXY_ADDR.v4} 7103 --random ${2 << 20}`);
    expect(r.reply).toBe(r.sent);
  }, 120_000);

  it('serves curl through --socks5 (name resolved by the DNS behind the kernel) and --http', async () => {
    const curl = async (args: string[], path: string) => {
      const r = await inHostNs(['curl', '-sS', '--max-time', '60', ...args, `http://${NAME}:8080${path}`], 90_000);
      expect(r.code, explain(r)).toBe(0);
      return r.stdout;
    };
    expect(await curl(['--socks5-hostname', `127.0.0.1:${portOf('socks5')}`], '/socks')).toBe(
      `hello from the kernel guest: GET /socks HTTP/1.1 Host=${NAME}:8080\n`,
    );
    expect(await curl(['--proxy', `http://127.0.0.1:${portOf('http')}`], '/http')).toBe(
      `hello from the kernel guest: GET /http HTTP/1.1 Host=${NAME}:8080\n`,
    );
    expect(await curl(['--proxytunnel', '--proxy', `http://127.0.0.1:${portOf('http')}`], '/connect')).toBe(
      `hello from the kernel guest: GET /connect HTTP/1.1 Host=${NAME}:8080\n`,
    );
  }, 180_000);

  it('shows both sessions on the kernel side and on the netstack', async () => {
    const dump = await inGuest('wg show wg0 dump');
    const peers = dump.trim().split('\n').slice(1).map((l) => l.split('\t'));
    expect(peers).toHaveLength(2);
    for (const p of peers) {
      expect(Number(p[4]), dump).toBeGreaterThan(0); // latest handshake
      expect(Number(p[5]), dump).toBeGreaterThan(1 << 20); // rx bytes
    }
    const peer = tunnel!.device.info().peers[0]!;
    expect(peer.lastHandshake).toBeDefined();
    // Sent: 4 + 2 MiB; received: 4 + 2 + 4 + 1 MiB (the TCP tests above).
    expect(peer.txBytes).toBeGreaterThan(6n << 20n);
    expect(peer.rxBytes).toBeGreaterThan(11n << 20n);
  }, 60_000);
});
