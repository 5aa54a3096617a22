//! An embedded userspace WireGuard device together with its UAPI server, so `wg`, `wg-quick`
//! and wgkit's own client manage it exactly like wireguard-go.

use crate::device::{Device, DeviceOptions};
use crate::error::Result;
use crate::model;
use crate::uapi::{UapiHandler, UapiServer, UapiServerOptions};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Serves a device over UAPI: `get` is a snapshot, `set` an atomic apply.
struct DeviceHandler(Arc<Device>);

impl UapiHandler for DeviceHandler {
    fn get(&self) -> Result<model::Device> {
        Ok(self.0.snapshot())
    }

    fn set(&self, config: model::DeviceConfig) -> Result<()> {
        self.0.apply(config)
    }

    /// A UAPI thread's panic is the device's internal error: an error event, and it stops.
    fn thread_panicked(&self, thread: &str, message: &str) {
        self.0.stop_after_panic(thread, message);
    }
}

/// Where the UAPI socket goes; `None` runs the device without one.
#[derive(Debug, Clone, Default)]
pub struct UapiOptions {
    /// The socket directory (default `/var/run/wireguard`).
    pub socket_dir: Option<PathBuf>,
}

pub struct UserspaceDevice {
    device: Arc<Device>,
    uapi: Mutex<Option<UapiServer>>,
}

impl UserspaceDevice {
    /// Creates the device, then its UAPI socket `NAME.sock`. If the socket cannot be made (a
    /// live one exists, no permission), the device is closed again and the error returned.
    pub fn create(name: &str, options: DeviceOptions, uapi: Option<UapiOptions>) -> Result<UserspaceDevice> {
        UserspaceDevice::serve(Device::create(name, options)?, uapi)
    }

    /// Serves a device already made (a netstack one, say) the same way.
    pub fn serve(device: Device, uapi: Option<UapiOptions>) -> Result<UserspaceDevice> {
        let device = Arc::new(device);
        let server = match uapi {
            None => None,
            Some(u) => {
                let mut server_options = UapiServerOptions::default();
                if let Some(dir) = u.socket_dir {
                    server_options.socket_dir = dir;
                }
                match UapiServer::bind_with(device.name(), Arc::new(DeviceHandler(device.clone())), server_options) {
                    Ok(server) => Some(server),
                    Err(e) => {
                        device.close();
                        return Err(e);
                    }
                }
            }
        };
        Ok(UserspaceDevice {
            device,
            uapi: Mutex::new(server),
        })
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// Removes the UAPI socket, then stops the device and removes its interface. Idempotent.
    pub fn close(&self) {
        let server = self.uapi.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut server) = server {
            server.close();
        }
        self.device.close();
    }
}

impl Drop for UserspaceDevice {
    fn drop(&mut self) {
        self.close();
    }
}

/// A netstack device served over UAPI: a Unix socket, or on Windows a named pipe.
#[cfg(test)]
mod portable_tests {
    use super::*;
    use crate::device::NetstackOptions;
    use crate::keys::Key;
    use crate::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};
    use crate::uapi::test_support;
    use crate::uapi::UapiClient;

    #[test]
    fn a_netstack_device_is_configured_and_read_over_its_uapi_socket() {
        let dir = test_support::temp_dir("pcore-ns");
        let name = format!("pcorens{}", std::process::id() % 100_000);
        let stack = NetstackOptions {
            addresses: vec![("10.77.0.1".parse().unwrap(), 24)],
            ..Default::default()
        };
        let (device, _net) = Device::create_netstack(&name, DeviceOptions::default(), stack).unwrap();
        let served = UserspaceDevice::serve(
            device,
            Some(UapiOptions {
                socket_dir: Some(dir.clone()),
            }),
        )
        .unwrap();
        let client = UapiClient::new().with_socket_dir(&dir);
        let private = Key::generate_private();
        let peer = Key::generate_private().public_key();
        client
            .set_device(
                &name,
                &DeviceConfig {
                    private_key: Some(private.clone()),
                    listen_port: Some(0),
                    peers: vec![PeerConfig {
                        endpoint: Some("127.0.0.1:9".parse().unwrap()),
                        allowed_ips: vec![AllowedIpChange {
                            ip: AllowedIp::parse("10.77.0.2/32").unwrap(),
                            remove: false,
                        }],
                        ..PeerConfig::new(peer.clone())
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        let got = client.get_device(&name).unwrap();
        assert_eq!(got.private_key, Some(private));
        assert_ne!(got.listen_port, 0);
        assert_eq!(got.peers.len(), 1);
        assert_eq!(got.peers[0].public_key, peer);
        assert_eq!(got.peers[0].endpoint, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(served.device().snapshot(), got);
        served.close();
        assert!(client.get_device(&name).is_err(), "the socket is gone after close");
        test_support::remove_dir(&dir);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::device::fault::{self, Fault};
    use crate::device::Netns;
    use crate::device::{event_channel, DeviceEvent};
    use crate::error::ErrorCode;
    use crate::keys::Key;
    use crate::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};
    use crate::thread_guard::fault as thread_fault;
    use crate::uapi::UapiClient;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::process::Command;
    use std::sync::mpsc::Receiver;
    use std::time::{Duration, Instant};

    /// A network namespace of this test, deleted on drop.
    struct Namespace(String);

    impl Namespace {
        fn new(name: String) -> Namespace {
            let ok = Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success();
            assert!(ok, "ip netns add {name}");
            Namespace(name)
        }
    }

    impl Drop for Namespace {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// `n` peers, each with an endpoint, keepalive, a preshared key and a /32.
    fn peers(n: u32, base: u32) -> Vec<PeerConfig> {
        (0..n)
            .map(|i| {
                let mut pc = PeerConfig::new(Key::generate_private().public_key());
                pc.endpoint = Some(format!("192.0.2.{}:{}", 2 + i % 250, 1000 + i).parse().unwrap());
                pc.persistent_keepalive_interval = Some(25);
                pc.preshared_key = Some(Key::generate_private());
                pc.allowed_ips.push(AllowedIpChange {
                    ip: AllowedIp::new(std::net::Ipv4Addr::from(base + i).into(), 32).unwrap(),
                    remove: false,
                });
                pc
            })
            .collect()
    }

    fn exchange(path: &std::path::Path, request: &str) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// A UAPI set that fails (an error, a panic) in the middle of 1000 new peers: the reply
    /// carries the errno, the connection keeps serving, and the device reads back unchanged.
    #[test]
    fn a_uapi_set_failing_half_way_answers_its_errno_and_changes_nothing() {
        let tag = std::process::id();
        let ns = Namespace::new(format!("wgcf-ut-{tag}"));
        let dir = std::env::temp_dir().join(format!("wgcf-uapi-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let options = DeviceOptions {
            netns: Some(Netns::Path(format!("/var/run/netns/{}", ns.0).into())),
            threads: 1,
            ..Default::default()
        };
        let name = format!("wgcfut{}", tag % 100_000);
        let dev = UserspaceDevice::create(
            &name,
            options,
            Some(UapiOptions {
                socket_dir: Some(dir.clone()),
            }),
        )
        .unwrap();
        let client = UapiClient::new().with_socket_dir(&dir);
        client
            .set_device(
                &name,
                &DeviceConfig {
                    private_key: Some(Key::generate_private()),
                    listen_port: Some(0),
                    peers: peers(100, 0x0a00_0000),
                    ..Default::default()
                },
            )
            .unwrap();
        let before = client.get_device(&name).unwrap();
        assert_eq!(before.peers.len(), 100);
        let path = dir.join(format!("{name}.sock"));
        for (fault, errno) in [(Fault::Error(libc::ENOMEM), -libc::ENOMEM), (Fault::Panic, -libc::EIO)] {
            let mut request = format!("set=1\nprivate_key={}\nreplace_peers=true\n", "11".repeat(32));
            for pc in peers(1000, 0x0a10_0000) {
                request += &format!(
                    "public_key={}\nendpoint={}\npersistent_keepalive_interval=25\nallowed_ip={}/32\n",
                    hex(pc.public_key.as_bytes()),
                    pc.endpoint.unwrap(),
                    pc.allowed_ips[0].ip.addr
                );
            }
            request += "\nget=1\n\n";
            fault::inject_for_device(&name, 500, fault);
            let reply = exchange(&path, &request);
            let (status, get) = reply.split_once("\n\n").unwrap();
            assert_eq!(status, format!("errno={errno}"), "{fault:?}");
            assert!(get.ends_with("errno=0\n\n"), "the connection still serves: {get:?}");
            let mut after = client.get_device(&name).unwrap();
            // Byte counters move with the keepalives of the first set; the rest is the same.
            for (a, b) in after.peers.iter_mut().zip(&before.peers) {
                (a.tx_bytes, a.rx_bytes, a.last_handshake) = (b.tx_bytes, b.rx_bytes, b.last_handshake);
            }
            assert_eq!(after, before, "{fault:?}");
        }
        dev.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Runs `f` on a thread of its own in a new network namespace (gone with the thread and
    /// the device's threads, whatever `f` does).
    fn in_new_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::spawn(move || {
            // SAFETY: moves only this thread (and threads it starts) to a new namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare (needs root)");
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    fn messages_until_stopped(rx: &Receiver<DeviceEvent>) -> Vec<String> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !got
            .iter()
            .any(|m: &String| m.contains("stopped after an internal error"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(DeviceEvent::Error(e)) => {
                    let stop = e.message.contains("stopped after an internal error");
                    let code = if stop {
                        ErrorCode::DeviceNotFound
                    } else {
                        ErrorCode::System
                    };
                    assert_eq!(e.code, code, "{e:?}");
                    got.push(e.message);
                }
                Ok(_) => {}
                Err(_) => panic!("no stop event; got {got:?}"),
            }
        }
        got
    }

    fn socket_dir(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("wguapi-{tag}-{}", std::process::id()))
    }

    /// A worker that panics: an error event naming the thread, the device stops and says so,
    /// `get` over UAPI still answers, `set` is refused, `close` returns.
    #[test]
    fn a_worker_panic_stops_the_device_cleanly() {
        in_new_netns(|| {
            let name = format!("wguapiw{}", std::process::id() % 100000);
            let dir = socket_dir("w");
            thread_fault::arm(&format!("wg-{name}-0"));
            let (sink, rx) = event_channel(64);
            let options = DeviceOptions {
                threads: 2,
                events: Some(sink),
                ..Default::default()
            };
            let uapi = UapiOptions {
                socket_dir: Some(dir.clone()),
            };
            let device = UserspaceDevice::create(&name, options, Some(uapi)).unwrap();
            let got = messages_until_stopped(&rx);
            assert_eq!(
                got,
                [
                    format!("internal error in thread wg-{name}-0: fault injected into wg-{name}-0"),
                    format!("device {name} stopped after an internal error in thread wg-{name}-0"),
                ]
            );
            assert!(device.device().is_closed());
            let client = UapiClient::new().with_socket_dir(&dir);
            assert_eq!(client.get_device(&name).unwrap().peers.len(), 0, "get still answers");
            let e = client.set_device(&name, &model::DeviceConfig::default()).unwrap_err();
            assert_eq!(e.code, ErrorCode::DeviceNotFound, "{e:?}");
            let start = Instant::now();
            device.close();
            assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
            assert!(!dir.join(format!("{name}.sock")).exists());
            let _ = std::fs::remove_dir_all(&dir);
        });
    }

    /// The UAPI accept thread panics: the device's error event, the device stops, and clients
    /// are refused at once instead of waiting.
    #[test]
    fn a_uapi_thread_panic_stops_the_device_and_refuses_clients() {
        in_new_netns(|| {
            let name = format!("wguapia{}", std::process::id() % 100000);
            let dir = socket_dir("a");
            thread_fault::arm(&format!("wgkit-uapi-{name}"));
            let (sink, rx) = event_channel(64);
            let options = DeviceOptions {
                threads: 1,
                events: Some(sink),
                ..Default::default()
            };
            let uapi = UapiOptions {
                socket_dir: Some(dir.clone()),
            };
            let device = UserspaceDevice::create(&name, options, Some(uapi)).unwrap();
            let got = messages_until_stopped(&rx);
            assert_eq!(
                got[0],
                format!("internal error in thread wgkit-uapi-{name}: fault injected into wgkit-uapi-{name}")
            );
            assert!(device.device().is_closed());
            let start = Instant::now();
            let e = UapiClient::new().with_socket_dir(&dir).get_device(&name).unwrap_err();
            assert_eq!(e.code, ErrorCode::DeviceNotFound, "{e:?}");
            assert!(start.elapsed() < Duration::from_secs(5));
            device.close();
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
