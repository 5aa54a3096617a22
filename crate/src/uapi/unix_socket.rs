//! The UAPI client's connector on Unix: finding and opening UAPI sockets (wg ipc-uapi-unix.h): the socket-type and live-connect
//! checks, unlinking a stale socket on ECONNREFUSED, and listing `<dir>/*.sock`.
//!
//! For a named device, a missing socket (ENOENT), a file that is not a socket and a refused
//! connection (ECONNREFUSED: the process is gone) all mean the device is not there:
//! `ErrorCode::DeviceNotFound`, with the errno kept.

use super::name::{name_from_socket_file, socket_path};
use super::stream::UapiStream;
use crate::error::{Error, ErrorCode, Result};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Connects to a UNIX stream socket. With a timeout, a connect that waits longer (the
/// listener's backlog is full) fails with ETIMEDOUT; the kernel honours SO_SNDTIMEO there.
pub fn connect_unix(path: &Path, timeout: Option<Duration>) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let fd = unix_stream_socket()?;
    if let Some(t) = timeout {
        set_timeval_opt(&fd, libc::SO_SNDTIMEO, t)?;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un and `len` does not exceed its size.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EAGAIN) && timeout.is_some() {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        return Err(err);
    }
    let stream = UnixStream::from(fd);
    stream.set_write_timeout(None)?;
    Ok(stream)
}

/// A close-on-exec AF_UNIX stream socket, atomically where the kernel allows it (Linux).
#[cfg(target_os = "linux")]
fn unix_stream_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A close-on-exec AF_UNIX stream socket. The BSDs' socket(2) on macOS has no SOCK_CLOEXEC:
/// FD_CLOEXEC is set right after (as libuv does there).
#[cfg(not(target_os = "linux"))]
fn unix_stream_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fcntl(F_SETFD) on a descriptor we own.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn set_timeval_opt(fd: &OwnedFd, opt: libc::c_int, t: Duration) -> io::Result<()> {
    // A zero timeval means "no timeout" to the kernel; use the smallest non-zero one instead.
    let t = t.max(Duration::from_micros(1));
    let tv = libc::timeval {
        // Capped at i32::MAX seconds: fits every C library's time_t (musl deprecates naming it).
        tv_sec: t.as_secs().min(i32::MAX as u64) as _,
        // Under a million: fits every C library's suseconds_t (i32 on macOS, i64 elsewhere).
        tv_usec: t.subsec_micros() as _,
    };
    // SAFETY: `tv` is a valid timeval and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `send(MSG_NOSIGNAL)`, so a peer that hung up gives EPIPE instead of a SIGPIPE that would
/// kill the (Node) process; retried on EINTR. Returns how many bytes the socket took.
fn send_some(stream: &UnixStream, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `data` is a valid buffer of `data.len()` bytes.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A socket timeout of at least a microsecond (zero would mean none).
fn socket_timeout(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.max(Duration::from_micros(1)))
}

/// Each call sets the socket's timeout (SO_RCVTIMEO, SO_SNDTIMEO) for itself; running out of
/// time is `WouldBlock`.
impl UapiStream for UnixStream {
    fn read_within(&self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        self.set_read_timeout(socket_timeout(timeout))?;
        (&mut &*self).read(buf)
    }

    fn write_within(&self, data: &[u8], timeout: Option<Duration>) -> io::Result<usize> {
        self.set_write_timeout(socket_timeout(timeout))?;
        send_some(self, data)
    }
}

/// The errno of an I/O error (on Unix, its OS error number).
pub fn errno_of(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
}

fn not_found(errno: i32, context: &str) -> Error {
    Error::from_errno(errno, context).with_code(ErrorCode::DeviceNotFound)
}

/// Opens the socket of device `name` in `dir`, as wg's `userspace_interface_file` does.
pub fn open_device(dir: &Path, name: &str, timeout: Option<Duration>) -> Result<UnixStream> {
    let path = socket_path(dir, name)?;
    let context = format!("Unable to access interface {name}");
    match std::fs::metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => {}
        Ok(_) => return Err(not_found(libc::EBADF, &context)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(not_found(libc::ENOENT, &context))
        }
        Err(e) => return Err(Error::from_io(&e, context)),
    }
    match connect_unix(&path, timeout) {
        Ok(stream) => Ok(stream),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            // The process is gone: clean up its socket, as wg does.
            let _ = std::fs::remove_file(&path);
            Err(not_found(libc::ECONNREFUSED, &context))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(not_found(libc::ENOENT, &context)),
        Err(e) => Err(Error::from_io(&e, context)),
    }
}

/// Whether `<dir>/<name>.sock` is a socket someone listens on. A refused connection unlinks the
/// stale socket; any other connect failure (a full backlog, no permission) still counts as a
/// device, as in wg's `userspace_has_wireguard_interface`.
pub fn has_device(dir: &Path, name: &str, timeout: Option<Duration>) -> bool {
    let Ok(path) = socket_path(dir, name) else {
        return false;
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => {}
        _ => return false,
    }
    match connect_unix(&path, timeout) {
        Ok(_) => true,
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(e) => e.raw_os_error() != Some(libc::ENOENT),
    }
}

/// The names of the live UAPI devices in `dir`, in directory order (the order wg lists them).
/// A missing directory means none.
pub fn list_devices(dir: &Path, timeout: Option<Duration>) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(Error::from_io(&e, format!("Unable to list {}", dir.display()))),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::from_io(&e, format!("Unable to list {}", dir.display())))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(name_from_socket_file) else {
            continue;
        };
        if has_device(dir, name, timeout) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wgkit-uapi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn discovery_and_stale_sockets() {
        let dir = temp_dir("disc");
        let _live = UnixListener::bind(dir.join("live.sock")).unwrap();
        drop(UnixListener::bind(dir.join("stale.sock")).unwrap());
        std::fs::write(dir.join("file.sock"), b"").unwrap();
        let _other = UnixListener::bind(dir.join("other.socket")).unwrap();
        let _bare = UnixListener::bind(dir.join(".sock")).unwrap();
        assert!(dir.join("stale.sock").exists());
        let names = list_devices(&dir, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(names, ["live"]);
        assert!(!dir.join("stale.sock").exists(), "stale socket unlinked");
        assert!(dir.join("file.sock").exists(), "regular file left alone");

        let e = open_device(&dir, "nothere", None).unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::DeviceNotFound, Some(libc::ENOENT)));
        let e = open_device(&dir, "file", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::DeviceNotFound);
        drop(UnixListener::bind(dir.join("stale2.sock")).unwrap());
        let e = open_device(&dir, "stale2", None).unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::DeviceNotFound, Some(libc::ECONNREFUSED)));
        assert!(!dir.join("stale2.sock").exists());
        assert!(open_device(&dir, "live", None).is_ok());
        assert_eq!(
            open_device(&dir, "a/b", None).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(list_devices(&dir.join("missing"), None).unwrap(), Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
