/**
 * The `Endpoint` check shared by the file parser and the object validator.
 */
import { isHostName } from './hostname.js';
import { isIPv6WithZone, parseIPv4 } from './ip.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';
import { DECIMAL, MAX_PORT } from './values.js';

/** An endpoint split as wg's `parse_endpoint` splits it. */
export interface EndpointParts {
  host: string;
  port: string;
  bracketed: boolean;
}

/**
 * Splits `[host]:port` at the closing brace, anything else at the last `:`. Returns wg's
 * message when there is no brace or no port.
 */
export function splitEndpoint(text: string): EndpointParts | { error: string } {
  if (text === '') return { error: 'Unable to parse empty endpoint' };
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: `Unable to find matching brace of endpoint: \`${text}'` };
    if (text[close + 1] !== ':' || close + 2 >= text.length) return { error: `Unable to find port of endpoint: \`${text}'` };
    return { host: text.slice(1, close), port: text.slice(close + 2), bracketed: true };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0 || colon + 1 >= text.length) return { error: `Unable to find port of endpoint: \`${text}'` };
  return { host: text.slice(0, colon), port: text.slice(colon + 1), bracketed: false };
}

/**
 * `Endpoint`: `ip:port`, `[ipv6]:port`, `[ipv6%zone]:port` or `host:port`, split as wg's
 * `parse_endpoint` does (at the closing brace, otherwise at the last `:`), with the messages
 * wg prints. wg resolves host names while parsing; wgkit only checks their syntax. The port
 * must be a number 1-65535.
 */
export function checkEndpoint(text: string, report: Report): string | undefined {
  const invalid = (message: string): undefined => {
    report(Codes.INVALID_ENDPOINT, `${message}: \`${text}'`);
    return undefined;
  };
  const parts = splitEndpoint(text);
  if ('error' in parts) {
    report(Codes.INVALID_ENDPOINT, parts.error);
    return undefined;
  }
  const { host, port, bracketed } = parts;
  if (bracketed) {
    if (!isIPv6WithZone(host)) return invalid('Endpoint address in brackets is not an IPv6 address');
  } else if (host.includes(':')) {
    if (!isIPv6WithZone(host)) return invalid('Endpoint address is not an IPv6 address');
  } else if (parseIPv4(host) === undefined && !isHostName(host)) {
    return invalid('Endpoint host is neither an IP address nor a host name');
  }
  if (!DECIMAL.test(port) || Number(port) < 1 || Number(port) > MAX_PORT) {
    return invalid('Endpoint port is not 1-65535');
  }
  if (!bracketed && host.includes(':')) {
    report(Codes.ENDPOINT_NOT_BRACKETED, `IPv6 endpoint address should be in brackets: \`${text}'`, 'warning');
  }
  return text;
}
