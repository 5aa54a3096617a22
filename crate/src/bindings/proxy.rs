//! `NativeProxy`: the `wgkit-proxy` relay engine (`crate/src/proxy/`) on a netstack device.

use crate::bindings::device::NativeDevice;
use crate::bindings::error::{to_js, IntoJs};
use crate::bindings::task::{spawn, Blocking};
use crate::error::Error;
use crate::proxy::{Credentials, Proxy, ProxyOptions, Spec};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;
use std::net::IpAddr;
use std::sync::Arc;

#[napi(object)]
pub struct JsProxyOptions {
    /// SOCKS5 clients must log in with these (RFC 1929).
    pub socks5_username: Option<String>,
    pub socks5_password: Option<String>,
    /// Connections open at once, all listeners together (default 1024).
    pub max_connections: Option<u32>,
}

#[napi]
pub struct NativeProxy {
    proxy: Arc<Proxy>,
}

#[napi]
impl NativeProxy {
    /// Binds every listener (`specs`: pairs of flag and value, as on the command line) on the
    /// netstack device `device`; names are resolved through the tunnel with `dnsServers`.
    #[napi(factory, catch_unwind)]
    pub fn start(
        device: &NativeDevice,
        dns_servers: Vec<String>,
        specs: Vec<Vec<String>>,
        options: Option<JsProxyOptions>,
    ) -> napi::Result<NativeProxy, String> {
        let Some((device, net)) = device.netstack_parts() else {
            return Err(to_js(Error::invalid_argument("wgkit-proxy needs a netstack device")));
        };
        let dns = dns_servers
            .iter()
            .map(|d| {
                d.parse::<IpAddr>().map_err(|_| {
                    to_js(Error::invalid_argument(format!(
                        "DNS server `{d}' is not an IP address"
                    )))
                })
            })
            .collect::<napi::Result<Vec<_>, String>>()?;
        let specs = specs
            .iter()
            .map(|pair| match pair.as_slice() {
                [flag, value] => Spec::parse(flag, value).into_js(),
                _ => Err(to_js(Error::invalid_argument("A listener is a flag and its value"))),
            })
            .collect::<napi::Result<Vec<_>, String>>()?;
        let mut o = ProxyOptions::default();
        if let Some(js) = options {
            match (js.socks5_username, js.socks5_password) {
                (Some(username), Some(password)) => o.socks5_auth = Some(Credentials { username, password }),
                (None, None) => {}
                _ => {
                    return Err(to_js(Error::invalid_argument(
                        "SOCKS5 credentials need both a username and a password",
                    )))
                }
            }
            if let Some(n) = js.max_connections {
                o.max_connections = n.max(1) as usize;
            }
        }
        let proxy = Proxy::start_with(device, net, dns, specs, o).into_js()?;
        Ok(NativeProxy { proxy: Arc::new(proxy) })
    }

    /// One line per listener: `socks5 127.0.0.1:1080`, `local-tcp 127.0.0.1:8080 -> 10.0.0.1:80`.
    #[napi(catch_unwind)]
    pub fn ready_lines(&self) -> Vec<String> {
        self.proxy.ready_lines()
    }

    /// Whether a handshake has completed (what `/readyz` answers).
    #[napi(catch_unwind)]
    pub fn ready(&self) -> bool {
        self.proxy.ready()
    }

    /// Resolves with the bytes carried once a `--stdio` session ends.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn wait_stdio(&self) -> AsyncTask<Blocking<u64, f64>> {
        let proxy = self.proxy.clone();
        spawn(move || proxy.wait_stdio(), |n| n as f64, None)
    }

    /// Closes every listener and connection.
    #[napi(catch_unwind)]
    pub fn stop(&self) {
        self.proxy.stop();
    }
}
