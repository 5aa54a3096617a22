//! The UDP side's sockets: one bound set per listen port ([`Sockets`]), replaced as a whole
//! when the port changes; each worker reads and writes its pair (IPv4, IPv6) through
//! `batch.rs`. One file per platform: `udp_linux.rs` (a pair per worker with SO_REUSEPORT,
//! IP_PKTINFO, UDP GRO, SO_MARK, forced buffer sizes), `udp_portable.rs` (one pair the
//! workers share, through the standard library's sockets).

#[cfg(target_os = "linux")]
#[path = "udp_linux.rs"]
mod platform;
#[cfg(not(target_os = "linux"))]
#[path = "udp_portable.rs"]
mod platform;

pub(crate) use platform::*;
