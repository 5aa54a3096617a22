//! A synchronous netlink connection: numbered requests, multi-part replies, errors.
//!
//! Protocol points:
//! - Every request gets a fresh sequence number; replies with another number (left over
//!   from an earlier, abandoned exchange) are skipped. The socket joins no multicast group,
//!   so everything else it receives is addressed to it by the kernel.
//! - A datagram may hold several messages; each one is framed by its `nlmsghdr`.
//! - A dump (`NLM_F_DUMP`) ends with `NLMSG_DONE`, whose payload is 0 or `-errno`; a dump
//!   that the kernel refused up front ends with `NLMSG_ERROR` instead. Any reply flagged
//!   `NLM_F_DUMP_INTR` means the data changed during the dump and the result is
//!   inconsistent; it is reported to the caller, who retries.
//! - Any other request is sent with `NLM_F_ACK` and ends with `NLMSG_ERROR`, code 0 for
//!   success. Replies that come before it (for example a `CTRL_CMD_GETFAMILY` answer) are
//!   collected.
//! - Socket options, all best effort as in wgctrl-go (old kernels lack some of them):
//!   `NETLINK_EXT_ACK` (error strings), `NETLINK_CAP_ACK` (do not echo an 8 KiB request
//!   back in every ACK) and `NETLINK_GET_STRICT_CHK` (strict checking of dump requests).
//!
//! The byte transport is a trait so that tests can feed canned kernel messages.

use super::ack::{self, Status};
use crate::error::{Error, Result};
use netlink_packet_core::{
    Emitable, NetlinkBuffer, NetlinkHeader, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use std::io;

/// Moves whole datagrams to and from the kernel.
pub trait Transport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Blocks for the next datagram and returns all of it.
    fn recv(&mut self) -> io::Result<Vec<u8>>;
}

/// A real `AF_NETLINK` socket.
#[derive(Debug)]
pub struct KernelTransport {
    socket: netlink_sys::Socket,
}

impl KernelTransport {
    /// Opens and binds a socket of the given protocol in the calling thread's netns.
    pub fn open(protocol: isize) -> io::Result<KernelTransport> {
        let mut socket = netlink_sys::Socket::new(protocol)?;
        socket.bind_auto()?;
        // Best effort: each option is missing on some kernel still in use.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_netlink_get_strict_chk(true);
        Ok(KernelTransport { socket })
    }
}

impl Transport for KernelTransport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        loop {
            match self.socket.send(datagram, 0) {
                Ok(n) if n == datagram.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::other(format!(
                        "short netlink send: {n} of {} bytes",
                        datagram.len()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.socket.recv_from_full() {
                Ok((buf, _)) => return Ok(buf),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// One message of a reply, without its netlink header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message_type: u16,
    pub flags: u16,
    pub payload: Vec<u8>,
}

/// Everything the kernel answered to one request.
#[derive(Debug, Default)]
pub struct Response {
    pub replies: Vec<Reply>,
    /// Some reply carried `NLM_F_DUMP_INTR`: the dump is not consistent.
    pub dump_interrupted: bool,
}

/// A request/response connection over a transport.
pub struct Connection<T: Transport = KernelTransport> {
    transport: T,
    next_seq: u32,
}

impl<T: Transport> Connection<T> {
    pub fn new(transport: T) -> Connection<T> {
        Connection { transport, next_seq: 1 }
    }

    #[cfg(test)]
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends one request and collects its replies. `flags` must contain `NLM_F_DUMP` for a
    /// dump; `NLM_F_REQUEST` and (for non-dumps) `NLM_F_ACK` are added here. `context` starts
    /// the message of any error, as in wg ("Unable to access interface").
    pub fn request(&mut self, message_type: u16, flags: u16, payload: &[u8], context: &str) -> Result<Response> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = if dump {
            flags | NLM_F_REQUEST
        } else {
            flags | NLM_F_REQUEST | NLM_F_ACK
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let datagram = frame(message_type, flags, seq, payload);
        self.transport
            .send(&datagram)
            .map_err(|e| Error::from_io(&e, format!("{context}: netlink send")))?;

        let mut response = Response::default();
        loop {
            let datagram = self
                .transport
                .recv()
                .map_err(|e| Error::from_io(&e, format!("{context}: netlink receive")))?;
            if let Some(status) = collect(&datagram, seq, &mut response)? {
                if status.code == 0 {
                    return Ok(response);
                }
                return Err(status_error(&status, context));
            }
        }
    }
}

/// Builds a netlink message: header plus payload.
pub fn frame(message_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.length = (16 + payload.len()) as u32;
    header.message_type = message_type;
    header.flags = flags;
    header.sequence_number = seq;
    let mut out = vec![0u8; 16 + payload.len()];
    header.emit(&mut out[..16]);
    out[16..].copy_from_slice(payload);
    out
}

/// Walks the messages of one datagram. Returns the final status once `NLMSG_DONE` or
/// `NLMSG_ERROR` for `seq` is seen; data messages are appended to `response`.
fn collect(datagram: &[u8], seq: u32, response: &mut Response) -> Result<Option<Status>> {
    let mut offset = 0;
    while offset < datagram.len() {
        let buf = NetlinkBuffer::new_checked(&datagram[offset..])
            .map_err(|e| Error::protocol(format!("malformed netlink message: {e}")))?;
        let length = buf.length() as usize;
        offset += (length + 3) & !3;
        if buf.sequence_number() != seq {
            continue;
        }
        let flags = buf.flags();
        if flags & NLM_F_DUMP_INTR != 0 {
            response.dump_interrupted = true;
        }
        match buf.message_type() {
            NLMSG_NOOP => {}
            NLMSG_ERROR => {
                let status = ack::parse_error(flags, buf.payload())
                    .ok_or_else(|| Error::protocol("truncated netlink error message"))?;
                return Ok(Some(status));
            }
            NLMSG_DONE => return Ok(Some(ack::parse_done(flags, buf.payload()))),
            NLMSG_OVERRUN => return Err(Error::protocol("netlink overrun: data was lost")),
            message_type => response.replies.push(Reply {
                message_type,
                flags,
                payload: buf.payload().to_vec(),
            }),
        }
    }
    Ok(None)
}

fn status_error(status: &Status, context: &str) -> Error {
    let errno = status.code.checked_neg().filter(|e| *e > 0).unwrap_or(libc::EPROTO);
    let mut error = Error::from_errno(errno, context);
    error.message.push_str(&status.ext_ack.describe());
    error
}

#[cfg(test)]
pub mod fake {
    //! A scripted transport: records what is sent and answers with canned datagrams.

    use super::*;
    use std::collections::VecDeque;

    /// How the fake answers one request: a list of datagrams, each a list of messages
    /// `(type, flags, payload)`. The sequence number of the request is filled in.
    pub type Script = Vec<Vec<(u16, u16, Vec<u8>)>>;

    #[derive(Default)]
    pub struct FakeTransport {
        pub sent: Vec<Vec<u8>>,
        pub answers: VecDeque<Script>,
        pending: VecDeque<Vec<u8>>,
    }

    impl FakeTransport {
        pub fn new(answers: Vec<Script>) -> FakeTransport {
            FakeTransport {
                answers: answers.into(),
                ..Default::default()
            }
        }

        /// The payloads (after the netlink header) of every request sent.
        pub fn sent_payloads(&self) -> Vec<Vec<u8>> {
            self.sent.iter().map(|m| m[16..].to_vec()).collect()
        }
    }

    impl Transport for FakeTransport {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            let seq = u32::from_ne_bytes(datagram[8..12].try_into().unwrap());
            self.sent.push(datagram.to_vec());
            let script = self
                .answers
                .pop_front()
                .ok_or_else(|| io::Error::other("fake transport: no answer scripted"))?;
            for messages in script {
                let mut out = Vec::new();
                for (message_type, flags, payload) in messages {
                    let mut m = frame(message_type, flags, seq, &payload);
                    m.resize(m.len().next_multiple_of(4), 0);
                    out.extend(m);
                }
                self.pending.push_back(out);
            }
            Ok(())
        }

        fn recv(&mut self) -> io::Result<Vec<u8>> {
            self.pending
                .pop_front()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EAGAIN))
        }
    }

    /// An ACK (or an error when `code` is a negative errno).
    /// One netlink attribute (length, type, value, padding to 4 bytes), for canned replies.
    pub fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    pub fn ack(code: i32) -> (u16, u16, Vec<u8>) {
        let mut payload = code.to_ne_bytes().to_vec();
        payload.extend([0u8; 16]);
        (NLMSG_ERROR, netlink_packet_core::NLM_F_CAPPED, payload)
    }

    pub fn done(code: i32) -> (u16, u16, Vec<u8>) {
        (
            NLMSG_DONE,
            netlink_packet_core::NLM_F_MULTIPART,
            code.to_ne_bytes().to_vec(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use crate::error::ErrorCode;
    use netlink_packet_core::NLM_F_MULTIPART;

    #[test]
    fn dump_collects_until_done_across_datagrams() {
        let transport = FakeTransport::new(vec![vec![
            vec![
                (0x20, NLM_F_MULTIPART, vec![1, 2, 3, 4]),
                (0x20, NLM_F_MULTIPART, vec![5]),
            ],
            vec![(0x20, NLM_F_MULTIPART | NLM_F_DUMP_INTR, vec![6]), done(0)],
        ]]);
        let mut conn = Connection::new(transport);
        let response = conn.request(0x20, NLM_F_DUMP, &[9, 9, 9, 9], "dump").unwrap();
        assert_eq!(response.replies.len(), 3);
        assert_eq!(response.replies[1].payload, vec![5]);
        assert!(response.dump_interrupted);
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), NLM_F_DUMP | NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(sent[0..4].try_into().unwrap()), 20);
    }

    #[test]
    fn request_gets_ack_flag_and_errno() {
        let transport = FakeTransport::new(vec![vec![vec![ack(-libc::ENODEV)]], vec![vec![ack(0)]]]);
        let mut conn = Connection::new(transport);
        let err = conn.request(0x20, 0, &[], "Unable to modify interface").unwrap_err();
        assert_eq!(err.code, ErrorCode::DeviceNotFound);
        assert_eq!(err.message, "Unable to modify interface: No such device");
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), NLM_F_REQUEST | NLM_F_ACK);
        conn.request(0x20, 0, &[], "x").unwrap();
        let seqs: Vec<u32> = conn
            .transport()
            .sent
            .iter()
            .map(|m| u32::from_ne_bytes(m[8..12].try_into().unwrap()))
            .collect();
        assert_ne!(seqs[0], seqs[1]);
    }

    #[test]
    fn replies_with_other_sequence_numbers_are_skipped() {
        let mut response = Response::default();
        let mut datagram = frame(0x20, 0, 7, &[1, 2, 3, 4]);
        datagram.extend(frame(NLMSG_DONE, 0, 8, &0i32.to_ne_bytes()));
        assert_eq!(collect(&datagram, 8, &mut response).unwrap(), Some(Status::default()));
        assert!(response.replies.is_empty());
    }

    #[test]
    fn done_with_error_code_fails_the_dump() {
        let transport = FakeTransport::new(vec![vec![vec![done(-libc::EPERM)]]]);
        let err = Connection::new(transport)
            .request(0x20, NLM_F_DUMP, &[], "Unable to access interface")
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);
    }

    #[test]
    fn truncated_message_is_a_protocol_error() {
        let mut response = Response::default();
        let mut datagram = frame(0x20, 0, 1, &[0; 8]);
        datagram.truncate(20);
        let err = collect(&datagram, 1, &mut response).unwrap_err();
        assert_eq!(err.code, ErrorCode::Protocol);
    }
}
