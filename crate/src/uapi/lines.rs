//! Whole-line reading from a stream, however the bytes arrive.
//!
//! A UAPI message is a run of `\n`-terminated lines ended by an empty line. The reader keeps
//! its own buffer (zeroized on drop, since lines carry private keys), returns one complete line
//! at a time without its `\n`, and refuses lines longer than a bound so a peer cannot make it
//! grow without limit.

use std::io::{self, Read};
use zeroize::Zeroizing;

const CHUNK: usize = 8192;

/// What one `read_line` call found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its `\n`.
    Complete(&'a [u8]),
    /// The stream ended cleanly between lines.
    Eof,
    /// The stream ended in the middle of a line (the partial bytes are dropped).
    Truncated,
    /// The line is longer than the bound; the stream is no longer in sync.
    TooLong,
}

pub struct LineReader<R> {
    inner: R,
    buf: Zeroizing<Vec<u8>>,
    line: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
    max_line: usize,
}

impl<R: Read> LineReader<R> {
    /// `max_line` bounds a line's length, not counting its `\n`.
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: Zeroizing::new(vec![0u8; CHUNK]),
            line: Zeroizing::new(Vec::new()),
            start: 0,
            end: 0,
            max_line,
        }
    }

    /// Refills the emptied buffer with one read (retried on EINTR); false at the stream's end.
    fn fill(&mut self) -> io::Result<bool> {
        let n = loop {
            match self.inner.read(&mut self.buf[..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.start = 0;
        self.end = n;
        Ok(n > 0)
    }

    /// Reads the next complete line. I/O errors (including read timeouts) are returned as is.
    pub fn read_line(&mut self) -> io::Result<Line<'_>> {
        self.line.clear();
        loop {
            if self.start == self.end && !self.fill()? {
                return Ok(if self.line.is_empty() {
                    Line::Eof
                } else {
                    Line::Truncated
                });
            }
            let avail = &self.buf[self.start..self.end];
            match avail.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.line.len() + i > self.max_line {
                        return Ok(Line::TooLong);
                    }
                    self.line.extend_from_slice(&avail[..i]);
                    self.start += i + 1;
                    return Ok(Line::Complete(&self.line));
                }
                None => {
                    if self.line.len() + avail.len() > self.max_line {
                        return Ok(Line::TooLong);
                    }
                    self.line.extend_from_slice(avail);
                    self.start = self.end;
                }
            }
        }
    }

    /// Discards the rest of a request without keeping it: up to and including its empty line
    /// (a line that is empty or only `\r`). `mid_line` says the stream is inside a line (after
    /// `TooLong`), whose remaining bytes go first. Returns false if the stream ended before the
    /// empty line. Used to answer an oversized request once the client has sent all of it, so
    /// the client is not cut off while still writing.
    pub fn skip_request(&mut self, mid_line: bool) -> io::Result<bool> {
        self.line.clear();
        // Bytes of the current line so far (`\r` not counted), or `None` inside a line too long
        // to matter.
        let mut current: Option<usize> = if mid_line { None } else { Some(0) };
        loop {
            if self.start == self.end && !self.fill()? {
                return Ok(false);
            }
            while self.start < self.end {
                let b = self.buf[self.start];
                self.start += 1;
                match b {
                    b'\n' if current == Some(0) => return Ok(true),
                    b'\n' => current = Some(0),
                    b'\r' => {}
                    _ => current = current.map(|_| 1),
                }
            }
        }
    }

    /// Reads one byte (wireguard-go checks the byte after `get=1\n`).
    pub fn read_byte(&mut self) -> io::Result<Option<u8>> {
        if self.start == self.end && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.start];
        self.start += 1;
        Ok(Some(b))
    }

    /// Bytes read from the stream but not yet returned (the start of a pipelined request).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes per read.
    pub(crate) struct Chunked<'a> {
        pub data: &'a [u8],
        pub chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all_lines(data: &[u8], chunk: usize, max: usize) -> (Vec<String>, String) {
        let mut r = LineReader::new(Chunked { data, chunk }, max);
        let mut out = Vec::new();
        loop {
            match r.read_line().unwrap() {
                Line::Complete(l) => out.push(String::from_utf8(l.to_vec()).unwrap()),
                other => return (out, format!("{other:?}")),
            }
        }
    }

    #[test]
    fn lines_in_any_chunking() {
        let data = b"a=1\nbb=22\n\nccc=333\n";
        for chunk in [1, 2, 3, 5, 100] {
            let (lines, end) = all_lines(data, chunk, 100);
            assert_eq!(lines, ["a=1", "bb=22", "", "ccc=333"], "chunk {chunk}");
            assert_eq!(end, "Eof");
        }
    }

    #[test]
    fn truncated_and_too_long() {
        assert_eq!(
            all_lines(b"a=1\nb=2", 1, 100),
            (vec!["a=1".to_string()], "Truncated".into())
        );
        assert_eq!(all_lines(b"abcd\n", 1, 4), (vec!["abcd".to_string()], "Eof".into()));
        assert_eq!(all_lines(b"abcde\n", 1, 4), (vec![], "TooLong".into()));
        assert_eq!(all_lines(b"abcde\n", 100, 4), (vec![], "TooLong".into()));
        assert_eq!(all_lines(b"abcdefgh", 3, 4), (vec![], "TooLong".into()));
    }

    #[test]
    fn skipping_a_request_stops_after_its_empty_line() {
        for chunk in [1, 2, 7, 100] {
            let data = b"a=1\nb=2\r\n\r\nget=1\n";
            let mut r = LineReader::new(Chunked { data, chunk }, 100);
            assert!(r.skip_request(false).unwrap(), "chunk {chunk}");
            assert_eq!(r.read_line().unwrap(), Line::Complete(b"get=1"));
            // Inside a line: its own end is not the request's end.
            let data = b"xxxxxxxx\n\nget=1\n";
            let mut r = LineReader::new(Chunked { data, chunk }, 5);
            assert_eq!(r.read_line().unwrap(), Line::TooLong);
            assert!(r.skip_request(true).unwrap());
            assert_eq!(r.read_line().unwrap(), Line::Complete(b"get=1"));
            let mut r = LineReader::new(
                Chunked {
                    data: b"a=1\nb=2\n",
                    chunk,
                },
                100,
            );
            assert!(!r.skip_request(false).unwrap(), "ended before the empty line");
        }
    }

    #[test]
    fn bytes_and_lines_mix() {
        let mut r = LineReader::new(
            Chunked {
                data: b"get=1\n\nx",
                chunk: 1,
            },
            10,
        );
        assert_eq!(r.read_line().unwrap(), Line::Complete(b"get=1"));
        assert_eq!(r.read_byte().unwrap(), Some(b'\n'));
        assert_eq!(r.read_byte().unwrap(), Some(b'x'));
        assert_eq!(r.read_byte().unwrap(), None);
    }
}
