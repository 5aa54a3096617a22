//! Bindings for what only Linux has: kernel WireGuard and rtnetlink (through netlink) and the
//! embedded device (TUN, epoll, network namespaces). On other platforms these functions are not
//! exported; the facade (`lib/platform.ts`) reports `ERR_WGKIT_UNSUPPORTED_PLATFORM` instead.

mod device;
mod kernel;
mod netstack;
mod proxy;
mod rtnl;
