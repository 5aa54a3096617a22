/** Tunnels without privilege: a TCP/IP stack in the process, with Node-shaped sockets. */
export { openTunnel, NetstackTunnel } from './tunnel.js';
export type { TunnelOptions, ConnectOptions } from './tunnel.js';
export { TunnelSocket } from './socket.js';
export { TunnelServer } from './server.js';
export type { TunnelServerEvents } from './server.js';
export { TunnelUdpSocket } from './dgram.js';
export type { RemoteInfo, TunnelUdpSocketEvents } from './dgram.js';
export { TunnelResolver } from './dns.js';
export type { LookupAddress, LookupCallback, LookupFunction, LookupOptions, RecordWithTtl, ResolveType, ResolverOptions } from './dns.js';
export { DnsError, NO_DNS } from './dns-error.js';
export { decodeMessage, encodeQuery, answersFor, RecordType, Rcode } from './dns-message.js';
export type { DnsMessage, DnsQuestion, DnsRecord, RecordData } from './dns-message.js';
export { createDispatcher, TunnelHttpAgent, TunnelHttpsAgent } from './http.js';
export type { DispatcherOptions } from './http.js';
export type { PingOptions, PingResult } from './ping.js';
