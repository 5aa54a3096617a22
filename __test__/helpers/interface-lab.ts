/**
 * A lab for the interface manager: namespace A (where wgkit brings interfaces up) joined by
 * veth to namespace B, where Debian's wireguard-go is the peer (tunnel address 10.99.0.2,
 * plus 198.51.100.7 on B's loopback, reachable only through the tunnel). Everything is
 * removed by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey, publicKey } from '../../lib/keys.js';
import { Cleanup, Netns, run, vethPair, WireguardGo } from './netns.js';

export interface Peer {
  privateKey: string;
  publicKey: string;
}

export function keyPair(): Peer {
  const key = generatePrivateKey();
  return { privateKey: key.toBase64(), publicKey: publicKey(key).toBase64() };
}

export class InterfaceLab {
  readonly cleanup = new Cleanup();
  a!: Netns;
  b!: Netns;
  peer!: WireguardGo;
  /** Our side's keys (see `newIdentity`). */
  us: Peer = keyPair();
  readonly them: Peer = keyPair();
  readonly port = 51820;
  readonly dir = mkdtempSync(join(tmpdir(), 'wgkit-lab-'));

  static async create(): Promise<InterfaceLab> {
    const lab = new InterfaceLab();
    const { a, b } = vethPair('wgif');
    lab.a = lab.cleanup.add(a);
    lab.b = lab.cleanup.add(b);
    lab.cleanup.defer(() => rmSync(lab.dir, { recursive: true, force: true }));
    lab.peer = lab.cleanup.add(await WireguardGo.start(b, 'wgp'));
    return lab;
  }

  /**
   * Gives our side new keys, so a round starts with no session or handshake state left on B
   * from the previous one. (Reusing the key no longer costs a wait: wgkit stamps handshakes
   * as the kernel and wireguard-go do, see `interop-key-move.spec.ts`.)
   */
  newIdentity(): void {
    this.us = keyPair();
  }

  /** Configures B's wireguard-go: our key (the only peer), allowed IPs, addresses. */
  configurePeer(allowedIPs: string, options: { ourEndpoint?: string } = {}): void {
    const name = this.peer.name;
    for (const line of run('wg', ['show', name, 'peers']).split('\n').filter(Boolean)) {
      if (line !== this.us.publicKey) run('wg', ['set', name, 'peer', line, 'remove']);
    }
    const keyFile = join(this.dir, 'peer.key');
    writeFileSync(keyFile, `${this.them.privateKey}\n`, { mode: 0o600 });
    run('wg', ['set', name, 'private-key', keyFile]);
    const args = ['set', name, 'listen-port', String(this.port), 'peer', this.us.publicKey, 'allowed-ips', allowedIPs];
    if (options.ourEndpoint) args.push('endpoint', options.ourEndpoint);
    run('wg', args);
    this.b.exec('ip', ['address', 'replace', '10.99.0.2/24', 'dev', name]);
    this.b.exec('ip', ['-6', 'address', 'replace', 'fd99::2/64', 'dev', name, 'nodad']);
    this.b.exec('ip', ['address', 'replace', '198.51.100.7/32', 'dev', 'lo']);
    this.b.exec('ip', ['link', 'set', name, 'up']);
  }

  /** `ip -n A ARGS`. */
  ipA(...args: string[]): string {
    return run('ip', ['-n', this.a.name, ...args]);
  }

  /** Pings from A (true when the reply came). */
  pingFromA(address: string, count = 1): boolean {
    try {
      execFileSync('ip', ['netns', 'exec', this.a.name, 'ping', address.includes(':') ? '-6' : '-4', '-c', String(count), '-W', '3', address], {
        stdio: 'ignore',
      });
      return true;
    } catch {
      return false;
    }
  }
}
