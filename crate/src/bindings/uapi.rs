//! The userspace backend (UAPI client) for the control client in `lib/client/`.

use super::error::IntoJs;
use super::model::{device_config_from_js, device_to_js, JsDevice, JsDeviceConfig};
use super::task::{spawn, Blocking};
use crate::model::Device;
use crate::uapi::UapiClient;
use napi::bindgen_prelude::{AbortSignal, AsyncTask};
use napi_derive::napi;

fn client(socket_dir: Option<String>) -> UapiClient {
    match socket_dir {
        Some(dir) => UapiClient::new().with_socket_dir(dir),
        None => UapiClient::new(),
    }
}

fn identity<T>(value: T) -> T {
    value
}

fn unit(_: ()) {}

/// Names of the live userspace devices (sockets in the UAPI directory).
#[napi(ts_return_type = "Promise<string[]>")]
pub fn uapi_list_devices(
    socket_dir: Option<String>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Vec<String>, Vec<String>>> {
    let client = client(socket_dir);
    spawn(move || client.list_devices(), identity, signal)
}

/// True when `name` has a socket that accepts a connection (the socket wins over a kernel
/// device of the same name, as in wg).
#[napi]
pub fn uapi_has_device(name: String, socket_dir: Option<String>) -> bool {
    client(socket_dir).has_device(&name)
}

#[napi(ts_return_type = "Promise<JsDevice>")]
pub fn uapi_get_device(
    name: String,
    socket_dir: Option<String>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Blocking<Device, JsDevice>> {
    let client = client(socket_dir);
    spawn(move || client.get_device(&name), device_to_js, signal)
}

#[napi(ts_return_type = "Promise<void>")]
pub fn uapi_set_device(
    name: String,
    config: JsDeviceConfig,
    socket_dir: Option<String>,
    signal: Option<AbortSignal>,
) -> napi::Result<AsyncTask<Blocking<(), ()>>, String> {
    let config = device_config_from_js(config).into_js()?;
    let client = client(socket_dir);
    Ok(spawn(move || client.set_device(&name, &config), unit, signal))
}
