//! Serving one UAPI connection, whatever carries it: operations one after another until the
//! client hangs up, sends something unknown, misses a deadline or the stream fails (the
//! semantics are described in `server.rs`).

use super::deadline::DeadlineStream;
use super::errno::{errno_for_error, IPC_ERROR_INVALID, IPC_ERROR_PROTOCOL, IPC_ERROR_TOO_BIG};
use super::get_writer::format_get_reply;
use super::lines::{Line, LineReader};
use super::server::{Shared, UapiHandler};
use super::set_parser::{read_set_body, SetBody};
use super::stream::{send_all_by, UapiStream};
use crate::error::{Error, ErrorCode, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

fn status(errno: i32) -> String {
    format!("errno={errno}\n\n")
}

/// Runs a handler call alone (wireguard-go's ipcMutex); a panic in it is an error (EIO).
fn call<T>(shared: &Shared, f: impl FnOnce(&dyn UapiHandler) -> Result<T>) -> Result<T> {
    let _guard = super::server::lock(&shared.op_lock);
    catch_unwind(AssertUnwindSafe(|| f(&*shared.handler)))
        .unwrap_or_else(|_| Err(Error::new(ErrorCode::System, "UAPI handler panicked")))
}

/// Serves operations until the client hangs up, sends something unknown, misses a deadline, or
/// the stream fails.
pub(super) fn serve_connection<S: UapiStream>(stream: &S, shared: &Shared) {
    let options = &shared.options;
    let timed = DeadlineStream::new(stream, options.idle_timeout, options.request_timeout);
    let mut reader = LineReader::new(&timed, options.max_line_bytes);
    let reply_deadline = || options.write_timeout.map(|t| Instant::now() + t);
    loop {
        if reader.buffered() > 0 {
            timed.begin_request();
        } else {
            timed.begin_idle();
        }
        let op = match reader.read_line() {
            Ok(Line::Complete(op)) => op.to_vec(),
            _ => return,
        };
        let (reply, keep_open) = match op.as_slice() {
            b"set=1" => match read_set_body(&mut reader, options.max_request_bytes) {
                Ok(SetBody::Complete(Ok(config))) => match call(shared, |h| h.set(config)) {
                    Ok(()) => (status(0), true),
                    Err(e) => {
                        if e.errno == Some(libc::E2BIG) {
                            shared
                                .oversized
                                .note(&shared.name, &format!("set refused: {}", e.message));
                        }
                        (status(errno_for_error(&e)), true)
                    }
                },
                Ok(SetBody::Complete(Err(e))) => (status(errno_for_error(&e)), true),
                Ok(SetBody::Truncated) => (status(IPC_ERROR_PROTOCOL), false),
                Ok(SetBody::TooLarge { mid_line }) => {
                    let what = if mid_line {
                        format!("a set request line longer than {} bytes", options.max_line_bytes)
                    } else {
                        format!("a set request larger than {} bytes", options.max_request_bytes)
                    };
                    shared
                        .oversized
                        .note(&shared.name, &format!("{what}, refused (nothing applied)"));
                    // Read the rest first: the client gets its answer, not a closed connection.
                    match reader.skip_request(mid_line) {
                        Ok(true) => (status(IPC_ERROR_TOO_BIG), true),
                        _ => return,
                    }
                }
                Err(_) => return,
            },
            b"get=1" => match reader.read_byte() {
                Ok(Some(b'\n')) => match call(shared, |h| h.get()) {
                    Ok(device) => {
                        let large = device.peers.len() >= crate::heap_trim::TRIM_FROM_PEERS;
                        let text = format_get_reply(&device);
                        drop(device);
                        let sent = send_all_by(stream, text.as_bytes(), reply_deadline());
                        drop(text);
                        if large {
                            // The snapshot and its text were as large as the peer table.
                            crate::heap_trim::release_free_memory();
                        }
                        if sent.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(e) => (status(errno_for_error(&e)), true),
                },
                Ok(Some(_)) => (status(IPC_ERROR_INVALID), true),
                _ => return,
            },
            _ => return,
        };
        if send_all_by(stream, reply.as_bytes(), reply_deadline()).is_err() || !keep_open {
            return;
        }
    }
}
