//! An interface's index from its name (the zone of a link-local endpoint), with libc.

use std::ffi::CString;

/// The index of the interface called `name`, if there is one.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}
