//! Windows: sockets fail with Winsock codes (`WSAE…`, 10000 and up), files and pipes with
//! Win32 codes; the crate's errnos are the C runtime's. Socket errnos map one-to-one to their
//! Winsock codes; `EPIPE` is `ERROR_BROKEN_PIPE`, as Windows pipes say it; an errno with
//! neither is carried inside the error itself.

use std::io;

/// (CRT errno, the Winsock code of the same meaning).
const WSA: &[(i32, i32)] = &[
    (libc::EINTR, 10004),
    (libc::EBADF, 10009),
    (libc::EACCES, 10013),
    (libc::EFAULT, 10014),
    (libc::EINVAL, 10022),
    (libc::EMFILE, 10024),
    (libc::EWOULDBLOCK, 10035),
    (libc::EINPROGRESS, 10036),
    (libc::EALREADY, 10037),
    (libc::ENOTSOCK, 10038),
    (libc::EDESTADDRREQ, 10039),
    (libc::EMSGSIZE, 10040),
    (libc::EPROTOTYPE, 10041),
    (libc::ENOPROTOOPT, 10042),
    (libc::EPROTONOSUPPORT, 10043),
    (libc::EOPNOTSUPP, 10045),
    (libc::EAFNOSUPPORT, 10047),
    (libc::EADDRINUSE, 10048),
    (libc::EADDRNOTAVAIL, 10049),
    (libc::ENETDOWN, 10050),
    (libc::ENETUNREACH, 10051),
    (libc::ENETRESET, 10052),
    (libc::ECONNABORTED, 10053),
    (libc::ECONNRESET, 10054),
    (libc::ENOBUFS, 10055),
    (libc::EISCONN, 10056),
    (libc::ENOTCONN, 10057),
    (libc::ETIMEDOUT, 10060),
    (libc::ECONNREFUSED, 10061),
    (libc::ELOOP, 10062),
    (libc::ENAMETOOLONG, 10063),
    (libc::EHOSTUNREACH, 10065),
];

const ERROR_BROKEN_PIPE: i32 = 109;

/// An errno with no Winsock or Win32 code of its own, carried as the error's payload.
#[derive(Debug)]
struct CrtErrno(i32);

impl std::fmt::Display for CrtErrno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::strerror(self.0))
    }
}

impl std::error::Error for CrtErrno {}

/// The error Windows gives for `errno`.
pub fn io_error(errno: i32) -> io::Error {
    if let Some(&(_, wsa)) = WSA.iter().find(|(e, _)| *e == errno) {
        return io::Error::from_raw_os_error(wsa);
    }
    if errno == libc::EPIPE {
        return io::Error::from_raw_os_error(ERROR_BROKEN_PIPE);
    }
    io::Error::other(CrtErrno(errno))
}

/// The CRT errno of an I/O error: a Winsock code's, a Win32 code's (as the named-pipe UAPI
/// maps them), or the one [`io_error`] carried.
pub fn errno_of(err: &io::Error) -> Option<i32> {
    if let Some(code) = err.raw_os_error() {
        if let Some(&(errno, _)) = WSA.iter().find(|(_, w)| *w == code) {
            return Some(errno);
        }
        return Some(crate::uapi::errno_from_win32(code as u32));
    }
    err.get_ref()?.downcast_ref::<CrtErrno>().map(|e| e.0)
}

/// The C runtime's description of an errno (its "Unknown error" for the socket errnos, which
/// [`super::strerror`] words itself).
pub fn strerror(errno: i32) -> String {
    // SAFETY: the CRT's strerror returns a NUL-terminated string (its "Unknown error" for an
    // unknown number), valid until the next strerror call on this thread; it is copied at once.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}
