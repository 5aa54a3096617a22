//! I/O errors in errno terms on every platform. The crate speaks errnos (the C library's, and
//! on Windows the C runtime's: `ECONNREFUSED` is 107 there), but an `io::Error`'s raw OS code
//! is what the OS uses: errno on Unix, a Winsock (`WSAECONNREFUSED` = 10061) or Win32 code on
//! Windows. [`io_error`] builds the `io::Error` the OS itself would give for an errno (so its
//! `kind()` is right and std's text matches), [`errno_of`] reads an errno back from any
//! `io::Error` (what [`crate::error::Error::from_io`] and, through it, JS error codes use).
//! One file per platform.

#[cfg(unix)]
#[path = "os_error_unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "os_error_windows.rs"]
mod platform;

pub use platform::{errno_of, io_error};

/// glibc's words for the socket errnos, used on every platform: the Windows C runtime has
/// numbers for them but no text ("Unknown error"), musl and macOS word some differently
/// ("Address in use", "Operation timed out").
const SOCKET_ERRNO_TEXT: &[(i32, &str)] = &[
    (libc::EADDRINUSE, "Address already in use"),
    (libc::EADDRNOTAVAIL, "Cannot assign requested address"),
    (libc::EAFNOSUPPORT, "Address family not supported by protocol"),
    (libc::EALREADY, "Operation already in progress"),
    (libc::ECONNABORTED, "Software caused connection abort"),
    (libc::ECONNREFUSED, "Connection refused"),
    (libc::ECONNRESET, "Connection reset by peer"),
    (libc::EDESTADDRREQ, "Destination address required"),
    (libc::EHOSTUNREACH, "No route to host"),
    (libc::EINPROGRESS, "Operation now in progress"),
    (libc::EISCONN, "Transport endpoint is already connected"),
    (libc::ELOOP, "Too many levels of symbolic links"),
    (libc::EMSGSIZE, "Message too long"),
    (libc::ENETDOWN, "Network is down"),
    (libc::ENETRESET, "Network dropped connection on reset"),
    (libc::ENETUNREACH, "Network is unreachable"),
    (libc::ENOBUFS, "No buffer space available"),
    (libc::ENODATA, "No data available"),
    (libc::ENOPROTOOPT, "Protocol not available"),
    (libc::ENOTCONN, "Transport endpoint is not connected"),
    (libc::ENOTSOCK, "Socket operation on non-socket"),
    (libc::EOPNOTSUPP, "Operation not supported"),
    (libc::EPROTO, "Protocol error"),
    (libc::EPROTONOSUPPORT, "Protocol not supported"),
    (libc::EPROTOTYPE, "Protocol wrong type for socket"),
    (libc::ETIMEDOUT, "Connection timed out"),
    (libc::EWOULDBLOCK, "Resource temporarily unavailable"),
];

/// The description of an errno: glibc's words for the socket errnos, the C library's
/// `strerror` for the others.
pub fn strerror(errno: i32) -> String {
    match SOCKET_ERRNO_TEXT.iter().find(|(e, _)| *e == errno) {
        Some(&(_, text)) => text.to_string(),
        None => platform::strerror(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn errnos_round_trip_with_the_kind_the_os_gives() {
        for (errno, kind) in [
            (libc::ECONNREFUSED, ErrorKind::ConnectionRefused),
            (libc::ECONNRESET, ErrorKind::ConnectionReset),
            (libc::ETIMEDOUT, ErrorKind::TimedOut),
            (libc::EADDRINUSE, ErrorKind::AddrInUse),
            (libc::EADDRNOTAVAIL, ErrorKind::AddrNotAvailable),
            (libc::EPIPE, ErrorKind::BrokenPipe),
            (libc::EINVAL, ErrorKind::InvalidInput),
        ] {
            let e = io_error(errno);
            assert_eq!(errno_of(&e), Some(errno), "{e}");
            assert_eq!(e.kind(), kind, "{e}");
        }
        for errno in [libc::ENETUNREACH, libc::EMSGSIZE, libc::ENOBUFS, libc::EIO] {
            assert_eq!(errno_of(&io_error(errno)), Some(errno));
        }
    }

    #[test]
    fn errors_without_an_os_code_have_no_errno() {
        assert_eq!(errno_of(&std::io::Error::new(ErrorKind::NotConnected, "closed")), None);
    }

    #[test]
    fn errnos_read_as_on_linux_on_every_platform() {
        for (errno, text) in [
            (libc::EADDRINUSE, "Address already in use"),
            (libc::ECONNREFUSED, "Connection refused"),
            (libc::ETIMEDOUT, "Connection timed out"),
            (libc::ENOTCONN, "Transport endpoint is not connected"),
            (libc::EHOSTUNREACH, "No route to host"),
            (libc::EMSGSIZE, "Message too long"),
        ] {
            assert_eq!(strerror(errno), text, "errno {errno}");
        }
    }
}
