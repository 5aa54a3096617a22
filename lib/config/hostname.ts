/**
 * Host names, as the endpoint and DNS search-domain checks accept them.
 *
 * A DNS name: dot-separated labels of letters, digits, `-` and `_` (not starting or ending
 * with `-`), at most 63 characters each and 253 in all, an optional final dot. A name made
 * only of digits and dots is a malformed IPv4 address, not a name.
 */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253 || /^[0-9.]+$/.test(name)) return false;
  return name.split('.').every((label) => /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(label));
}
