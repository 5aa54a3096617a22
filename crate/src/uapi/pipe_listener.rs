//! The UAPI server's listener on Windows: the named pipe `<dir>\<name>`
//! (`\\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>` by default), byte mode, remote
//! clients rejected, with the security descriptor of `pipe_security.rs`.
//!
//! The accept thread keeps one instance waiting in an overlapped `ConnectNamedPipe`; once a
//! client connects, the next instance is created before the connected one is handed to its
//! thread, so the name is never free for another process meanwhile (a client that finds no
//! free instance for that moment waits: `pipe_client.rs`). The first instance is created with
//! FILE_FLAG_FIRST_PIPE_INSTANCE, and a live pipe of the same name is looked for first, so a
//! second server for a name is EADDRINUSE ("named pipe in use"). `stop` sets an event that the
//! accept thread and every connection's reads and writes also wait on, so close ends them all
//! at once.

use super::pipe::{overlapped, wide, Event, Handle, PipeStream};
use super::pipe_security::{pipe_sddl, SecurityDescriptor};
use crate::error::{Error, ErrorCode, Result};
use std::io;
use std::path::Path;
use std::sync::Arc;
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_CONNECTED, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, WaitNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE,
    PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

/// Each direction's pipe buffer.
const BUFFER: u32 = 64 << 10;

/// The pipe, run by the accept thread.
pub struct Listener {
    name: Vec<u16>,
    security: SecurityDescriptor,
    first: Option<Handle>,
    stop: Arc<Event>,
}

/// What the server keeps to stop the accept thread and every connection.
pub struct ListenerControl {
    stop: Arc<Event>,
}

/// Shuts down one open connection when the server closes: nothing to do one by one, the stop
/// event (`ListenerControl::stop`) already ends every connection's I/O.
pub struct ConnShutdown;

pub fn conn_shutdown(_stream: &PipeStream) -> ConnShutdown {
    ConnShutdown
}

impl ConnShutdown {
    pub fn shutdown(&self) {}
}

/// Whether a pipe of this name exists (with or without a free instance).
fn pipe_exists(name: &[u16]) -> bool {
    // SAFETY: `name` is NUL-terminated.
    if unsafe { WaitNamedPipeW(name.as_ptr(), 1) } != 0 {
        return true;
    }
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() != ERROR_FILE_NOT_FOUND }
}

fn create_instance(name: &[u16], security: &SecurityDescriptor, first: bool) -> io::Result<Handle> {
    let attributes = security.attributes();
    let flags = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | if first { FILE_FLAG_FIRST_PIPE_INSTANCE } else { 0 };
    // SAFETY: `name` is NUL-terminated; `attributes` points at a descriptor alive for the call.
    let h = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            flags,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            BUFFER,
            BUFFER,
            0,
            &attributes,
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    Ok(Handle(h))
}

/// Creates the pipe `path` (`<dir>\<name>`). A live pipe of that name is EADDRINUSE.
pub fn bind(_dir: &Path, path: &Path, name: &str) -> Result<(Listener, ListenerControl)> {
    let context = format!("UAPI listen error for {name}");
    let pipe_name = wide(path.as_os_str());
    let in_use = || Error::from_errno(libc::EADDRINUSE, format!("{context}: named pipe in use"));
    if pipe_exists(&pipe_name) {
        return Err(in_use());
    }
    let os_error = |e: io::Error| super::errno::io_error(&e, &context);
    let security = SecurityDescriptor::from_sddl(&pipe_sddl().map_err(os_error)?).map_err(os_error)?;
    let first = match create_instance(&pipe_name, &security, true) {
        Ok(h) => h,
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            if pipe_exists(&pipe_name) {
                return Err(in_use());
            }
            return Err(Error {
                code: ErrorCode::PermissionDenied,
                message: format!(
                    "{context}: permission denied creating {} (pipes under ProtectedPrefix\\Administrators need an elevated process)",
                    path.display()
                ),
                errno: Some(libc::EACCES),
            });
        }
        Err(e) => return Err(os_error(e)),
    };
    let stop = Arc::new(Event::new().map_err(os_error)?);
    Ok((
        Listener {
            name: pipe_name,
            security,
            first: Some(first),
            stop: stop.clone(),
        },
        ListenerControl { stop },
    ))
}

impl ListenerControl {
    /// Wakes the accept thread, which then returns, and ends every connection's I/O.
    pub fn stop(&self) {
        self.stop.set();
    }

    /// Nothing to remove: a pipe goes with its last handle.
    pub fn remove(&self) {}
}

impl Listener {
    /// Accepts connections and hands each to `accept` until stopped.
    pub fn run(mut self, mut accept: impl FnMut(PipeStream)) {
        let mut next = self.first.take();
        loop {
            let instance = match next.take() {
                Some(h) => h,
                None => match create_instance(&self.name, &self.security, false) {
                    Ok(h) => h,
                    Err(_) => {
                        // Out of resources: back off for a moment (still stoppable).
                        // SAFETY: an event handle we own.
                        if unsafe { WaitForSingleObject(self.stop.raw(), 100) } == 0 {
                            return;
                        }
                        continue;
                    }
                },
            };
            let h = instance.0;
            // SAFETY: `h` is our pipe instance; `ov` is managed by `overlapped`.
            match overlapped(h, Some(&self.stop), None, |ov| unsafe { ConnectNamedPipe(h, ov) }) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(ERROR_PIPE_CONNECTED as i32) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => return,
                // A client that came and went (ERROR_NO_DATA), or a failed instance: next one.
                Err(_) => continue,
            }
            // Keep the name: the next instance exists before this one is handed on.
            next = create_instance(&self.name, &self.security, false).ok();
            accept(PipeStream::new(instance, Some(self.stop.clone())));
        }
    }
}

/// For the server's tests: a pipe prefix of the test's own, and a raw connection.
#[cfg(test)]
pub mod test_support {
    use super::PipeStream;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);

    pub fn temp_dir(tag: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        PathBuf::from(format!(r"\\.\pipe\wgkit-test-{tag}-{}-{n}", std::process::id()))
    }

    /// Pipes need no cleanup.
    pub fn remove_dir(_dir: &Path) {}

    pub fn connect(path: &Path) -> PipeStream {
        super::super::pipe_client::connect_pipe(path, Some(std::time::Duration::from_secs(10))).unwrap()
    }
}
