//! Generic netlink family resolution (`CTRL_CMD_GETFAMILY`), with `netlink-packet-generic`.
//!
//! The WireGuard family has a dynamic id. It is looked up by name ("wireguard") through
//! the controller family (`GENL_ID_CTRL`); the kernel may autoload the module on the way
//! (`MODULE_ALIAS_GENL_FAMILY`). ENOENT means there is no WireGuard in this kernel: that is
//! "backend unavailable", not a failure, for callers that only list devices (wgctrl-go
//! skips the backend; wg reports EPROTONOSUPPORT).

use super::socket::{Connection, Transport};
use crate::error::{Error, ErrorCode, Result};
use netlink_packet_core::{Emitable, ParseableParametrized};
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
        let message = GenlMessage::<GenlCtrl>::parse_with_param(&reply.payload[..], GENL_ID_CTRL)
            .map_err(|e| Error::protocol(format!("{context}: {e}")))?;
        let id = message.payload.nlas.iter().find_map(|nla| match nla {
            GenlCtrlAttrs::FamilyId(id) => Some(*id),
            _ => None,
        });
        if let Some(id) = id {
            return Ok(id);
        }
    }
    Err(Error::protocol(format!("{context}: the reply has no family id")))
}

#[cfg(test)]
mod tests {
    use super::*;
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
