//! Room for the descriptors of many connections: 1,000 relayed connections take 2,000 sockets,
//! over the usual soft limit of 1,024 on Unix. Windows has no per-process socket limit.

/// Lets the process open as many descriptors as its hard limit allows.
#[cfg(unix)]
pub fn raise_descriptor_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit that lives across the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Nothing to raise: Windows limits sockets by memory only.
#[cfg(windows)]
pub fn raise_descriptor_limit() {}
