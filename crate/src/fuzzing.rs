//! Crate-internal entry points for the fuzz targets in `crate/fuzz/` (hidden from the docs;
//! not an API: anything here may change). Everything else the targets use is public anyway.

pub use crate::device::fuzzing::{gro_coalesce, gso_split, Coalesced, MAX_PACKET, VNET_HDR_LEN};
pub use crate::netlink::fuzzing::{exchange as netlink_exchange, Query as NetlinkQuery};
