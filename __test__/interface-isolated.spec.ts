// DNS through resolvconf and dynamic endpoint refresh, each in a private mount namespace whose
// /etc/resolvconf.conf and /etc/hosts are the test's own files, so the machine's resolver
// configuration is never touched. The scenario runs in a child process (the built package);
// the peer is Debian's wireguard-go in namespace B.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InterfaceLab } from './helpers/interface-lab.js';
import { uniqueName } from './helpers/netns.js';
import { ROOT } from './helpers/run.js';

const SCRIPT = `${ROOT}__test__/helpers/interface-isolated.mjs`;
let lab: InterfaceLab;
const dir = mkdtempSync(join(tmpdir(), 'wgkit-isolated-'));
chmodSync(dir, 0o755);
const realResolvConf = readFileSync('/etc/resolv.conf', 'utf8');
const realHosts = readFileSync('/etc/hosts', 'utf8');

beforeAll(async () => {
  lab = await InterfaceLab.create();
});

afterAll(async () => {
  await lab?.cleanup.run();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a scenario under `unshare -m` with the given files bound over /etc's. */
function isolated(scenario: string, args: Record<string, unknown>, binds: [string, string][]): Record<string, unknown> {
  const mounts = binds.map(([from, to]) => `mount --bind ${from} ${to}`).join(' && ');
  const out = execFileSync(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec node ${SCRIPT} ${scenario} '${JSON.stringify(args)}'`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const result = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
  if ('fatal' in result) throw new Error(String(result.fatal));
  return result;
}

describe('isolated', () => {
  it('sets DNS through resolvconf while up, removes it on down, and says when resolvconf is missing', () => {
    lab.configurePeer('10.99.0.1/32');
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
    const conf = join(dir, 'resolvconf.conf');
    writeFileSync(conf, `resolv_conf=${resolvConf}\nstate_dir=${join(dir, 'resolvconf-state')}\n`);
    const result = isolated(
      'dns',
      {
        name: uniqueName('wgd'),
        netns: lab.a.name,
        privateKey: lab.us.privateKey,
        peerKey: lab.them.publicKey,
        endpoint: `192.0.2.2:${lab.port}`,
        resolvConf,
      },
      [[conf, '/etc/resolvconf.conf']],
    );
    expect(result.during).toContain('nameserver 10.99.0.53\n');
    expect(result.during).toContain('nameserver fd99::53\n');
    expect(result.during).toMatch(/search corp\.example lab\.example/);
    expect(result.after).not.toContain('10.99.0.53');
    expect(result.missing).toEqual({
      code: 'ERR_WGKIT_DNS_UNAVAILABLE',
      message: 'DNS is set but resolvconf(8) was not found; install resolvconf or openresolv, or remove DNS from the configuration',
    });
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(realResolvConf);
  });

  it('re-resolves a host-name endpoint, updates the peer only when the address changed, reports failures', () => {
    lab.configurePeer('10.99.0.1/32');
    const veth = lab.b.exec('ip', ['-o', 'link', 'show', 'type', 'veth']).split(':')[1]!.trim().split('@')[0]!;
    lab.b.exec('ip', ['address', 'replace', '192.0.2.3/24', 'dev', veth]);
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n192.0.2.2 wgpeer.test\n');
    const result = isolated(
      'refresh',
      {
        name: uniqueName('wgr'),
        netns: lab.a.name,
        privateKey: lab.us.privateKey,
        peerKey: lab.them.publicKey,
        host: 'wgpeer.test',
        port: lab.port,
        second: '192.0.2.3',
        hosts,
      },
      [[hosts, '/etc/hosts']],
    );
    expect(result.initial).toBe(`192.0.2.2:${lab.port}`);
    expect(result.eventsWhileUnchanged).toBe(0);
    expect((result.events as unknown[])[0]).toEqual({ name: 'peer-b', host: `wgpeer.test:${lab.port}`, previous: `192.0.2.2:${lab.port}`, endpoint: `192.0.2.3:${lab.port}` });
    expect(result.afterChange).toBe(`192.0.2.3:${lab.port}`);
    expect((result.errors as { name: string; retryIn: number; message: string }[])[0]).toMatchObject({ name: 'peer-b', retryIn: 1 });
    expect(result.afterFailure).toBe(`192.0.2.3:${lab.port}`);
    expect(readFileSync('/etc/hosts', 'utf8')).toBe(realHosts);
  });
});
