//! Every platform but Linux: no network namespaces. A device lives in the process's network
//! stack; asking for a namespace fails with `UnsupportedPlatform`.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// Where the device lives (a Linux namespace; none can be used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// A namespace file such as `/var/run/netns/NAME` (Linux).
    Path(PathBuf),
    /// An open namespace file descriptor (Linux).
    Fd(i32),
}

/// The device's network stack: the process's.
#[derive(Debug)]
pub(crate) struct NetnsHandle;

impl NetnsHandle {
    /// The process's stack when `None`; a namespace is refused.
    pub(crate) fn open(spec: Option<&Netns>) -> Result<NetnsHandle> {
        match spec {
            None => Ok(NetnsHandle),
            Some(Netns::Path(p)) => Err(Error::unsupported_platform(format!(
                "Network namespaces are a Linux feature: netns {} cannot be used on this platform",
                p.display()
            ))),
            Some(Netns::Fd(fd)) => Err(Error::unsupported_platform(format!(
                "Network namespaces are a Linux feature: netns descriptor {fd} cannot be used on this platform"
            ))),
        }
    }

    /// Runs `f` (there is only one stack).
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_namespace_is_refused_as_unsupported() {
        let e = NetnsHandle::open(Some(&Netns::Path("/var/run/netns/x".into()))).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedPlatform);
        assert_eq!(NetnsHandle::open(None).unwrap().run(|| Ok(7)).unwrap(), 7);
    }
}
