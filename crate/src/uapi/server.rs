//! A UAPI server, so `wg` (and any UAPI client) can manage a device implemented in this
//! process.
//!
//! It binds `<dir>/<name>.sock` (directory mode 0755, socket mode 0600), accepts connections on
//! its own thread and serves each connection on a thread of its own, several operations per
//! connection as wireguard-go does. Unlike wireguard-go, a `set=1` request is read and
//! validated completely before the handler sees it, so a bad line leaves the device unchanged;
//! the reply carries wireguard-go's negative errno (EINVAL=-22 for a bad value, EPROTO=-71 for a
//! line without `=` or a request cut short, E2BIG=-7 for an oversized request, EIO for a handler
//! that panicked). An oversized request is read to its end (and dropped, nothing applied)
//! before the reply, so the client, still writing it, gets the errno instead of a closed socket;
//! an error line goes to stderr too. An unknown operation closes the connection. Handler calls are serialised
//! (wireguard-go's ipcMutex).
//!
//! **Stalled clients.** No client can keep another from its answer. Connections get a thread
//! each, up to 4096 at once (an idle one cost 18 KiB of RSS with 2000 open, both socket ends
//! counted: a few stack pages and the line buffer; a poll loop would save that but has to
//! buffer every request and reply itself, where a thread reads and parses a request as it
//! streams in), so thousands of idle connections leave room for `wg show`; wireguard-go serves
//! it with 2000 idle connections open, and so does this server.
//! Deadlines do not restart per byte: from its first byte a whole request must arrive within the
//! request timeout (10 s, plus a second per MiB received: `deadline.rs`), and a whole reply must be taken within the write timeout (10 s); a
//! trickling client is cut off then (the connection closes). Between requests a connection may
//! stay silent for the idle timeout (60 s). A connection over the limit, or one the OS gives no
//! thread, is closed at once and an error line goes to stderr (at most one a second). Threads
//! are guarded (`thread_guard.rs`): a panic closes that connection (or the socket, for the
//! accept thread) and is reported to the handler.
//!
//! `close()` (or dropping the server) wakes the accept thread through a pipe, shuts down open
//! connections, joins every thread and removes the socket file if it is still ours.

use super::deadline::DeadlineStream;
use super::errno::{errno_for_error, IPC_ERROR_INVALID, IPC_ERROR_PROTOCOL, IPC_ERROR_TOO_BIG};
use super::get_writer::format_get_reply;
use super::lines::{Line, LineReader};
use super::name::{socket_path, DEFAULT_SOCKET_DIR};
use super::set_parser::{read_set_body, SetBody};
use super::socket::{connect_unix, send_all_by};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, DeviceConfig};
use crate::thread_guard::spawn_guarded;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server asks of the device it exposes.
pub trait UapiHandler: Send + Sync {
    /// The device's current state for a `get=1` reply.
    fn get(&self) -> Result<Device>;
    /// Applies a complete, validated `set=1` request with wg's semantics. An error is sent to the
    /// client as a negative errno (the error's own errno, or EINVAL/EPROTO/EIO by its code).
    fn set(&self, config: DeviceConfig) -> Result<()>;
    /// A server thread panicked (`thread` is its name); the connection it served, or for the
    /// accept thread the socket, is closed. Nothing happens by default.
    fn thread_panicked(&self, thread: &str, message: &str) {
        let _ = (thread, message);
    }
}

/// Limits and locations for a server.
#[derive(Debug, Clone)]
pub struct UapiServerOptions {
    /// Where the socket goes; `/var/run/wireguard` by default.
    pub socket_dir: PathBuf,
    /// The most bytes one `set=1` request may have (256 MiB by default: 2^20 peers, the
    /// kernel's per-device maximum, each with a preshared key, an endpoint, a keepalive and two
    /// allowed IPs, take about 240 MiB; the parsed request takes about as much memory).
    pub max_request_bytes: usize,
    /// The longest line accepted (4096 bytes by default; real lines are under 100).
    pub max_line_bytes: usize,
    /// Connections served at once, one thread each; further ones are closed straight away and
    /// logged (4096 by default).
    pub max_connections: usize,
    /// How long a connection may stay silent between requests (60 s by default); `None` waits
    /// for ever.
    pub idle_timeout: Option<Duration>,
    /// How long a whole request may take to arrive from its first byte (10 s by default);
    /// `None` waits for ever.
    pub request_timeout: Option<Duration>,
    /// How long a whole reply may take to be read by the client (10 s by default).
    pub write_timeout: Option<Duration>,
}

impl Default for UapiServerOptions {
    fn default() -> Self {
        UapiServerOptions {
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
            max_request_bytes: 256 << 20,
            max_line_bytes: 4096,
            max_connections: 4096,
            idle_timeout: Some(Duration::from_secs(60)),
            request_timeout: Some(Duration::from_secs(10)),
            write_timeout: Some(Duration::from_secs(10)),
        }
    }
}

struct Shared {
    name: String,
    handler: Arc<dyn UapiHandler>,
    options: UapiServerOptions,
    /// Serialises handler calls.
    op_lock: Mutex<()>,
    /// The descriptors of open connections, so `close` can shut them down. A connection's
    /// thread removes its entry before its stream closes (`Registered`), so every descriptor
    /// here is open while the lock is held (one descriptor per connection, no duplicate).
    conns: Mutex<HashMap<u64, RawFd>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    refusals: RefusalLog,
    /// Requests refused for their size, or by a limit of the device.
    oversized: RefusalLog,
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
            name: name.to_string(),
            handler,
            options,
            op_lock: Mutex::new(()),
            conns: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            refusals: RefusalLog::default(),
            oversized: RefusalLog::default(),
        });
        let thread_shared = shared.clone();
        let panic_handler = shared.handler.clone();
        let accept_thread = spawn_guarded(
            format!("wgkit-uapi-{name}"),
            move |thread, message| panic_handler.thread_panicked(thread, message),
            move || accept_loop(listener, wake_read, thread_shared),
        )
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
        for &fd in lock(&running.shared.conns).values() {
            // SAFETY: `fd` is an open connection socket while its entry exists (see `conns`);
            // shutdown only ends its traffic, the connection's thread still owns and closes it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
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
        shared.refusals.note(
            &shared.name,
            &format!("{} connections open, closing a new one", shared.options.max_connections),
        );
        return;
    }
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.conns).insert(id, stream.as_raw_fd());
    let thread_shared = shared.clone();
    let panic_handler = shared.handler.clone();
    let spawned = spawn_guarded(
        "wgkit-uapi-conn".into(),
        move |thread, message| panic_handler.thread_panicked(thread, message),
        move || {
            // Dropped in reverse order: the entry goes before the stream closes.
            let stream = stream;
            let _registered = Registered {
                shared: &thread_shared,
                id,
            };
            serve_connection(&stream, &thread_shared);
        },
    );
    match spawned {
        Ok(handle) => threads.push(handle),
        Err(e) => {
            // The stream is closed already; `close` cannot look meanwhile: it joins the accept
            // thread, this one, first.
            lock(&shared.conns).remove(&id);
            shared.refusals.note(
                &shared.name,
                &format!("no thread for a new connection ({e}), closing it"),
            );
        }
    }
}

/// Removes a connection from the open ones when its thread ends, even by a panic.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
    }
}

/// Error lines for refused connections, at most one a second (with how many were refused
/// since the last line), so a flood of connections does not flood stderr.
#[derive(Default)]
struct RefusalLog {
    state: Mutex<(Option<Instant>, u64)>,
    /// Connections refused, lines written (for tests and diagnostics).
    refused: AtomicU64,
    lines: AtomicU64,
}

impl RefusalLog {
    fn note(&self, name: &str, what: &str) {
        if let Some(line) = self.line_for(Instant::now(), name, what) {
            eprintln!("{line}");
        }
    }

    /// Counts a refusal; the line to write now, if any.
    fn line_for(&self, now: Instant, name: &str, what: &str) -> Option<String> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        let (last, suppressed) = &mut *state;
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            *suppressed += 1;
            return None;
        }
        let more = match std::mem::take(suppressed) {
            0 => String::new(),
            n => format!(" ({n} more refused before)"),
        };
        *last = Some(now);
        self.lines.fetch_add(1, Ordering::Relaxed);
        Some(format!("wgkit: UAPI error on {name}: {what}{more}"))
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

/// Serves operations until the client hangs up, sends something unknown, misses a deadline, or
/// the stream fails.
fn serve_connection(stream: &UnixStream, shared: &Shared) {
    let options = &shared.options;
    let timed = DeadlineStream::new(stream, options.idle_timeout, options.request_timeout);
    let mut reader = LineReader::new(&timed, options.max_line_bytes);
    let reply_deadline = || options.write_timeout.map(|t| Instant::now() + t);
    loop {
        if reader.buffered() > 0 {
            timed.begin_request();
        } else {
            timed.begin_idle();
        }
        let op = match reader.read_line() {
            Ok(Line::Complete(op)) => op.to_vec(),
            _ => return,
        };
        let (reply, keep_open) = match op.as_slice() {
            b"set=1" => match read_set_body(&mut reader, options.max_request_bytes) {
                Ok(SetBody::Complete(Ok(config))) => match call(shared, |h| h.set(config)) {
                    Ok(()) => (status(0), true),
                    Err(e) => {
                        if e.errno == Some(libc::E2BIG) {
                            shared
                                .oversized
                                .note(&shared.name, &format!("set refused: {}", e.message));
                        }
                        (status(errno_for_error(&e)), true)
                    }
                },
                Ok(SetBody::Complete(Err(e))) => (status(errno_for_error(&e)), true),
                Ok(SetBody::Truncated) => (status(IPC_ERROR_PROTOCOL), false),
                Ok(SetBody::TooLarge { mid_line }) => {
                    let what = if mid_line {
                        format!("a set request line longer than {} bytes", options.max_line_bytes)
                    } else {
                        format!("a set request larger than {} bytes", options.max_request_bytes)
                    };
                    shared
                        .oversized
                        .note(&shared.name, &format!("{what}, refused (nothing applied)"));
                    // Read the rest first: the client gets its answer, not a closed socket.
                    match reader.skip_request(mid_line) {
                        Ok(true) => (status(IPC_ERROR_TOO_BIG), true),
                        _ => return,
                    }
                }
                Err(_) => return,
            },
            b"get=1" => match reader.read_byte() {
                Ok(Some(b'\n')) => match call(shared, |h| h.get()) {
                    Ok(device) => {
                        let large = device.peers.len() >= crate::heap_trim::TRIM_FROM_PEERS;
                        let text = format_get_reply(&device);
                        drop(device);
                        let sent = send_all_by(stream, text.as_bytes(), reply_deadline());
                        drop(text);
                        if large {
                            // The snapshot and its text were as large as the peer table.
                            crate::heap_trim::release_free_memory();
                        }
                        if sent.is_err() {
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
        if send_all_by(stream, reply.as_bytes(), reply_deadline()).is_err() || !keep_open {
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

    /// A handler whose `set` panics half-way (as a bug in the device might).
    struct PanickingSet;

    impl UapiHandler for PanickingSet {
        fn get(&self) -> Result<Device> {
            Ok(Device::default())
        }
        fn set(&self, _config: DeviceConfig) -> Result<()> {
            panic!("set panicked half-way");
        }
    }

    #[test]
    fn a_panic_in_the_handler_is_an_eio_reply_on_a_connection_that_stays_open() {
        let dir = temp_dir("panic");
        let server = UapiServer::bind_with("t6", Arc::new(PanickingSet), options(&dir)).unwrap();
        let reply = exchange(server.socket_path(), b"set=1\nlisten_port=1\n\nget=1\n\n");
        // The get after it is answered (a default device: nothing but the status).
        assert_eq!(reply, "errno=-5\n\nerrno=0\n\n");
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
        // Each is read to its end and answered; the connection stays usable.
        let reply = exchange(server.socket_path(), format!("{body}get=1\n\n").as_bytes());
        assert!(reply.starts_with("errno=-7\n\nlisten_port=51820\n"), "{reply}");
        assert!(reply.ends_with("\nerrno=0\n\n"), "{reply}");
        let long = format!("set=1\nlisten_port={}\n\nset=1\nlisten_port=2\n\n", "1".repeat(5000));
        assert_eq!(
            exchange(server.socket_path(), long.as_bytes()),
            "errno=-7\n\nerrno=0\n\n"
        );
        assert_eq!(
            h.sets.load(Ordering::SeqCst),
            1,
            "only the small request reached the handler"
        );
        assert_eq!(
            server
                .running
                .as_ref()
                .unwrap()
                .shared
                .oversized
                .refused
                .load(Ordering::Relaxed),
            2
        );
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
    fn refusal_lines_at_most_one_a_second() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        let line = log.line_for(t0, "wg0", "4096 connections open, closing a new one");
        assert_eq!(
            line.as_deref(),
            Some("wgkit: UAPI error on wg0: 4096 connections open, closing a new one")
        );
        assert_eq!(log.line_for(t0 + Duration::from_millis(10), "wg0", "x"), None);
        assert_eq!(log.line_for(t0 + Duration::from_millis(900), "wg0", "x"), None);
        assert_eq!(
            log.line_for(t0 + Duration::from_millis(1001), "wg0", "x").as_deref(),
            Some("wgkit: UAPI error on wg0: x (2 more refused before)")
        );
        assert_eq!(log.refused.load(Ordering::Relaxed), 4);
        assert_eq!(log.lines.load(Ordering::Relaxed), 2);
    }

    /// A client that sends a byte now and then is cut off when its request's time is up, a
    /// client that does not take its reply when the reply's time is up; others are answered
    /// meanwhile.
    #[test]
    fn tricklers_are_cut_off_at_the_deadline() {
        let dir = temp_dir("trick");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            request_timeout: Some(Duration::from_millis(600)),
            write_timeout: Some(Duration::from_millis(600)),
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t6", h.clone(), opts).unwrap();
        let s = UnixStream::connect(server.socket_path()).unwrap();
        let start = Instant::now();
        let cut = loop {
            // "get=1" never ends: a byte every 100 ms.
            if (&s).write_all(b"g").is_err() {
                break start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never cut off");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(cut >= Duration::from_millis(600), "{cut:?}");
        assert_eq!(h.gets.load(Ordering::SeqCst), 0);

        // Two gets at once, replies never read: cut off after the write timeout, not before.
        struct Big;
        impl UapiHandler for Big {
            fn get(&self) -> Result<Device> {
                let mut d = Device::default();
                for i in 0..20_000u32 {
                    let mut b = [0u8; 32];
                    b[..4].copy_from_slice(&i.to_le_bytes());
                    d.peers.push(Peer::new(Key::from_bytes(b)));
                }
                Ok(d)
            }
            fn set(&self, _: DeviceConfig) -> Result<()> {
                Ok(())
            }
        }
        let opts = UapiServerOptions {
            write_timeout: Some(Duration::from_millis(600)),
            ..options(&dir)
        };
        let big = UapiServer::bind_with("t7", Arc::new(Big), opts).unwrap();
        let s = UnixStream::connect(big.socket_path()).unwrap();
        (&s).write_all(b"get=1\n\n").unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).unwrap();
        let full = format_get_reply(&Big.get().unwrap());
        assert!(got.len() < full.len(), "the slow reader lost its reply");
        // A client that reads gets its answer meanwhile, whole.
        assert_eq!(exchange(big.socket_path(), b"get=1\n\n").len(), full.len());
        drop(server);
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
        let third = UnixStream::connect(server.socket_path()).unwrap();
        third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!((&third).read(&mut buf).unwrap(), 0, "over the limit: closed");
        let refusals = &server.running.as_ref().unwrap().shared.refusals;
        assert_eq!(refusals.refused.load(Ordering::Relaxed), 2);
        assert_eq!(refusals.lines.load(Ordering::Relaxed), 1, "one line for a burst");
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
