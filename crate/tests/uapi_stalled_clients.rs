//! Stalled UAPI clients cost no one else an answer: with 2000 idle connections and a client
//! trickling a byte now and then, `wg show` and wgkit's client still get theirs at once; the
//! trickler is cut off at the request deadline; at the connection cap new connections are
//! closed cleanly and the server keeps working. Needs root (the socket lives in
//! /var/run/wireguard, where `wg` looks) and `wg` (wireguard-tools, scripts/setup.sh).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wgkit::error::Result;
use wgkit::keys::Key;
use wgkit::model::{Device, DeviceConfig, Peer};
use wgkit::uapi::{UapiClient, UapiHandler, UapiServer, UapiServerOptions};

const IDLE: usize = 2000;

/// A device with one peer, listening on 51820; sets are accepted and ignored.
struct Fixed;

impl UapiHandler for Fixed {
    fn get(&self) -> Result<Device> {
        let mut d = Device {
            listen_port: 51820,
            ..Default::default()
        };
        d.peers.push(Peer::new(Key::from_bytes([9; 32])));
        Ok(d)
    }

    fn set(&self, _: DeviceConfig) -> Result<()> {
        Ok(())
    }
}

/// Raises the descriptor limit to `want` (root may raise the hard limit too).
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit structure.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want;
            lim.rlim_max = lim.rlim_max.max(want);
            assert_eq!(
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim),
                0,
                "cannot raise RLIMIT_NOFILE to {want}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn get_over(s: &UnixStream) -> String {
    (&*s).write_all(b"get=1\n\n").unwrap();
    let mut reply = Vec::new();
    while !reply.ends_with(b"errno=0\n\n") {
        let mut buf = [0u8; 4096];
        let n = (&*s).read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before the reply ended");
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(reply).unwrap()
}

/// Writes a byte every 200 ms of a request that never ends; returns how long after its first
/// byte the server cut it off.
fn trickle(path: &Path) -> Duration {
    let s = UnixStream::connect(path).unwrap();
    let start = Instant::now();
    loop {
        if (&s).write_all(b"x").is_err() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the trickler was never cut off"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn idle_connections_and_a_trickler_leave_room_for_wg_show() {
    raise_nofile(8192);
    let name = format!("wguapi{}", std::process::id() % 100000);
    let options = UapiServerOptions {
        request_timeout: Some(Duration::from_secs(3)),
        ..Default::default()
    };
    let server = UapiServer::bind_with(&name, Arc::new(Fixed), options).unwrap();
    let path = server.socket_path().to_path_buf();

    let before = rss_kib();
    let idle: Vec<UnixStream> = (0..IDLE).map(|_| UnixStream::connect(&path).unwrap()).collect();
    // Every idle connection is served (its thread exists): the last one answers a get, and so
    // do a few others, which then go idle again.
    for s in idle.iter().rev().step_by(IDLE / 8) {
        assert!(get_over(s).ends_with("\nerrno=0\n\n"));
    }
    let per_connection = (rss_kib().saturating_sub(before)) / IDLE as u64;
    eprintln!("{IDLE} idle connections: {per_connection} KiB of RSS each (both ends)");
    assert!(per_connection < 256, "{per_connection} KiB per idle connection");

    let trickler = {
        let path = path.clone();
        std::thread::spawn(move || trickle(&path))
    };
    std::thread::sleep(Duration::from_millis(500));

    let start = Instant::now();
    let out = Command::new("wg")
        .args(["show", &name])
        .output()
        .expect("wg (wireguard-tools)");
    assert!(
        out.status.success(),
        "wg show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("interface: {name}")), "{text}");
    assert!(text.contains("listening port: 51820"), "{text}");
    assert!(
        text.contains(&format!("peer: {}", Key::from_bytes([9; 32]).to_base64())),
        "{text}"
    );
    let device = UapiClient::new().get_device(&name).unwrap();
    assert_eq!(device.listen_port, 51820);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());

    let cut = trickler.join().unwrap();
    assert!(
        cut >= Duration::from_secs(3) && cut < Duration::from_secs(8),
        "cut off after {cut:?}"
    );
    // The idle connections were not cut with it: the request deadline runs from a first byte.
    assert!(get_over(&idle[0]).ends_with("\nerrno=0\n\n"));

    drop(server);
    assert!(!path.exists());
    let mut buf = [0u8; 1];
    idle[1].set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!((&idle[1]).read(&mut buf).unwrap(), 0, "closed with the server");
}

#[test]
fn at_the_cap_new_connections_are_closed_and_the_server_keeps_working() {
    raise_nofile(8192);
    let dir = std::env::temp_dir().join(format!("wguapi-cap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = UapiServerOptions {
        socket_dir: dir.clone(),
        max_connections: 100,
        ..Default::default()
    };
    let server = UapiServer::bind_with("wguapicap", Arc::new(Fixed), options).unwrap();
    let path = server.socket_path().to_path_buf();
    let mut open: Vec<UnixStream> = (0..100).map(|_| UnixStream::connect(&path).unwrap()).collect();
    for s in &open {
        assert!(get_over(s).ends_with("\nerrno=0\n\n"));
    }
    for _ in 0..3 {
        let extra = UnixStream::connect(&path).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!((&extra).read(&mut buf).unwrap(), 0, "over the cap: a clean close");
    }
    // The served connections still work, and once some close, new ones are served again.
    assert!(get_over(&open[99]).ends_with("\nerrno=0\n\n"));
    open.truncate(90);
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = UapiClient::new().with_socket_dir(&dir);
    while client.get_device("wguapicap").is_err() {
        assert!(Instant::now() < deadline, "the server never took new connections again");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
