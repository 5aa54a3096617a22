/**
 * `perror(3)`-style messages, as wg prints them: `PREFIX: <strerror(errno)>`.
 */
import native from '../../binding.js';
import { WgkitError } from '../../errors.js';

export function perror(prefix: string, error: unknown): string {
  if (error instanceof WgkitError && error.errno !== undefined) {
    const text = native.strerrorByName(error.errno);
    if (text) return `${prefix}: ${text}\n`;
  }
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) {
    const text = native.strerrorByName(code);
    if (text) return `${prefix}: ${text}\n`;
  }
  return `${prefix}: ${error instanceof Error ? error.message : String(error)}\n`;
}

/** wg copies at most IFNAMSIZ - 1 bytes of the interface name. */
export function interfaceName(text: string): string {
  return Buffer.from(text).subarray(0, 15).toString();
}
