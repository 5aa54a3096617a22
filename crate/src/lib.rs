//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

pub mod aead;
pub mod device;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod model;
pub mod netlink;
pub mod thread_guard;
pub mod uapi;
pub mod userspace_device;

mod bindings;
