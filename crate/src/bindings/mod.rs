//! The N-API layer: converts types and errors, nothing else. Every behaviour lives in the
//! plain modules beside it.

mod error;
mod keys;
mod model;
mod task;
mod uapi;
