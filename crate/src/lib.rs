//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

pub mod aead;
pub mod device;
pub mod error;
mod heap_trim;
pub mod keys;
pub mod model;
pub mod netlink;
#[cfg(test)]
mod scale_tests;
pub mod thread_guard;
pub mod uapi;
pub mod userspace_device;

mod bindings;
