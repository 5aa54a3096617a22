/**
 * A lab for the interface manager: namespace A (where wgkit brings interfaces up) joined by
 * veth to namespace B, where Debian's wireguard-go is the peer (tunnel address 10.99.0.2,
 * plus 198.51.100.7 on B's loopback, reachable only through the tunnel). Everything is
 * removed by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
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
  readonly us: Peer = keyPair();
  readonly them: Peer = keyPair();
  readonly port = 51820;

  static async create(): Promise<InterfaceLab> {
    const lab = new InterfaceLab();
    const { a, b } = vethPair('wgif');
    lab.a = lab.cleanup.add(a);
    lab.b = lab.cleanup.add(b);
    lab.peer = lab.cleanup.add(await WireguardGo.start(b, 'wgp'));
    return lab;
  }

  /** Configures B's wireguard-go: our key, allowed IPs, addresses. */
  configurePeer(allowedIPs: string, options: { ourEndpoint?: string } = {}): void {
    const name = this.peer.name;
    run('wg', ['set', name, 'private-key', '/dev/stdin'], `${this.them.privateKey}\n`);
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
