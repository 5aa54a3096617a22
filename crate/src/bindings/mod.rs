//! The N-API layer: converts types and errors, nothing else. Every behaviour lives in the
//! plain modules beside it.
//!
//! napi-derive registers exports only outside `cfg(test)`, so in the unit-test build these
//! items have no callers; the vitest suites exercise them.
#![cfg_attr(test, allow(dead_code))]

//!
//! Every platform: keys, OS facts, the UAPI client (Unix sockets; named pipes on Windows), the
//! embedded device (a netstack tunnel everywhere; TUN on Linux and utun on macOS, where
//! `NativeDevice.create` elsewhere fails with `ERR_WGKIT_UNSUPPORTED_PLATFORM`), its netstack
//! and the proxies. Linux (`linux/`): kernel WireGuard, rtnetlink. What a platform lacks is not
//! exported; `lib/platform.ts` reports it.

mod closable;
mod device;
mod error;
mod keys;
#[cfg(target_os = "linux")]
mod linux;
mod model;
mod netstack;
mod proxy;
mod system;
mod task;
mod uapi;
