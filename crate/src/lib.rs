//! wgkit: WireGuard for Node.js.
//!
//! The crate is a set of plain Rust modules (testable with `cargo test`) plus a thin
//! `bindings` layer that converts types and errors for N-API and does nothing else.

pub mod error;
pub mod keys;
pub mod model;
pub mod netlink;

mod bindings;
