//! Generic netlink family resolution (`CTRL_CMD_GETFAMILY`): the request is built with
//! `netlink-packet-generic`; the reply's attributes are walked here, bounds-checked, for the
//! one that matters (its parser indexes nested policy attributes past their end: a panic
//! the fuzzer found, `netlink_replies`).
//!
//! The WireGuard family has a dynamic id. It is looked up by name ("wireguard") through
//! the controller family (`GENL_ID_CTRL`); the kernel may autoload the module on the way
//! (`MODULE_ALIAS_GENL_FAMILY`). ENOENT means there is no WireGuard in this kernel: that is
//! "backend unavailable", not a failure, for callers that only list devices (wgctrl-go
//! skips the backend; wg reports EPROTONOSUPPORT).

use super::socket::{Connection, Transport};
use crate::error::{Error, ErrorCode, Result};
use netlink_packet_core::{Emitable, NlasIterator};
use netlink_packet_generic::constants::GENL_ID_CTRL;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;

/// Returns the numeric id of the family `name`.
pub fn resolve_family<T: Transport>(conn: &mut Connection<T>, name: &str) -> Result<u16> {
    let request = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    });
    let mut payload = vec![0u8; request.buffer_len()];
    request.emit(&mut payload);

    let context = format!("Unable to resolve the generic netlink family \"{name}\"");
    let response = conn
        .request(GENL_ID_CTRL, 0, &payload, &context)
        .map_err(|e| match e.errno {
            // wg reports a missing family as EPROTONOSUPPORT ("Protocol not supported").
            Some(libc::ENOENT) => Error {
                code: ErrorCode::BackendUnavailable,
                message: format!(
                    "The WireGuard kernel backend is unavailable: the generic netlink family \"{name}\" \
                     does not exist (no wireguard module in this kernel)"
                ),
                errno: Some(libc::EPROTONOSUPPORT),
            },
            _ => e,
        })?;
    for reply in response.replies.iter().filter(|r| r.message_type == GENL_ID_CTRL) {
        if let Some(id) = family_id(&reply.payload).map_err(|e| Error::protocol(format!("{context}: {e}")))? {
            return Ok(id);
        }
    }
    Err(Error::protocol(format!("{context}: the reply has no family id")))
}

/// The generic netlink header: command, version, reserved (u16).
const GENL_HEADER_LEN: usize = 4;
/// `CTRL_ATTR_FAMILY_ID` (a u16 in host order).
const CTRL_ATTR_FAMILY_ID: u16 = 1;

/// `CTRL_ATTR_FAMILY_ID` of a controller reply, if it has one. Only the top-level attributes
/// are read (each checked against the buffer); nested ones are skipped unread.
fn family_id(payload: &[u8]) -> std::result::Result<Option<u16>, String> {
    let attrs = payload
        .get(GENL_HEADER_LEN..)
        .ok_or_else(|| format!("a reply of {} bytes is shorter than its header", payload.len()))?;
    for nla in NlasIterator::new(attrs) {
        let nla = nla.map_err(|e| format!("bad attribute: {e}"))?;
        if nla.kind() == CTRL_ATTR_FAMILY_ID {
            let v: [u8; 2] = nla
                .value()
                .try_into()
                .map_err(|_| format!("a family id of {} bytes", nla.value().len()))?;
            return Ok(Some(u16::from_ne_bytes(v)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        // The fuzzer's input: a policy attribute whose nested attribute claims 15 bytes of a
        // 4-byte value (netlink-packet-generic 0.5 panics on it).
        let policy = [3u8, 2, 0, 0, 12, 0, 8 | 0x80, 0x80, 8, 0, 2, 0, 1, 0, 0, 0];
        let mut nested = policy;
        nested[8] = 15; // the inner attribute's length, past its parent's end
        assert_eq!(family_id(&nested), Ok(None), "nested attributes are not read");
        assert!(family_id(&[3, 2]).is_err(), "shorter than the header");
        assert!(
            family_id(&[3, 2, 0, 0, 40, 0, 1, 0, 0x1d, 0]).is_err(),
            "an attribute past the end"
        );
        assert!(
            family_id(&[3, 2, 0, 0, 8, 0, 1, 0, 0x1d, 0, 0, 0]).is_err(),
            "a 4-byte family id"
        );
        assert_eq!(family_id(&[3, 2, 0, 0, 6, 0, 1, 0, 0x1d, 0, 0, 0]), Ok(Some(0x1d)));
    }

    /// The fuzzer's crash (`crate/fuzz/corpus/netlink_replies/family-policy-overrun`), replayed:
    /// an error, no panic.
    #[test]
    fn the_fuzzers_family_reply_is_an_error() {
        let answers = vec![
            vec![
                52, 0, 0, 0, 32, 0, 2, 1, 0, 0, 0, 0, 8, 0, 15, 0, 254, 0, 0, 0, 8, 0, 1, 0, 192, 0, 2, 0, 8, 0, 7, 0,
                192, 0, 2, 2, 8, 0, 4, 0, 4, 0, 0, 0, 60, 0, 0, 0, 24, 0, 2, 9, 52, 0, 0, 0, 32, 0, 2, 0, 0, 0, 0, 0,
                85, 111, 0, 255, 15, 0, 254, 0, 0, 0, 8, 0, 1, 0, 192, 0, 2, 0, 8, 0, 0, 2, 0, 0, 0, 0, 0, 0, 255, 255,
                255, 255, 5, 0, 218, 0, 2, 0, 64, 16, 60, 0, 0, 0, 32, 0, 2, 0, 0, 0, 0, 0, 85, 111, 0, 0, 2, 0, 0, 0,
                254, 0, 0, 1, 0, 0, 0, 0, 8, 0, 15, 0, 254, 0, 0, 0, 8, 0, 14, 0, 255, 255, 255, 255, 5, 0, 21, 0, 2,
                0, 0, 0, 8, 0, 6, 0, 254, 127, 0, 0, 60, 0, 0, 0, 16, 0, 32, 2, 0, 0, 0, 0, 0, 255, 2, 254, 2, 59, 0,
                0, 8, 0, 8, 0, 15, 0, 255, 0, 8, 0, 1, 0, 253, 0, 0, 0, 8, 0, 14, 0, 255, 255, 255, 255, 0, 0, 60, 0,
                0, 0, 32, 0, 2, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 85, 111, 0, 0, 0, 0, 0, 0,
                255, 2, 254, 2, 59, 0, 0, 0, 0, 8, 0, 15, 0, 255, 0, 8, 0, 1, 0, 127, 82, 254, 255, 255, 255, 255, 255,
                255, 252, 0, 32, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            vec![],
        ];
        let r = crate::netlink::fuzzing::exchange(crate::netlink::fuzzing::Query::ResolveFamily, answers);
        assert!(r.is_err(), "{r:?}");
    }
    use crate::netlink::netns::open_transport;
    use crate::netlink::socket::fake::{ack, FakeTransport};

    #[test]
    fn family_id_is_read_from_the_reply() {
        let reply = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::NewFamily,
            nlas: vec![
                GenlCtrlAttrs::FamilyName("wireguard".into()),
                GenlCtrlAttrs::FamilyId(0x1d),
            ],
        });
        let mut payload = vec![0u8; reply.buffer_len()];
        reply.emit(&mut payload);
        let transport = FakeTransport::new(vec![vec![vec![(GENL_ID_CTRL, 0, payload), ack(0)]]]);
        let mut conn = Connection::new(transport);
        assert_eq!(resolve_family(&mut conn, "wireguard").unwrap(), 0x1d);
        // CTRL_CMD_GETFAMILY (3), version 2, then CTRL_ATTR_FAMILY_NAME (2) = "wireguard\0".
        let sent = &conn.transport().sent_payloads()[0];
        assert_eq!(&sent[..4], &[3, 2, 0, 0]);
        assert_eq!(&sent[4..8], &[14, 0, 2, 0]);
        assert_eq!(&sent[8..18], b"wireguard\0");
    }

    #[test]
    fn missing_family_is_backend_unavailable() {
        let transport = FakeTransport::new(vec![vec![vec![ack(-libc::ENOENT)]]]);
        let err = resolve_family(&mut Connection::new(transport), "wireguard").unwrap_err();
        assert_eq!(err.code, ErrorCode::BackendUnavailable);
        assert_eq!(err.errno, Some(libc::EPROTONOSUPPORT));
    }

    #[test]
    fn wireguard_family_on_this_host() {
        // The test host has no WireGuard module: the lookup must say "unavailable", never
        // fail otherwise. Where the module exists (a VM), the lookup loads it and succeeds.
        let transport = open_transport(None, netlink_sys::protocols::NETLINK_GENERIC).unwrap();
        let mut conn = Connection::new(transport);
        assert_eq!(resolve_family(&mut conn, "nlctrl").unwrap(), GENL_ID_CTRL);
        match resolve_family(&mut conn, "wireguard") {
            Ok(_) => assert!(std::path::Path::new("/sys/module/wireguard").exists()),
            Err(err) => assert_eq!(err.code, ErrorCode::BackendUnavailable, "{err:?}"),
        }
    }
}
