//! The UAPI client: list, get and set userspace devices through their sockets, as wg does.

use super::errno::{missing_errno, parse_errno, reply_error};
use super::get_reply::read_get_reply;
use super::lines::{Line, LineReader};
use super::name::DEFAULT_SOCKET_DIR;
use super::set_request::format_set_request;
use super::socket::{has_device, io_error, list_devices, open_device, send_all};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Device, DeviceConfig};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connect may wait for a busy listener by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read or write may block by default.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest reply line the client accepts (real lines are under 100 bytes).
pub const MAX_REPLY_LINE: usize = 4096;

/// Talks to the UAPI sockets of one directory (`/var/run/wireguard` by default).
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
    /// sorted. Stale sockets found on the way are unlinked.
    pub fn list_devices(&self) -> Result<Vec<String>> {
        list_devices(&self.socket_dir, self.connect_timeout)
    }

    /// Whether a live socket exists for `name` (a stale one is unlinked).
    pub fn has_device(&self, name: &str) -> bool {
        has_device(&self.socket_dir, name, self.connect_timeout)
    }

    /// Opens a connection that can carry several operations.
    pub fn connect(&self, name: &str) -> Result<UapiConnection> {
        let stream = open_device(&self.socket_dir, name, self.connect_timeout)?;
        let context = format!("Unable to access interface {name}");
        stream
            .set_read_timeout(self.io_timeout)
            .and_then(|_| stream.set_write_timeout(self.io_timeout))
            .map_err(|e| Error::from_io(&e, &context))?;
        let read_half = stream.try_clone().map_err(|e| Error::from_io(&e, &context))?;
        Ok(UapiConnection {
            name: name.to_string(),
            stream,
            reader: LineReader::new(read_half, MAX_REPLY_LINE),
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
    stream: UnixStream,
    reader: LineReader<UnixStream>,
}

impl UapiConnection {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn context(&self) -> String {
        format!("Unable to access interface {}", self.name)
    }

    pub fn get(&mut self) -> Result<Device> {
        send_all(&self.stream, b"get=1\n\n").map_err(|e| io_error(&e, &self.context()))?;
        read_get_reply(&mut self.reader, &self.name)
    }

    pub fn set(&mut self, config: &DeviceConfig) -> Result<()> {
        let request = format_set_request(config)?;
        let context = self.context();
        if let Err(e) = send_all(&self.stream, request.as_bytes()) {
            // A server that refused the request early may have replied and hung up before
            // reading all of it; its errno is more useful than EPIPE.
            if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) {
                if let Ok(status) = read_status(&mut self.reader, &context) {
                    return status;
                }
            }
            return Err(io_error(&e, &context));
        }
        read_status(&mut self.reader, &context)?
    }
}

/// Reads a set reply up to its blank line. The outer error is a transport or framing failure;
/// the inner result is the server's status. Lines other than `errno=` are ignored. A stream
/// that ends right after the `errno` line is accepted.
fn read_status(reader: &mut LineReader<UnixStream>, context: &str) -> Result<Result<()>> {
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
            Ok(Line::TooLong) => return Err(Error::protocol(format!("{context}: reply line too long"))),
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
