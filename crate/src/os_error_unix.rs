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
