//! Device names and where their UAPI sockets live.
//!
//! wg refuses a name containing `/` on the UAPI path and a kernel name of 16 bytes or more
//! (`IFNAMSIZ`); both rules apply here, plus the empty name and NUL bytes, which cannot be
//! part of a path, and `\`, the separator of Windows pipe names (on every platform, so a name
//! means the same device everywhere).
//!
//! Unix: `<dir>/<name>.sock`, `dir` being `/var/run/wireguard`. Windows: the named pipe
//! `<dir>\<name>`, `dir` being `\\.\pipe\ProtectedPrefix\Administrators\WireGuard`, where
//! wireguard-go and wireguard-windows listen and wg and wgctrl-go look.

use crate::error::{Error, ErrorCode};
use std::path::{Path, PathBuf};

/// The socket directory wg and wireguard-go use on Unix (`RUNSTATEDIR/wireguard`).
#[cfg(unix)]
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/wireguard";
/// The pipe prefix wireguard-go and wireguard-windows use (only Administrators and SYSTEM can
/// create pipes under `ProtectedPrefix\Administrators`).
#[cfg(windows)]
pub const DEFAULT_SOCKET_DIR: &str = r"\\.\pipe\ProtectedPrefix\Administrators\WireGuard";

/// Every UAPI socket is `<dir>/<name>.sock` (a pipe has no suffix).
#[cfg(unix)]
pub const SOCKET_SUFFIX: &str = ".sock";
#[cfg(windows)]
pub const SOCKET_SUFFIX: &str = "";

/// Where every named pipe's name starts (`FindFirstFileW` lists the rest).
pub const PIPE_ROOT: &str = r"\\.\pipe\";

/// `IFNAMSIZ`: a name must be shorter than this many bytes.
pub const IFNAMSIZ: usize = 16;

/// Checks a device name: non-empty, shorter than 16 bytes, no `/` and no NUL.
pub fn validate_name(name: &str) -> crate::error::Result<()> {
    if name.is_empty() {
        return Err(Error {
            code: ErrorCode::InvalidArgument,
            message: "Interface name is empty".into(),
            errno: Some(libc::EINVAL),
        });
    }
    if name.len() >= IFNAMSIZ {
        return Err(Error {
            code: ErrorCode::InvalidArgument,
            message: format!("Interface name `{name}' is longer than {} bytes", IFNAMSIZ - 1),
            errno: Some(libc::ENAMETOOLONG),
        });
    }
    if name.contains('/') || name.contains('\\') || name.contains('\0') {
        return Err(Error {
            code: ErrorCode::InvalidArgument,
            message: format!("Interface name `{}' contains `/', `\\' or NUL", name.escape_debug()),
            errno: Some(libc::EINVAL),
        });
    }
    Ok(())
}

/// `<dir>/<name>.sock` (on Windows `<dir>\<name>`), after validating the name.
pub fn socket_path(dir: &Path, name: &str) -> crate::error::Result<PathBuf> {
    validate_name(name)?;
    Ok(dir.join(format!("{name}{SOCKET_SUFFIX}")))
}

/// The device name of a `\\.\pipe\` entry (`ProtectedPrefix\Administrators\WireGuard\wg0`)
/// under the pipe prefix `dir` (`\\.\pipe\ProtectedPrefix\Administrators\WireGuard`): the
/// rest of the entry after `<dir minus \\.\pipe\>\`, if it is a valid device name. Pipe names
/// are case-insensitive, so is the prefix.
pub fn name_from_pipe_entry<'a>(dir: &str, entry: &'a str) -> Option<&'a str> {
    let root = PIPE_ROOT.len();
    let prefix = dir
        .get(..root)
        .filter(|r| r.eq_ignore_ascii_case(PIPE_ROOT))
        .map(|_| dir[root..].trim_end_matches('\\'))?;
    let head = entry.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let name = entry[prefix.len()..].strip_prefix('\\')?;
    validate_name(name).ok().map(|_| name)
}

/// The device name of a directory entry, if it is `<name>.sock` with a non-empty name.
#[cfg(unix)]
pub fn name_from_socket_file(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(SOCKET_SUFFIX).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("wg0").is_ok());
        assert!(validate_name("abcdefghijklmno").is_ok());
        let e = validate_name("abcdefghijklmnop").unwrap_err();
        assert_eq!(
            (e.code, e.errno),
            (ErrorCode::InvalidArgument, Some(libc::ENAMETOOLONG))
        );
        assert_eq!(validate_name("").unwrap_err().errno, Some(libc::EINVAL));
        assert_eq!(validate_name("a/b").unwrap_err().errno, Some(libc::EINVAL));
        assert_eq!(validate_name("a\\b").unwrap_err().errno, Some(libc::EINVAL));
        assert_eq!(validate_name("..").map(|_| ()), Ok(()));
        assert!(validate_name("a\0b").is_err());
        #[cfg(unix)]
        assert_eq!(
            socket_path(Path::new(DEFAULT_SOCKET_DIR), "wg0").unwrap(),
            PathBuf::from("/var/run/wireguard/wg0.sock")
        );
        #[cfg(windows)]
        assert_eq!(
            socket_path(Path::new(DEFAULT_SOCKET_DIR), "wg0").unwrap(),
            PathBuf::from(r"\\.\pipe\ProtectedPrefix\Administrators\WireGuard\wg0")
        );
    }

    #[test]
    fn pipe_entries() {
        let dir = r"\\.\pipe\ProtectedPrefix\Administrators\WireGuard";
        let name = |entry| name_from_pipe_entry(dir, entry);
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuard\wg0"), Some("wg0"));
        assert_eq!(name(r"protectedprefix\administrators\wireguard\Wg1"), Some("Wg1"));
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuard"), None);
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuard\"), None);
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuardX\wg0"), None);
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuard\a\b"), None);
        assert_eq!(name(r"ProtectedPrefix\Administrators\WireGuard\abcdefghijklmnop"), None);
        assert_eq!(name("mojo.1234"), None);
        assert_eq!(name_from_pipe_entry(r"\\.\pipe\t\", r"t\x"), Some("x"));
        assert_eq!(name_from_pipe_entry("/var/run/wireguard", r"t\x"), None);
    }

    #[cfg(unix)]
    #[test]
    fn socket_file_names() {
        assert_eq!(name_from_socket_file("wg0.sock"), Some("wg0"));
        assert_eq!(name_from_socket_file(".sock"), None);
        assert_eq!(name_from_socket_file("wg0.socket"), None);
        assert_eq!(name_from_socket_file("wg0"), None);
    }
}
