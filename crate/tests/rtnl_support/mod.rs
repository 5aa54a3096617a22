//! Shared by the `rtnl_*` tests: throw-away network namespaces (deleted on drop, even when
//! a test fails), `ip` for setting up and checking, and a guard that the calling thread
//! never changes namespace.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use wgkit::netlink::NetnsTarget;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace from `ip netns add`, named after the test and the process id.
pub struct TempNs {
    pub name: String,
}

impl TempNs {
    pub fn new(tag: &str) -> TempNs {
        let name = format!(
            "wgkit-rtnl-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run("ip", &["netns", "add", &name]);
        let ns = TempNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn target(&self) -> NetnsTarget {
        NetnsTarget::Name(self.name.clone())
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    /// `ip -n NS ARGS...`; panics on failure; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A veth pair `a`/`b` in this namespace, both up (so that routes over it are usable).
    pub fn veth(&self, a: &str, b: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip(&["link", "set", a, "up"]);
        self.ip(&["link", "set", b, "up"]);
    }

    /// A command run inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for TempNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect("spawn");
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The namespace of the calling thread.
pub fn thread_netns() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

/// Checks on drop that the thread is still in the namespace it was in when created.
pub struct StaysHome(PathBuf);

impl StaysHome {
    pub fn new() -> StaysHome {
        StaysHome(thread_netns())
    }
}

impl Drop for StaysHome {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(thread_netns(), self.0, "the calling thread changed network namespace");
        }
    }
}

/// Whether `json` (compact `ip -j` output) has an object containing all `fields`
/// (`"key":value` fragments, in `ip`'s order).
pub fn json_has(json: &str, fields: &[&str]) -> bool {
    json.split('{').any(|object| {
        let mut rest = object;
        fields.iter().all(|field| match rest.find(field) {
            Some(i) => {
                rest = &rest[i + field.len()..];
                true
            }
            None => false,
        })
    })
}
