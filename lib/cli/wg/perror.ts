/**
 * `perror(3)`-style messages, as wg prints them: `PREFIX: <strerror(errno)>`.
 */
import native from '../../binding.js';
import { WgkitError } from '../../errors.js';

/** strerror's text for the errno behind `error`, or its message when there is none. */
export function errorText(error: unknown): string {
  const errno = error instanceof WgkitError ? error.errno : (error as { code?: unknown } | undefined)?.code;
  if (typeof errno === 'string' && /^E[A-Z0-9]+$/.test(errno)) {
    const text = native.strerrorByName(errno);
    if (text) return text;
  }
  return error instanceof Error ? error.message : String(error);
}

export function perror(prefix: string, error: unknown): string {
  return `${prefix}: ${errorText(error)}\n`;
}

/** wg copies at most IFNAMSIZ - 1 bytes of the interface name. */
export function interfaceName(text: string): string {
  return Buffer.from(text).subarray(0, 15).toString();
}

/** An error's message without the `field: ` prefix API errors carry (wg names no fields). */
export function plainMessage(error: Error & { field?: string | undefined }): string {
  const prefix = error.field !== undefined ? `${error.field}: ` : '';
  return prefix && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
