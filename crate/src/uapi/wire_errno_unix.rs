//! The errno numbers of UAPI status lines on Unix: the platform's own, as wireguard-go writes
//! them there (`-int64(unix.EPROTO)`) and wg reads them.

/// The number a status line carries for the local errno `errno`.
pub const fn to_wire(errno: i32) -> i32 {
    errno
}

/// The local errno for the number of a status line.
pub const fn from_wire(wire: i32) -> i32 {
    wire
}
