//! A UAPI server, so `wg` (and any UAPI client) can manage a device implemented in this
//! process.
//!
//! It binds `<dir>/<name>.sock` (directory mode 0755, socket mode 0600), accepts connections on
//! its own thread and serves each connection on a thread of its own, several operations per
//! connection as wireguard-go does. Unlike wireguard-go, a `set=1` request is read and
//! validated completely before the handler sees it, so a bad line leaves the device unchanged;
//! the reply carries wireguard-go's negative errno (EINVAL=-22 for a bad value, EPROTO=-71 for a
//! line without `=` or a request cut short, EIO=-5 for an oversized request). An unknown
//! operation closes the connection. Handler calls are serialised (wireguard-go's ipcMutex).
//!
//! `close()` (or dropping the server) wakes the accept thread through a pipe, shuts down open
//! connections, joins every thread and removes the socket file if it is still ours.

use super::errno::{errno_for_error, IPC_ERROR_INVALID, IPC_ERROR_IO, IPC_ERROR_PROTOCOL};
use super::get_writer::format_get_reply;
use super::lines::{Line, LineReader};
use super::name::{socket_path, DEFAULT_SOCKET_DIR};
use super::set_parser::{read_set_body, SetBody};
use super::socket::{connect_unix, send_all};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, DeviceConfig};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server asks of the device it exposes.
pub trait UapiHandler: Send + Sync {
    /// The device's current state for a `get=1` reply.
    fn get(&self) -> Result<Device>;
    /// Applies a complete, validated `set=1` request with wg's semantics. An error is sent to the
    /// client as a negative errno (the error's own errno, or EINVAL/EPROTO/EIO by its code).
    fn set(&self, config: DeviceConfig) -> Result<()>;
}

/// Limits and locations for a server.
#[derive(Debug, Clone)]
pub struct UapiServerOptions {
    /// Where the socket goes; `/var/run/wireguard` by default.
    pub socket_dir: PathBuf,
    /// The most bytes one `set=1` request may have (16 MiB by default; a wg config with 130 000
    /// allowed IPs is about 4 MiB).
    pub max_request_bytes: usize,
    /// The longest line accepted (4096 bytes by default; real lines are under 100).
    pub max_line_bytes: usize,
    /// Connections served at once; further ones are closed straight away (64 by default).
    pub max_connections: usize,
    /// How long a connection may stay silent (60 s by default); `None` waits for ever.
    pub idle_timeout: Option<Duration>,
    /// How long a reply write may block (10 s by default).
    pub write_timeout: Option<Duration>,
}

impl Default for UapiServerOptions {
    fn default() -> Self {
        UapiServerOptions {
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
            max_request_bytes: 16 << 20,
            max_line_bytes: 4096,
            max_connections: 64,
            idle_timeout: Some(Duration::from_secs(60)),
            write_timeout: Some(Duration::from_secs(10)),
        }
    }
}

struct Shared {
    handler: Arc<dyn UapiHandler>,
    options: UapiServerOptions,
    /// Serialises handler calls.
    op_lock: Mutex<()>,
    /// Open connections, so `close` can shut them down.
    conns: Mutex<HashMap<u64, UnixStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
}

struct Running {
    wake: OwnedFd,
    accept_thread: JoinHandle<()>,
    shared: Arc<Shared>,
    /// (st_dev, st_ino) of the socket file we created.
    identity: (u64, u64),
}

/// A listening UAPI socket for one device.
pub struct UapiServer {
    name: String,
    path: PathBuf,
    running: Option<Running>,
}

static BIND_COUNTER: AtomicU64 = AtomicU64::new(0);

impl UapiServer {
    /// Binds `/var/run/wireguard/<name>.sock` with default options.
    pub fn bind(name: &str, handler: Arc<dyn UapiHandler>) -> Result<UapiServer> {
        UapiServer::bind_with(name, handler, UapiServerOptions::default())
    }

    /// Binds `<options.socket_dir>/<name>.sock`. A live socket there is EADDRINUSE ("unix
    /// socket in use"); a stale one is replaced.
    pub fn bind_with(name: &str, handler: Arc<dyn UapiHandler>, options: UapiServerOptions) -> Result<UapiServer> {
        let path = socket_path(&options.socket_dir, name)?;
        let context = format!("UAPI listen error for {name}");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&options.socket_dir)
            .map_err(|e| Error::from_io(&e, &context))?;
        let listener = bind_socket(&options.socket_dir, &path, name).map_err(|e| {
            if e.raw_os_error() == Some(libc::EADDRINUSE) {
                Error::from_errno(libc::EADDRINUSE, format!("{context}: unix socket in use"))
            } else {
                Error::from_io(&e, &context)
            }
        })?;
        let meta = std::fs::metadata(&path).map_err(|e| Error::from_io(&e, &context))?;
        let identity = (meta.dev(), meta.ino());
        let cleanup = |e: io::Error| {
            remove_if_ours(&path, identity);
            Error::from_io(&e, &context)
        };
        listener.set_nonblocking(true).map_err(cleanup)?;
        let (wake_read, wake_write) = pipe().map_err(cleanup)?;
        let shared = Arc::new(Shared {
            handler,
            options,
            op_lock: Mutex::new(()),
            conns: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        let accept_thread = std::thread::Builder::new()
            .name(format!("wgkit-uapi-{name}"))
            .spawn(move || accept_loop(listener, wake_read, thread_shared))
            .map_err(cleanup)?;
        Ok(UapiServer {
            name: name.to_string(),
            path,
            running: Some(Running {
                wake: wake_write,
                accept_thread,
                shared,
                identity,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, shuts down open connections (a handler call in progress finishes
    /// first), joins all threads and removes the socket file. Idempotent.
    pub fn close(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        // Wake the accept thread; a full pipe already wakes it.
        // SAFETY: writing one byte from a valid buffer to a descriptor we own.
        let _ = unsafe { libc::write(running.wake.as_raw_fd(), b"x".as_ptr() as *const libc::c_void, 1) };
        let _ = running.accept_thread.join();
        remove_if_ours(&self.path, running.identity);
        for stream in lock(&running.shared.conns).values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&running.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for UapiServer {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// A close-on-exec pipe whose ends are both non-blocking (a full pipe never blocks `close`).
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

fn accept_loop(listener: UnixListener, wake: OwnedFd, shared: Arc<Shared>) {
    while wait(&listener, &wake, -1, true) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => start_connection(stream, &shared),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(_) => {
                    // Out of descriptors or memory: back off for a moment (still wakeable) instead
                    // of spinning on a listener that stays readable.
                    if !wait(&listener, &wake, 100, false) {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

fn start_connection(stream: UnixStream, shared: &Arc<Shared>) {
    let mut threads = lock(&shared.threads);
    threads.retain(|t| !t.is_finished());
    if threads.len() >= shared.options.max_connections {
        return;
    }
    let configured = stream
        .set_nonblocking(false)
        .and_then(|_| stream.set_read_timeout(shared.options.idle_timeout))
        .and_then(|_| stream.set_write_timeout(shared.options.write_timeout));
    let (Ok(()), Ok(registered)) = (configured, stream.try_clone()) else {
        return;
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.conns).insert(id, registered);
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("wgkit-uapi-conn".into())
        .spawn(move || {
            serve_connection(&stream, &thread_shared);
            lock(&thread_shared.conns).remove(&id);
        });
    match spawned {
        Ok(handle) => threads.push(handle),
        Err(_) => {
            lock(&shared.conns).remove(&id);
        }
    }
}

fn status(errno: i32) -> String {
    format!("errno={errno}\n\n")
}

fn call<T>(shared: &Shared, f: impl FnOnce(&dyn UapiHandler) -> Result<T>) -> Result<T> {
    let _guard = lock(&shared.op_lock);
    catch_unwind(AssertUnwindSafe(|| f(&*shared.handler)))
        .unwrap_or_else(|_| Err(Error::new(ErrorCode::System, "UAPI handler panicked")))
}

/// Serves operations until the client hangs up, sends something unknown, or the stream fails.
fn serve_connection(stream: &UnixStream, shared: &Shared) {
    let options = &shared.options;
    let mut reader = LineReader::new(stream, options.max_line_bytes);
    loop {
        let op = match reader.read_line() {
            Ok(Line::Complete(op)) => op.to_vec(),
            _ => return,
        };
        let (reply, keep_open) = match op.as_slice() {
            b"set=1" => match read_set_body(&mut reader, options.max_request_bytes) {
                Ok(SetBody::Complete(Ok(config))) => match call(shared, |h| h.set(config)) {
                    Ok(()) => (status(0), true),
                    Err(e) => (status(errno_for_error(&e)), true),
                },
                Ok(SetBody::Complete(Err(e))) => (status(errno_for_error(&e)), true),
                Ok(SetBody::Truncated) => (status(IPC_ERROR_PROTOCOL), false),
                Ok(SetBody::TooLarge) => (status(IPC_ERROR_IO), false),
                Err(_) => return,
            },
            b"get=1" => match reader.read_byte() {
                Ok(Some(b'\n')) => match call(shared, |h| h.get()) {
                    Ok(device) => {
                        let text = format_get_reply(&device);
                        if send_all(stream, text.as_bytes()).is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(e) => (status(errno_for_error(&e)), true),
                },
                Ok(Some(_)) => (status(IPC_ERROR_INVALID), true),
                _ => return,
            },
            _ => return,
        };
        if send_all(stream, reply.as_bytes()).is_err() || !keep_open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::model::Peer;
    use crate::uapi::client::UapiClient;
    use std::io::{Read, Write};
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[derive(Default)]
    struct Counting {
        gets: AtomicUsize,
        sets: AtomicUsize,
        last: Mutex<Option<DeviceConfig>>,
        fail_set: Option<i32>,
    }

    impl UapiHandler for Counting {
        fn get(&self) -> Result<Device> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let mut d = Device {
                listen_port: 51820,
                ..Default::default()
            };
            d.peers.push(Peer::new(Key::from_bytes([7; 32])));
            Ok(d)
        }
        fn set(&self, config: DeviceConfig) -> Result<()> {
            self.sets.fetch_add(1, Ordering::SeqCst);
            *self.last.lock().unwrap() = Some(config);
            match self.fail_set {
                Some(errno) => Err(Error::from_errno(errno, "set")),
                None => Ok(()),
            }
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let n = BIND_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wgkit-srv-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn options(dir: &Path) -> UapiServerOptions {
        UapiServerOptions {
            socket_dir: dir.to_path_buf(),
            ..Default::default()
        }
    }

    fn exchange(path: &Path, request: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn invalid_requests_reach_no_handler() {
        let dir = temp_dir("inv");
        let h = Arc::new(Counting::default());
        let server = UapiServer::bind_with("t0", h.clone(), options(&dir)).unwrap();
        let path = server.socket_path().to_path_buf();
        let pk = format!("public_key={}\n", "01".repeat(32));
        let cases = [
            ("set=1\nlisten_port=1\nbogus=1\n\n".to_string(), "errno=-22\n\n"),
            (
                format!("set=1\n{pk}allowed_ip=10.0.0.0/33\nallowed_ip=10.0.0.1/32\n\n"),
                "errno=-22\n\n",
            ),
            (format!("set=1\n{pk}protocol_version=2\n\n"), "errno=-22\n\n"),
            ("set=1\nprivate_key=zz\n\n".to_string(), "errno=-22\n\n"),
            ("set=1\nlisten_port\n\n".to_string(), "errno=-71\n\n"),
            ("set=1\nlisten_port=1\n".to_string(), "errno=-71\n\n"),
            ("get=1\nx".to_string(), "errno=-22\n\n"),
            ("bogus=1\n\n".to_string(), ""),
            ("set=1\r\n\n".to_string(), ""),
        ];
        for (request, reply) in &cases {
            assert_eq!(&exchange(&path, request.as_bytes()), reply, "{request:?}");
        }
        assert_eq!(h.sets.load(Ordering::SeqCst), 0);
        assert_eq!(h.gets.load(Ordering::SeqCst), 0);

        // A valid request after an invalid one on the same connection: still in sync.
        let reply = exchange(&path, b"set=1\nbogus=1\n\nset=1\nlisten_port=5\nfwmark=0\n\n");
        assert_eq!(reply, "errno=-22\n\nerrno=0\n\n");
        assert_eq!(h.sets.load(Ordering::SeqCst), 1);
        let last = h.last.lock().unwrap().clone().unwrap();
        assert_eq!((last.listen_port, last.fwmark), (Some(5), Some(0)));
    }

    #[test]
    fn several_operations_per_connection_and_client() {
        let dir = temp_dir("ops");
        let h = Arc::new(Counting::default());
        let _server = UapiServer::bind_with("t1", h.clone(), options(&dir)).unwrap();
        let client = UapiClient::new().with_socket_dir(&dir);
        assert_eq!(client.list_devices().unwrap(), ["t1"]);
        let mut conn = client.connect("t1").unwrap();
        let d = conn.get().unwrap();
        assert_eq!(d.listen_port, 51820);
        assert_eq!(d.peers[0].public_key, Key::from_bytes([7; 32]));
        let mut config = DeviceConfig {
            listen_port: Some(9),
            ..Default::default()
        };
        conn.set(&config).unwrap();
        config.fwmark = Some(3);
        conn.set(&config).unwrap();
        assert_eq!(conn.get().unwrap(), d);
        assert_eq!(h.sets.load(Ordering::SeqCst), 2);
        assert_eq!(h.gets.load(Ordering::SeqCst), 2);
        assert_eq!(h.last.lock().unwrap().clone().unwrap(), config);
    }

    #[test]
    fn handler_errors_become_negative_errno() {
        let dir = temp_dir("herr");
        let h = Arc::new(Counting {
            fail_set: Some(libc::EADDRINUSE),
            ..Default::default()
        });
        let server = UapiServer::bind_with("t2", h.clone(), options(&dir)).unwrap();
        assert_eq!(
            exchange(server.socket_path(), b"set=1\nlisten_port=1\n\n"),
            "errno=-98\n\n"
        );
        let client = UapiClient::new().with_socket_dir(&dir);
        let e = client.set_device("t2", &DeviceConfig::default()).unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::System, Some(libc::EADDRINUSE)));
    }

    #[test]
    fn oversized_request_is_refused() {
        let dir = temp_dir("big");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            max_request_bytes: 1000,
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t3", h.clone(), opts).unwrap();
        let pk = format!("public_key={}\n", "01".repeat(32));
        let body = format!("set=1\n{pk}{}\n", "allowed_ip=10.0.0.0/8\n".repeat(100));
        assert_eq!(exchange(server.socket_path(), body.as_bytes()), "errno=-5\n\n");
        let long = format!("set=1\nlisten_port={}\n\n", "1".repeat(5000));
        assert_eq!(exchange(server.socket_path(), long.as_bytes()), "errno=-5\n\n");
        assert_eq!(h.sets.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn socket_lifecycle() {
        let dir = temp_dir("life");
        let h = Arc::new(Counting::default());
        let mut server = UapiServer::bind_with("t4", h.clone(), options(&dir)).unwrap();
        let path = server.socket_path().to_path_buf();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("t4.sock")], "no temporary files left");

        let e = UapiServer::bind_with("t4", h.clone(), options(&dir)).err().unwrap();
        assert_eq!(e.errno, Some(libc::EADDRINUSE));
        assert!(e.message.contains("unix socket in use"), "{}", e.message);

        // An idle client (served once, then silent) must not delay close.
        let idle = UnixStream::connect(&path).unwrap();
        (&idle).write_all(b"get=1\n\n").unwrap();
        let mut reply = Vec::new();
        while !reply.ends_with(b"errno=0\n\n") {
            let mut buf = [0u8; 512];
            let n = (&idle).read(&mut buf).unwrap();
            assert!(n > 0);
            reply.extend_from_slice(&buf[..n]);
        }
        let start = Instant::now();
        server.close();
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        assert!(!path.exists(), "socket removed on close");
        let mut buf = [0u8; 1];
        assert_eq!((&idle).read(&mut buf).unwrap(), 0, "idle connection shut down");
        server.close();

        // A stale socket is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let server = UapiServer::bind_with("t4", h.clone(), options(&dir)).unwrap();
        assert!(exchange(&path, b"get=1\n\n").ends_with("\nerrno=0\n\n"));
        drop(server);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connection_limit() {
        let dir = temp_dir("lim");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            max_connections: 1,
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t5", h, opts).unwrap();
        let first = UnixStream::connect(server.socket_path()).unwrap();
        let mut second = UnixStream::connect(server.socket_path()).unwrap();
        second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(second.read(&mut buf).unwrap(), 0, "over the limit: closed");
        drop(first);
        // Once the first connection's thread is gone, new connections are served again.
        let deadline = Instant::now() + Duration::from_secs(10);
        let try_get = || -> std::io::Result<String> {
            let mut s = UnixStream::connect(server.socket_path())?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(b"get=1\n\n")?;
            s.shutdown(std::net::Shutdown::Write)?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        };
        while !try_get().is_ok_and(|r| r.ends_with("\nerrno=0\n\n")) {
            assert!(Instant::now() < deadline, "server never accepted again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
