//! One error type for the whole crate, with stable codes shared with the TypeScript facade.

use std::fmt;

/// Stable error codes. The string form (`ERR_WGKIT_…`) is part of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A key is not 44 characters of canonical base64 (or 64 hex characters).
    InvalidKey,
    /// A key file is malformed (length, trailing characters).
    InvalidKeyFile,
    /// An argument is out of range or malformed; the message names the field.
    InvalidArgument,
    /// The device does not exist (ENODEV) or is not a WireGuard device (EOPNOTSUPP).
    DeviceNotFound,
    /// The caller lacks CAP_NET_ADMIN or file permissions (EPERM, EACCES).
    PermissionDenied,
    /// The backend cannot be used on this machine (no kernel module, no socket directory).
    BackendUnavailable,
    /// A peer answered with something that does not follow the protocol.
    Protocol,
    /// Any other failed OS call; the errno name is attached.
    System,
    /// A multi-message change failed after earlier messages were applied.
    PartiallyApplied,
    /// What was asked for exists only on other platforms (a TUN interface or a network
    /// namespace outside Linux, say).
    UnsupportedPlatform,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidKey => "ERR_WGKIT_INVALID_KEY",
            ErrorCode::InvalidKeyFile => "ERR_WGKIT_INVALID_KEY_FILE",
            ErrorCode::InvalidArgument => "ERR_WGKIT_INVALID_ARGUMENT",
            ErrorCode::DeviceNotFound => "ERR_WGKIT_DEVICE_NOT_FOUND",
            ErrorCode::PermissionDenied => "ERR_WGKIT_PERMISSION_DENIED",
            ErrorCode::BackendUnavailable => "ERR_WGKIT_BACKEND_UNAVAILABLE",
            ErrorCode::Protocol => "ERR_WGKIT_PROTOCOL",
            ErrorCode::System => "ERR_WGKIT_SYSTEM",
            ErrorCode::PartiallyApplied => "ERR_WGKIT_PARTIALLY_APPLIED",
            ErrorCode::UnsupportedPlatform => "ERR_WGKIT_UNSUPPORTED_PLATFORM",
        }
    }
}

/// An error with a stable code, a human message and, when an OS call failed, its errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub errno: Option<i32>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            errno: None,
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    /// Something this platform does not have; the message says what and where it exists.
    pub fn unsupported_platform(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::UnsupportedPlatform, message)
    }

    /// The platform as Node names it (`process.platform`), for `UnsupportedPlatform` messages.
    pub fn node_platform() -> &'static str {
        match std::env::consts::OS {
            "windows" => "win32",
            os => os,
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Protocol, message)
    }

    /// An OS failure. The code follows the errno: ENODEV/EOPNOTSUPP mean the device is not
    /// there, EPERM/EACCES mean permission denied, anything else is a system error.
    pub fn from_errno(errno: i32, context: impl Into<String>) -> Self {
        let code = match errno {
            libc::ENODEV | libc::EOPNOTSUPP => ErrorCode::DeviceNotFound,
            libc::EPERM | libc::EACCES => ErrorCode::PermissionDenied,
            _ => ErrorCode::System,
        };
        let context = context.into();
        let message = format!("{}: {}", context, strerror(errno));
        Error {
            code,
            message,
            errno: Some(errno),
        }
    }

    /// An I/O failure: by its errno ([`crate::os_error::errno_of`]: on Windows a Winsock or
    /// Win32 code becomes the C runtime's errno of the same meaning).
    pub fn from_io(err: &std::io::Error, context: impl Into<String>) -> Self {
        match crate::os_error::errno_of(err) {
            Some(errno) => Error::from_errno(errno, context),
            None => Error::new(ErrorCode::System, format!("{}: {}", context.into(), err)),
        }
    }

    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }

    /// The errno's symbolic name (`EPERM`, `ENODEV`, …), if any.
    pub fn errno_name(&self) -> Option<&'static str> {
        self.errno.map(errno_name)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The description of an errno, as glibc's `strerror(3)` words it on every platform
/// ([`crate::os_error::strerror`]).
pub fn strerror(errno: i32) -> String {
    crate::os_error::strerror(errno)
}

/// errno values and their symbolic names, as Node reports them in `error.code`.
const ERRNO_NAMES: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::EBADF, "EBADF"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EPIPE, "EPIPE"),
    (libc::ERANGE, "ERANGE"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EALREADY, "EALREADY"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::EPROTO, "EPROTO"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ENODATA, "ENODATA"),
];

/// errno names that only some C libraries define (not the Windows CRT).
#[cfg(target_os = "linux")]
const PLATFORM_ERRNO_NAMES: &[(i32, &str)] = &[(libc::EPFNOSUPPORT, "EPFNOSUPPORT"), (libc::EBADR, "EBADR")];
#[cfg(all(unix, not(target_os = "linux")))]
const PLATFORM_ERRNO_NAMES: &[(i32, &str)] = &[(libc::EPFNOSUPPORT, "EPFNOSUPPORT")];
#[cfg(not(unix))]
const PLATFORM_ERRNO_NAMES: &[(i32, &str)] = &[];

fn all_errno_names() -> impl Iterator<Item = &'static (i32, &'static str)> {
    ERRNO_NAMES.iter().chain(PLATFORM_ERRNO_NAMES)
}

/// The symbolic name of an errno value (`EUNKNOWN` for one not in the table).
pub fn errno_name(errno: i32) -> &'static str {
    all_errno_names()
        .find(|(n, _)| *n == errno)
        .map_or("EUNKNOWN", |(_, name)| name)
}

/// The errno value of a symbolic name.
pub fn errno_from_name(name: &str) -> Option<i32> {
    all_errno_names().find(|(_, n)| *n == name).map(|(errno, _)| *errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_code() {
        assert_eq!(Error::from_errno(libc::ENODEV, "x").code, ErrorCode::DeviceNotFound);
        assert_eq!(Error::from_errno(libc::EOPNOTSUPP, "x").code, ErrorCode::DeviceNotFound);
        assert_eq!(Error::from_errno(libc::EPERM, "x").code, ErrorCode::PermissionDenied);
        assert_eq!(Error::from_errno(libc::EADDRINUSE, "x").code, ErrorCode::System);
        assert_eq!(Error::from_errno(libc::EPERM, "x").errno_name(), Some("EPERM"));
        assert_eq!(errno_from_name("EPROTONOSUPPORT"), Some(libc::EPROTONOSUPPORT));
        assert_eq!(errno_from_name("ENOPE"), None);
    }

    #[test]
    fn message_has_strerror() {
        let e = Error::from_errno(libc::ENODEV, "Unable to access interface");
        assert_eq!(e.message, "Unable to access interface: No such device");
    }
}
