//! What the UAPI client and server need of a connection, whatever carries it (a UNIX stream
//! socket, a Windows named pipe): one read and one write, each waiting at most a given time.
//! Deadlines, whole-buffer writes and line reading are built on these two calls, the same way on
//! every platform.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One UAPI connection's byte stream. Both calls may be made from different threads at once
/// (one reader and one writer).
pub trait UapiStream: Send + Sync {
    /// Reads at most `buf.len()` bytes, waiting at most `timeout` (`None`: for ever). `Ok(0)`
    /// is the end of the stream; running out of time is `WouldBlock` or `TimedOut`.
    fn read_within(&self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize>;
    /// Writes some of `data` (at least one byte), waiting at most `timeout`; returns how many
    /// bytes were taken. A peer that hung up is `BrokenPipe` (never a signal).
    fn write_within(&self, data: &[u8], timeout: Option<Duration>) -> io::Result<usize>;
}

/// Whether an I/O error means the time given to the call ran out.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Writes all of `data`, each write waiting at most `timeout`.
pub fn send_all<S: UapiStream + ?Sized>(stream: &S, mut data: &[u8], timeout: Option<Duration>) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write_within(data, timeout) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `data` by `deadline`: each write waits at most for what is left, so a peer
/// that reads a byte now and then cannot stretch it. Past the deadline: `TimedOut`.
pub fn send_all_by<S: UapiStream + ?Sized>(stream: &S, mut data: &[u8], deadline: Option<Instant>) -> io::Result<()> {
    while !data.is_empty() {
        let timeout = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                Some(left)
            }
        };
        match stream.write_within(data, timeout) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => data = &data[n..],
            // The time for this write ran out: check the deadline again.
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A shared stream read with a timeout per read (the client's reply reader; the timeout can
/// change between reads, as a large set's reply may take longer).
pub struct TimedReader<S> {
    stream: Arc<S>,
    pub timeout: Option<Duration>,
}

impl<S> TimedReader<S> {
    pub fn new(stream: Arc<S>, timeout: Option<Duration>) -> Self {
        TimedReader { stream, timeout }
    }
}

impl<S: UapiStream> Read for TimedReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read_within(buf, self.timeout)
    }
}
