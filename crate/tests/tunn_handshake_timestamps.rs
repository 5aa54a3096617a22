//! The TAI64N stamp of handshake initiations (`crate/vendor/boringtun/WGKIT.md`): written as the
//! kernel and wireguard-go write it, so a peer that saw one of them with the same key takes
//! wgkit's next initiation at once. The expected bytes come from wireguard-go's own
//! `tai64n.stamp` (golang.zx2c4.com/wireguard, tai64n/tai64n.go) on the same instants.

use boringtun::noise::handshake::tai64n;
use std::time::{Duration, SystemTime};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn stamps_match_wireguard_go_byte_for_byte() {
    let cases = [
        (0, 0, "400000000000000a00000000"),
        (1_700_000_000, 123_456_789, "400000006553f10a07000000"),
        (1_700_000_000, 16_777_215, "400000006553f10a00000000"),
        (1_700_000_000, 16_777_216, "400000006553f10a01000000"),
        (4_102_444_800, 999_999_999, "40000000f486570a3b000000"),
    ];
    for (secs, nanos, want) in cases {
        assert_eq!(hex(&tai64n(Duration::new(secs, nanos))), want, "{secs}.{nanos:09}");
    }
}

#[test]
fn stamps_keep_only_the_high_bits_of_the_nanoseconds_and_grow_with_time() {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let s = tai64n(now);
    assert_eq!(
        u64::from_be_bytes(s[..8].try_into().unwrap()),
        (1 << 62) + 10 + now.as_secs()
    );
    assert_eq!(u32::from_be_bytes(s[8..].try_into().unwrap()) & 0xff_ffff, 0);
    // Within one 2^24 ns step stamps are equal; a step later they are larger.
    let base = Duration::new(1_700_000_000, 1 << 25);
    assert_eq!(tai64n(base), tai64n(base + Duration::from_nanos((1 << 24) - 1)));
    assert!(tai64n(base + Duration::from_nanos(1 << 24)) > tai64n(base));
    assert!(tai64n(Duration::new(1_700_000_001, 0)) > tai64n(Duration::new(1_700_000_000, 999_999_999)));
}
