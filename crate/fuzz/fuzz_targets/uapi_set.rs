//! The UAPI `set=1` body parser and the device's applier. Any bytes: the parser answers with
//! a config or an error carrying an errno, never a panic. A parsed config must (1) survive
//! the client's formatter and parse back the same, (2) name its peers in the order of the
//! `public_key` lines, and (3) applied to a device, leave exactly the peers a small model
//! of replace_peers/remove/update_only predicts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use wgkit::device::{Device, DeviceOptions, NetstackOptions};
use wgkit::keys::Key;
use wgkit::model::{DeviceConfig, PeerConfig};
use wgkit::uapi::set_parser::parse_set_body;
use wgkit::uapi::set_request::format_set_request;

fn device() -> &'static Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let (dev, net) = Device::create_netstack(
            "wgfzset",
            DeviceOptions::default(),
            NetstackOptions {
                addresses: vec![([10, 78, 0, 1].into(), 24)],
                ..Default::default()
            },
        )
        .expect("create a netstack device");
        // The stack lives as long as the process.
        std::mem::forget(net);
        dev
    })
}

/// What the formatter writes for a peer: a removed peer is its key and `remove=true` only.
fn normalized(mut config: DeviceConfig) -> DeviceConfig {
    for p in &mut config.peers {
        if p.remove {
            let mut only = PeerConfig::new(p.public_key.clone());
            only.remove = true;
            *p = only;
        }
    }
    config
}

fn keys_of_lines(body: &[u8]) -> Vec<Key> {
    body.split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .filter_map(|l| l.strip_prefix(b"public_key="))
        .map(|v| Key::from_hex(std::str::from_utf8(v.strip_suffix(b"\r").unwrap_or(v)).unwrap()).unwrap())
        .collect()
}

fuzz_target!(|body: &[u8]| {
    let config = match parse_set_body(body) {
        Ok(config) => config,
        Err(e) => {
            assert!(e.errno.is_some(), "a refused request has an errno: {e:?}");
            return;
        }
    };
    let keys: Vec<Key> = config.peers.iter().map(|p| p.public_key.clone()).collect();
    assert_eq!(keys, keys_of_lines(body));

    // Formatter and parser agree.
    if config
        .peers
        .iter()
        .all(|p| p.remove || p.protocol_version.is_none_or(|v| v == 1))
    {
        let text = format_set_request(&config).expect("a parsed config formats");
        let again = parse_set_body(text.strip_prefix("set=1\n").expect("set=1").as_bytes()).expect("reparse");
        assert_eq!(again, normalized(config.clone()));
    }

    // Applied to a device from a known state (no peers), against the model. The listen port
    // is left alone: the fuzzer must not bind arbitrary ports of this machine.
    let dev = device();
    dev.apply(DeviceConfig {
        replace_peers: true,
        ..Default::default()
    })
    .expect("reset the device");
    let mut config = config;
    config.listen_port = None;
    let mut model: BTreeSet<[u8; 32]> = BTreeSet::new();
    if config.replace_peers {
        model.clear();
    }
    for p in &config.peers {
        let k = *p.public_key.as_bytes();
        if p.remove {
            model.remove(&k);
        } else if !p.update_only || model.contains(&k) {
            model.insert(k);
        }
    }
    if dev.apply(config).is_ok() {
        let got: BTreeSet<[u8; 32]> = dev.snapshot().peers.iter().map(|p| *p.public_key.as_bytes()).collect();
        assert_eq!(got, model, "the device's peers after the set");
    } else {
        // Nothing is half-applied.
        assert!(dev.snapshot().peers.is_empty(), "a refused set changed the peers");
    }
});
