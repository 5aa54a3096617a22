/** Tunnels without privilege: a TCP/IP stack in the process, with Node-shaped sockets. */
export { openTunnel, NetstackTunnel } from './tunnel.js';
export type { TunnelOptions, ConnectOptions } from './tunnel.js';
export { TunnelSocket } from './socket.js';
export { TunnelServer } from './server.js';
export type { TunnelServerEvents } from './server.js';
export { TunnelUdpSocket } from './dgram.js';
export type { RemoteInfo, TunnelUdpSocketEvents } from './dgram.js';
