//! Unix: an `io::Error`'s raw OS code is the errno.

use std::io;

/// The error the OS gives for `errno`.
pub fn io_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The errno of an I/O error, if it came from the OS.
pub fn errno_of(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
}

/// The C library's description of an errno, as `strerror(3)` gives it.
pub fn strerror(errno: i32) -> String {
    io::Error::from_raw_os_error(errno)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_string()
}
