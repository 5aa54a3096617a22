//! Reading and writing `/proc/sys/<path>` as a network namespace sees it.
//!
//! Entries under `/proc/sys/net` belong to the network namespace of the thread that opens
//! them, not to the process or the mount. So, with a namespace target, the file is opened,
//! read or written, and closed on the short-lived helper thread of `netns::run_in`; the
//! calling thread never moves. Paths are relative to `/proc/sys` (a leading `/proc/sys/`
//! is accepted), made of `[A-Za-z0-9_./-]`, without empty, `.` or `..` components.

use super::netns::{run_in, NetnsTarget};
use crate::error::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

const PROC_SYS: &str = "/proc/sys";

/// The file for a sysctl `path` (`net/ipv4/conf/all/src_valid_mark`), after validation.
pub fn sysctl_file(path: &str) -> Result<PathBuf> {
    let relative = path.strip_prefix("/proc/sys/").unwrap_or(path);
    let bad = |why: &str| Error::invalid_argument(format!("Invalid sysctl path `{path}': {why}"));
    if relative.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(c) = relative
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')))
    {
        return Err(bad(&format!("the character {c:?} is not allowed")));
    }
    if relative
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad(
            "it must be relative to /proc/sys, without empty, `.' or `..' components",
        ));
    }
    Ok(PathBuf::from(PROC_SYS).join(relative))
}

/// The value of a sysctl in `netns` (or the caller's namespace), without surrounding
/// whitespace.
pub fn read(netns: Option<&NetnsTarget>, path: &str) -> Result<String> {
    let file = sysctl_file(path)?;
    run_in(netns, || {
        std::fs::read_to_string(&file)
            .map(|value| value.trim().to_string())
            .map_err(|e| Error::from_io(&e, format!("Unable to read {}", file.display())))
    })
}

/// Writes `value` to a sysctl in `netns` (or the caller's namespace), in one `write`.
pub fn write(netns: Option<&NetnsTarget>, path: &str, value: &str) -> Result<()> {
    let file = sysctl_file(path)?;
    if value.contains('\0') {
        return Err(Error::invalid_argument(format!(
            "Invalid value for {}: it contains a NUL byte",
            file.display()
        )));
    }
    run_in(netns, || {
        let context = || format!("Unable to write `{value}' to {}", file.display());
        let mut handle = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map_err(|e| Error::from_io(&e, context()))?;
        handle
            .write_all(value.as_bytes())
            .map_err(|e| Error::from_io(&e, context()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn paths_are_validated() {
        assert_eq!(
            sysctl_file("net/ipv4/conf/all/src_valid_mark").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/src_valid_mark")
        );
        assert_eq!(
            sysctl_file("/proc/sys/net/ipv4/ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert!(sysctl_file("net/ipv4/conf/eth0.100/rp_filter").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "net/../../etc/passwd",
            "net/./ipv4",
            "net//ipv4",
            "net/ipv4/",
            "net/ipv4 x",
            "net/ipv4\0",
            "net/ipv4/conf/*/rp_filter",
            "/proc/sys/",
        ] {
            assert_eq!(
                sysctl_file(bad).unwrap_err().code,
                ErrorCode::InvalidArgument,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_the_host_value_and_reports_missing_entries() {
        let value = read(None, "net/ipv4/conf/all/src_valid_mark").unwrap();
        assert!(value == "0" || value == "1", "{value}");
        let err = read(None, "net/ipv4/wgkit_no_such_entry").unwrap_err();
        assert_eq!(err.errno_name(), Some("ENOENT"));
        assert!(
            err.message
                .starts_with("Unable to read /proc/sys/net/ipv4/wgkit_no_such_entry"),
            "{}",
            err.message
        );
    }
}
