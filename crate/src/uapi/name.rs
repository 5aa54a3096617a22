//! Device names and where their UAPI sockets live.
//!
//! wg refuses a name containing `/` on the UAPI path and a kernel name of 16 bytes or more
//! (`IFNAMSIZ`); both rules apply here, plus the empty name and NUL bytes, which cannot be
//! part of a path.

use crate::error::{Error, ErrorCode};
use std::path::{Path, PathBuf};

/// The socket directory wg and wireguard-go use on Linux (`RUNSTATEDIR/wireguard`).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/wireguard";

/// Every UAPI socket is `<dir>/<name>.sock`.
pub const SOCKET_SUFFIX: &str = ".sock";

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
    if name.contains('/') || name.contains('\0') {
        return Err(Error {
            code: ErrorCode::InvalidArgument,
            message: format!("Interface name `{}' contains `/' or NUL", name.escape_debug()),
            errno: Some(libc::EINVAL),
        });
    }
    Ok(())
}

/// `<dir>/<name>.sock`, after validating the name.
pub fn socket_path(dir: &Path, name: &str) -> crate::error::Result<PathBuf> {
    validate_name(name)?;
    Ok(dir.join(format!("{name}{SOCKET_SUFFIX}")))
}

/// The device name of a directory entry, if it is `<name>.sock` with a non-empty name.
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
        assert_eq!(validate_name("..").map(|_| ()), Ok(()));
        assert!(validate_name("a\0b").is_err());
        assert_eq!(
            socket_path(Path::new("/var/run/wireguard"), "wg0").unwrap(),
            PathBuf::from("/var/run/wireguard/wg0.sock")
        );
    }

    #[test]
    fn socket_file_names() {
        assert_eq!(name_from_socket_file("wg0.sock"), Some("wg0"));
        assert_eq!(name_from_socket_file(".sock"), None);
        assert_eq!(name_from_socket_file("wg0.socket"), None);
        assert_eq!(name_from_socket_file("wg0"), None);
    }
}
