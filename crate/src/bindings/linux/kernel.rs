//! The kernel backend (generic netlink family `wireguard`, rtnetlink for links) for the control
//! client in `lib/client/`. Every call may target a network namespace; only a short-lived
//! helper thread ever enters it.

use crate::bindings::error::IntoJs;
use crate::bindings::model::{device_config_from_js, device_to_js, JsDevice, JsDeviceConfig};
use crate::bindings::task::{spawn, Blocking};
use crate::model::Device;
use crate::netlink::{list_devices, DeviceRef, LinkInfo, Links, NetnsTarget, WireguardNetlink};
use napi::bindgen_prelude::{AbortSignal, AsyncTask, Either};
use napi_derive::napi;
use std::path::PathBuf;

#[napi(object)]
pub struct JsLinkInfo {
    pub ifindex: u32,
    pub name: String,
}

/// A namespace given as a name under /var/run/netns, a path (contains `/`), or a descriptor.
pub(crate) fn netns_target(netns: Option<Either<String, i32>>) -> Option<NetnsTarget> {
    netns.map(to_target)
}

pub(crate) fn to_target(netns: Either<String, i32>) -> NetnsTarget {
    match netns {
        Either::A(text) if text.contains('/') => NetnsTarget::Path(PathBuf::from(text)),
        Either::A(name) => NetnsTarget::Name(name),
        Either::B(fd) => NetnsTarget::Fd(fd),
    }
}

fn device_ref(device: Either<String, u32>) -> DeviceRef {
    match device {
        Either::A(name) => DeviceRef::Name(name),
        Either::B(index) => DeviceRef::Index(index),
    }
}

fn links_to_js(links: Vec<LinkInfo>) -> Vec<JsLinkInfo> {
    links
        .into_iter()
        .map(|l| JsLinkInfo {
            ifindex: l.ifindex,
            name: l.name,
        })
        .collect()
}

/// WireGuard links (RTM_GETLINK, kind `wireguard`); empty when the kernel has none.
#[napi(ts_return_type = "Promise<JsLinkInfo[]>")]
pub fn kernel_list_devices(
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Vec<LinkInfo>, Vec<JsLinkInfo>>> {
    let netns = netns_target(netns);
    spawn(move || list_devices(netns.as_ref()), links_to_js, signal)
}

#[napi(ts_return_type = "Promise<JsDevice>")]
pub fn kernel_get_device(
    device: Either<String, u32>,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Device, JsDevice>> {
    let (device, netns) = (device_ref(device), netns_target(netns));
    spawn(
        move || WireguardNetlink::open(netns.as_ref())?.get_device(&device),
        device_to_js,
        signal,
    )
}

#[napi(ts_return_type = "Promise<void>")]
pub fn kernel_set_device(
    device: Either<String, u32>,
    config: JsDeviceConfig,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> napi::Result<AsyncTask<Blocking<(), ()>>, String> {
    let config = device_config_from_js(config).into_js()?;
    let (device, netns) = (device_ref(device), netns_target(netns));
    Ok(spawn(
        move || WireguardNetlink::open(netns.as_ref())?.set_device(&device, &config),
        |()| (),
        signal,
    ))
}

/// Creates a kernel WireGuard link (`ip link add NAME type wireguard`).
#[napi(ts_return_type = "Promise<void>")]
pub fn kernel_create_link(
    name: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    let netns = netns_target(netns);
    spawn(move || Links::open(netns.as_ref())?.create(&name), |()| (), signal)
}

/// Deletes a kernel WireGuard link (refuses links of another kind).
#[napi(ts_return_type = "Promise<void>")]
pub fn kernel_delete_link(
    name: String,
    netns: Option<Either<String, i32>>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<(), ()>> {
    let netns = netns_target(netns);
    spawn(move || Links::open(netns.as_ref())?.delete(&name), |()| (), signal)
}
