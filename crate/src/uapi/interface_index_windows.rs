//! An interface's index from its name (the zone of a link-local endpoint), with the IP Helper
//! API (iphlpapi.dll).

use std::ffi::CString;
use windows_sys::Win32::NetworkManagement::IpHelper::if_nametoindex;

/// The index of the interface called `name`, if there is one.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { if_nametoindex(c.as_ptr() as *const u8) };
    (index != 0).then_some(index)
}
