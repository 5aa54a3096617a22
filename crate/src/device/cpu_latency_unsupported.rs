//! No PM QoS CPU latency interface off Linux: asking for the low-latency mode is refused with
//! `UnsupportedPlatform` before the device starts, rather than failing to open a Linux path.

use crate::error::{Error, Result};
use std::path::Path;

/// Never a path here: the error names the platform and the option.
pub(crate) fn path() -> Result<&'static Path> {
    Err(Error::unsupported_platform(format!(
        "cpuLatencyUs (WGKIT_CPU_LATENCY_US) is not available on {}: the CPU latency request is \
         Linux's /dev/cpu_dma_latency. Leave it unset here.",
        Error::node_platform()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn refused_with_the_platform_named() {
        let e = path().unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedPlatform);
        assert!(e.message.contains(Error::node_platform()), "{}", e.message);
        assert!(e.message.contains("cpuLatencyUs"), "{}", e.message);
    }
}
