//! macOS utun device: a TUN-like interface made through the utun kernel control socket, with
//! no kernel or system extension; the device core drives it as it drives the Linux TUN:
//! `tun/mod.rs` takes its interface and queue types from `tun_side.rs` on macOS. One control
//! socket per interface (there is no multi-queue): every packet is one datagram behind a
//! 4-byte address-family header.
//!
//! **Not run by any test here.** No macOS machine is available to this project's CI: the
//! backend is compiled and linted for `aarch64-apple-darwin` and `x86_64-apple-darwin`
//! (`scripts/platform-tests.sh`, `clippy_darwin`), and everything that does not need the
//! macOS kernel is unit-tested on Linux — names (`name.rs`), the packet header (`frame.rs`),
//! the kernel structures and ioctl numbers (`sys.rs`, checked against the SDK's values and, on
//! macOS, against the libc crate at compile time), and the burst reads and writes
//! (`queue.rs`, over a datagram socket pair standing in for the kernel's end). Creating the
//! interface and its MTU requests (`interface.rs`) and the seam (`tun_side.rs`) have only been
//! compiled.

// Off macOS only the unit tests use these modules (their macOS user is `interface.rs`).
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

pub(crate) mod frame;
pub(crate) mod name;
pub(crate) mod queue;
pub(crate) mod sys;

#[cfg(target_os = "macos")]
mod interface;
#[cfg(target_os = "macos")]
pub(crate) mod tun_side;
