//! Linux: the low-latency mode's request goes to the kernel's PM QoS CPU latency interface.

use crate::error::Result;
use std::path::Path;

/// The file the request is written to and held open on.
pub(crate) fn path() -> Result<&'static Path> {
    Ok(Path::new("/dev/cpu_dma_latency"))
}
