//! Opt-in low-latency mode: while the tunnel carries traffic, the device asks the kernel to keep
//! every CPU able to wake within `us` microseconds (a PM QoS CPU latency request, held by keeping
//! `/dev/cpu_dma_latency` open after writing the value), and drops the request after
//! [`RELEASE_AFTER_TICKS`] timer ticks without a packet through the interface.
//!
//! Why: a packet through a userspace tunnel hands off between threads (TUN reader → peer's
//! socket reader → TUN writer) and every hand-off to an idle CPU is a wake-up. On a VM whose
//! idle vCPUs halt, waking one costs the waker tens of microseconds; with a request of 0 the
//! idle loop polls instead and a wake-up needs no interrupt at all. The price is CPU time spent
//! polling while the request is held, which is why it is off by default and released when the
//! tunnel goes quiet.

use super::cpu_latency_path as request_path;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest request accepted (µs); anything larger constrains nothing in practice.
pub(crate) const MAX_US: u32 = 1_000_000;
/// Quiet timer ticks (250 ms each) before the request is dropped.
pub(crate) const RELEASE_AFTER_TICKS: u32 = 4;
/// The environment variable that sets the request when the caller's options do not.
pub(crate) const ENV: &str = "WGKIT_CPU_LATENCY_US";

/// Checks a requested latency.
pub(crate) fn validate(us: i64, what: &str) -> Result<u32> {
    if !(0..=MAX_US as i64).contains(&us) {
        return Err(Error::invalid_argument(format!(
            "{what} {us} is out of range (0 to {MAX_US} microseconds)"
        )));
    }
    Ok(us as u32)
}

/// The request from the environment ([`ENV`]), if set.
pub(crate) fn from_env() -> Result<Option<u32>> {
    match std::env::var(ENV) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(us) => validate(us, ENV).map(Some),
            Err(_) => Err(Error::invalid_argument(format!(
                "{ENV} {v:?} is not a whole number of microseconds"
            ))),
        },
    }
}

/// Holds the request while traffic flows. Driven by the timer thread; nothing on the data path.
pub(crate) struct CpuLatency {
    us: u32,
    path: PathBuf,
    held: Option<File>,
    last_packets: u64,
    quiet_ticks: u32,
    failed: bool,
}

impl CpuLatency {
    /// The request on this platform's interface (`cpu_latency_linux.rs`; elsewhere
    /// `UnsupportedPlatform`).
    pub(crate) fn for_this_platform(us: u32) -> Result<CpuLatency> {
        CpuLatency::new(us, request_path::path()?)
    }

    /// Checks that the request can be made (the file opens for writing) without holding it.
    pub(crate) fn new(us: u32, path: &Path) -> Result<CpuLatency> {
        open(path)?;
        Ok(CpuLatency {
            us,
            path: path.to_path_buf(),
            held: None,
            last_packets: 0,
            quiet_ticks: RELEASE_AFTER_TICKS,
            failed: false,
        })
    }

    /// Called once per timer tick with the count of packets through the interface so far.
    /// Returns an error the first time a request could not be made (later ticks stay quiet).
    pub(crate) fn tick(&mut self, packets: u64) -> Result<()> {
        if packets != self.last_packets {
            self.last_packets = packets;
            self.quiet_ticks = 0;
        } else if self.quiet_ticks < RELEASE_AFTER_TICKS {
            self.quiet_ticks += 1;
        }
        let wanted = self.quiet_ticks < RELEASE_AFTER_TICKS;
        if !wanted {
            // Closing the file withdraws the request.
            self.held = None;
            return Ok(());
        }
        if self.held.is_some() || self.failed {
            return Ok(());
        }
        match open(&self.path).and_then(|f| request(f, self.us, &self.path)) {
            Ok(f) => {
                self.held = Some(f);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        self.held.is_some()
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new().write(true).open(path).map_err(|e| {
        Error::from_io(
            &e,
            format!("Unable to open {} for the CPU latency request", path.display()),
        )
    })
}

fn request(mut f: File, us: u32, path: &Path) -> Result<File> {
    // The kernel takes the value as a binary 32-bit integer in one write.
    f.write_all(&(us as i32).to_ne_bytes()).map_err(|e| {
        Error::from_io(
            &e,
            format!("Unable to write the CPU latency request to {}", path.display()),
        )
    })?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn temp_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("wgkit-cpu-latency-{}-{tag}", std::process::id()));
        std::fs::write(&p, b"").unwrap();
        p
    }

    #[test]
    fn holds_while_packets_flow_and_releases_after_quiet_ticks() {
        let path = temp_path("policy");
        let mut c = CpuLatency::new(7, &path).unwrap();
        c.tick(0).unwrap();
        assert!(!c.is_held(), "no traffic yet: nothing requested");
        c.tick(10).unwrap();
        assert!(c.is_held());
        assert_eq!(std::fs::read(&path).unwrap(), 7i32.to_ne_bytes());
        for n in 1..RELEASE_AFTER_TICKS {
            c.tick(10).unwrap();
            assert!(c.is_held(), "still held after {n} quiet ticks");
        }
        c.tick(10).unwrap();
        assert!(!c.is_held(), "released after {RELEASE_AFTER_TICKS} quiet ticks");
        c.tick(11).unwrap();
        assert!(c.is_held(), "held again when traffic resumes");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_request_that_cannot_be_made_is_an_error_up_front_and_once_later() {
        let missing = std::env::temp_dir().join(format!("wgkit-cpu-latency-{}-missing", std::process::id()));
        let e = CpuLatency::new(0, &missing).err().unwrap();
        assert_eq!(e.code, ErrorCode::System);
        assert_eq!(e.errno_name(), Some("ENOENT"));
        let path = temp_path("vanishes");
        let mut c = CpuLatency::new(0, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(c.tick(1).is_err());
        assert!(c.tick(2).is_ok(), "reported once");
        assert!(!c.is_held());
    }

    #[test]
    fn validates_the_range() {
        assert_eq!(validate(0, "x").unwrap(), 0);
        assert_eq!(validate(MAX_US as i64, "x").unwrap(), MAX_US);
        for bad in [-1, MAX_US as i64 + 1] {
            let e = validate(bad, "cpuLatencyUs").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument);
            assert!(e.message.contains("cpuLatencyUs"), "{}", e.message);
        }
    }
}
