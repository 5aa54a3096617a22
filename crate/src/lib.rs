//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

//!
//! What only Linux has (kernel WireGuard through generic netlink, rtnetlink, the proxies on the
//! netstack) is behind `cfg(target_os = "linux")` here, at module granularity; everything else
//! builds on every target. The embedded device (`device`, and `userspace_device` with its UAPI
//! server) builds everywhere: its Linux-only parts (epoll, eventfd, `recvmmsg`/`sendmmsg`, UDP
//! GSO/GRO, IP_PKTINFO, TUN, network namespaces, BPF lanes) sit in per-platform modules inside
//! it, with portable ones (the `polling` crate, std sockets) beside them, so a netstack device
//! runs on Windows and macOS too. The device builds and is tested on glibc and musl alike (where
//! the two C libraries give a `msghdr` field or an ioctl request another width, the device
//! assigns it with `as _`).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod aead;
pub mod device;
pub mod error;
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub mod fuzzing;
mod heap_trim;
pub mod keys;
pub mod model;
#[cfg(target_os = "linux")]
pub mod netlink;
pub mod os_error;
pub mod proxy;
#[cfg(all(test, target_os = "linux"))]
mod scale_tests;
pub mod thread_guard;
pub mod uapi;
pub mod userspace_device;

mod bindings;
