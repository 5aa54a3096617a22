//! Bindings for what only Linux has: kernel WireGuard and rtnetlink (through netlink) and the
//! proxies on the netstack. On other platforms these functions are not exported; the facade
//! (`lib/platform.ts`) reports `ERR_WGKIT_UNSUPPORTED_PLATFORM` instead.

mod kernel;
mod rtnl;
