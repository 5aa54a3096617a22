//! The security descriptor of a UAPI pipe.
//!
//! Decision: a process running as LocalSystem (as wireguard-windows's tunnel service and
//! wireguard-go there do) uses wireguard-windows's descriptor exactly,
//! `O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)`: owned by SYSTEM (the owner wg.exe and wgctrl-go require),
//! full access for SYSTEM and Administrators, nothing inherited. Any other process cannot make
//! SYSTEM the owner (ERROR_INVALID_OWNER without SeRestorePrivilege), so it keeps the default
//! owner (an elevated process: Administrators) and grants SYSTEM, Administrators and its own
//! user: `D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;<user SID>)`. Under the default prefix only an
//! elevated process can create the pipe at all (`ProtectedPrefix\Administrators`), so the
//! extra entry matters only for a non-elevated process serving under a prefix of its own. Note
//! that wg.exe and wgctrl-go talk only to pipes owned by SYSTEM: run as SYSTEM to be managed by
//! them.

use super::pipe::Handle;
use std::io;
use windows_sys::Win32::Foundation::{LocalFree, PSID};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, IsWellKnownSid, TokenUser, WinLocalSystemSid, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
    TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// wireguard-windows's descriptor for its UAPI pipes.
pub const SYSTEM_SDDL: &str = "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)";

/// A self-relative security descriptor from SDDL (freed with LocalFree).
pub struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable memory owned by this value; sharing it between threads
// only reads it.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above.
unsafe impl Sync for SecurityDescriptor {}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW (LocalAlloc).
        unsafe { LocalFree(self.0 as _) };
    }
}

impl SecurityDescriptor {
    pub fn from_sddl(sddl: &str) -> io::Result<SecurityDescriptor> {
        let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SecurityDescriptor(sd))
    }

    /// Attributes that point at this descriptor (valid while it lives).
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

/// The SDDL for this process's UAPI pipes (see the module comment).
pub fn pipe_sddl() -> io::Result<String> {
    let user = token_user()?;
    let sid = user_sid(&user);
    // SAFETY: `sid` points into `user`, alive here.
    if unsafe { IsWellKnownSid(sid, WinLocalSystemSid) } != 0 {
        return Ok(SYSTEM_SDDL.to_string());
    }
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: a valid SID; `text` receives a LocalAlloc'd NUL-terminated string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `text` is NUL-terminated; it is read up to the NUL, then freed.
    let sid_string = unsafe {
        let mut len = 0;
        while *text.add(len) != 0 {
            len += 1;
        }
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text as _);
        s
    };
    Ok(format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{sid_string})"))
}

/// The process token's TOKEN_USER, in a buffer aligned for it.
fn token_user() -> io::Result<Vec<u64>> {
    let mut token = 0;
    // SAFETY: the pseudo-handle of this process; `token` receives a handle we close.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = Handle(token);
    let mut len = 0u32;
    // SAFETY: a size query (null buffer, length 0).
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` has at least `len` bytes, aligned for TOKEN_USER.
    if unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr() as _, len, &mut len) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(buf)
}

fn user_sid(buf: &[u64]) -> PSID {
    // SAFETY: `buf` holds a TOKEN_USER written by GetTokenInformation.
    unsafe { (*(buf.as_ptr() as *const TOKEN_USER)).User.Sid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_parse() {
        SecurityDescriptor::from_sddl(SYSTEM_SDDL).unwrap();
        let sddl = pipe_sddl().unwrap();
        assert!(sddl.contains("(A;;GA;;;SY)(A;;GA;;;BA)"), "{sddl}");
        SecurityDescriptor::from_sddl(&sddl).unwrap();
        assert!(SecurityDescriptor::from_sddl("not sddl").is_err());
    }
}
