//! The N-API layer: converts types and errors, nothing else. Every behaviour lives in the
//! plain modules beside it.
//!
//! napi-derive registers exports only outside `cfg(test)`, so in the unit-test build these
//! items have no callers; the vitest suites exercise them.
#![cfg_attr(test, allow(dead_code))]

//!
//! Every platform: keys, OS facts and the UAPI client (Unix sockets; named pipes on Windows),
//! with the device model and worker-pool tasks it shares with `linux`. Linux: kernel, rtnetlink, embedded
//! device. What a platform lacks is not exported; `lib/platform.ts` reports it.

mod error;
mod keys;
#[cfg(target_os = "linux")]
mod linux;
mod model;
mod system;
mod task;
mod uapi;
