//! The N-API layer: converts types and errors, nothing else. Every behaviour lives in the
//! plain modules beside it.
//!
//! napi-derive registers exports only outside `cfg(test)`, so in the unit-test build these
//! items have no callers; the vitest suites exercise them.
#![cfg_attr(test, allow(dead_code))]

mod device;
mod error;
mod kernel;
mod keys;
mod model;
mod netstack;
mod rtnl;
mod system;
mod task;
mod uapi;
