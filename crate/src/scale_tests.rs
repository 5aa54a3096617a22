//! A device at scale: 100,000 peers applied over UAPI in one request and read back, and a set
//! past the device's peer maximum refused with E2BIG, changing nothing. (Time and memory per
//! peer are measured by `npm run bench`'s scale section, not asserted here.)

use crate::device::DeviceOptions;
use crate::uapi::UapiClient;
use crate::userspace_device::{UapiOptions, UserspaceDevice};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

const PEERS: u32 = 100_000;

/// A peer key from a counter (any 32 bytes are a valid public key for the table).
fn key(i: u32, tag: u8) -> [u8; 32] {
    let mut k = [tag; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `set=1` lines for peers `from..to`: an endpoint, a keepalive and two allowed IPs each,
/// every third with a preshared key.
fn peer_lines(from: u32, to: u32) -> String {
    let mut out = String::with_capacity((to - from) as usize * 240);
    for i in from..to {
        out += &format!("public_key={}\n", hex(&key(i, 0x5c)));
        if i % 3 == 0 {
            out += &format!("preshared_key={}\n", hex(&key(i, 0x9e)));
        }
        out += &format!(
            "endpoint=192.0.2.{}:{}\npersistent_keepalive_interval=25\nallowed_ip=10.{}.{}.{}/32\nallowed_ip=fd00:5ca1::{:x}:{:x}/128\n",
            1 + i % 250,
            1024 + i % 60_000,
            64 + (i >> 16),
            (i >> 8) & 255,
            i & 255,
            i >> 16,
            i & 0xffff
        );
    }
    out
}

/// Sends one request, returns the whole reply.
fn exchange(path: &std::path::Path, request: &str) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Runs `f` on a thread of its own in a new network namespace (gone with the thread and the
/// device's threads).
fn in_new_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(move || {
        // SAFETY: moves only this thread (and threads it starts) to a new namespace.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare (needs root)");
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
fn a_hundred_thousand_peers_apply_in_one_request_and_one_more_is_refused_with_e2big() {
    in_new_netns(|| {
        let tag = std::process::id();
        let dir = std::env::temp_dir().join(format!("wgsc-scale-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("wgscut{}", tag % 100_000);
        let options = DeviceOptions {
            threads: 1,
            max_peers: PEERS as usize,
            ..Default::default()
        };
        let uapi = UapiOptions {
            socket_dir: Some(dir.clone()),
        };
        let dev = UserspaceDevice::create(&name, options, Some(uapi)).unwrap();
        let path = dir.join(format!("{name}.sock"));
        let client = UapiClient::new().with_socket_dir(&dir);

        // Larger than the old 16 MiB bound, in one request (no private key: the test measures
        // the table, not 100,000 Diffie-Hellmans in a debug build).
        let request = format!("set=1\nlisten_port=0\n{}\n", peer_lines(0, PEERS));
        assert!(request.len() > 16 << 20, "{} bytes", request.len());
        assert_eq!(exchange(&path, &request), "errno=0\n\n");
        let before = client.get_device(&name).unwrap();
        assert_eq!(before.peers.len(), PEERS as usize);
        let keys: HashSet<[u8; 32]> = before.peers.iter().map(|p| *p.public_key.as_bytes()).collect();
        assert_eq!(keys, (0..PEERS).map(|i| key(i, 0x5c)).collect::<HashSet<_>>());
        assert!(before
            .peers
            .iter()
            .all(|p| p.allowed_ips.len() == 2 && p.endpoint.is_some()));
        assert_eq!(
            before.peers.iter().filter(|p| p.preshared_key.is_some()).count(),
            PEERS.div_ceil(3) as usize
        );

        // One peer past the maximum, along with edits of peers already there: E2BIG, the
        // connection still serves, and nothing changed.
        let over = format!(
            "set=1\nlisten_port=1\npublic_key={}\npersistent_keepalive_interval=0\n{}\nget=1\n\n",
            hex(&key(0, 0x5c)),
            peer_lines(PEERS, PEERS + 1)
        );
        let reply = exchange(&path, &over);
        let (status, get) = reply.split_once("\n\n").unwrap();
        assert_eq!(status, format!("errno={}", -libc::E2BIG));
        assert!(get.ends_with("errno=0\n\n"), "the connection still serves");
        assert_eq!(client.get_device(&name).unwrap(), before, "unchanged");

        // Room again after one removal: the new peer fits.
        let swap = format!(
            "set=1\npublic_key={}\nremove=true\n{}\n",
            hex(&key(1, 0x5c)),
            peer_lines(PEERS, PEERS + 1)
        );
        assert_eq!(exchange(&path, &swap), "errno=0\n\n");
        let after = client.get_device(&name).unwrap();
        assert_eq!(after.peers.len(), PEERS as usize);
        assert!(after.peers.iter().any(|p| *p.public_key.as_bytes() == key(PEERS, 0x5c)));
        dev.close();
        let _ = std::fs::remove_dir_all(&dir);
    });
}
