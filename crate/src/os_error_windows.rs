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
        f.write_str(&strerror(self.0))
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

/// glibc's words for the errnos the Windows C runtime has numbers for but no text (its
/// `strerror` says "Unknown error" for all of them), so messages read as on Linux.
const GLIBC_TEXT: &[(i32, &str)] = &[
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

/// The description of an errno: glibc's words for the socket errnos, the C runtime's
/// `strerror` for the classic ones (the same words as glibc's for those).
pub fn strerror(errno: i32) -> String {
    if let Some(&(_, text)) = GLIBC_TEXT.iter().find(|(e, _)| *e == errno) {
        return text.to_string();
    }
    // SAFETY: the CRT's strerror returns a NUL-terminated string (its "Unknown error" for an
    // unknown number), valid until the next strerror call on this thread; it is copied at once.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}
