//! Small OS facts the CLI needs to print messages exactly as wg's `perror` does.

use crate::error::{errno_from_name, strerror};
use napi_derive::napi;

/// The C library's text for an errno given by name (`ENODEV` → `No such device`).
#[napi]
pub fn strerror_by_name(name: String) -> Option<String> {
    errno_from_name(&name).map(strerror)
}
