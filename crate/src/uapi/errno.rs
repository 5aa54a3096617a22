//! The `errno=N` status line that ends every UAPI reply.
//!
//! wireguard-go writes negative values (`errno=-22`); wg's set path reads a signed number and
//! its get path only digits. This module reads both signs and normalises to the positive errno,
//! maps it to our error codes, and chooses the (negative, wireguard-go style) value a server
//! sends for one of our errors. The numbers on the wire are the platform's errnos on Unix and
//! Linux's on Windows, as wireguard-go writes them (`wire_errno_*.rs`).

use super::wire_errno::{from_wire, to_wire};
use crate::error::{Error, ErrorCode};

/// wireguard-go `ipc.IpcErrorIO`.
pub const IPC_ERROR_IO: i32 = -to_wire(libc::EIO);
/// wireguard-go `ipc.IpcErrorProtocol`.
pub const IPC_ERROR_PROTOCOL: i32 = -to_wire(libc::EPROTO);
/// wireguard-go `ipc.IpcErrorInvalid`.
pub const IPC_ERROR_INVALID: i32 = -to_wire(libc::EINVAL);
/// A request over the server's size bound (the kernel's errno for a device at its peer limit).
pub const IPC_ERROR_TOO_BIG: i32 = -to_wire(libc::E2BIG);
/// wireguard-go `ipc.IpcErrorPortInUse`.
pub const IPC_ERROR_PORT_IN_USE: i32 = -to_wire(libc::EADDRINUSE);

/// Parses the value of an `errno=` line: `N` or `-N`, decimal digits only, at most `i32::MAX`.
/// Returns the positive number as sent (0 for success); [`reply_error`] makes it a local errno.
pub fn parse_errno(value: &str) -> Option<i32> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i32>().ok()
}

/// The error for a non-zero errno in a reply (as sent, positive). The code follows
/// `Error::from_errno`, except that EPROTO is a protocol error.
pub fn reply_error(wire: i32, context: &str) -> Error {
    let errno = from_wire(wire);
    let err = Error::from_errno(errno, context);
    if errno == libc::EPROTO {
        err.with_code(ErrorCode::Protocol)
    } else {
        err
    }
}

/// A reply that ended without an `errno=` line: EPROTO, as wg treats it.
pub fn missing_errno(context: &str) -> Error {
    Error {
        code: ErrorCode::Protocol,
        message: format!("{context}: reply has no errno line"),
        errno: Some(libc::EPROTO),
    }
}

/// The value a server writes in `errno=` for one of our errors: the error's own errno if it
/// has one, otherwise EINVAL for bad input, EPROTO for protocol errors and EIO for the rest;
/// always negative, as wireguard-go writes it.
pub fn errno_for_error(err: &Error) -> i32 {
    if let Some(errno) = err.errno.filter(|&e| e != 0) {
        return -to_wire(errno.abs());
    }
    match err.code {
        ErrorCode::InvalidArgument | ErrorCode::InvalidKey | ErrorCode::InvalidKeyFile => IPC_ERROR_INVALID,
        ErrorCode::Protocol => IPC_ERROR_PROTOCOL,
        ErrorCode::DeviceNotFound => -to_wire(libc::ENODEV),
        ErrorCode::PermissionDenied => -to_wire(libc::EPERM),
        _ => IPC_ERROR_IO,
    }
}

/// An I/O failure on a connection. A read or write timeout becomes ETIMEDOUT; an OS error
/// keeps its errno (on Windows, the errno of its Win32 error code).
pub fn io_error(err: &std::io::Error, context: &str) -> Error {
    if super::stream::is_timeout(err) {
        return Error::from_errno(libc::ETIMEDOUT, context);
    }
    match super::platform::errno_of(err) {
        Some(errno) => Error::from_errno(errno, context),
        None => Error::new(ErrorCode::System, format!("{context}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_signs() {
        assert_eq!(parse_errno("0"), Some(0));
        assert_eq!(parse_errno("22"), Some(22));
        assert_eq!(parse_errno("-22"), Some(22));
        assert_eq!(parse_errno("-0"), Some(0));
        assert_eq!(parse_errno("+22"), None);
        assert_eq!(parse_errno(""), None);
        assert_eq!(parse_errno("-"), None);
        assert_eq!(parse_errno("2 2"), None);
        assert_eq!(parse_errno("--22"), None);
        assert_eq!(parse_errno("2147483648"), None);
        assert_eq!(parse_errno("2147483647"), Some(i32::MAX));
    }

    #[test]
    fn mapping() {
        let wire = |errno| to_wire(errno);
        assert_eq!(reply_error(wire(libc::EPROTO), "x").code, ErrorCode::Protocol);
        assert_eq!(reply_error(wire(libc::EPROTO), "x").errno, Some(libc::EPROTO));
        assert_eq!(reply_error(wire(libc::ENODEV), "x").code, ErrorCode::DeviceNotFound);
        assert_eq!(reply_error(wire(libc::EADDRINUSE), "x").code, ErrorCode::System);
        assert_eq!(reply_error(wire(libc::EPERM), "x").code, ErrorCode::PermissionDenied);
        let e = missing_errno("set");
        assert_eq!((e.code, e.errno), (ErrorCode::Protocol, Some(libc::EPROTO)));
    }

    #[test]
    fn server_values() {
        assert_eq!(errno_for_error(&Error::invalid_argument("x")), -22);
        assert_eq!(errno_for_error(&Error::protocol("x")), -71);
        assert_eq!(errno_for_error(&Error::new(ErrorCode::System, "x")), -5);
        assert_eq!(errno_for_error(&Error::from_errno(libc::EADDRINUSE, "x")), -98);
        assert_eq!(errno_for_error(&Error::new(ErrorCode::InvalidKey, "x")), -22);
    }
}
