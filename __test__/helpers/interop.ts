/**
 * Interop test peers: WireGuard devices of three kinds — wgkit (`bin/wgkit-userspace.js`),
 * Debian's wireguard-go, and kernel WireGuard inside a qemu guest — each driven only through
 * the shipped tools (`wg setconf`, `wg set`, `wg show`, `ip`), exactly as an administrator would.
 *
 * A `Place` is where shell commands run: a network namespace of this machine, or the kernel
 * guest (commands reach it through files in a shared directory, see `KernelGuest`). A `Side` is
 * one WireGuard device in a place, with its underlay (outer) addresses and tunnel addresses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, runInKernelGuest, type KernelGuestResult } from './kernel-vm.js';
import { run, uniqueName, vethPair, type Cleanup, type Netns } from './netns.js';

export const WGKIT_USERSPACE = join(projectRoot, 'bin', 'wgkit-userspace.js');
export const REPLAY_UDP = join(projectRoot, '__test__', 'helpers', 'replay-udp.py');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function explain(r: ShResult): string {
  return `exit ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}

/** Runs argv asynchronously; never throws for a non-zero exit (124 on timeout). */
export function execAsync(argv: readonly string[], timeoutMs = 60_000): Promise<ShResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? 128), stdout, stderr: timedOut ? `${stderr}\n(timed out after ${timeoutMs} ms)` : stderr });
    });
  });
}

/** Where shell commands run. */
export interface Place {
  readonly label: string;
  /** The host network namespace (for captures and listeners), when this place is one. */
  readonly netns: string | undefined;
  /** Runs `script` with bash. */
  sh(script: string, timeoutMs?: number): Promise<ShResult>;
}

export async function must(place: Place, script: string, timeoutMs?: number): Promise<string> {
  const r = await place.sh(script, timeoutMs);
  if (r.code !== 0) throw new Error(`in ${place.label}: ${script}\n${explain(r)}`);
  return r.stdout;
}

export class NetnsPlace implements Place {
  constructor(readonly ns: Netns) {}

  get label(): string {
    return `netns ${this.ns.name}`;
  }

  get netns(): string {
    return this.ns.name;
  }

  sh(script: string, timeoutMs = 60_000): Promise<ShResult> {
    return execAsync(['ip', 'netns', 'exec', this.ns.name, 'bash', '-c', script], timeoutMs);
  }
}

/**
 * A kernel guest (Debian's kernel under qemu TCG, `scripts/kernel-vm/run.sh`) that stays up and
 * runs the commands this process drops into `dir/rpc`: `req-N.sh` in, `out-N`, `err-N`, `rc-N`
 * back. Requests run concurrently in the guest. Its eth0 is on `tap` in the host netns `ns`.
 */
export class KernelGuest implements Place {
  readonly label = 'kernel guest';
  readonly netns = undefined;
  private seq = 0;
  private finished = false;
  private constructor(
    private readonly rpc: string,
    private readonly hostNs: Netns,
    readonly result: Promise<KernelGuestResult>,
  ) {
    void result.finally(() => (this.finished = true));
  }

  static async boot(ns: Netns, tap: string, dir: string, lifetimeMs: number): Promise<KernelGuest> {
    const rpc = join(dir, 'rpc');
    mkdirSync(rpc, { recursive: true });
    const loop = `
      set -u
      cd ${JSON.stringify(rpc)}
      touch ready
      while [ ! -e quit ]; do
        for f in req-*.sh; do
          [ -e "$f" ] || continue
          n=\${f#req-}; n=\${n%.sh}
          mv -- "$f" "run-$n.sh"
          ( bash "run-$n.sh" >"out-$n" 2>"err-$n" </dev/null; echo $? >"rc-$n.tmp"; mv "rc-$n.tmp" "rc-$n" ) &
        done
        sleep 0.05
      done
      wait
      echo guest-loop-done
    `;
    const guest = new KernelGuest(rpc, ns, runInKernelGuest(loop, { netns: ns.name, tap, timeoutMs: lifetimeMs }));
    while (!guest.finished && !existsSync(join(rpc, 'ready'))) await sleep(100);
    if (!existsSync(join(rpc, 'ready'))) {
      const r = await guest.result;
      throw new Error(`the kernel guest did not start\n${explain(r)}`);
    }
    return guest;
  }

  async sh(script: string, timeoutMs = 120_000): Promise<ShResult> {
    if (this.finished) throw new Error('the kernel guest is gone');
    const n = this.seq++;
    const file = (name: string) => join(this.rpc, `${name}-${n}`);
    writeFileSync(join(this.rpc, `req-${n}.tmp`), script);
    renameSync(join(this.rpc, `req-${n}.tmp`), join(this.rpc, `req-${n}.sh`));
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(file('rc'))) {
      if (this.finished) throw new Error(`the kernel guest stopped while running: ${script}`);
      if (Date.now() > deadline) return { code: 124, stdout: '', stderr: `guest command timed out after ${timeoutMs} ms` };
      await sleep(50);
    }
    const r = {
      code: Number(readFileSync(file('rc'), 'utf8').trim()),
      stdout: readFileSync(file('out'), 'utf8'),
      stderr: readFileSync(file('err'), 'utf8'),
    };
    for (const f of [file('rc'), file('out'), file('err'), join(this.rpc, `run-${n}.sh`)]) rmSync(f, { force: true });
    return r;
  }

  /** Asks the guest to power off; kills qemu (by pid, found in our netns) if it does not. */
  async shutdown(): Promise<void> {
    writeFileSync(join(this.rpc, 'quit'), '');
    await Promise.race([this.result, sleep(30_000)]);
    if (this.finished) return;
    for (const pid of run('ip', ['netns', 'pids', this.hostNs.name]).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    await Promise.race([this.result, sleep(10_000)]);
  }
}

export interface KeyPair {
  priv: string;
  pub: string;
}

export function genKeyPair(): KeyPair {
  const priv = run('wg', ['genkey']).trim();
  return { priv, pub: run('wg', ['pubkey'], `${priv}\n`).trim() };
}

export type Kind = 'wgkit' | 'wireguard-go' | 'kernel';
export type Family = 4 | 6;

export interface Addresses {
  v4: string;
  v6: string;
}

export const addr = (a: Addresses, f: Family) => (f === 4 ? a.v4 : a.v6);
export const hostPort = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** How a side is configured towards its peer (rendered as a `wg setconf` file). */
export interface PeerSettings {
  /** Which underlay family of the peer to use as endpoint; none = learn it from the peer. */
  endpoint?: Family;
  keepalive?: number;
  /** Configure this public key instead of the peer's real one. */
  publicKeyOverride?: string;
  /** The peer's preshared key (base64). */
  presharedKey?: string;
}

export interface SideOptions {
  kind: Kind;
  place: Place;
  ifname: string;
  /** Underlay (outer) network device in `place`, and its addresses. */
  dev: string;
  underlay: Addresses;
  /** Tunnel addresses (on the WireGuard interface, /24 and /64). */
  tunnel: Addresses;
  port: number;
  /** Directory visible in `place` for config files. */
  dir: string;
}

/** One WireGuard device. */
export class Side {
  /** The device's key pair (a new one after `rotateKey`). */
  keys: KeyPair = genKeyPair();
  readonly kind: Kind;
  readonly place: Place;
  readonly ifname: string;
  readonly dev: string;
  readonly underlay: Addresses;
  readonly tunnel: Addresses;
  readonly port: number;
  private readonly dir: string;
  private daemon: ChildProcess | undefined;
  private daemonLog = '';
  peer: Side | undefined;
  settings: PeerSettings = {};

  constructor(o: SideOptions) {
    this.kind = o.kind;
    this.place = o.place;
    this.ifname = o.ifname;
    this.dev = o.dev;
    this.underlay = o.underlay;
    this.tunnel = o.tunnel;
    this.port = o.port;
    this.dir = o.dir;
  }

  get label(): string {
    return `${this.kind} ${this.ifname}`;
  }

  get socket(): string {
    return `/var/run/wireguard/${this.ifname}.sock`;
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  /** Creates the device: starts the daemon (foreground, our child) or adds the kernel link. */
  async start(): Promise<void> {
    if (this.kind === 'kernel') {
      await must(this.place, `ip link add ${this.ifname} type wireguard`);
      return;
    }
    const ns = this.place.netns;
    if (ns === undefined) throw new Error('userspace daemons run in host network namespaces');
    const argv =
      this.kind === 'wgkit' ? [process.execPath, WGKIT_USERSPACE, '-f', this.ifname] : ['wireguard-go', '-f', this.ifname];
    this.daemonLog = '';
    const child = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'TERM', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
    });
    child.stdout.on('data', (d: Buffer) => (this.daemonLog += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.daemonLog += d.toString()));
    this.daemon = child;
    for (let i = 0; !existsSync(this.socket); i++) {
      if (i > 400 || child.exitCode !== null || child.signalCode !== null) {
        await this.stop();
        throw new Error(`${this.label} did not start: ${this.daemonLog}`);
      }
      await sleep(25);
    }
  }

  /** Whether the daemon process runs (userspace) or the link exists (kernel). */
  async alive(): Promise<boolean> {
    if (this.kind === 'kernel') return (await this.place.sh(`ip link show ${this.ifname}`)).code === 0;
    const d = this.daemon;
    return d !== undefined && d.exitCode === null && d.signalCode === null;
  }

  /** SIGTERM to the daemon (SIGKILL after 5 s) and waits for it; deletes the kernel link. */
  async stop(): Promise<void> {
    if (this.kind === 'kernel') {
      await this.place.sh(`ip link del ${this.ifname}`);
      return;
    }
    const d = this.daemon;
    this.daemon = undefined;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (d.exitCode === null && d.signalCode === null) {
      d.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  }

  get log(): string {
    return this.daemonLog;
  }

  /** The `wg setconf` file for the current settings. */
  configText(): string {
    const peer = this.peer;
    if (!peer) throw new Error(`${this.label} has no peer`);
    const s = this.settings;
    const lines = [
      '[Interface]',
      `PrivateKey = ${this.keys.priv}`,
      `ListenPort = ${this.port}`,
      '',
      '[Peer]',
      `PublicKey = ${s.publicKeyOverride ?? peer.keys.pub}`,
      `AllowedIPs = ${peer.tunnel.v4}/32, ${peer.tunnel.v6}/128`,
    ];
    if (s.endpoint !== undefined) lines.push(`Endpoint = ${hostPort(addr(peer.underlay, s.endpoint), peer.port)}`);
    if (s.keepalive !== undefined) lines.push(`PersistentKeepalive = ${s.keepalive}`);
    if (s.presharedKey !== undefined) lines.push(`PresharedKey = ${s.presharedKey}`);
    return `${lines.join('\n')}\n`;
  }

  /** `wg setconf` with the settings, then the tunnel addresses and link up. */
  async apply(): Promise<void> {
    const file = join(this.dir, `${this.ifname}.conf`);
    writeFileSync(file, this.configText(), { mode: 0o600 });
    await must(
      this.place,
      `set -e
       wg setconf ${this.ifname} ${file}
       ip addr replace ${this.tunnel.v4}/24 dev ${this.ifname}
       ip addr replace ${this.tunnel.v6}/64 dev ${this.ifname} nodad
       ip link set ${this.ifname} up`,
    );
  }

  /** `wg set IF private-key FILE` with a new key pair, which becomes this side's. */
  async rotateKey(): Promise<void> {
    const next = genKeyPair();
    const file = join(this.dir, `${this.ifname}.key`);
    writeFileSync(file, `${next.priv}\n`, { mode: 0o600 });
    await must(this.place, `wg set ${this.ifname} private-key ${file}`);
    this.keys = next;
  }

  /** Stops and starts the device again with the same configuration. */
  async restart(): Promise<void> {
    await this.stop();
    if (this.kind !== 'kernel') {
      for (let i = 0; i < 100 && existsSync(this.socket); i++) await sleep(50);
      if (existsSync(this.socket)) throw new Error(`${this.label} left its socket behind`);
    }
    await this.start();
    await this.apply();
  }

  /** Debian's `wg` against this device, run in its place. */
  async wg(args: string): Promise<ShResult> {
    return this.place.sh(`wg ${args}`);
  }

  async mustWg(args: string): Promise<string> {
    return must(this.place, `wg ${args}`);
  }

  /** The value `wg show IF <field>` reports for `pub` (endpoints, latest-handshakes, transfer...). */
  async showField(field: string, pub: string): Promise<string> {
    const out = await this.mustWg(`show ${this.ifname} ${field}`);
    const line = out.split('\n').find((l) => l.startsWith(`${pub}\t`));
    if (line === undefined) throw new Error(`${this.label}: no peer ${pub} in 'wg show ${field}':\n${out}`);
    return line.slice(pub.length + 1);
  }

  async endpointOf(pub: string): Promise<string> {
    return this.showField('endpoints', pub);
  }

  async handshakeOf(pub: string): Promise<number> {
    return Number(await this.showField('latest-handshakes', pub));
  }

  async transferOf(pub: string): Promise<{ rx: number; tx: number }> {
    const [rx, tx] = (await this.showField('transfer', pub)).split('\t').map(Number);
    return { rx: rx!, tx: tx! };
  }

  /** ping through the tunnel to `to`'s tunnel address. */
  ping(to: Side, family: Family, count = 3, waitS = 3): Promise<ShResult> {
    return this.place.sh(`ping -${family} -n -c ${count} -i 0.2 -W ${waitS} ${addr(to.tunnel, family)}`, 60_000);
  }
}

/** Connects two sides to each other (settings are per side). */
export function peerUp(a: Side, b: Side): void {
  a.peer = b;
  b.peer = a;
}

/**
 * Two namespaces A and B joined by a veth pair, a scratch directory, and a factory of sides:
 * host 1 and 2 by convention, tunnel addresses 10.NET.0.HOST and fd00:NET::HOST, listen port
 * 51000 + 10 * NET + HOST. `cleanup` stops every side made (before its namespace goes) and
 * removes the namespaces and the directory.
 */
export function vethSides(cleanup: Cleanup, prefix: string, net: number) {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  cleanup.defer(() => rmSync(dir, { recursive: true, force: true }));
  const { a, b } = vethPair(prefix);
  cleanup.add(a);
  cleanup.add(b);
  const side = (kind: Kind, ns: Netns, host: number) => {
    const s = new Side({
      kind,
      place: new NetnsPlace(ns),
      ifname: uniqueName(prefix),
      dev: vethOf(ns),
      underlay: { v4: `192.0.2.${host}`, v6: `2001:db8:ffff::${host}` },
      tunnel: { v4: `10.${net}.0.${host}`, v6: `fd00:${net}::${host}` },
      port: 51000 + 10 * net + host,
      dir,
    });
    // Daemons stop before their namespaces go.
    cleanup.defer(() => s.stop());
    return s;
  };
  return { nsA: a, nsB: b, dir, side };
}

/** The veth device of a namespace made by `vethPair`. */
export function vethOf(ns: Netns): string {
  const line = ns.exec('ip', ['-o', 'link', 'show', 'type', 'veth']).split('\n')[0] ?? '';
  const m = /^\d+: ([^@:]+)[@:]/.exec(line);
  if (!m) throw new Error(`no veth in ${ns.name}: ${line}`);
  return m[1]!;
}

/** A packet capture (tcpdump) running in a host netns. */
export class Capture {
  private out = '';
  private err = '';
  private readonly exited: Promise<void>;
  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((r) => child.once('close', () => r()));
  }

  /** Starts `tcpdump ARGS` in `ns` and waits until it listens. */
  static async start(ns: string, args: string[]): Promise<Capture> {
    const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-U', '--immediate-mode', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = new Capture(child);
    for (let i = 0; !c.err.includes('listening on'); i++) {
      if (i > 200 || child.exitCode !== null) throw new Error(`tcpdump did not start: ${c.err}`);
      await sleep(25);
    }
    return c;
  }

  /** Waits for tcpdump to exit on its own (e.g. `-c N`) for at most `ms`, then stops it. */
  async finish(ms = 0): Promise<{ stdout: string; stderr: string }> {
    if (ms > 0) await Promise.race([this.exited, sleep(ms)]);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      // Let a packet that is in flight reach the capture before stopping it.
      await sleep(200);
      this.child.kill('SIGINT');
      await Promise.race([this.exited, sleep(5000)]);
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }
    await this.exited;
    return { stdout: this.out, stderr: this.err };
  }
}

export interface UdpDatagram {
  time: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** UDP datagrams in a pcap file of an Ethernet device (tcpdump -w). */
export function readPcapUdp(file: string): UdpDatagram[] {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`not a little-endian pcap file: ${file}`);
  const nano = magic === 0xa1b23c4d;
  if (buf.readUInt32LE(20) !== 1) throw new Error(`pcap link type ${buf.readUInt32LE(20)} is not Ethernet`);
  const out: UdpDatagram[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const time = buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) / (nano ? 1e9 : 1e6);
    const len = buf.readUInt32LE(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    const type = frame.readUInt16BE(12);
    let ip = frame.subarray(14);
    let src: string;
    let dst: string;
    if (type === 0x0800) {
      if (ip[9] !== 17) continue;
      src = [...ip.subarray(12, 16)].join('.');
      dst = [...ip.subarray(16, 20)].join('.');
      ip = ip.subarray((ip[0]! & 0x0f) * 4);
    } else if (type === 0x86dd) {
      if (ip[6] !== 17) continue;
      src = ipv6Text(ip.subarray(8, 24));
      dst = ipv6Text(ip.subarray(24, 40));
      ip = ip.subarray(40);
    } else continue;
    out.push({ time, src, dst, sport: ip.readUInt16BE(0), dport: ip.readUInt16BE(2), payload: ip.subarray(8, ip.readUInt16BE(4)) });
  }
  return out;
}

/** WireGuard message type of a datagram (1 init, 2 response, 3 cookie, 4 data). */
export const wgType = (d: UdpDatagram) => d.payload[0];
