//! Test harness: network namespaces joined by a veth pair, wgkit devices inside them, and
//! guards that clean up namespaces, processes and files even when a test fails.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use wgkit::device::{event_channel, Device, DeviceEvent, DeviceOptions, Netns};
use wgkit::keys::Key;
use wgkit::model::{AllowedIp, AllowedIpChange, DeviceConfig, PeerConfig};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique tag: pid and a per-process counter (interface names are ≤ 15 bytes).
pub fn tag() -> String {
    format!(
        "{}{}",
        std::process::id() % 100000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn run(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh")
}

pub fn must(cmd: &str) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A network namespace, deleted on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new(name: String) -> Ns {
        must(&format!("ip netns add {name}"));
        let ns = Ns { name };
        ns.sh("ip link set lo up");
        ns
    }
    pub fn path(&self) -> Netns {
        Netns::Path(PathBuf::from(format!("/var/run/netns/{}", self.name)))
    }
    pub fn sh(&self, cmd: &str) -> String {
        must(&format!("ip netns exec {} sh -c '{}'", self.name, cmd))
    }
    pub fn try_sh(&self, cmd: &str) -> Output {
        run(&format!("ip netns exec {} sh -c '{}'", self.name, cmd))
    }
    pub fn spawn(&self, cmd: &str) -> Proc {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", &format!("exec {cmd}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        Proc { child: Some(child) }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run(&format!("ip netns del {}", self.name));
    }
}

/// A child process, killed on drop.
pub struct Proc {
    pub child: Option<Child>,
}

impl Proc {
    pub fn wait_output(mut self, timeout: Duration) -> Option<Output> {
        let mut child = self.child.take()?;
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return child.wait_with_output().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A temporary file, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!("wgkit-test-{}-{}", tag(), name));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Two namespaces joined by a veth pair: a = 192.0.2.1/24, b = 192.0.2.2/24.
/// Field order matters: namespaces are dropped last.
pub struct Pair {
    pub a: Ns,
    pub b: Ns,
    pub t: String,
}

impl Pair {
    pub fn new() -> Pair {
        let t = tag();
        let a = Ns::new(format!("wgk{t}a"));
        let b = Ns::new(format!("wgk{t}b"));
        must(&format!(
            "ip link add va{t} netns {} type veth peer name vb{t} netns {}",
            a.name, b.name
        ));
        a.sh(&format!(
            "ip addr add 192.0.2.1/24 dev va{t}; ip addr add 2001:db8::1/64 dev va{t} nodad; ip link set va{t} up"
        ));
        b.sh(&format!(
            "ip addr add 192.0.2.2/24 dev vb{t}; ip addr add 2001:db8::2/64 dev vb{t} nodad; ip link set vb{t} up"
        ));
        Pair { a, b, t }
    }
}

pub fn allowed(s: &str) -> AllowedIpChange {
    AllowedIpChange {
        ip: AllowedIp::parse(s).unwrap(),
        remove: false,
    }
}

pub fn peer(pk: &Key, endpoint: Option<&str>, ips: &[&str]) -> PeerConfig {
    let mut p = PeerConfig::new(pk.clone());
    p.endpoint = endpoint.map(|e| e.parse().unwrap());
    p.allowed_ips = ips.iter().map(|s| allowed(s)).collect();
    p
}

/// A wgkit device in `ns` with its key, listening on `port`, with events collected.
pub struct Node {
    pub dev: Device,
    pub key: Key,
    pub events: std::sync::mpsc::Receiver<DeviceEvent>,
}

impl Node {
    pub fn new(ns: &Ns, name: &str, port: u16) -> Node {
        Node::new_with_threads(ns, name, port, 0)
    }

    /// A device with `threads` workers (0 = one per CPU, at most 4).
    pub fn new_with_threads(ns: &Ns, name: &str, port: u16, threads: usize) -> Node {
        let (sink, events) = event_channel(1024);
        let dev = Device::create(
            name,
            DeviceOptions {
                netns: Some(ns.path()),
                listen_port: port,
                events: Some(sink),
                threads,
                ..Default::default()
            },
        )
        .expect("create device");
        let key = Key::generate_private();
        dev.apply(DeviceConfig {
            private_key: Some(key.clone()),
            ..Default::default()
        })
        .unwrap();
        Node { dev, key, events }
    }

    pub fn public(&self) -> Key {
        self.key.public_key()
    }

    pub fn add_peer(&self, p: PeerConfig) {
        self.dev
            .apply(DeviceConfig {
                peers: vec![p],
                ..Default::default()
            })
            .unwrap();
    }

    /// Collects events received so far.
    pub fn drain(&self) -> Vec<DeviceEvent> {
        self.events.try_iter().collect()
    }
}

/// Devices `wa<t>` (10.77.0.1) and `wb<t>` (10.77.0.2) in the pair's namespaces on port 51820,
/// each the other's peer at its underlay address, interfaces up; with `ipv6` also fd77::1 and
/// fd77::2. Returns the nodes and their interface names.
pub fn connected_nodes(pair: &Pair, ipv6: bool) -> (Node, Node, String, String) {
    let (na, nb) = (format!("wa{}", pair.t), format!("wb{}", pair.t));
    let a = Node::new(&pair.a, &na, 51820);
    let b = Node::new(&pair.b, &nb, 51820);
    let (a_ips, b_ips): (&[&str], &[&str]) = match ipv6 {
        true => (&["10.77.0.1/32", "fd77::1/128"], &["10.77.0.2/32", "fd77::2/128"]),
        false => (&["10.77.0.1/32"], &["10.77.0.2/32"]),
    };
    a.add_peer(peer(&b.public(), Some("192.0.2.2:51820"), b_ips));
    b.add_peer(peer(&a.public(), Some("192.0.2.1:51820"), a_ips));
    let (a_addrs, b_addrs): (&[&str], &[&str]) = match ipv6 {
        true => (&["10.77.0.1/24", "fd77::1/64"], &["10.77.0.2/24", "fd77::2/64"]),
        false => (&["10.77.0.1/24"], &["10.77.0.2/24"]),
    };
    up(&pair.a, &na, a_addrs);
    up(&pair.b, &nb, b_addrs);
    (a, b, na, nb)
}

/// Brings the interface up with `addr` (e.g. "10.77.0.1/24").
pub fn up(ns: &Ns, ifname: &str, addrs: &[&str]) {
    for a in addrs {
        ns.sh(&format!(
            "ip addr add {a} dev {ifname} nodad 2>/dev/null || ip addr add {a} dev {ifname}"
        ));
    }
    ns.sh(&format!("ip link set {ifname} up"));
}

pub fn ping(ns: &Ns, target: &str, extra: &str) -> bool {
    ns.try_sh(&format!("ping -c 3 -i 0.2 -W 2 {extra} {target}"))
        .status
        .success()
}

/// Sends `bytes` random bytes over TCP from `from` to `to_addr:port` (listening in `to`) and
/// checks the SHA-256 on both ends.
pub fn tcp_transfer(from: &Ns, to: &Ns, to_addr: &str, port: u16, bytes: usize) {
    let mut data = vec![0u8; bytes];
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let k = Key::generate_preshared();
        let n = chunk.len();
        chunk.copy_from_slice(&k.as_bytes()[..n]);
        chunk[0] ^= i as u8;
    }
    let file = TempFile::new("tcp", &data);
    let sum = must(&format!("sha256sum {}", file.path()));
    let sum = sum.split_whitespace().next().unwrap().to_string();
    let bind = if to_addr.contains(':') {
        format!("TCP6-LISTEN:{port},bind=[{to_addr}]")
    } else {
        format!("TCP4-LISTEN:{port},bind={to_addr}")
    };
    let server = to.spawn(&format!("sh -c \"socat -u {bind},reuseaddr STDOUT | sha256sum\""));
    let dest = if to_addr.contains(':') {
        format!("TCP6:[{to_addr}]:{port}")
    } else {
        format!("TCP4:{to_addr}:{port}")
    };
    let client = from.try_sh(&format!("socat -u FILE:{} {dest},retry=50,interval=0.1", file.path()));
    assert!(
        client.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let out = server.wait_output(Duration::from_secs(60)).expect("server finished");
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(got.split_whitespace().next(), Some(sum.as_str()), "checksums differ");
}

/// Waits until `f` holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A thread's requested slice (`sched_runtime`); kernels before 6.12 keep none for SCHED_OTHER.
pub fn slice_of(tid: i32) -> Option<u64> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap(), v.next().unwrap()) < (6, 12) {
        return None;
    }
    let mut attr = [0u64; 7];
    // SAFETY: sched_getattr writes at most the 56 bytes passed.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, attr.as_mut_ptr(), 56, 0) };
    assert_eq!(r, 0);
    Some(attr[3])
}
