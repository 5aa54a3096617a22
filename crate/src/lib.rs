//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

//!
//! What only Linux has (kernel WireGuard through generic netlink, rtnetlink, the embedded device
//! with epoll, `recvmmsg`/`sendmmsg`, UDP GSO/GRO, TUN and network namespaces, and the proxies
//! on its netstack) is behind `cfg(target_os = "linux")` here, at module granularity; everything
//! else builds on every target. The device builds and is tested on glibc and musl alike (where
//! the two C libraries give a `msghdr` field or an ioctl request another width, the device
//! assigns it with `as _`).

pub mod aead;
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
pub mod proxy;
#[cfg(all(test, target_os = "linux"))]
mod scale_tests;
pub mod thread_guard;
pub mod uapi;
#[cfg(target_os = "linux")]
pub mod userspace_device;

mod bindings;
