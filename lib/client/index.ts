export { WireGuardClient } from './client.js';
export type { CallOptions, ClientOptions, ConfigInput } from './client.js';
export { validateChange } from './change.js';
export { changeFromConfig, syncChangeFromConfig } from './config-change.js';
export { parseSetArguments } from './set-arguments.js';
export { resolveEndpoint, resolutionRetries } from './resolve-endpoint.js';
