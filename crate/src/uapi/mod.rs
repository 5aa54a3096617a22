//! The cross-platform userspace API (UAPI): the `get=1`/`set=1` text protocol over
//! `/var/run/wireguard/<name>.sock`, as spoken by wg and wireguard-go.
//!
//! Client side: [`UapiClient`] lists, reads and configures userspace devices the way wg does.
//! Server side: [`UapiServer`] exposes a [`UapiHandler`] so `wg` can manage a device
//! implemented in this process.

pub mod client;
pub mod errno;
pub mod get_reply;
pub mod get_writer;
pub mod lines;
pub mod name;
pub mod server;
pub mod set_parser;
pub mod set_request;
pub mod socket;
pub mod value;

pub use client::{UapiClient, UapiConnection, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT};
pub use name::{socket_path, validate_name, DEFAULT_SOCKET_DIR};
pub use server::{UapiHandler, UapiServer, UapiServerOptions};
