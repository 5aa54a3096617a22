//! The UAPI client: list, get and set userspace devices through their sockets (on Windows,
//! their named pipes), as wg does. The request and reply logic is the same everywhere; finding
//! and opening a device is the platform's (`unix_socket.rs`, `pipe_client.rs`).

use super::errno::io_error;
use super::errno::{missing_errno, parse_errno, reply_error};
use super::get_reply::read_get_reply;
use super::lines::{Line, LineReader};
use super::name::DEFAULT_SOCKET_DIR;
use super::platform::{has_device, list_devices, open_device, Stream};
use super::set_request::format_set_request;
use super::stream::{send_all, TimedReader};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, DeviceConfig};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a connect may wait for a busy listener by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read or write may block by default.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);
/// What the wait for a set's reply gains per peer in the request: a device builds a tunnel (a
/// Diffie-Hellman) and may start a handshake (two more) for each new one, so 100,000 new peers
/// take many seconds of CPU, more on a busy machine.
pub const REPLY_TIMEOUT_PER_PEER: Duration = Duration::from_millis(1);
/// The longest reply line the client accepts (real lines are under 100 bytes).
pub const MAX_REPLY_LINE: usize = 4096;

/// Talks to the UAPI sockets of one directory (`/var/run/wireguard` by default; on Windows the
/// named pipes under one prefix, `\\.\pipe\ProtectedPrefix\Administrators\WireGuard` by
/// default).
#[derive(Debug, Clone)]
pub struct UapiClient {
    socket_dir: PathBuf,
    connect_timeout: Option<Duration>,
    io_timeout: Option<Duration>,
}

impl Default for UapiClient {
    fn default() -> Self {
        UapiClient::new()
    }
}

impl UapiClient {
    pub fn new() -> UapiClient {
        UapiClient {
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            io_timeout: Some(DEFAULT_IO_TIMEOUT),
        }
    }

    pub fn with_socket_dir(mut self, dir: impl Into<PathBuf>) -> UapiClient {
        self.socket_dir = dir.into();
        self
    }

    /// `None` waits for ever.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> UapiClient {
        self.connect_timeout = timeout;
        self
    }

    /// Bounds each read and each write; `None` waits for ever.
    pub fn with_io_timeout(mut self, timeout: Option<Duration>) -> UapiClient {
        self.io_timeout = timeout;
        self
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Names of the live devices (sockets `<dir>/<name>.sock` that accept a connection),
    /// in directory order, as wg lists them. Stale sockets found on the way are unlinked. On
    /// Windows: the pipes whose names start with `<dir>\`, in the order `\\.\pipe\` lists them.
    pub fn list_devices(&self) -> Result<Vec<String>> {
        list_devices(&self.socket_dir, self.connect_timeout)
    }

    /// Whether a live socket (or pipe) exists for `name` (a stale socket is unlinked).
    pub fn has_device(&self, name: &str) -> bool {
        has_device(&self.socket_dir, name, self.connect_timeout)
    }

    /// Opens a connection that can carry several operations.
    pub fn connect(&self, name: &str) -> Result<UapiConnection> {
        let stream = Arc::new(open_device(&self.socket_dir, name, self.connect_timeout)?);
        Ok(UapiConnection {
            name: name.to_string(),
            io_timeout: self.io_timeout,
            reader: LineReader::new(TimedReader::new(stream.clone(), self.io_timeout), MAX_REPLY_LINE),
            stream,
        })
    }

    /// `get=1` on a fresh connection.
    pub fn get_device(&self, name: &str) -> Result<Device> {
        self.connect(name)?.get()
    }

    /// `set=1` on a fresh connection.
    pub fn set_device(&self, name: &str, config: &DeviceConfig) -> Result<()> {
        self.connect(name)?.set(config)
    }
}

/// One open UAPI connection. After an error the connection should be dropped.
pub struct UapiConnection {
    name: String,
    /// The client's timeout for one read or write (a set's reply may wait longer).
    io_timeout: Option<Duration>,
    stream: Arc<Stream>,
    reader: LineReader<TimedReader<Stream>>,
}

impl UapiConnection {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn context(&self) -> String {
        format!("Unable to access interface {}", self.name)
    }

    pub fn get(&mut self) -> Result<Device> {
        send_all(&*self.stream, b"get=1\n\n", self.io_timeout).map_err(|e| io_error(&e, &self.context()))?;
        read_get_reply(&mut self.reader, &self.name)
    }

    pub fn set(&mut self, config: &DeviceConfig) -> Result<()> {
        let request = format_set_request(config)?;
        let context = self.context();
        if let Err(e) = send_all(&*self.stream, request.as_bytes(), self.io_timeout) {
            // A server that refused the request early may have replied and hung up before
            // reading all of it; its errno is more useful than EPIPE.
            if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) {
                if let Ok(status) = read_status(&mut self.reader, &context) {
                    return status;
                }
            }
            return Err(io_error(&e, &context));
        }
        if let Some(base) = self.io_timeout {
            let per_peer = REPLY_TIMEOUT_PER_PEER.saturating_mul(config.peers.len().min(u32::MAX as usize) as u32);
            self.reader.get_mut().timeout = Some(base.saturating_add(per_peer));
        }
        let status = read_status(&mut self.reader, &context);
        self.reader.get_mut().timeout = self.io_timeout;
        status?
    }
}

/// Reads a set reply up to its blank line. The outer error is a transport or framing failure;
/// the inner result is the server's status. Lines other than `errno=` are ignored. A stream
/// that ends right after the `errno` line is accepted.
fn read_status(reader: &mut LineReader<TimedReader<Stream>>, context: &str) -> Result<Result<()>> {
    let mut errno: Option<i32> = None;
    loop {
        match reader.read_line() {
            Ok(Line::Complete([])) => break,
            Ok(Line::Complete(line)) => {
                if let Some(value) = line.strip_prefix(b"errno=") {
                    let value = std::str::from_utf8(value).ok().and_then(parse_errno);
                    errno = Some(value.ok_or_else(|| Error {
                        code: ErrorCode::Protocol,
                        message: format!("{context}: invalid errno value"),
                        errno: Some(libc::EPROTO),
                    })?);
                }
            }
            Ok(Line::Eof) | Ok(Line::Truncated) if errno.is_some() => break,
            Ok(Line::Eof) | Ok(Line::Truncated) => return Err(missing_errno(context)),
            Ok(Line::TooLong) => {
                return Err(Error {
                    code: ErrorCode::Protocol,
                    message: format!("{context}: reply line too long"),
                    errno: Some(libc::EPROTO),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && errno.is_some() => break,
            Err(e) => return Err(io_error(&e, context)),
        }
    }
    Ok(match errno {
        None => Err(missing_errno(context)),
        Some(0) => Ok(()),
        Some(n) => Err(reply_error(n, context)),
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgkit-client-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A server that answers each request with `reply`, sent one byte at a time.
    fn one_shot(listener: UnixListener, reply: &'static [u8]) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.ends_with(b"\n\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            for b in reply {
                s.write_all(std::slice::from_ref(b)).unwrap();
                s.flush().unwrap();
            }
            request
        })
    }

    #[test]
    fn replies_split_into_bytes_and_errno_forms() {
        let dir = temp_dir("split");
        let client = UapiClient::new().with_socket_dir(&dir);
        let config = DeviceConfig {
            listen_port: Some(7),
            ..Default::default()
        };
        type Expected = Option<(ErrorCode, i32)>;
        let cases: [(&'static [u8], Expected); 6] = [
            (b"errno=0\n\n", None),
            (b"errno=-22\n\n", Some((ErrorCode::System, libc::EINVAL))),
            (b"errno=22\n\n", Some((ErrorCode::System, libc::EINVAL))),
            (b"errno=-71\n\n", Some((ErrorCode::Protocol, libc::EPROTO))),
            (b"\n", Some((ErrorCode::Protocol, libc::EPROTO))),
            (b"errno=0\n", None),
        ];
        for (reply, expected) in cases {
            let path = dir.join("fake.sock");
            let _ = std::fs::remove_file(&path);
            let server = one_shot(UnixListener::bind(&path).unwrap(), reply);
            let result = client.set_device("fake", &config);
            assert_eq!(server.join().unwrap(), b"set=1\nlisten_port=7\n\n");
            assert_eq!(
                result.map_err(|e| (e.code, e.errno.unwrap())),
                expected.map_or(Ok(()), Err),
                "{reply:?}"
            );
        }
        let path = dir.join("fake.sock");
        let _ = std::fs::remove_file(&path);
        let server = one_shot(UnixListener::bind(&path).unwrap(), b"listen_port=9\nerrno=0\n\n");
        assert_eq!(client.get_device("fake").unwrap().listen_port, 9);
        assert_eq!(server.join().unwrap(), b"get=1\n\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_timeout() {
        let dir = temp_dir("rto");
        let listener = UnixListener::bind(dir.join("slow.sock")).unwrap();
        let client = UapiClient::new()
            .with_socket_dir(&dir)
            .with_io_timeout(Some(Duration::from_millis(200)));
        let start = Instant::now();
        let e = client.get_device("slow").unwrap_err();
        assert_eq!(e.errno, Some(libc::ETIMEDOUT));
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A set's reply may take longer than one I/O timeout: the wait grows with its peers.
    #[test]
    fn a_large_set_waits_longer_for_its_reply() {
        use crate::keys::Key;
        use crate::model::PeerConfig;
        let dir = temp_dir("big-set");
        let path = dir.join("slow.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let mut served = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 65536];
                while !request.ends_with(b"\n\n") {
                    let n = s.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                // Longer than the I/O timeout, shorter than it plus 1 ms for each of 1000 peers.
                std::thread::sleep(Duration::from_millis(600));
                let _ = s.write_all(b"errno=0\n\n");
                served.push(request.len());
            }
            served
        });
        let client = UapiClient::new()
            .with_socket_dir(&dir)
            .with_io_timeout(Some(Duration::from_millis(200)));
        let many = DeviceConfig {
            peers: (0..1000u32)
                .map(|i| {
                    let mut k = [7u8; 32];
                    k[..4].copy_from_slice(&i.to_le_bytes());
                    PeerConfig::new(Key::from_bytes(k))
                })
                .collect(),
            ..Default::default()
        };
        client.set_device("slow", &many).unwrap();
        let one = DeviceConfig {
            listen_port: Some(1),
            ..Default::default()
        };
        let e = client.set_device("slow", &one).unwrap_err();
        assert_eq!(e.errno, Some(libc::ETIMEDOUT));
        assert_eq!(server.join().unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connect_timeout_on_a_full_backlog() {
        use std::os::fd::AsRawFd;
        let dir = temp_dir("cto");
        let path = dir.join("busy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // SAFETY: re-listening with a backlog of 0 on a socket we own.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let client = UapiClient::new()
            .with_socket_dir(&dir)
            .with_connect_timeout(Some(Duration::from_millis(200)));
        let mut held = Vec::new();
        let start = Instant::now();
        let err = loop {
            match client.connect("busy") {
                Ok(c) => held.push(c),
                Err(e) => break e,
            }
            assert!(held.len() < 16, "backlog never filled");
        };
        assert_eq!(err.errno, Some(libc::ETIMEDOUT), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            client.list_devices().unwrap().contains(&"busy".to_string()),
            "a busy device is still listed"
        );
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
