//! Bindings for what only Linux has: kernel WireGuard and rtnetlink (through netlink) and the
//! embedded device (TUN, epoll, network namespaces). On other platforms these functions are not
//! exported; the facade (`lib/platform.ts`) reports `ERR_WGKIT_UNSUPPORTED_PLATFORM` instead.
//! The embedded device needs glibc for now (see `lib.rs`).

#[cfg(target_env = "gnu")]
mod device;
mod kernel;
#[cfg(target_env = "gnu")]
mod netstack;
#[cfg(target_env = "gnu")]
mod proxy;
mod rtnl;
