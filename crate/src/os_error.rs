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

pub use platform::{errno_of, io_error, strerror};

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
            (libc::ENOENT, "No such file or directory"),
            (libc::EACCES, "Permission denied"),
            (libc::EPIPE, "Broken pipe"),
        ] {
            assert_eq!(strerror(errno), text, "errno {errno}");
        }
    }
}
