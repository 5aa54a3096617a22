//! A Windows named pipe as a UAPI stream: overlapped reads and writes that wait at most a given
//! time (`WaitForMultipleObjects` on the operation's event and, for a server's connections, the
//! server's stop event; an operation out of time is cancelled with `CancelIoEx` and waited for,
//! so its buffer is never touched after the call returns).

use super::stream::UapiStream;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;
use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, ERROR_BROKEN_PIPE, ERROR_FILE_NOT_FOUND, ERROR_IO_PENDING,
    ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PATH_NOT_FOUND, ERROR_PIPE_BUSY, ERROR_PIPE_NOT_CONNECTED,
    ERROR_SEM_TIMEOUT, FALSE, HANDLE, TRUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::Threading::{
    CreateEventW, SetEvent, WaitForMultipleObjects, WaitForSingleObject, INFINITE,
};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

/// The most one write hands the pipe at a time: a cancelled write loses little, and a deadline
/// is checked between pieces.
const MAX_WRITE: usize = 64 << 10;

/// A handle closed on drop.
pub struct Handle(pub HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and open; nothing uses it after the drop.
        unsafe { CloseHandle(self.0) };
    }
}

/// A manual-reset event.
pub struct Event(Handle);

impl Event {
    pub fn new() -> io::Result<Event> {
        // SAFETY: no security attributes, no name; the result is checked.
        let h = unsafe { CreateEventW(std::ptr::null(), TRUE, FALSE, std::ptr::null()) };
        if h == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Event(Handle(h)))
    }

    pub fn raw(&self) -> HANDLE {
        self.0 .0
    }

    pub fn set(&self) {
        // SAFETY: an event handle we own.
        unsafe { SetEvent(self.raw()) };
    }

    pub fn is_set(&self) -> bool {
        // SAFETY: an event handle we own; a zero timeout only polls.
        unsafe { WaitForSingleObject(self.raw(), 0) == WAIT_OBJECT_0 }
    }
}

/// Milliseconds for a Win32 wait: rounded up, `INFINITE` for none.
pub fn wait_ms(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(u128::from(INFINITE - 1)) as u32
        }
    }
}

/// How an overlapped operation ended when it did not complete.
pub enum Interrupted {
    TimedOut,
    Stopped,
}

/// Starts an overlapped operation with `start` and waits for it at most `timeout`, or until
/// `stop` is set. Returns the bytes transferred, or the Win32 error (`ERROR_OPERATION_ABORTED`
/// mapped to `TimedOut`, or to `ConnectionAborted` when stopped).
pub fn overlapped(
    handle: HANDLE,
    stop: Option<&Event>,
    timeout: Option<Duration>,
    start: impl FnOnce(*mut OVERLAPPED) -> i32,
) -> io::Result<usize> {
    if stop.is_some_and(Event::is_set) {
        return Err(io::Error::from(io::ErrorKind::ConnectionAborted));
    }
    let event = Event::new()?;
    // SAFETY: an all-zero OVERLAPPED is valid (offsets 0; pipes ignore them).
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.hEvent = event.raw();
    let mut interrupted = None;
    if start(&mut ov) == 0 {
        // SAFETY: reads the calling thread's last error.
        let err = unsafe { GetLastError() };
        if err != ERROR_IO_PENDING {
            return Err(io::Error::from_raw_os_error(err as i32));
        }
        let mut handles = [event.raw(), 0];
        let count = match stop {
            Some(stop) => {
                handles[1] = stop.raw();
                2
            }
            None => 1,
        };
        // SAFETY: `handles` holds `count` valid event handles.
        let rc = unsafe { WaitForMultipleObjects(count, handles.as_ptr(), FALSE, wait_ms(timeout)) };
        if rc != WAIT_OBJECT_0 {
            interrupted = Some(if rc == WAIT_OBJECT_0 + 1 {
                Interrupted::Stopped
            } else {
                Interrupted::TimedOut
            });
            // SAFETY: cancels this operation only; `ov` is still alive.
            unsafe { CancelIoEx(handle, &ov) };
        }
    }
    let mut n = 0u32;
    // SAFETY: waits (bWait=TRUE) until the operation has ended, cancelled or not, so `ov` and
    // the caller's buffer are unused afterwards.
    if unsafe { GetOverlappedResult(handle, &ov, &mut n, TRUE) } == 0 {
        // SAFETY: reads the calling thread's last error.
        let err = unsafe { GetLastError() };
        if err == ERROR_OPERATION_ABORTED {
            return Err(match interrupted {
                Some(Interrupted::Stopped) => io::Error::from(io::ErrorKind::ConnectionAborted),
                _ => io::Error::from(io::ErrorKind::TimedOut),
            });
        }
        return Err(io::Error::from_raw_os_error(err as i32));
    }
    // Completed, perhaps just before the cancel: the bytes count.
    Ok(n as usize)
}

/// One end of a connected pipe. A server's connection also watches the server's stop event.
pub struct PipeStream {
    handle: Handle,
    stop: Option<Arc<Event>>,
}

impl PipeStream {
    pub fn new(handle: Handle, stop: Option<Arc<Event>>) -> PipeStream {
        PipeStream { handle, stop }
    }

    pub fn raw(&self) -> HANDLE {
        self.handle.0
    }
}

impl UapiStream for PipeStream {
    fn read_within(&self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        let len = buf.len().min(u32::MAX as usize) as u32;
        let ptr = buf.as_mut_ptr();
        let h = self.raw();
        // SAFETY: `buf` outlives the operation (`overlapped` waits for it to end).
        let result = overlapped(h, self.stop.as_deref(), timeout, |ov| unsafe {
            ReadFile(h, ptr, len, std::ptr::null_mut(), ov)
        });
        match result {
            // The other end closed: the end of the stream.
            Err(e) if is_disconnect(&e) => Ok(0),
            other => other,
        }
    }

    fn write_within(&self, data: &[u8], timeout: Option<Duration>) -> io::Result<usize> {
        let len = data.len().min(MAX_WRITE) as u32;
        let ptr = data.as_ptr();
        let h = self.raw();
        // SAFETY: `data` outlives the operation (`overlapped` waits for it to end).
        let result = overlapped(h, self.stop.as_deref(), timeout, |ov| unsafe {
            WriteFile(h, ptr, len, std::ptr::null_mut(), ov)
        });
        match result {
            Err(e) if is_disconnect(&e) => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
            other => other,
        }
    }
}

impl Read for &PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_within(buf, None)
    }
}

impl Write for &PipeStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_within(data, None)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(|c| c as u32),
        Some(ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED)
    )
}

/// The errno for a Win32 error code (what `Error::from_errno` and JS see).
pub fn errno_from_win32(code: u32) -> i32 {
    match code {
        ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND => libc::ENOENT,
        ERROR_ACCESS_DENIED => libc::EACCES,
        ERROR_PIPE_BUSY | ERROR_SEM_TIMEOUT => libc::ETIMEDOUT,
        ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED => libc::EPIPE,
        ERROR_OPERATION_ABORTED => libc::ECANCELED,
        _ => libc::EIO,
    }
}

/// The errno of an I/O error: its Win32 code mapped, or by its kind when it has none.
pub fn errno_of(err: &io::Error) -> Option<i32> {
    if let Some(code) = err.raw_os_error() {
        return Some(errno_from_win32(code as u32));
    }
    match err.kind() {
        io::ErrorKind::BrokenPipe => Some(libc::EPIPE),
        io::ErrorKind::ConnectionAborted => Some(libc::ECONNABORTED),
        io::ErrorKind::ConnectionReset => Some(libc::ECONNRESET),
        _ => None,
    }
}

/// A NUL-terminated UTF-16 string for Win32.
pub fn wide(s: &std::ffi::OsStr) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    s.encode_wide().chain(std::iter::once(0)).collect()
}
