//! A UAPI server, so `wg` (and any UAPI client) can manage a device implemented in this
//! process.
//!
//! It listens where wg looks for the platform (`unix_listener.rs`: `<dir>/<name>.sock`,
//! directory mode 0755, socket mode 0600; `pipe_listener.rs`: the named pipe
//! `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>` for SYSTEM and Administrators),
//! accepts connections on its own thread and serves each connection on a thread of its own
//! (`connection.rs`), several operations per connection as wireguard-go does. Unlike
//! wireguard-go, a `set=1` request is read and validated completely before the handler sees it,
//! so a bad line leaves the device unchanged; the reply carries wireguard-go's negative errno
//! (EINVAL=-22 for a bad value, EPROTO=-71 for a line without `=` or a request cut short,
//! E2BIG=-7 for an oversized request, EIO for a handler that panicked; Linux's numbers on
//! Windows too, as wireguard-go writes them there). An oversized request is read to its end
//! (and dropped, nothing applied) before the reply, so the client, still writing it, gets the
//! errno instead of a closed connection; an error line goes to stderr too. An unknown operation
//! closes the connection. Handler calls are serialised (wireguard-go's ipcMutex).
//!
//! **Stalled clients.** No client can keep another from its answer. Connections get a thread
//! each, up to 4096 at once (an idle one cost 18 KiB of RSS with 2000 open, both socket ends
//! counted: a few stack pages and the line buffer; a poll loop would save that but has to
//! buffer every request and reply itself, where a thread reads and parses a request as it
//! streams in), so thousands of idle connections leave room for `wg show`; wireguard-go serves
//! it with 2000 idle connections open, and so does this server.
//! Deadlines do not restart per byte: from its first byte a whole request must arrive within the
//! request timeout (10 s, plus a second per MiB received: `deadline.rs`), and a whole reply must
//! be taken within the write timeout (10 s); a trickling client is cut off then (the connection
//! closes). Between requests a connection may stay silent for the idle timeout (60 s). A
//! connection over the limit, or one the OS gives no thread, is closed at once and an error
//! line goes to stderr (at most one a second). Threads are guarded (`thread_guard.rs`): a panic
//! closes that connection (or the listener, for the accept thread) and is reported to the
//! handler. The same holds on every platform: only the listener and the stream differ.
//!
//! `close()` (or dropping the server) wakes the accept thread, shuts down open connections,
//! joins every thread and removes the socket file if it is still ours (a pipe goes with its
//! last handle).

use super::name::{socket_path, DEFAULT_SOCKET_DIR};
use super::platform::{self, ConnShutdown, ListenerControl, Stream};
use crate::error::Result;
use crate::model::{Device, DeviceConfig};
use crate::thread_guard::spawn_guarded;
use std::collections::HashMap;
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
    /// accept thread the listener, is closed. Nothing happens by default.
    fn thread_panicked(&self, thread: &str, message: &str) {
        let _ = (thread, message);
    }
}

/// Limits and locations for a server.
#[derive(Debug, Clone)]
pub struct UapiServerOptions {
    /// Where the socket goes: `/var/run/wireguard` by default; on Windows the pipe prefix,
    /// `\\.\pipe\ProtectedPrefix\Administrators\WireGuard` by default.
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

/// What the accept thread and the connection threads share.
pub(super) struct Shared {
    pub(super) name: String,
    pub(super) handler: Arc<dyn UapiHandler>,
    pub(super) options: UapiServerOptions,
    /// Serialises handler calls.
    pub(super) op_lock: Mutex<()>,
    /// How to shut down each open connection, so `close` can. A connection's thread removes
    /// its entry before its stream closes (`Registered`), so every entry here names an open
    /// stream while the lock is held.
    conns: Mutex<HashMap<u64, ConnShutdown>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    pub(super) refusals: RefusalLog,
    /// Requests refused for their size, or by a limit of the device.
    pub(super) oversized: RefusalLog,
}

struct Running {
    control: ListenerControl,
    accept_thread: JoinHandle<()>,
    shared: Arc<Shared>,
}

/// A listening UAPI endpoint for one device.
pub struct UapiServer {
    name: String,
    path: PathBuf,
    running: Option<Running>,
}

impl UapiServer {
    /// Listens at the platform's default place (`/var/run/wireguard/<name>.sock`, or the named
    /// pipe `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>`) with default options.
    pub fn bind(name: &str, handler: Arc<dyn UapiHandler>) -> Result<UapiServer> {
        UapiServer::bind_with(name, handler, UapiServerOptions::default())
    }

    /// Listens at `<options.socket_dir>/<name>.sock` (on Windows `<socket_dir>\<name>`). A
    /// live server there is EADDRINUSE ("unix socket in use", "named pipe in use"); a stale
    /// socket is replaced.
    pub fn bind_with(name: &str, handler: Arc<dyn UapiHandler>, options: UapiServerOptions) -> Result<UapiServer> {
        let path = socket_path(&options.socket_dir, name)?;
        let (listener, control) = platform::bind(&options.socket_dir, &path, name)?;
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
        let spawned = spawn_guarded(
            format!("wgkit-uapi-{name}"),
            move |thread, message| panic_handler.thread_panicked(thread, message),
            move || listener.run(|stream| start_connection(stream, &thread_shared)),
        );
        let accept_thread = match spawned {
            Ok(thread) => thread,
            Err(e) => {
                control.stop();
                control.remove();
                return Err(crate::uapi::errno::io_error(
                    &e,
                    &format!("UAPI listen error for {name}"),
                ));
            }
        };
        Ok(UapiServer {
            name: name.to_string(),
            path,
            running: Some(Running {
                control,
                accept_thread,
                shared,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The socket file (on Windows, the pipe's name).
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, shuts down open connections (a handler call in progress finishes
    /// first), joins all threads and removes the socket file. Idempotent.
    pub fn close(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.control.stop();
        let _ = running.accept_thread.join();
        running.control.remove();
        for conn in lock(&running.shared.conns).values() {
            conn.shutdown();
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

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves a new connection on a thread of its own, or closes it when `max_connections` are
/// open or the OS gives no thread.
fn start_connection(stream: Stream, shared: &Arc<Shared>) {
    let mut threads = lock(&shared.threads);
    threads.retain(|t| !t.is_finished());
    if threads.len() >= shared.options.max_connections {
        shared.refusals.note(
            &shared.name,
            &format!("{} connections open, closing a new one", shared.options.max_connections),
        );
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.conns).insert(id, platform::conn_shutdown(&stream));
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
            super::connection::serve_connection(&stream, &thread_shared);
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
pub(super) struct RefusalLog {
    state: Mutex<(Option<Instant>, u64)>,
    /// Connections refused, lines written (for tests and diagnostics).
    pub(super) refused: AtomicU64,
    lines: AtomicU64,
}

impl RefusalLog {
    pub(super) fn note(&self, name: &str, what: &str) {
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

/// A handler for listener tests: an empty device, every set accepted.
#[cfg(test)]
pub(crate) struct EmptyHandler;

#[cfg(test)]
impl UapiHandler for EmptyHandler {
    fn get(&self) -> Result<Device> {
        Ok(Device::default())
    }
    fn set(&self, _: DeviceConfig) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorCode};
    use crate::keys::Key;
    use crate::model::Peer;
    use crate::uapi::client::UapiClient;
    use crate::uapi::platform::test_support;
    use crate::uapi::stream::{send_all, UapiStream};
    use crate::uapi::wire_errno::to_wire;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    pub(crate) struct Counting {
        pub(crate) gets: AtomicUsize,
        pub(crate) sets: AtomicUsize,
        pub(crate) last: Mutex<Option<DeviceConfig>>,
        pub(crate) fail_set: Option<i32>,
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

    fn options(dir: &Path) -> UapiServerOptions {
        UapiServerOptions {
            socket_dir: dir.to_path_buf(),
            ..Default::default()
        }
    }

    const WAIT: Option<Duration> = Some(Duration::from_secs(10));

    /// Reads until `replies` replies (each ends with a blank line) have come, or the stream
    /// ends.
    pub(crate) fn read_replies(s: &Stream, replies: usize) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while out.windows(2).filter(|w| w == b"\n\n").count() < replies {
            match s.read_within(&mut buf, WAIT) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // Closed by the server with our request unread (over the connection limit).
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// Sends `request` on a new connection and reads `replies` replies (or up to the end).
    pub(crate) fn exchange(path: &Path, request: &[u8], replies: usize) -> String {
        let s = test_support::connect(path);
        match send_all(&s, request, WAIT) {
            Ok(()) => read_replies(&s, replies),
            // Closed by the server before it read the request (over the connection limit).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                String::new()
            }
            Err(e) => panic!("write: {e}"),
        }
    }

    #[test]
    fn invalid_requests_reach_no_handler() {
        let dir = test_support::temp_dir("inv");
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
            ("get=1\nx".to_string(), "errno=-22\n\n"),
            ("bogus=1\n\n".to_string(), ""),
            ("set=1\r\n\n".to_string(), ""),
        ];
        for (request, reply) in &cases {
            assert_eq!(&exchange(&path, request.as_bytes(), 1), reply, "{request:?}");
        }
        assert_eq!(h.sets.load(Ordering::SeqCst), 0);
        assert_eq!(h.gets.load(Ordering::SeqCst), 0);

        // A valid request after an invalid one on the same connection: still in sync.
        let reply = exchange(&path, b"set=1\nbogus=1\n\nset=1\nlisten_port=5\nfwmark=0\n\n", 2);
        assert_eq!(reply, "errno=-22\n\nerrno=0\n\n");
        assert_eq!(h.sets.load(Ordering::SeqCst), 1);
        let last = h.last.lock().unwrap().clone().unwrap();
        assert_eq!((last.listen_port, last.fwmark), (Some(5), Some(0)));
        drop(server);
        test_support::remove_dir(&dir);
    }

    /// A request the client stops sending half-way (it closes its write side) is not applied.
    #[cfg(unix)]
    #[test]
    fn a_request_cut_short_is_not_applied() {
        use crate::uapi::errno::IPC_ERROR_PROTOCOL;
        let dir = test_support::temp_dir("short");
        let h = Arc::new(Counting::default());
        let server = UapiServer::bind_with("t8", h.clone(), options(&dir)).unwrap();
        let s = test_support::connect(server.socket_path());
        send_all(&s, b"set=1\nlisten_port=1\n", WAIT).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_replies(&s, 2), format!("errno={IPC_ERROR_PROTOCOL}\n\n"));
        assert_eq!(h.sets.load(Ordering::SeqCst), 0);
        drop(server);
        test_support::remove_dir(&dir);
    }

    #[test]
    fn several_operations_per_connection_and_client() {
        let dir = test_support::temp_dir("ops");
        let h = Arc::new(Counting::default());
        let server = UapiServer::bind_with("t1", h.clone(), options(&dir)).unwrap();
        let client = UapiClient::new().with_socket_dir(&dir);
        assert!(client.has_device("t1"));
        assert!(!client.has_device("t1x"));
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
        let e = client.get_device("t1x").unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::DeviceNotFound, Some(libc::ENOENT)));
        drop(conn);
        drop(server);
        test_support::remove_dir(&dir);
    }

    #[test]
    fn handler_errors_become_negative_errno() {
        let dir = test_support::temp_dir("herr");
        let h = Arc::new(Counting {
            fail_set: Some(libc::EADDRINUSE),
            ..Default::default()
        });
        let server = UapiServer::bind_with("t2", h.clone(), options(&dir)).unwrap();
        assert_eq!(
            exchange(server.socket_path(), b"set=1\nlisten_port=1\n\n", 1),
            format!("errno=-{}\n\n", to_wire(libc::EADDRINUSE))
        );
        let client = UapiClient::new().with_socket_dir(&dir);
        let e = client.set_device("t2", &DeviceConfig::default()).unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::System, Some(libc::EADDRINUSE)));
        drop(server);
        test_support::remove_dir(&dir);
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
        let dir = test_support::temp_dir("panic");
        let server = UapiServer::bind_with("t6", Arc::new(PanickingSet), options(&dir)).unwrap();
        let reply = exchange(server.socket_path(), b"set=1\nlisten_port=1\n\nget=1\n\n", 2);
        // The get after it is answered (a default device: nothing but the status).
        assert_eq!(reply, "errno=-5\n\nerrno=0\n\n");
        drop(server);
        test_support::remove_dir(&dir);
    }

    #[test]
    fn oversized_request_is_refused() {
        let dir = test_support::temp_dir("big");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            max_request_bytes: 1000,
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t3", h.clone(), opts).unwrap();
        let pk = format!("public_key={}\n", "01".repeat(32));
        let body = format!("set=1\n{pk}{}\n", "allowed_ip=10.0.0.0/8\n".repeat(100));
        // Each is read to its end and answered; the connection stays usable.
        let reply = exchange(server.socket_path(), format!("{body}get=1\n\n").as_bytes(), 2);
        assert!(reply.starts_with("errno=-7\n\nlisten_port=51820\n"), "{reply}");
        assert!(reply.ends_with("\nerrno=0\n\n"), "{reply}");
        let long = format!("set=1\nlisten_port={}\n\nset=1\nlisten_port=2\n\n", "1".repeat(5000));
        assert_eq!(
            exchange(server.socket_path(), long.as_bytes(), 2),
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
        drop(server);
        test_support::remove_dir(&dir);
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
        let dir = test_support::temp_dir("trick");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            request_timeout: Some(Duration::from_millis(600)),
            write_timeout: Some(Duration::from_millis(600)),
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t6", h.clone(), opts).unwrap();
        let s = test_support::connect(server.socket_path());
        let start = Instant::now();
        let cut = loop {
            // "get=1" never ends: a byte every 100 ms.
            if !matches!(s.write_within(b"g", WAIT), Ok(1)) {
                break start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never cut off");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(cut >= Duration::from_millis(600), "{cut:?}");
        assert_eq!(h.gets.load(Ordering::SeqCst), 0);

        drop(server);
        // A get whose reply is never read: cut off after the write timeout, not before. Unix
        // only: wine's named pipes take any amount of data without blocking the writer (seen
        // with wine 8: the whole 2 MB reply arrived after the write timeout), so there is no
        // stalled write to cut off there.
        #[cfg(unix)]
        a_reply_never_read_is_cut_off(&dir);
        test_support::remove_dir(&dir);
    }

    #[cfg(unix)]
    fn a_reply_never_read_is_cut_off(dir: &Path) {
        use crate::uapi::get_writer::format_get_reply;
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
            ..options(dir)
        };
        let big = UapiServer::bind_with("t7", Arc::new(Big), opts).unwrap();
        let s = test_support::connect(big.socket_path());
        send_all(&s, b"get=1\n\n", WAIT).unwrap();
        // Once the reply has begun (building it may take a while on a busy machine), stop
        // reading for longer than the write timeout.
        let mut first = [0u8; 1];
        assert_eq!(s.read_within(&mut first, WAIT).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(1500));
        let got = format!("{}{}", first[0] as char, read_replies(&s, 1));
        let full = format_get_reply(&Big.get().unwrap());
        assert!(got.len() < full.len(), "the slow reader lost its reply");
        // A client that reads gets its answer meanwhile, whole.
        assert_eq!(exchange(big.socket_path(), b"get=1\n\n", 1).len(), full.len());
    }

    /// A client that stalls mid-request does not keep a second client from its answer.
    #[test]
    fn a_stalled_client_does_not_block_another() {
        let dir = test_support::temp_dir("stall");
        let h = Arc::new(Counting::default());
        let server = UapiServer::bind_with("t9", h.clone(), options(&dir)).unwrap();
        let stalled = test_support::connect(server.socket_path());
        send_all(&stalled, b"set=1\nlisten_port=", WAIT).unwrap();
        let silent = test_support::connect(server.socket_path());
        let start = Instant::now();
        let client = UapiClient::new().with_socket_dir(&dir);
        assert_eq!(client.get_device("t9").unwrap().listen_port, 51820);
        client
            .set_device(
                "t9",
                &DeviceConfig {
                    listen_port: Some(4),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        // The stalled request is still pending, and completes when its client goes on.
        send_all(&stalled, b"7\n\n", WAIT).unwrap();
        assert_eq!(read_replies(&stalled, 1), "errno=0\n\n");
        assert_eq!(h.last.lock().unwrap().clone().unwrap().listen_port, Some(7));
        drop(silent);
        drop(server);
        test_support::remove_dir(&dir);
    }

    #[test]
    fn connection_limit() {
        let dir = test_support::temp_dir("lim");
        let h = Arc::new(Counting::default());
        let opts = UapiServerOptions {
            max_connections: 1,
            ..options(&dir)
        };
        let server = UapiServer::bind_with("t5", h, opts).unwrap();
        let first = test_support::connect(server.socket_path());
        let mut buf = [0u8; 1];
        let second = test_support::connect(server.socket_path());
        assert_eq!(second.read_within(&mut buf, WAIT).unwrap(), 0, "over the limit: closed");
        let third = test_support::connect(server.socket_path());
        assert_eq!(third.read_within(&mut buf, WAIT).unwrap(), 0, "over the limit: closed");
        let refusals = &server.running.as_ref().unwrap().shared.refusals;
        assert_eq!(refusals.refused.load(Ordering::Relaxed), 2);
        assert_eq!(refusals.lines.load(Ordering::Relaxed), 1, "one line for a burst");
        drop(first);
        // Once the first connection's thread is gone, new connections are served again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !exchange(server.socket_path(), b"get=1\n\n", 1).ends_with("\nerrno=0\n\n") {
            assert!(Instant::now() < deadline, "server never accepted again");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(server);
        test_support::remove_dir(&dir);
    }

    /// Closing the server ends idle connections at once and frees the name.
    #[test]
    fn close_ends_idle_connections_and_frees_the_name() {
        let dir = test_support::temp_dir("close");
        let h = Arc::new(Counting::default());
        let mut server = UapiServer::bind_with("t4", h.clone(), options(&dir)).unwrap();
        let e = UapiServer::bind_with("t4", h.clone(), options(&dir)).err().unwrap();
        assert_eq!(e.errno, Some(libc::EADDRINUSE), "{e:?}");
        assert!(e.message.contains("in use"), "{}", e.message);
        let idle = test_support::connect(server.socket_path());
        send_all(&idle, b"get=1\n\n", WAIT).unwrap();
        assert!(read_replies(&idle, 1).ends_with("errno=0\n\n"));
        let start = Instant::now();
        server.close();
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        let mut buf = [0u8; 1];
        assert_eq!(
            idle.read_within(&mut buf, WAIT).unwrap(),
            0,
            "idle connection shut down"
        );
        server.close();
        let client = UapiClient::new().with_socket_dir(&dir);
        assert!(!client.has_device("t4"));
        let again = UapiServer::bind_with("t4", h, options(&dir)).unwrap();
        assert!(exchange(again.socket_path(), b"get=1\n\n", 1).ends_with("\nerrno=0\n\n"));
        drop(again);
        test_support::remove_dir(&dir);
    }
}
