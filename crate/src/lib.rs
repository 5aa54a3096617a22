//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

//!
//! What only Linux has (kernel WireGuard through generic netlink, rtnetlink, the embedded device
//! on TUN with epoll and network namespaces) is behind `cfg(target_os = "linux")` here, at module
//! granularity; everything else builds on every target. The embedded device is built against
//! glibc's libc types only for now (musl's `msghdr` and socket flags differ in width), so musl
//! builds have kernel and rtnetlink support but no embedded device.

pub mod aead;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod device;
pub mod error;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[doc(hidden)]
pub mod fuzzing;
mod heap_trim;
pub mod keys;
pub mod model;
#[cfg(target_os = "linux")]
pub mod netlink;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod proxy;
#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod scale_tests;
pub mod thread_guard;
pub mod uapi;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod userspace_device;

mod bindings;
