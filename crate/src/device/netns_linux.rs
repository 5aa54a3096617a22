//! Network namespaces: the device's TUN queues and UDP sockets are created inside a target
//! namespace by a short-lived helper thread that calls `setns`, so no long-lived thread (and
//! never the caller's) changes namespace.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Where the device lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// A namespace file such as `/var/run/netns/NAME` or `/proc/PID/ns/net`.
    Path(PathBuf),
    /// An open namespace file descriptor (borrowed; the device keeps its own duplicate).
    Fd(RawFd),
}

/// An open handle on the device's network namespace.
#[derive(Debug)]
pub(crate) struct NetnsHandle {
    fd: OwnedFd,
}

fn open_path(path: &std::path::Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid_argument("netns path contains a NUL byte"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::from_io(
            &std::io::Error::last_os_error(),
            format!("Unable to open network namespace {}", path.display()),
        ));
    }
    // SAFETY: fd was just opened and is owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ns_id(fd: RawFd) -> Result<(u64, u64)> {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(Error::from_io(&std::io::Error::last_os_error(), "fstat on netns"));
    }
    Ok((st.st_dev, st.st_ino))
}

impl NetnsHandle {
    /// Opens the given namespace, or the calling thread's one when `None`.
    pub(crate) fn open(spec: Option<&Netns>) -> Result<NetnsHandle> {
        let fd = match spec {
            None => open_path(std::path::Path::new("/proc/thread-self/ns/net"))?,
            Some(Netns::Path(p)) => open_path(p)?,
            Some(Netns::Fd(raw)) => {
                // SAFETY: F_DUPFD_CLOEXEC on a caller-provided descriptor; failure is checked.
                let fd = unsafe { libc::fcntl(*raw, libc::F_DUPFD_CLOEXEC, 0) };
                if fd < 0 {
                    return Err(Error::from_io(
                        &std::io::Error::last_os_error(),
                        "Unable to duplicate the network namespace descriptor",
                    ));
                }
                // SAFETY: fd is a fresh duplicate owned here.
                unsafe { OwnedFd::from_raw_fd(fd) }
            }
        };
        Ok(NetnsHandle { fd })
    }

    /// Runs `f` in the namespace: inline when the calling thread is already there, else on a
    /// helper thread that enters it with `setns` and then exits.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        let current = open_path(std::path::Path::new("/proc/thread-self/ns/net"))?;
        if ns_id(current.as_raw_fd())? == ns_id(self.fd.as_raw_fd())? {
            return f();
        }
        let fd = self.fd.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: fd is a namespace descriptor kept open by self for the scope.
                if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                    return Err(Error::from_io(
                        &std::io::Error::last_os_error(),
                        "Unable to enter the network namespace",
                    ));
                }
                f()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::new(
                    crate::error::ErrorCode::System,
                    "netns helper thread panicked",
                ))
            })
        })
    }
}
