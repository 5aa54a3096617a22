//! The UAPI server's listener on Unix: `<dir>/<name>.sock` (directory mode 0755, socket mode
//! 0600), created so no one can connect before the mode is set and no live socket is replaced;
//! an accept loop that a pipe wakes; connections shut down with `shutdown(2)` on close.

use super::unix_socket::connect_unix;
use crate::error::{Error, Result};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static BIND_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The listening socket, run by the accept thread.
pub struct Listener {
    listener: UnixListener,
    wake: OwnedFd,
}

/// What the server keeps to stop the accept thread and clean up.
pub struct ListenerControl {
    wake: OwnedFd,
    path: PathBuf,
    /// (st_dev, st_ino) of the socket file we created.
    identity: (u64, u64),
}

/// Binds `path` (`<dir>/<name>.sock`), creating `dir` (0755) if needed. A live socket there is
/// EADDRINUSE ("unix socket in use"); a stale one is replaced.
pub fn bind(dir: &Path, path: &Path, name: &str) -> Result<(Listener, ListenerControl)> {
    let context = format!("UAPI listen error for {name}");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| Error::from_io(&e, &context))?;
    let listener = bind_socket(dir, path, name).map_err(|e| {
        if e.raw_os_error() == Some(libc::EADDRINUSE) {
            Error::from_errno(libc::EADDRINUSE, format!("{context}: unix socket in use"))
        } else {
            Error::from_io(&e, &context)
        }
    })?;
    let meta = std::fs::metadata(path).map_err(|e| Error::from_io(&e, &context))?;
    let identity = (meta.dev(), meta.ino());
    let cleanup = |e: io::Error| {
        remove_if_ours(path, identity);
        Error::from_io(&e, &context)
    };
    listener.set_nonblocking(true).map_err(cleanup)?;
    let (wake_read, wake_write) = pipe().map_err(cleanup)?;
    Ok((
        Listener {
            listener,
            wake: wake_read,
        },
        ListenerControl {
            wake: wake_write,
            path: path.to_path_buf(),
            identity,
        },
    ))
}

impl ListenerControl {
    /// Wakes the accept thread, which then returns. Open connections are shut down one by one
    /// (`ConnShutdown`).
    pub fn stop(&self) {
        // A full pipe already wakes it.
        // SAFETY: writing one byte from a valid buffer to a descriptor we own.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), b"x".as_ptr() as *const libc::c_void, 1) };
    }

    /// Removes the socket file if it is still the one we created.
    pub fn remove(&self) {
        remove_if_ours(&self.path, self.identity);
    }
}

/// Shuts down one open connection when the server closes.
pub struct ConnShutdown(RawFd);

pub fn conn_shutdown(stream: &UnixStream) -> ConnShutdown {
    ConnShutdown(stream.as_raw_fd())
}

impl ConnShutdown {
    pub fn shutdown(&self) {
        // SAFETY: the descriptor is an open connection socket while its entry exists (see
        // `Shared::conns`); shutdown only ends its traffic, the connection's thread still owns
        // and closes it.
        unsafe { libc::shutdown(self.0, libc::SHUT_RDWR) };
    }
}

impl Listener {
    /// Accepts connections (blocking streams) and hands each to `accept` until woken.
    pub fn run(self, mut accept: impl FnMut(UnixStream)) {
        while wait(&self.listener, &self.wake, -1, true) {
            loop {
                match self.listener.accept() {
                    Ok((stream, _)) => {
                        if stream.set_nonblocking(false).is_ok() {
                            accept(stream);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                    Err(_) => {
                        // Out of descriptors or memory: back off for a moment (still wakeable)
                        // instead of spinning on a listener that stays readable.
                        if !wait(&self.listener, &self.wake, 100, false) {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    }
}

fn remove_if_ours(path: &Path, identity: (u64, u64)) {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if (meta.dev(), meta.ino()) == identity {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates the socket in a private (0700) directory, makes it 0600, then hard-links it into
/// place: no one can connect before the mode is set, and `link` never replaces a socket another
/// server created meanwhile.
fn bind_socket(dir: &Path, path: &Path, name: &str) -> io::Result<UnixListener> {
    let n = BIND_COUNTER.fetch_add(1, Ordering::Relaxed);
    let private = dir.join(format!(".wgkit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let result = (|| {
        let tmp = private.join("s");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        for _ in 0..2 {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => return Ok(listener),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match connect_unix(path, Some(Duration::from_secs(1))) {
                        Ok(_) => return Err(io::Error::from_raw_os_error(libc::EADDRINUSE)),
                        Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                            return Err(io::Error::from_raw_os_error(libc::EADDRINUSE))
                        }
                        // Stale (ECONNREFUSED), not a socket, or gone: replace it.
                        Err(_) => {
                            let _ = std::fs::remove_file(path);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from_raw_os_error(libc::EADDRINUSE))
    })();
    let _ = std::fs::remove_dir_all(&private);
    result
}

/// A close-on-exec pipe whose ends are both non-blocking (a full pipe never blocks `stop`).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = io::pipe()?;
    let (read, write) = (OwnedFd::from(read), OwnedFd::from(write));
    set_nonblocking(&read)?;
    set_nonblocking(&write)?;
    Ok((read, write))
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL take and return plain flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits for the listener or the wake pipe; returns false when woken (or on a poll failure).
fn wait(listener: &UnixListener, wake: &OwnedFd, timeout_ms: libc::c_int, want_listener: bool) -> bool {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if want_listener { listener.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd structures.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        return fds[0].revents == 0;
    }
}

/// For the server's tests: where test sockets go, and a raw connection.
#[cfg(test)]
pub mod test_support {
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};

    /// A fresh, not yet created directory for one test's sockets.
    pub fn temp_dir(tag: &str) -> PathBuf {
        let n = super::BIND_COUNTER.fetch_add(1, super::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wgkit-srv-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    pub fn remove_dir(dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
    }

    pub fn connect(path: &Path) -> UnixStream {
        UnixStream::connect(path).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::temp_dir;
    use crate::uapi::server::{EmptyHandler, UapiServer, UapiServerOptions};
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::Arc;

    #[test]
    fn socket_file_modes_and_stale_sockets() {
        let dir = temp_dir("life");
        let options = || UapiServerOptions {
            socket_dir: dir.clone(),
            ..Default::default()
        };
        let mut server = UapiServer::bind_with("t4", Arc::new(EmptyHandler), options()).unwrap();
        let path = server.socket_path().to_path_buf();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("t4.sock")], "no temporary files left");
        let e = UapiServer::bind_with("t4", Arc::new(EmptyHandler), options())
            .err()
            .unwrap();
        assert!(e.message.contains("unix socket in use"), "{}", e.message);
        server.close();
        assert!(!path.exists(), "socket removed on close");

        // A stale socket is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let server = UapiServer::bind_with("t4", Arc::new(EmptyHandler), options()).unwrap();
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"get=1\n\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "errno=0\n\n");
        drop(server);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
