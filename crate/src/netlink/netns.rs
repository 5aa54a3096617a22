//! Opening a netlink socket inside another network namespace.
//!
//! A socket belongs to the namespace its creator was in at `socket()` time and stays
//! there. So a short-lived helper thread enters the target namespace with
//! `setns(fd, CLONE_NEWNET)`, creates and binds the socket, hands it back and exits. The
//! calling thread (a libuv worker in Node) never changes namespace, and no other thread
//! can observe the switch (wgctrl-go #58 and #61 discuss why switching a shared thread is
//! unsafe). The helper thread's namespace dies with it.

use super::socket::KernelTransport;
use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where `ip netns add NAME` puts its bind mounts.
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

/// A network namespace to work in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsTarget {
    /// A name as `ip netns` knows it: `/var/run/netns/<name>`.
    Name(String),
    /// A namespace file, such as `/proc/<pid>/ns/net` or a bind mount.
    Path(PathBuf),
    /// An open namespace file descriptor, borrowed for the duration of the call.
    Fd(RawFd),
}

impl NetnsTarget {
    /// Opens the namespace file (a descriptor target is only borrowed).
    pub(super) fn open(&self) -> Result<NamespaceFd> {
        match self {
            NetnsTarget::Name(name) => {
                if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
                    return Err(Error::invalid_argument(format!(
                        "Invalid network namespace name: `{name}'"
                    )));
                }
                open_namespace_file(&Path::new(NETNS_RUN_DIR).join(name)).map(NamespaceFd::Owned)
            }
            NetnsTarget::Path(path) => open_namespace_file(path).map(NamespaceFd::Owned),
            NetnsTarget::Fd(fd) => Ok(NamespaceFd::Borrowed(*fd)),
        }
    }
}

impl std::fmt::Display for NetnsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsTarget::Name(name) => f.write_str(name),
            NetnsTarget::Path(path) => write!(f, "{}", path.display()),
            NetnsTarget::Fd(fd) => write!(f, "fd {fd}"),
        }
    }
}

/// A namespace descriptor, closed on drop only if it was opened here.
pub(super) enum NamespaceFd {
    Owned(OwnedFd),
    Borrowed(RawFd),
}

impl NamespaceFd {
    pub(super) fn raw(&self) -> RawFd {
        match self {
            NamespaceFd::Owned(fd) => fd.as_raw_fd(),
            NamespaceFd::Borrowed(fd) => *fd,
        }
    }
}

/// Opens a netlink socket of `protocol` in `netns`, or in the caller's namespace for `None`.
pub fn open_transport(netns: Option<&NetnsTarget>, protocol: isize) -> Result<KernelTransport> {
    run_in(netns, || {
        KernelTransport::open(protocol).map_err(|e| Error::from_io(&e, "Unable to open a netlink socket"))
    })
}

/// Runs `work` in `netns`: on a short-lived helper thread that enters the namespace and exits
/// afterwards, or directly on the calling thread for `None`. Whatever `work` creates there
/// (sockets, open `/proc/sys/net` files) keeps the namespace; the caller's thread never moves.
pub fn run_in<T, F>(netns: Option<&NetnsTarget>, work: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let Some(target) = netns else {
        return work();
    };
    let namespace = target.open()?;
    let fd = namespace.raw();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns only reads the descriptor; it affects this helper thread only.
                if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(Error::from_io(&err, "Unable to enter the network namespace"));
                }
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::protocol("network namespace helper thread panicked")))
    })
}

fn open_namespace_file(path: &Path) -> Result<OwnedFd> {
    let context = || format!("Unable to open network namespace `{}'", path.display());
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid_argument(format!("{}: the path contains a NUL byte", context())))?;
    // SAFETY: a valid C string; the returned descriptor is owned below.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::from_io(&std::io::Error::last_os_error(), context()));
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
pub mod testing {
    use std::process::Command;

    /// A namespace made with `ip netns add` and deleted on drop, even if the test fails.
    pub struct TempNetns(pub String);

    impl TempNetns {
        pub fn create(tag: &str) -> TempNetns {
            let name = format!("wgkit-nl-{tag}-{}", std::process::id());
            let status = Command::new("ip").args(["netns", "add", &name]).status().unwrap();
            assert!(status.success(), "ip netns add {name} failed");
            TempNetns(name)
        }
    }

    impl Drop for TempNetns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::link;
    use crate::netlink::socket::Connection;
    use testing::TempNetns;

    fn thread_netns() -> PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    fn link_names(netns: Option<&NetnsTarget>) -> Vec<String> {
        let transport = open_transport(netns, netlink_sys::protocols::NETLINK_ROUTE).unwrap();
        let mut conn = Connection::new(transport);
        link::dump_links(&mut conn)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    #[test]
    fn socket_is_opened_in_the_target_namespace_without_moving_the_caller() {
        let netns = TempNetns::create("ns");
        let before = thread_netns();

        let by_name = link_names(Some(&NetnsTarget::Name(netns.0.clone())));
        assert_eq!(thread_netns(), before);
        // A fresh namespace has only its loopback device.
        assert_eq!(by_name, vec!["lo".to_string()]);

        let path = Path::new(NETNS_RUN_DIR).join(&netns.0);
        let by_path = link_names(Some(&NetnsTarget::Path(path.clone())));
        assert_eq!(by_path, vec!["lo".to_string()]);

        let file = std::fs::File::open(&path).unwrap();
        let by_fd = link_names(Some(&NetnsTarget::Fd(file.as_raw_fd())));
        assert_eq!(by_fd, vec!["lo".to_string()]);
        assert_eq!(thread_netns(), before);

        // The host namespace, for contrast, is not the fresh one.
        let (root_ns, new_ns) = (
            before,
            std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())),
        );
        assert_ne!(Some(root_ns), new_ns.ok());
    }

    #[test]
    fn bad_targets_are_reported() {
        let err = open_transport(Some(&NetnsTarget::Name("a/b".into())), 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let err = open_transport(Some(&NetnsTarget::Name("wgkit-no-such-netns".into())), 0).unwrap_err();
        assert_eq!(err.errno, Some(libc::ENOENT));
        // A regular file is not a namespace: setns fails with EINVAL, the caller is unmoved.
        let before = thread_netns();
        let err = open_transport(Some(&NetnsTarget::Path("/proc/self/status".into())), 0).unwrap_err();
        assert_eq!(err.errno, Some(libc::EINVAL));
        assert_eq!(thread_netns(), before);
    }
}
