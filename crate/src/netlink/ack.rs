//! Decoding of the kernel's answers that end an exchange: `NLMSG_ERROR` (an ACK when its
//! code is 0) and `NLMSG_DONE` (the end of a dump, with an `int` error code).
//!
//! `netlink-packet-core` gives the error code but not the extended ACK, so this file reads
//! the TLVs itself. Layout of an `NLMSG_ERROR` payload (linux/netlink.h, `struct nlmsgerr`):
//!
//! ```text
//! i32 error | nlmsghdr of the request (16 bytes) | request payload (absent if NLM_F_CAPPED)
//!           | extended-ACK TLVs (present if NLM_F_ACK_TLVS)
//! ```
//!
//! An `NLMSG_DONE` payload is `i32 error` followed by the TLVs when `NLM_F_ACK_TLVS` is set.
//! The TLVs are ordinary netlink attributes: `NLMSGERR_ATTR_MSG` (a string),
//! `NLMSGERR_ATTR_OFFS` (the byte offset of the offending attribute in the request) and
//! `NLMSGERR_ATTR_MISS_TYPE` (a missing attribute type); the others are ignored.

use netlink_packet_core::{parse_string, parse_u32, NlasIterator, NLM_F_ACK_TLVS, NLM_F_CAPPED};

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;
const NLMSG_HEADER_LEN: usize = 16;

/// The extended-ACK details the kernel attached to an error, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtAck {
    pub message: Option<String>,
    pub offset: Option<u32>,
    pub missing_type: Option<u32>,
}

impl ExtAck {
    /// A suffix for an error message: ` (kernel: "msg", at byte 40)`, or empty.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(message) = &self.message {
            parts.push(format!("kernel: \"{message}\""));
        }
        if let Some(offset) = self.offset {
            parts.push(format!("at byte {offset} of the request"));
        }
        if let Some(kind) = self.missing_type {
            parts.push(format!("missing attribute type {kind}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

/// The end of an exchange as the kernel reported it: a negative errno or 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub code: i32,
    pub ext_ack: ExtAck,
}

/// Decodes an `NLMSG_ERROR` payload; `flags` are the flags of the error message itself.
pub fn parse_error(flags: u16, payload: &[u8]) -> Option<Status> {
    let code = i32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?);
    let request = payload.get(4..)?;
    let mut tlv_start = NLMSG_HEADER_LEN.min(request.len());
    if flags & NLM_F_CAPPED == 0 && request.len() >= NLMSG_HEADER_LEN {
        // The whole request is echoed; its own header says how long it is.
        let echoed = u32::from_ne_bytes(request[0..4].try_into().ok()?) as usize;
        tlv_start = align4(echoed.max(NLMSG_HEADER_LEN)).min(request.len());
    }
    let ext_ack = if flags & NLM_F_ACK_TLVS != 0 {
        parse_tlvs(&request[tlv_start..])
    } else {
        ExtAck::default()
    };
    Some(Status { code, ext_ack })
}

/// Decodes an `NLMSG_DONE` payload. An empty payload (some old kernels) means success.
pub fn parse_done(flags: u16, payload: &[u8]) -> Status {
    let code = payload
        .get(0..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0);
    let ext_ack = if flags & NLM_F_ACK_TLVS != 0 && payload.len() > 4 {
        parse_tlvs(&payload[4..])
    } else {
        ExtAck::default()
    };
    Status { code, ext_ack }
}

fn parse_tlvs(buf: &[u8]) -> ExtAck {
    let mut ext_ack = ExtAck::default();
    for nla in NlasIterator::new(buf) {
        let Ok(nla) = nla else { break };
        match nla.kind() {
            NLMSGERR_ATTR_MSG => ext_ack.message = parse_string(nla.value()).ok().filter(|m| !m.is_empty()),
            NLMSGERR_ATTR_OFFS => ext_ack.offset = parse_u32(nla.value()).ok(),
            NLMSGERR_ATTR_MISS_TYPE => ext_ack.missing_type = parse_u32(nla.value()).ok(),
            _ => {}
        }
    }
    ext_ack
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn request_header(len: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_ne_bytes());
        h.extend_from_slice(&[0x1c, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        h
    }

    #[test]
    fn plain_ack() {
        let mut payload = 0i32.to_ne_bytes().to_vec();
        payload.extend(request_header(16));
        assert_eq!(parse_error(0, &payload), Some(Status::default()));
    }

    #[test]
    fn capped_error_with_tlvs() {
        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        payload.extend(request_header(200));
        payload.extend(tlv(NLMSGERR_ATTR_MSG, b"Unknown attribute type\0"));
        payload.extend(tlv(NLMSGERR_ATTR_OFFS, &40u32.to_ne_bytes()));
        let status = parse_error(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).unwrap();
        assert_eq!(status.code, -libc::EINVAL);
        assert_eq!(status.ext_ack.message.as_deref(), Some("Unknown attribute type"));
        assert_eq!(status.ext_ack.offset, Some(40));
        assert_eq!(
            status.ext_ack.describe(),
            " (kernel: \"Unknown attribute type\", at byte 40 of the request)"
        );
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        let mut payload = (-libc::ENODEV).to_ne_bytes().to_vec();
        payload.extend(request_header(22));
        payload.extend([0xaa; 6]); // the echoed request payload
        payload.extend([0; 2]); // alignment
        payload.extend(tlv(NLMSGERR_ATTR_MISS_TYPE, &2u32.to_ne_bytes()));
        let status = parse_error(NLM_F_ACK_TLVS, &payload).unwrap();
        assert_eq!(status.code, -libc::ENODEV);
        assert_eq!(status.ext_ack.missing_type, Some(2));
        assert_eq!(status.ext_ack.message, None);
    }

    #[test]
    fn done_with_and_without_code() {
        assert_eq!(parse_done(0, &[]).code, 0);
        let mut payload = (-libc::EINTR).to_ne_bytes().to_vec();
        payload.extend(tlv(NLMSGERR_ATTR_MSG, b"busy\0"));
        let status = parse_done(NLM_F_ACK_TLVS, &payload);
        assert_eq!(status.code, -libc::EINTR);
        assert_eq!(status.ext_ack.message.as_deref(), Some("busy"));
    }

    #[test]
    fn short_error_is_rejected() {
        assert_eq!(parse_error(0, &[1, 2]), None);
    }
}
