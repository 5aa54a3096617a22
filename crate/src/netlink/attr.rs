//! Building and reading the few netlink attributes (TLVs) of the rtnetlink requests here.
//!
//! Requests for addresses, routes and rules are built by hand: a fixed header plus a
//! handful of attributes, so that the bytes sent are exactly those `ip` sends and the tests
//! can check them. Replies are read by `parse`, which borrows the values.

use crate::error::{Error, Result};

/// `NLA_F_NESTED`: set on nested attributes by the kernel; ignored when matching kinds.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Appends one attribute, padded to 4 bytes.
pub fn push(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend(((4 + value.len()) as u16).to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Appends a `u32` attribute (host byte order, as rtnetlink wants).
pub fn push_u32(out: &mut Vec<u8>, kind: u16, value: u32) {
    push(out, kind, &value.to_ne_bytes());
}

/// The attributes after a fixed header of `header_len` bytes, as `(kind, value)` pairs.
/// `what` names the message in errors ("route").
pub fn parse<'a>(payload: &'a [u8], header_len: usize, what: &str) -> Result<Vec<(u16, &'a [u8])>> {
    if payload.len() < header_len {
        return Err(Error::protocol(format!(
            "{what} message too short: {} bytes, the header is {header_len}",
            payload.len()
        )));
    }
    let mut rest = &payload[header_len..];
    let mut out = Vec::new();
    // A trailing fragment shorter than an attribute header is padding.
    while rest.len() >= 4 {
        let length = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if length < 4 || length > rest.len() {
            return Err(Error::protocol(format!(
                "bad {what} attribute: length {length} with {} bytes left",
                rest.len()
            )));
        }
        out.push((kind & NLA_TYPE_MASK, &rest[4..length]));
        rest = &rest[length.next_multiple_of(4).min(rest.len())..];
    }
    Ok(out)
}

/// A `u32` attribute value; `None` if it is not 4 bytes long.
pub fn u32_of(value: &[u8]) -> Option<u32> {
    value.try_into().ok().map(u32::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pads_and_parse_reads_back() {
        let mut out = vec![0xaa; 4];
        push(&mut out, 3, b"wg0\0");
        push(&mut out, 5, &[1]);
        push_u32(&mut out, 0x8000 | 6, 7);
        assert_eq!(out.len(), 4 + 8 + 8 + 8);
        let attrs = parse(&out, 4, "test").unwrap();
        assert_eq!(
            attrs,
            vec![(3, &b"wg0\0"[..]), (5, &[1][..]), (6, &7u32.to_ne_bytes()[..])]
        );
        assert_eq!(u32_of(attrs[2].1), Some(7));
        assert_eq!(u32_of(attrs[1].1), None);
        assert!(parse(&out, 64, "test").is_err());
        // A length running past the end is an error, not a panic.
        assert!(parse(&[9, 0, 1, 0, 0], 0, "test").is_err());
        assert!(parse(&[2, 0, 1, 0], 0, "test").is_err());
    }
}
