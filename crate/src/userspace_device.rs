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
        let device = Arc::new(Device::create(name, options)?);
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
