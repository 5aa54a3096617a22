//! The cross-platform userspace API (UAPI): the `get=1`/`set=1` text protocol over
//! `/var/run/wireguard/<name>.sock` on Unix and the named pipe
//! `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>` on Windows, as spoken by wg,
//! wireguard-go and wireguard-windows.
//!
//! Client side: [`UapiClient`] lists, reads and configures userspace devices the way wg does.
//! Server side: [`UapiServer`] exposes a [`UapiHandler`] so `wg` can manage a device
//! implemented in this process. Both have the same API on every platform; what differs is the
//! transport only: `unix_socket.rs` and `unix_listener.rs` on Unix, `pipe*.rs` on Windows,
//! behind [`stream::UapiStream`] (one read and one write with a timeout). The protocol
//! (`lines`, `set_parser`, `get_writer`, `get_reply`, `errno`), a connection's service
//! (`connection.rs`), deadlines (`deadline.rs`) and the client's request and reply logic
//! (`client.rs`) are shared.
//!
//! Decisions where the reference implementations differ or leave room:
//! - Names: non-empty, under 16 bytes, no `/`, `\` or NUL (`InvalidArgument`, errno
//!   ENAMETOOLONG or EINVAL).
//! - A named device whose socket is missing (ENOENT), is not a socket, or refuses the connection
//!   (ECONNREFUSED, after which the stale socket is unlinked as wg does) is `DeviceNotFound`.
//!   Listing keeps a socket whose connect fails for another reason (busy, no permission), as wg.
//!   On Windows a missing pipe is `DeviceNotFound` (ENOENT); listing enumerates `\\.\pipe\`
//!   as wg and wgctrl-go do there.
//! - Replies are read as whole lines, whatever the chunking. `errno=N` and `errno=-N` both mean
//!   errno N; no errno line is EPROTO. Errnos map through `Error::from_errno`, except EPROTO,
//!   which is `ErrorCode::Protocol`. A set reply whose stream ends right after `errno=` counts.
//!   On Windows the numbers on the wire are Linux's, as wireguard-go writes them there
//!   (`wire_errno_windows.rs`).
//! - Get replies: unknown keys are ignored (as wg); malformed values are `Protocol` errors;
//!   endpoints must be numeric; an all-zero private key means no key.
//! - The client writes IPv6 scope ids numerically (`[fe80::1%2]:51820`); both sides read a zone
//!   as an index or an interface name.
//! - The server reads and validates a whole `set=1` request before calling the handler; a
//!   request cut short by EOF is not applied (EPROTO), where wireguard-go applies what it got.

pub mod client;
mod connection;
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
#[cfg(windows)]
mod pipe;
#[cfg(windows)]
mod pipe_client;
#[cfg(windows)]
mod pipe_listener;
#[cfg(windows)]
mod pipe_security;
pub mod server;
pub mod set_parser;
pub mod set_request;
pub mod stream;
#[cfg(unix)]
mod unix_listener;
#[cfg(unix)]
mod unix_socket;
pub mod value;
#[cfg(unix)]
#[path = "wire_errno_unix.rs"]
mod wire_errno;
#[cfg(windows)]
#[path = "wire_errno_windows.rs"]
mod wire_errno;

/// The transport of this platform, under the names the shared code uses.
#[cfg(unix)]
mod platform {
    pub use super::unix_listener::{bind, conn_shutdown, ConnShutdown, ListenerControl};
    pub use super::unix_socket::{errno_of, has_device, list_devices, open_device};
    pub type Stream = std::os::unix::net::UnixStream;
    #[cfg(test)]
    pub use super::unix_listener::test_support;
}

/// The transport of this platform, under the names the shared code uses.
#[cfg(windows)]
mod platform {
    pub use super::pipe::{errno_of, PipeStream as Stream};
    pub use super::pipe_client::{has_device, list_devices, open_device};
    #[cfg(test)]
    pub use super::pipe_listener::test_support;
    pub use super::pipe_listener::{bind, conn_shutdown, ConnShutdown, ListenerControl};
}

pub use client::{UapiClient, UapiConnection, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT};
pub use name::{socket_path, validate_name, DEFAULT_SOCKET_DIR};
#[cfg(windows)]
pub(crate) use pipe::errno_from_win32;
#[cfg(test)]
pub(crate) use platform::test_support;
pub use server::{UapiHandler, UapiServer, UapiServerOptions};
