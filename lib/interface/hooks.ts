/**
 * Hook commands (wg-quick's PreUp/PostUp/PreDown/PostDown, NixOS's preSetup/postSetup/
 * preShutdown/postShutdown): each runs in its own `bash -c`, as wg-quick's `(eval "$hook")`
 * does, with `%i` replaced by the interface name and `[#] command` logged first. A non-zero
 * exit is a `HookError`.
 */
import { spawn } from 'node:child_process';
import { ErrorCodes, HookError, throwIfAborted } from '../errors.js';

export type Log = (line: string) => void;

export interface HookContext {
  interface: string;
  log: Log;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** `%i` → the interface name, everywhere in the command. */
export function expandHook(command: string, iface: string): string {
  return command.replaceAll('%i', iface);
}

/** Runs one phase's commands in order; stops at the first failure. */
export async function runHooks(phase: string, commands: readonly string[] | undefined, context: HookContext): Promise<void> {
  for (const raw of commands ?? []) {
    throwIfAborted(context.signal);
    const command = expandHook(raw, context.interface);
    context.log(`[#] ${command}`);
    const status = await new Promise<number | string>((resolve, reject) => {
      const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'], env: context.env ?? process.env });
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 1));
    });
    if (status !== 0) {
      throw new HookError(ErrorCodes.HOOK_FAILED, `${phase} hook failed (${typeof status === 'number' ? `exit status ${status}` : `signal ${status}`}): ${command}`, {
        field: phase,
      });
    }
  }
}
