// The kernel-guest harness (scripts/kernel-vm/): Debian's kernel under qemu (TCG) with kernel
// WireGuard, the host's file system, exit codes, and networking to a host netns over a tap.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot, runInKernelGuest } from './helpers/kernel-vm.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Per-run scratch directory inside the project: the guest sees it read-write at the same path.
const dir = join(projectRoot, '.cache', `kernel-vm-spec-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function explain(r: { code: number; stdout: string; stderr: string }): string {
  return `exit ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}

describe('kernel guest', () => {
  it('has kernel WireGuard, the host file system, node and exit codes', async () => {
    const marker = join(dir, 'guest-wrote.txt');
    const script = `
      set -euo pipefail
      grep -q '^wireguard ' /proc/modules && { echo 'wireguard loaded before use' >&2; exit 90; }
      ip link add wgk0 type wireguard
      grep -q '^wireguard ' /proc/modules && echo 'AUTOLOADED=yes'
      wg set wgk0 private-key <(wg genkey) listen-port 51820
      echo "DUMP=$(wg show wgk0 dump | head -n1)"
      genl ctrl get name wireguard | sed -n 's/^[[:space:]]*ID: \\(0x[0-9a-f]*\\).*/GENL_ID=\\1/p'
      echo "CWD=$PWD"
      echo "HOME=$HOME WG_COLOR_MODE=$WG_COLOR_MODE FROM_HOST=$FROM_HOST"
      echo "kernel $(uname -r)" > ${JSON.stringify(marker)}
      t0=$(date +%s%N)
      echo "NODE=$(node -p 'process.version')"
      t1=$(date +%s%N)
      echo "VITEST=$(./node_modules/.bin/vitest --version)"
      t2=$(date +%s%N)
      echo "TIMING node=$(( (t1 - t0) / 1000000 ))ms vitest=$(( (t2 - t1) / 1000000 ))ms uptime=$(cut -d' ' -f1 /proc/uptime)s"
      echo 'to stderr' >&2
      exit 7
    `;
    const r = await runInKernelGuest(script, {
      timeoutMs: 240_000,
      env: { FROM_HOST: 'value with spaces & $chars' },
    });
    expect(r.code, explain(r)).toBe(7);
    expect(r.stdout).toContain('AUTOLOADED=yes');
    expect(r.stdout).toMatch(/^DUMP=\S+\t\S+\t51820\toff$/m);
    expect(r.stdout).toMatch(/^GENL_ID=0x[0-9a-f]+$/m);
    expect(r.stdout).toContain(`CWD=${projectRoot}\n`);
    expect(r.stdout).toContain('HOME=/root WG_COLOR_MODE=never FROM_HOST=value with spaces & $chars\n');
    expect(r.stdout).toContain(`NODE=${process.version}\n`);
    expect(r.stdout).toMatch(/^VITEST=vitest\/\d+\.\d+\.\d+ /m);
    expect(r.stdout).not.toContain('to stderr');
    expect(r.stderr).toContain('to stderr');
    // Kernel messages stay out of the command's output.
    expect(r.stdout + r.stderr).not.toMatch(/^\[\s*\d+\.\d+\]/m);
    expect(readFileSync(marker, 'utf8')).toMatch(/^kernel \d+\.\d+\.\d+-\S+\n$/);
    console.log(r.stdout.split('\n').find((l) => l.startsWith('TIMING')));
  }, 300_000);

  it('kills the guest when the timeout expires (exit 124)', async () => {
    const t0 = Date.now();
    const r = await runInKernelGuest('echo started; sleep 600', { timeoutMs: 10_000 });
    expect(r.code, explain(r)).toBe(124);
    expect(r.stderr).toContain('timed out after 10 s');
    expect(Date.now() - t0).toBeLessThan(40_000);
  }, 60_000);

  describe('networking over a tap in a host netns', () => {
    const ns = `wgkvm-${process.pid}`;
    const tap = `kvtap${process.pid}`.slice(0, 15);
    const hostIf = `wgkh${process.pid}`.slice(0, 15);
    let wgGo: ChildProcess | undefined;

    afterAll(async () => {
      if (wgGo && wgGo.exitCode === null && wgGo.signalCode === null) {
        const exited = new Promise((r) => wgGo!.once('exit', r));
        wgGo.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (wgGo.exitCode === null && wgGo.signalCode === null) wgGo.kill('SIGKILL');
      }
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    });

    it('peers kernel WireGuard in the guest with wireguard-go on the host, pings both ways', async () => {
      const key = async (name: string) => {
        const priv = (await run('wg', ['genkey'])).stdout.trim();
        const pub = await new Promise<string>((res, rej) => {
          const p = execFile('wg', ['pubkey'], (e, out) => (e ? rej(e) : res(out.trim())));
          p.stdin!.end(`${priv}\n`);
        });
        writeFileSync(join(dir, `${name}.key`), `${priv}\n`, { mode: 0o600 });
        return pub;
      };
      const hostPub = await key('host');
      const guestPub = await key('guest');

      // Host side: netns, tap (qemu attaches to it), wireguard-go.
      await run('ip', ['netns', 'add', ns]);
      const nsip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
      await nsip('link', 'set', 'lo', 'up');
      await nsip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      await nsip('addr', 'add', '192.0.2.1/24', 'dev', tap);
      await nsip('link', 'set', tap, 'up');
      wgGo = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', hostIf], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let wgGoErr = '';
      wgGo.stderr!.on('data', (b: Buffer) => (wgGoErr += b.toString()));
      const sock = `/var/run/wireguard/${hostIf}.sock`;
      for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(100);
      expect(existsSync(sock), `wireguard-go did not start: ${wgGoErr}`).toBe(true);
      await run('wg', [
        'set', hostIf, 'listen-port', '51820', 'private-key', join(dir, 'host.key'),
        'peer', guestPub, 'allowed-ips', '10.211.0.2/32', 'endpoint', '192.0.2.2:51820',
      ]);
      await nsip('addr', 'add', '10.211.0.1/24', 'dev', hostIf);
      await nsip('link', 'set', hostIf, 'up');

      const ready = join(dir, 'guest-ready');
      const hostDone = join(dir, 'host-done');
      const script = `
        set -euo pipefail
        ip addr add 192.0.2.2/24 dev eth0
        ip link set eth0 up
        ip link add wgk0 type wireguard
        wg set wgk0 private-key ${JSON.stringify(join(dir, 'guest.key'))} listen-port 51820 \\
          peer ${hostPub} allowed-ips 10.211.0.1/32 endpoint 192.0.2.1:51820
        ip addr add 10.211.0.2/24 dev wgk0
        ip link set wgk0 up
        ping -c 3 -i 0.3 -W 5 10.211.0.1
        echo "GUEST_HANDSHAKE=$(wg show wgk0 latest-handshakes | cut -f2)"
        touch ${JSON.stringify(ready)}
        for _ in $(seq 600); do [ -e ${JSON.stringify(hostDone)} ] && break; sleep 0.1; done
        [ -e ${JSON.stringify(hostDone)} ] || { echo 'the host never finished pinging' >&2; exit 3; }
        echo "GUEST_RX=$(wg show wgk0 transfer | cut -f2)"
      `;
      let finished = false;
      const guest = runInKernelGuest(script, { netns: ns, tap, timeoutMs: 240_000 }).finally(() => {
        finished = true;
      });
      while (!finished && !existsSync(ready)) await sleep(100);
      let hostPing = 'the guest never got ready';
      if (existsSync(ready)) {
        const ping = ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.3', '-W', '5', '10.211.0.2'];
        hostPing = await run('ip', ping).then(
          (p) => p.stdout,
          (e: { message: string; stdout?: string }) => `${e.message}\n${e.stdout ?? ''}`,
        );
        writeFileSync(hostDone, '');
      }
      const r = await guest;
      expect(r.code, explain(r)).toBe(0);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
      expect(r.stdout).toMatch(/^GUEST_HANDSHAKE=[1-9]\d*$/m);
      expect(Number(/^GUEST_RX=(\d+)$/m.exec(r.stdout)?.[1])).toBeGreaterThan(0);
      expect(hostPing).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
      const hs = (await run('wg', ['show', hostIf, 'latest-handshakes'])).stdout;
      expect(hs).toMatch(new RegExp(`^${guestPub.replace(/[+/]/g, '\\$&')}\\t[1-9]\\d*$`, 'm'));
    }, 300_000);
  });
});
