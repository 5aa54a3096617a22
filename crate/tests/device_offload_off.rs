//! The fallback data path: TUN without `virtio_net_hdr` and UDP without `UDP_SEGMENT`, as on
//! kernels that refuse them (forced with WGKIT_TUN_OFFLOAD=0 / WGKIT_UDP_GSO=0; this binary's
//! only test, so the variables affect nothing else). Needs root.

// The embedded device: Linux only (crate/src/lib.rs).
#![cfg(target_os = "linux")]

mod common;

use common::*;

#[test]
fn transfers_without_offloads() {
    std::env::set_var("WGKIT_TUN_OFFLOAD", "0");
    std::env::set_var("WGKIT_UDP_GSO", "0");
    let pair = Pair::new();
    let (a, b, _, _) = connected_nodes(&pair, false);
    assert!(ping(&pair.a, "10.77.0.2", ""));
    tcp_transfer(&pair.a, &pair.b, "10.77.0.2", 5021, 8 << 20);
    tcp_transfer(&pair.b, &pair.a, "10.77.0.1", 5022, 8 << 20);
    assert_eq!(a.dev.stats().dropped_invalid + b.dev.stats().dropped_invalid, 0);
}
