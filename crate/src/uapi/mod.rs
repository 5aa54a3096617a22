//! The cross-platform userspace API (UAPI): the `get=1`/`set=1` text protocol over
//! `/var/run/wireguard/<name>.sock`, as spoken by wg and wireguard-go.
//!
//! Client side: [`UapiClient`] lists, reads and configures userspace devices the way wg does.
//! Server side: [`UapiServer`] exposes a [`UapiHandler`] so `wg` can manage a device
//! implemented in this process.
//!
//! Decisions where the reference implementations differ or leave room:
//! - Names: non-empty, under 16 bytes, no `/` or NUL (`InvalidArgument`, errno ENAMETOOLONG or
//!   EINVAL).
//! - A named device whose socket is missing (ENOENT), is not a socket, or refuses the connection
//!   (ECONNREFUSED, after which the stale socket is unlinked as wg does) is `DeviceNotFound`.
//!   Listing keeps a socket whose connect fails for another reason (busy, no permission), as wg.
//! - Replies are read as whole lines, whatever the chunking. `errno=N` and `errno=-N` both mean
//!   errno N; no errno line is EPROTO. Errnos map through `Error::from_errno`, except EPROTO,
//!   which is `ErrorCode::Protocol`. A set reply whose stream ends right after `errno=` counts.
//! - Get replies: unknown keys are ignored (as wg); malformed values are `Protocol` errors;
//!   endpoints must be numeric; an all-zero private key means no key.
//! - The client writes IPv6 scope ids numerically (`[fe80::1%2]:51820`); both sides read a zone
//!   as an index or an interface name.
//! - The server reads and validates a whole `set=1` request before calling the handler; a
//!   request cut short by EOF is not applied (EPROTO), where wireguard-go applies what it got.

#[cfg(unix)]
pub mod client;
#[cfg(unix)]
pub mod deadline;
pub mod errno;
pub mod get_reply;
pub mod get_writer;
#[cfg(unix)]
#[path = "interface_index_unix.rs"]
mod interface_index;
#[cfg(windows)]
#[path = "interface_index_windows.rs"]
mod interface_index;
pub mod lines;
pub mod name;
#[cfg(unix)]
pub mod server;
pub mod set_parser;
pub mod set_request;
#[cfg(unix)]
pub mod socket;
pub mod value;

#[cfg(unix)]
pub use client::{UapiClient, UapiConnection, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT};
pub use name::{socket_path, validate_name, DEFAULT_SOCKET_DIR};
#[cfg(unix)]
pub use server::{UapiHandler, UapiServer, UapiServerOptions};
