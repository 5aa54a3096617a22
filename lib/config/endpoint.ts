/**
 * The `Endpoint` check shared by the file parser and the object validator.
 */
import { isHostName } from './hostname.js';
import { isIPv6WithZone, parseIPv4 } from './ip.js';
import { ConfigProblemCodes as Codes } from './problems.js';
import type { Report } from './problems.js';
import { DECIMAL, MAX_PORT } from './values.js';

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
  if (text === '') {
    report(Codes.INVALID_ENDPOINT, 'Unable to parse empty endpoint');
    return undefined;
  }
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return invalid('Unable to find matching brace of endpoint');
    if (text[close + 1] !== ':' || close + 2 >= text.length) return invalid('Unable to find port of endpoint');
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!isIPv6WithZone(host)) return invalid('Endpoint address in brackets is not an IPv6 address');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0 || colon + 1 >= text.length) return invalid('Unable to find port of endpoint');
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) {
      if (!isIPv6WithZone(host)) return invalid('Endpoint address is not an IPv6 address');
    } else if (parseIPv4(host) === undefined && !isHostName(host)) {
      return invalid('Endpoint host is neither an IP address nor a host name');
    }
  }
  if (!DECIMAL.test(port) || Number(port) < 1 || Number(port) > MAX_PORT) {
    return invalid('Endpoint port is not 1-65535');
  }
  if (!text.startsWith('[') && host.includes(':')) {
    report(Codes.ENDPOINT_NOT_BRACKETED, `IPv6 endpoint address should be in brackets: \`${text}'`, 'warning');
  }
  return text;
}
