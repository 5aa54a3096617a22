// Runs a shell command in a qemu guest booted with Debian's kernel (kernel WireGuard available),
// through scripts/kernel-vm/run.sh. The guest sees the host's file system; the working directory
// (the project root unless `cwd` is given) is shared read-write at the same path.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runScript = join(projectRoot, 'scripts', 'kernel-vm', 'run.sh');

export interface KernelGuestOptions {
  /** Host network namespace qemu runs in; the guest's eth0 is on `tap` there. */
  netns?: string;
  /** Tap device in `netns` (created by qemu unless it exists). */
  tap?: string;
  /** Hard limit for the whole run (boot included); the result's code is 124 when it expires. */
  timeoutMs?: number;
  /** Variables set in the guest (besides PATH, HOME, WG_COLOR_MODE=never, ...). */
  env?: Record<string, string>;
  /** Guest memory in MiB (default 2048). */
  memMb?: number;
  /** Working directory on the host and in the guest (default: the project root). */
  cwd?: string;
  /** Copy the guest's output to this process's stdout/stderr while it runs. */
  echo?: boolean;
}

export interface KernelGuestResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `bash -c` in a fresh kernel guest and resolves when the guest is gone. */
export function runInKernelGuest(
  command: string,
  opts: KernelGuestOptions = {},
): Promise<KernelGuestResult> {
  const timeoutS = Math.max(1, Math.ceil((opts.timeoutMs ?? 600_000) / 1000));
  const args = [runScript, '--timeout', String(timeoutS)];
  if (opts.netns !== undefined || opts.tap !== undefined) {
    if (!opts.netns || !opts.tap) throw new Error('runInKernelGuest: netns and tap go together');
    args.push('--netns', opts.netns, '--tap', opts.tap);
  }
  if (opts.memMb !== undefined) args.push('--mem', String(opts.memMb));
  args.push('--', 'bash', '-c', command);

  const env: NodeJS.ProcessEnv = { ...process.env };
  const names = Object.keys(opts.env ?? {});
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`runInKernelGuest: '${name}' is not a variable name`);
    }
    env[name] = opts.env![name];
  }
  // Names already listed by the caller's environment stay listed.
  const inherited = (process.env.WGKIT_VM_ENV ?? '').split(/\s+/).filter((n) => n !== '');
  env.WGKIT_VM_ENV = [...new Set([...inherited, ...names])].join(' ');

  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', args, {
      cwd: opts.cwd ?? projectRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      if (opts.echo) process.stdout.write(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (opts.echo) process.stderr.write(b);
    });
    // run.sh enforces the timeout itself; this only guards against run.sh hanging.
    const guard = setTimeout(() => child.kill('SIGTERM'), (timeoutS + 60) * 1000);
    child.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolvePromise({
        code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}
