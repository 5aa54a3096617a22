//! Reading one connection of the UAPI server against deadlines that do not restart per byte.
//!
//! Between requests a connection may stay silent for the idle timeout. From the first byte of a
//! request, the whole request must arrive within the request timeout, however the bytes
//! trickle in: a client that sends a byte now and then is cut off when its request's time is up,
//! not kept for ever. A large request earns time with its bytes: each mebibyte received moves
//! the deadline one second on (a 100,000-peer `wg setconf` is 23 MiB, 2^20 peers about
//! 240 MiB, more than the 10 s default lets a busy machine parse), while a trickling client
//! gains next to nothing (a microsecond a byte). Each read waits at most until the deadline
//! (`UapiStream::read_within` what is left), and a read past the deadline fails with `TimedOut`.

use super::stream::{is_timeout, UapiStream};
use std::cell::Cell;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// How many bytes of a request move its deadline one second on.
pub const BYTES_PER_EXTRA_SECOND: u64 = 1 << 20;

/// The time `n` more bytes of a request earn.
fn grace(n: usize) -> Duration {
    Duration::from_nanos((n as u64).saturating_mul(1_000_000_000) / BYTES_PER_EXTRA_SECOND)
}

pub struct DeadlineStream<'a, S> {
    stream: &'a S,
    idle: Option<Duration>,
    request: Option<Duration>,
    in_request: Cell<bool>,
    deadline: Cell<Option<Instant>>,
}

impl<'a, S: UapiStream> DeadlineStream<'a, S> {
    /// Starts idle (waiting for a request's first byte).
    pub fn new(stream: &'a S, idle: Option<Duration>, request: Option<Duration>) -> Self {
        let s = DeadlineStream {
            stream,
            idle,
            request,
            in_request: Cell::new(false),
            deadline: Cell::new(None),
        };
        s.begin_idle();
        s
    }

    /// Waits for the next request: the idle timeout runs until its first byte.
    pub fn begin_idle(&self) {
        self.in_request.set(false);
        self.deadline.set(self.idle.map(|t| Instant::now() + t));
    }

    /// A request has started (its first bytes are already buffered): the request timeout runs.
    pub fn begin_request(&self) {
        self.in_request.set(true);
        self.deadline.set(self.request.map(|t| Instant::now() + t));
    }

    pub fn stream(&self) -> &S {
        self.stream
    }
}

impl<S: UapiStream> Read for &DeadlineStream<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let timeout = match self.deadline.get() {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::from(io::ErrorKind::TimedOut));
                    }
                    Some(left)
                }
            };
            match self.stream.read_within(buf, timeout) {
                Ok(n) => {
                    if n > 0 && !self.in_request.get() {
                        self.begin_request();
                    }
                    if self.in_request.get() {
                        if let Some(d) = self.deadline.get() {
                            self.deadline.set(Some(d + grace(n)));
                        }
                    }
                    return Ok(n);
                }
                // The read's time ran out (or a signal came): check the deadline again.
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_request_deadline_runs_from_the_first_byte() {
        let (a, b) = UnixStream::pair().unwrap();
        let s = DeadlineStream::new(&b, Some(Duration::from_secs(30)), Some(Duration::from_millis(300)));
        let writer = std::thread::spawn(move || {
            // A byte every 50 ms: each read is quick, the request as a whole is not.
            for _ in 0..40 {
                if (&a).write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let err = loop {
            match (&s).read(&mut buf) {
                Ok(n) => assert!(n > 0),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        drop(b);
        writer.join().unwrap();
    }

    #[test]
    fn a_large_request_earns_time_with_its_bytes() {
        assert_eq!(grace(1 << 20), Duration::from_secs(1));
        assert_eq!(grace(1), Duration::from_nanos(953));
        let (a, b) = UnixStream::pair().unwrap();
        let s = DeadlineStream::new(&b, Some(Duration::from_secs(30)), Some(Duration::from_millis(200)));
        // 4 MiB over about a second: five times the request timeout, but each 256 KiB earns
        // a quarter of a second.
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 256 << 10];
            for _ in 0..16 {
                (&a).write_all(&chunk).unwrap();
                std::thread::sleep(Duration::from_millis(60));
            }
        });
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        while total < 4 << 20 {
            total += (&s).read(&mut buf).unwrap();
        }
        writer.join().unwrap();
    }

    #[test]
    fn idle_timeout_until_the_first_byte() {
        let (_a, b) = UnixStream::pair().unwrap();
        let s = DeadlineStream::new(&b, Some(Duration::from_millis(200)), Some(Duration::from_secs(30)));
        let start = Instant::now();
        let err = (&s).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(!s.in_request.get());
    }
}
