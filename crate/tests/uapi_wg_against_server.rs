//! Debian's `wg` manages a device served by our `UapiServer`, backed by an in-memory handler
//! with wg's set semantics. Needs root (the socket lives in /var/run/wireguard) and `wg`.

// Linux only (network namespaces, netlink, Debian's wg and wireguard-go).
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wgkit::error::Result;
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, Device, DeviceConfig, Peer};
use wgkit::uapi::{UapiClient, UapiHandler, UapiServer};

/// A device that only exists in memory, changed with the kernel's and wireguard-go's rules.
#[derive(Default)]
struct MemDevice {
    state: Mutex<Device>,
    sets: Mutex<usize>,
}

impl MemDevice {
    fn snapshot(&self) -> Device {
        self.state.lock().unwrap().clone()
    }
}

fn contains(prefix: &AllowedIp, ip: &AllowedIp) -> bool {
    prefix.masked() == ip.masked()
}

impl UapiHandler for MemDevice {
    fn get(&self) -> Result<Device> {
        Ok(self.snapshot())
    }

    fn set(&self, config: DeviceConfig) -> Result<()> {
        *self.sets.lock().unwrap() += 1;
        let mut dev = self.state.lock().unwrap();
        if let Some(key) = config.private_key {
            if key.is_zero() {
                dev.private_key = None;
                dev.public_key = None;
            } else {
                let mut key = key;
                key.clamp();
                let public = key.public_key();
                dev.peers.retain(|p| p.public_key != public);
                dev.public_key = Some(public);
                dev.private_key = Some(key);
            }
        }
        if let Some(port) = config.listen_port {
            dev.listen_port = port;
        }
        if let Some(mark) = config.fwmark {
            dev.fwmark = mark;
        }
        if config.replace_peers {
            dev.peers.clear();
        }
        for change in config.peers {
            if dev.public_key.as_ref() == Some(&change.public_key) {
                continue;
            }
            let existing = dev.peers.iter().position(|p| p.public_key == change.public_key);
            if change.remove {
                if let Some(i) = existing {
                    dev.peers.remove(i);
                }
                continue;
            }
            let index = match existing {
                Some(i) => i,
                None if change.update_only => continue,
                None => {
                    dev.peers.push(Peer::new(change.public_key.clone()));
                    dev.peers.len() - 1
                }
            };
            let peer = &mut dev.peers[index];
            if let Some(psk) = change.preshared_key {
                peer.preshared_key = (!psk.is_zero()).then_some(psk);
            }
            if let Some(endpoint) = change.endpoint {
                peer.endpoint = Some(endpoint);
            }
            if let Some(interval) = change.persistent_keepalive_interval {
                peer.persistent_keepalive_interval = interval;
            }
            if change.replace_allowed_ips {
                peer.allowed_ips.clear();
            }
            for ip in change.allowed_ips {
                let masked = ip.ip.masked();
                if ip.remove {
                    dev.peers[index].allowed_ips.retain(|a| !contains(a, &masked));
                    continue;
                }
                for (i, other) in dev.peers.iter_mut().enumerate() {
                    if i != index {
                        other.allowed_ips.retain(|a| !contains(a, &masked));
                    }
                }
                let own = &mut dev.peers[index].allowed_ips;
                if !own.contains(&masked) {
                    own.push(masked);
                }
            }
        }
        Ok(())
    }
}

struct Fixture {
    name: String,
    handler: Arc<MemDevice>,
    server: UapiServer,
    dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "this test needs root (socket in /var/run/wireguard)"
        );
        let name = format!("wgs{}{tag}", std::process::id());
        let handler = Arc::new(MemDevice::default());
        handler.state.lock().unwrap().name = name.clone();
        let server = UapiServer::bind(&name, handler.clone()).expect("bind UAPI server");
        let dir = std::env::temp_dir().join(format!("wgkit-wgsrv-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fixture {
            name,
            handler,
            server,
            dir,
        }
    }

    fn key_file(&self, file: &str, key: &Key) -> String {
        let path = self.dir.join(file);
        std::fs::write(&path, format!("{}\n", key.to_base64())).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn wg(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("wg").args(args).output().expect("run wg");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn wg_ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.wg(args);
        assert!(ok, "wg {args:?} failed: {stderr}");
        stdout
    }

    fn raw(&self, request: &[u8]) -> String {
        let mut s = UnixStream::connect(self.server.socket_path()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn wg_set_then_dump_shows_exactly_what_was_set() {
    let f = Fixture::new("a");
    let private = Key::generate_private();
    let psk = Key::generate_preshared();
    let peer = Key::generate_private().public_key();
    let peer2 = Key::generate_private().public_key();
    let priv_file = f.key_file("priv", &private);
    let psk_file = f.key_file("psk", &psk);
    let (peer_b64, peer2_b64) = (peer.to_base64(), peer2.to_base64());
    f.wg_ok(&[
        "set",
        &f.name,
        "listen-port",
        "51821",
        "fwmark",
        "0x1234",
        "private-key",
        &priv_file,
        "peer",
        &peer_b64,
        "preshared-key",
        &psk_file,
        "endpoint",
        "192.0.2.1:51820",
        "persistent-keepalive",
        "25",
        "allowed-ips",
        "10.0.0.0/24,fd00::/64",
        "peer",
        &peer2_b64,
        "endpoint",
        "[2001:db8::2]:1",
        "allowed-ips",
        "10.0.1.7/32",
    ]);
    assert_eq!(*f.handler.sets.lock().unwrap(), 1, "one wg set, one request");

    let state = f.handler.snapshot();
    assert_eq!(state.private_key.as_ref(), Some(&private));
    assert_eq!((state.listen_port, state.fwmark), (51821, 0x1234));
    assert_eq!(state.peers.len(), 2);

    let dump = f.wg_ok(&["show", &f.name, "dump"]);
    let mut lines: Vec<&str> = dump.lines().collect();
    assert_eq!(
        lines.remove(0),
        format!(
            "{}\t{}\t51821\t0x1234",
            private.to_base64(),
            private.public_key().to_base64()
        )
    );
    lines.sort();
    let mut expected = vec![
        format!(
            "{peer_b64}\t{}\t192.0.2.1:51820\t10.0.0.0/24,fd00::/64\t0\t0\t0\t25",
            psk.to_base64()
        ),
        format!("{peer2_b64}\t(none)\t[2001:db8::2]:1\t10.0.1.7/32\t0\t0\t0\toff"),
    ];
    expected.sort();
    assert_eq!(lines, expected);

    assert_eq!(f.wg_ok(&["show", &f.name, "listen-port"]).trim(), "51821");
    assert!(f.wg_ok(&["show", "interfaces"]).split_whitespace().any(|n| n == f.name));

    // Changes through wg: move an IP, remove a peer, clear the private key.
    f.wg_ok(&[
        "set",
        &f.name,
        "peer",
        &peer2_b64,
        "allowed-ips",
        "10.0.1.7/32,10.0.0.0/24",
    ]);
    let dump = f.wg_ok(&["show", &f.name, "allowed-ips"]);
    let mut lines: Vec<&str> = dump.lines().collect();
    lines.sort();
    let mut expected = vec![
        format!("{peer_b64}\tfd00::/64"),
        format!("{peer2_b64}\t10.0.1.7/32 10.0.0.0/24"),
    ];
    expected.sort();
    assert_eq!(lines, expected);
    f.wg_ok(&["set", &f.name, "private-key", "/dev/null", "peer", &peer_b64, "remove"]);
    let dump = f.wg_ok(&["show", &f.name, "dump"]);
    assert_eq!(
        dump,
        format!("(none)\t(none)\t51821\t0x1234\n{peer2_b64}\t(none)\t[2001:db8::2]:1\t10.0.1.7/32,10.0.0.0/24\t0\t0\t0\toff\n")
    );

    // Our own client reads the same state back.
    let d = UapiClient::new().get_device(&f.name).unwrap();
    let mut state = f.handler.snapshot();
    state.name = f.name.clone();
    assert_eq!(d, state);
}

#[test]
fn invalid_requests_leave_the_device_unchanged() {
    let f = Fixture::new("b");
    let peer = Key::generate_private().public_key();
    let peer_b64 = peer.to_base64();
    f.wg_ok(&[
        "set",
        &f.name,
        "listen-port",
        "1000",
        "peer",
        &peer_b64,
        "allowed-ips",
        "10.9.0.0/16",
    ]);
    let before = f.handler.snapshot();
    let sets_before = *f.handler.sets.lock().unwrap();

    let peer_hex = peer.to_hex();
    let bad = [
        format!("set=1\nlisten_port=2000\npublic_key={}zz\n\n", &peer_hex[..62]),
        format!("set=1\nlisten_port=2000\nreplace_peers=true\npublic_key={peer_hex}\nallowed_ip=10.0.0.0/33\n\n"),
        format!(
            "set=1\nlisten_port=2000\nreplace_peers=true\nprivate_key={}\n\n",
            "0".repeat(63)
        ),
        format!("set=1\nlisten_port=2000\npublic_key={peer_hex}\nremove=yes\n\n"),
        format!("set=1\nlisten_port=2000\npublic_key={peer_hex}\nendpoint=localhost:1\n\n"),
        "set=1\nlisten_port=2000\nfwmark=-1\n\n".to_string(),
    ];
    for request in &bad {
        assert_eq!(f.raw(request.as_bytes()), "errno=-22\n\n", "{request:?}");
    }
    assert_eq!(f.raw(b"set=1\nlisten_port=2000\nreplace_peers\n\n"), "errno=-71\n\n");
    assert_eq!(f.handler.snapshot(), before, "state unchanged");
    assert_eq!(*f.handler.sets.lock().unwrap(), sets_before, "handler never called");
    let dump = f.wg_ok(&["show", &f.name, "dump"]);
    assert_eq!(
        dump,
        format!("(none)\t(none)\t1000\toff\n{peer_b64}\t(none)\t(none)\t10.9.0.0/16\t0\t0\t0\toff\n")
    );

    // wg refuses a bad key itself and sends nothing.
    let (ok, _, stderr) = f.wg(&["set", &f.name, "peer", "notakey"]);
    assert!(!ok);
    assert!(stderr.contains("Key is not the correct length or format"), "{stderr}");
    assert_eq!(*f.handler.sets.lock().unwrap(), sets_before);
}

#[test]
fn wg_setconf_many_peers_and_showconf() {
    let f = Fixture::new("c");
    let private = Key::generate_private();
    let mut conf = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = 51999\n",
        private.to_base64()
    );
    let mut peers = Vec::new();
    for i in 0..100u32 {
        let key = Key::generate_private().public_key();
        let ips: Vec<String> = (0..10).map(|j| format!("10.{i}.{j}.0/24")).collect();
        conf.push_str(&format!(
            "\n[Peer]\nPublicKey = {}\nAllowedIPs = {}\nEndpoint = 192.0.2.{}:{}\n",
            key.to_base64(),
            ips.join(", "),
            i + 1,
            1000 + i
        ));
        peers.push((key, ips));
    }
    let conf_file = f.dir.join("wg.conf");
    std::fs::write(&conf_file, &conf).unwrap();
    f.wg_ok(&["setconf", &f.name, conf_file.to_str().unwrap()]);
    let state = f.handler.snapshot();
    assert_eq!(state.peers.len(), 100);
    for (key, ips) in &peers {
        let p = state.peers.iter().find(|p| &p.public_key == key).expect("peer present");
        let got: Vec<String> = p.allowed_ips.iter().map(|a| a.to_string()).collect();
        assert_eq!(&got, ips);
    }
    let dump = f.wg_ok(&["show", &f.name, "dump"]);
    assert_eq!(dump.lines().count(), 101);
    let showconf = f.wg_ok(&["showconf", &f.name]);
    assert_eq!(showconf.matches("[Peer]").count(), 100);
    assert!(showconf.contains("ListenPort = 51999"));

    // setconf again with no peers replaces them all.
    std::fs::write(&conf_file, "[Interface]\nListenPort = 51998\n").unwrap();
    f.wg_ok(&["setconf", &f.name, conf_file.to_str().unwrap()]);
    let state = f.handler.snapshot();
    assert!(state.peers.is_empty());
    assert_eq!(state.listen_port, 51998);
}
