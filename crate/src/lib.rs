//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

//!
//! What only Linux has (kernel WireGuard through generic netlink, rtnetlink, the embedded device
//! on TUN with epoll and network namespaces) is behind `cfg(target_os = "linux")` here, at module
//! granularity; everything else builds on every target.

pub mod aead;
#[cfg(target_os = "linux")]
pub mod device;
pub mod error;
pub mod keys;
pub mod model;
#[cfg(target_os = "linux")]
pub mod netlink;
pub mod uapi;
#[cfg(target_os = "linux")]
pub mod userspace_device;

mod bindings;
