//! The UAPI client's connector on Windows: opening `<dir>\<name>` (waiting while every
//! instance is busy, up to the connect timeout), and listing the devices by enumerating
//! `\\.\pipe\` for names under the prefix, as wg (ipc-uapi-windows.h) and wgctrl-go
//! (conn_windows.go) do. The client opens the pipe at the identification impersonation level
//! only (SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION), so a server cannot act as this
//! process. Unlike wg and wgctrl-go it does not require the pipe's owner to be SYSTEM (this
//! crate's own server, run elevated but not as SYSTEM, is owned by Administrators); under the
//! default prefix only Administrators and SYSTEM can create a pipe at all.

use super::name::{name_from_pipe_entry, socket_path, PIPE_ROOT};
use super::pipe::{errno_from_win32, wide, Handle, PipeStream};
use crate::error::{Error, ErrorCode, Result};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_FILE_NOT_FOUND, ERROR_NO_MORE_FILES, ERROR_PIPE_BUSY, GENERIC_READ, GENERIC_WRITE,
    INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FindClose, FindFirstFileW, FindNextFileW, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT, WIN32_FIND_DATAW,
};
use windows_sys::Win32::System::Pipes::WaitNamedPipeW;

/// Opens the pipe `path`. Every instance busy: waits (WaitNamedPipeW) until `timeout`, then
/// ERROR_PIPE_BUSY.
pub fn connect_pipe(path: &Path, timeout: Option<Duration>) -> io::Result<PipeStream> {
    let name = wide(path.as_os_str());
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: `name` is NUL-terminated; no security attributes or template.
        let h = unsafe {
            CreateFileW(
                name.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                0,
            )
        };
        if h != INVALID_HANDLE_VALUE {
            return Ok(PipeStream::new(Handle(h), None));
        }
        // SAFETY: reads the calling thread's last error.
        let err = unsafe { GetLastError() };
        if err != ERROR_PIPE_BUSY {
            return Err(io::Error::from_raw_os_error(err as i32));
        }
        let wait = match deadline {
            None => Duration::from_millis(50),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::from_raw_os_error(err as i32));
                }
                left.min(Duration::from_millis(50))
            }
        };
        // SAFETY: `name` is NUL-terminated. Returns early when an instance is free (or the
        // pipe is gone, which the next CreateFileW reports).
        if unsafe { WaitNamedPipeW(name.as_ptr(), wait.as_millis().max(1) as u32) } == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn not_found(context: &str) -> Error {
    Error::from_errno(libc::ENOENT, context).with_code(ErrorCode::DeviceNotFound)
}

/// Opens the pipe of device `name` under the prefix `dir`. No such pipe is `DeviceNotFound`.
pub fn open_device(dir: &Path, name: &str, timeout: Option<Duration>) -> Result<PipeStream> {
    let path = socket_path(dir, name)?;
    let context = format!("Unable to access interface {name}");
    connect_pipe(&path, timeout).map_err(|e| match e.raw_os_error().map(|c| c as u32) {
        Some(code) if errno_from_win32(code) == libc::ENOENT => not_found(&context),
        _ => super::errno::io_error(&e, &context),
    })
}

/// Whether a pipe exists for `name`: it opens, or it exists but is busy or not ours to open.
pub fn has_device(dir: &Path, name: &str, timeout: Option<Duration>) -> bool {
    let Ok(path) = socket_path(dir, name) else {
        return false;
    };
    match connect_pipe(&path, timeout) {
        Ok(_) => true,
        Err(e) => e.raw_os_error().map(|c| errno_from_win32(c as u32)) != Some(libc::ENOENT),
    }
}

/// The names of the devices under the prefix `dir`, in the order `\\.\pipe\` lists them.
pub fn list_devices(dir: &Path, _timeout: Option<Duration>) -> Result<Vec<String>> {
    let dir = dir.to_string_lossy();
    let pattern = wide(std::ffi::OsStr::new(&format!("{PIPE_ROOT}*")));
    let fail = |code: u32| {
        Error::from_errno(
            errno_from_win32(code),
            format!("Unable to list named pipes under {PIPE_ROOT} (Win32 error {code})"),
        )
    };
    // SAFETY: an all-zero WIN32_FIND_DATAW is valid; FindFirstFileW fills it.
    let mut data: WIN32_FIND_DATAW = unsafe { std::mem::zeroed() };
    // SAFETY: `pattern` is NUL-terminated and `data` is writable.
    let find = unsafe { FindFirstFileW(pattern.as_ptr(), &mut data) };
    if find == INVALID_HANDLE_VALUE {
        // SAFETY: reads the calling thread's last error.
        let code = unsafe { GetLastError() };
        if code == ERROR_FILE_NOT_FOUND {
            return Ok(Vec::new());
        }
        return Err(fail(code));
    }
    let mut names = Vec::new();
    let result = loop {
        let len = data
            .cFileName
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(data.cFileName.len());
        let entry = String::from_utf16_lossy(&data.cFileName[..len]);
        if let Some(name) = name_from_pipe_entry(&dir, &entry) {
            names.push(name.to_string());
        }
        // SAFETY: `find` is the open search handle and `data` is writable.
        if unsafe { FindNextFileW(find, &mut data) } == 0 {
            // SAFETY: reads the calling thread's last error.
            let code = unsafe { GetLastError() };
            break if code == ERROR_NO_MORE_FILES {
                Ok(names)
            } else {
                Err(fail(code))
            };
        }
    };
    // SAFETY: closes the search handle opened above.
    unsafe { FindClose(find) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::pipe_listener::test_support::temp_dir;
    use crate::uapi::server::{EmptyHandler, UapiServer, UapiServerOptions};
    use crate::uapi::UapiClient;
    use std::sync::Arc;
    use windows_sys::Win32::Foundation::ERROR_BAD_DEV_TYPE;

    /// Whether this runs under wine (its ntdll exports `wine_get_version`).
    fn under_wine() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
        let ntdll = wide(std::ffi::OsStr::new("ntdll.dll"));
        // SAFETY: ntdll is loaded in every process; the symbol name is NUL-terminated.
        unsafe {
            let module = GetModuleHandleW(ntdll.as_ptr());
            module != 0 && GetProcAddress(module, c"wine_get_version".as_ptr() as *const u8).is_some()
        }
    }

    /// Listing enumerates `\\.\pipe\`. Wine 8 cannot enumerate the pipe directory
    /// (NtQueryDirectoryFile gives STATUS_BAD_DEVICE_TYPE): there the listing must fail with
    /// that, clearly; on Windows it must find the pipe and nothing else under the prefix.
    #[test]
    fn listing_finds_the_pipe() {
        let dir = temp_dir("list");
        let server = UapiServer::bind_with(
            "wgl0",
            Arc::new(EmptyHandler),
            UapiServerOptions {
                socket_dir: dir.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let client = UapiClient::new().with_socket_dir(&dir);
        assert!(client.has_device("wgl0"));
        match client.list_devices() {
            Ok(names) => assert_eq!(names, ["wgl0"]),
            Err(e) => {
                assert!(under_wine(), "{e:?}");
                assert!(
                    e.message.contains(&format!("(Win32 error {ERROR_BAD_DEV_TYPE})")),
                    "{}",
                    e.message
                );
            }
        }
        drop(server);
        assert!(!client.has_device("wgl0"));
    }

    #[test]
    fn a_busy_pipe_times_out_and_a_missing_one_is_not_found() {
        let dir = temp_dir("busy");
        let e = UapiClient::new().with_socket_dir(&dir).get_device("none").unwrap_err();
        assert_eq!((e.code, e.errno), (ErrorCode::DeviceNotFound, Some(libc::ENOENT)));
        // A pipe whose only instance is taken: the connect waits, then times out.
        let path = dir.join("one");
        let name = wide(path.as_os_str());
        let security = super::super::pipe_security::SecurityDescriptor::from_sddl(
            &super::super::pipe_security::pipe_sddl().unwrap(),
        )
        .unwrap();
        let attributes = security.attributes();
        // SAFETY: a one-instance pipe for this test; closed by `Handle`.
        let h = Handle(unsafe {
            windows_sys::Win32::System::Pipes::CreateNamedPipeW(
                name.as_ptr(),
                windows_sys::Win32::Storage::FileSystem::PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                0,
                1,
                4096,
                4096,
                0,
                &attributes,
            )
        });
        assert_ne!(h.0, INVALID_HANDLE_VALUE);
        let first = connect_pipe(&path, Some(Duration::from_secs(5))).unwrap();
        let start = Instant::now();
        let e = UapiClient::new()
            .with_socket_dir(&dir)
            .with_connect_timeout(Some(Duration::from_millis(300)))
            .connect("one")
            .err()
            .unwrap();
        assert_eq!(e.errno, Some(libc::ETIMEDOUT), "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
        drop(first);
    }
}
