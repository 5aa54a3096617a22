//! The errno numbers of UAPI status lines on Windows: Linux's. wireguard-go's Windows build
//! writes Linux values (`ipc/uapi_windows.go`: IpcErrorIO -5, IpcErrorProtocol -71,
//! IpcErrorInvalid -22, IpcErrorPortInUse -98), while the C runtime here numbers errnos its
//! own way past ERANGE (EPROTO is 134, EADDRINUSE 100). This table converts between the two,
//! so the server writes what wireguard-go writes and the client reads wireguard-go's replies
//! into the CRT's errnos (whose names and texts the rest of the crate uses). Numbers up to
//! ERANGE (34) are the same in both; a number in neither column passes through unchanged.

/// (Linux errno, the Windows CRT's errno of the same name), for every name both define whose
/// numbers differ.
const LINUX_AND_CRT: &[(i32, i32)] = &[
    (26, libc::ETXTBSY),
    (35, libc::EDEADLK),
    (36, libc::ENAMETOOLONG),
    (37, libc::ENOLCK),
    (38, libc::ENOSYS),
    (39, libc::ENOTEMPTY),
    (40, libc::ELOOP),
    (42, libc::ENOMSG),
    (43, libc::EIDRM),
    (60, libc::ENOSTR),
    (61, libc::ENODATA),
    (62, libc::ETIME),
    (63, libc::ENOSR),
    (67, libc::ENOLINK),
    (71, libc::EPROTO),
    (74, libc::EBADMSG),
    (75, libc::EOVERFLOW),
    (84, libc::EILSEQ),
    (88, libc::ENOTSOCK),
    (89, libc::EDESTADDRREQ),
    (90, libc::EMSGSIZE),
    (91, libc::EPROTOTYPE),
    (92, libc::ENOPROTOOPT),
    (93, libc::EPROTONOSUPPORT),
    (95, libc::EOPNOTSUPP),
    (97, libc::EAFNOSUPPORT),
    (98, libc::EADDRINUSE),
    (99, libc::EADDRNOTAVAIL),
    (100, libc::ENETDOWN),
    (101, libc::ENETUNREACH),
    (102, libc::ENETRESET),
    (103, libc::ECONNABORTED),
    (104, libc::ECONNRESET),
    (105, libc::ENOBUFS),
    (106, libc::EISCONN),
    (107, libc::ENOTCONN),
    (110, libc::ETIMEDOUT),
    (111, libc::ECONNREFUSED),
    (113, libc::EHOSTUNREACH),
    (114, libc::EALREADY),
    (115, libc::EINPROGRESS),
    (125, libc::ECANCELED),
    (130, libc::EOWNERDEAD),
    (131, libc::ENOTRECOVERABLE),
];

/// The number a status line carries for the CRT errno `errno` (positive; the caller signs it).
pub const fn to_wire(errno: i32) -> i32 {
    let mut i = 0;
    while i < LINUX_AND_CRT.len() {
        if LINUX_AND_CRT[i].1 == errno {
            return LINUX_AND_CRT[i].0;
        }
        i += 1;
    }
    errno
}

/// The CRT errno for the (positive) number of a status line.
pub const fn from_wire(wire: i32) -> i32 {
    let mut i = 0;
    while i < LINUX_AND_CRT.len() {
        if LINUX_AND_CRT[i].0 == wire {
            return LINUX_AND_CRT[i].1;
        }
        i += 1;
    }
    wire
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_go_values_round_trip() {
        assert_eq!(to_wire(libc::EPROTO), 71);
        assert_eq!(to_wire(libc::EADDRINUSE), 98);
        assert_eq!(to_wire(libc::EINVAL), 22);
        assert_eq!(to_wire(libc::EIO), 5);
        assert_eq!(from_wire(71), libc::EPROTO);
        assert_eq!(from_wire(110), libc::ETIMEDOUT);
        for &(linux, crt) in LINUX_AND_CRT {
            assert_eq!((to_wire(crt), from_wire(linux)), (linux, crt));
        }
    }
}
