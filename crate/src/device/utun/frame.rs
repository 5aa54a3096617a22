//! The header in front of every packet on a utun control socket: the packet's address family
//! as a 32-bit number in network byte order (macOS's `AF_INET` 2, `AF_INET6` 30). The kernel
//! writes it on packets it hands over and reads it on packets it is given.

/// Bytes of header before each packet.
pub(crate) const HEADER_LEN: usize = 4;
/// `AF_INET` on macOS.
pub(crate) const AF_INET: u32 = 2;
/// `AF_INET6` on macOS (Linux's is 10: the header is never built from the host's constant).
pub(crate) const AF_INET6: u32 = 30;

/// The families a utun carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Inet,
    Inet6,
}

impl Family {
    /// The family of an IP packet, from the version nibble of its first byte; `None` for an
    /// empty packet or a version other than 4 and 6.
    pub(crate) fn of_packet(packet: &[u8]) -> Option<Family> {
        match packet.first()? >> 4 {
            4 => Some(Family::Inet),
            6 => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The header to write in front of a packet of this family.
    pub(crate) fn header(self) -> [u8; HEADER_LEN] {
        let af = match self {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        };
        af.to_be_bytes()
    }

    /// The family a header names; `None` for any other value.
    pub(crate) fn from_header(header: [u8; HEADER_LEN]) -> Option<Family> {
        match u32::from_be_bytes(header) {
            AF_INET => Some(Family::Inet),
            AF_INET6 => Some(Family::Inet6),
            _ => None,
        }
    }
}

/// Whether a packet read with `header` is one to pass on: its header names IPv4 or IPv6 and
/// its version nibble agrees.
pub(crate) fn accept_inbound(header: [u8; HEADER_LEN], packet: &[u8]) -> bool {
    matches!(Family::from_header(header), Some(f) if Family::of_packet(packet) == Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_big_endian_macos_families() {
        assert_eq!(Family::Inet.header(), [0, 0, 0, 2]);
        assert_eq!(Family::Inet6.header(), [0, 0, 0, 30]);
        assert_eq!(Family::from_header([0, 0, 0, 2]), Some(Family::Inet));
        assert_eq!(Family::from_header([0, 0, 0, 30]), Some(Family::Inet6));
        // Little-endian, Linux's AF_INET6 and other families are not utun headers.
        for h in [
            [2, 0, 0, 0],
            [30, 0, 0, 0],
            [0, 0, 0, 10],
            [0, 0, 0, 0],
            [0, 0, 1, 2],
            [0xff; 4],
        ] {
            assert_eq!(Family::from_header(h), None, "{h:?}");
        }
    }

    #[test]
    fn family_from_version_nibble() {
        assert_eq!(Family::of_packet(&[0x45, 0, 0, 20]), Some(Family::Inet));
        assert_eq!(Family::of_packet(&[0x4f]), Some(Family::Inet));
        assert_eq!(Family::of_packet(&[0x60, 0, 0, 0]), Some(Family::Inet6));
        assert_eq!(Family::of_packet(&[0x6a]), Some(Family::Inet6));
        assert_eq!(Family::of_packet(&[]), None);
        for b in [0x00, 0x05, 0x54, 0x75, 0xf6] {
            assert_eq!(Family::of_packet(&[b]), None, "{b:#x}");
        }
    }

    #[test]
    fn round_trip() {
        for f in [Family::Inet, Family::Inet6] {
            assert_eq!(Family::from_header(f.header()), Some(f));
        }
    }

    #[test]
    fn inbound_header_must_match_the_packet() {
        let v4 = [0x45, 0, 0, 20];
        let v6 = [0x60, 0, 0, 0];
        assert!(accept_inbound(Family::Inet.header(), &v4));
        assert!(accept_inbound(Family::Inet6.header(), &v6));
        assert!(!accept_inbound(Family::Inet.header(), &v6));
        assert!(!accept_inbound(Family::Inet6.header(), &v4));
        assert!(!accept_inbound(Family::Inet.header(), &[]));
        assert!(!accept_inbound([0, 0, 0, 10], &v6));
    }
}
