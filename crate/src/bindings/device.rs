//! `NativeDevice`: the embedded userspace device for `lib/device/`.
//!
//! Events leave the device through its bounded queue; one forwarder thread per device batches
//! them and hands them to JS through a weak thread-safe function, which never keeps the process
//! alive and never blocks (a full JS queue drops the batch and counts it).

use crate::bindings::error::IntoJs;
use crate::bindings::model::{device_config_from_js, device_to_js, JsDevice, JsDeviceConfig};
use crate::bindings::netstack::{netstack_options_from_js, JsNetstackOptions, NativeNetstack};
use crate::bindings::task::{spawn, Blocking};
use crate::device::{event_channel, Device, DeviceEvent, DeviceOptions, Netns, Netstack};
use crate::error::Error;
use crate::thread_guard::spawn_guarded;
use crate::uapi::value::format_endpoint;
use crate::userspace_device::{UapiOptions, UserspaceDevice};
use napi::bindgen_prelude::{AbortSignal, AsyncTask, BigInt, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Events queued inside the device before the forwarder takes them.
const EVENT_QUEUE: usize = 4096;
/// Most events in one JS call.
const EVENT_BATCH: usize = 256;

#[napi(object)]
pub struct JsDeviceOptions {
    /// A network namespace file (`/var/run/netns/NAME`, `/proc/PID/ns/net`).
    pub netns_path: Option<String>,
    /// An open network namespace file descriptor.
    pub netns_fd: Option<i32>,
    pub mtu: Option<u32>,
    /// Worker threads; 0 = one per CPU (at most 4).
    pub threads: Option<u32>,
    /// Low-latency mode: while packets flow, keep every CPU able to wake within this many
    /// microseconds (0 = idle CPUs poll). Default: `WGKIT_CPU_LATENCY_US`, else off.
    pub cpu_latency_us: Option<u32>,
    /// Serve the UAPI socket `NAME.sock` (default true).
    pub uapi: Option<bool>,
    pub socket_dir: Option<String>,
}

/// One device event. `kind` is `handshake`, `handshakeFailed`, `endpointChanged`, `peerStale`,
/// `peerActive` or `error`; the other fields are set as the kind needs them.
#[napi(object)]
pub struct JsDeviceEvent {
    pub kind: String,
    pub public_key: Option<String>,
    pub at_sec: Option<i64>,
    pub at_nsec: Option<i64>,
    pub initiator: Option<bool>,
    pub attempts: Option<u32>,
    pub old_endpoint: Option<String>,
    pub new_endpoint: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub errno: Option<String>,
}

#[napi(object)]
pub struct JsDeviceStats {
    pub rx_datagrams: BigInt,
    pub tx_datagrams: BigInt,
    pub tun_rx_packets: BigInt,
    pub tun_tx_packets: BigInt,
    pub dropped_no_route: BigInt,
    pub dropped_source_filter: BigInt,
    pub dropped_invalid: BigInt,
    pub dropped_io: BigInt,
    pub cookie_replies_sent: BigInt,
    pub events_dropped: BigInt,
}

type EventsFn = ThreadsafeFunction<Vec<JsDeviceEvent>, (), Vec<JsDeviceEvent>, Status, false, true, 64>;

#[napi]
pub struct NativeDevice {
    inner: Arc<UserspaceDevice>,
    netstack: Option<Netstack>,
    stop: Arc<AtomicBool>,
    forwarder: Mutex<Option<JoinHandle<()>>>,
    js_dropped: Arc<AtomicU64>,
}

#[napi]
impl NativeDevice {
    /// Creates the TUN interface `name` (empty: the kernel picks) and, unless `uapi` is false,
    /// the UAPI socket. `onEvents` receives batches of events.
    #[napi(
        catch_unwind,
        factory,
        ts_args_type = "name: string, options: JsDeviceOptions, onEvents?: (events: JsDeviceEvent[]) => void"
    )]
    pub fn create(
        name: String,
        options: JsDeviceOptions,
        on_events: Option<Function<Vec<JsDeviceEvent>, ()>>,
    ) -> napi::Result<NativeDevice, String> {
        NativeDevice::start(options, on_events, |device_options, uapi| {
            Ok((UserspaceDevice::create(&name, device_options, uapi)?, None))
        })
    }

    /// Creates a device whose inside is a TCP/IP stack in this process (no interface, no
    /// privilege) with the given addresses; `netstack()` opens sockets on it.
    #[napi(
        catch_unwind,
        factory,
        ts_args_type = "name: string, options: JsDeviceOptions, stack: JsNetstackOptions, onEvents?: (events: JsDeviceEvent[]) => void"
    )]
    pub fn create_netstack(
        name: String,
        options: JsDeviceOptions,
        stack: JsNetstackOptions,
        on_events: Option<Function<Vec<JsDeviceEvent>, ()>>,
    ) -> napi::Result<NativeDevice, String> {
        let stack = netstack_options_from_js(stack).into_js()?;
        NativeDevice::start(options, on_events, |device_options, uapi| {
            let (device, net) = Device::create_netstack(&name, device_options, stack)?;
            Ok((UserspaceDevice::serve(device, uapi)?, Some(net)))
        })
    }

    /// The device's TCP/IP stack (netstack devices only).
    #[napi(catch_unwind)]
    pub fn netstack(&self) -> napi::Result<NativeNetstack, String> {
        match &self.netstack {
            Some(n) => Ok(NativeNetstack::new(n.clone())),
            None => Err(crate::bindings::error::to_js(Error::invalid_argument(
                "This device has a TUN interface, not a netstack",
            ))),
        }
    }

    #[napi(getter, catch_unwind)]
    pub fn name(&self) -> String {
        self.inner.device().name().to_string()
    }

    #[napi(getter, catch_unwind)]
    pub fn mtu(&self) -> u32 {
        self.inner.device().mtu()
    }

    #[napi(catch_unwind)]
    pub fn set_mtu(&self, mtu: u32) -> napi::Result<(), String> {
        self.inner.device().set_mtu(mtu).into_js()
    }

    /// Applies a change atomically (validated as a whole first) on the libuv pool.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn apply(
        &self,
        config: JsDeviceConfig,
        signal: Option<AbortSignal>,
    ) -> napi::Result<AsyncTask<Blocking<(), ()>>, String> {
        let config = device_config_from_js(config).into_js()?;
        let inner = self.inner.clone();
        Ok(spawn(move || inner.device().apply(config), |()| (), signal))
    }

    #[napi(catch_unwind)]
    pub fn snapshot(&self) -> JsDevice {
        device_to_js(self.inner.device().snapshot())
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> JsDeviceStats {
        let s = self.inner.device().stats();
        JsDeviceStats {
            rx_datagrams: s.rx_datagrams.into(),
            tx_datagrams: s.tx_datagrams.into(),
            tun_rx_packets: s.tun_rx_packets.into(),
            tun_tx_packets: s.tun_tx_packets.into(),
            dropped_no_route: s.dropped_no_route.into(),
            dropped_source_filter: s.dropped_source_filter.into(),
            dropped_invalid: s.dropped_invalid.into(),
            dropped_io: s.dropped_io.into(),
            cookie_replies_sent: s.cookie_replies_sent.into(),
            events_dropped: (s.events_dropped + self.js_dropped.load(Ordering::Relaxed)).into(),
        }
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.inner.device().is_closed()
    }

    /// Removes the UAPI socket, stops the device's threads and removes its interface.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.inner.close();
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.forwarder.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl NativeDevice {
    /// The device and its stack, for a proxy (netstack devices only).
    pub(crate) fn netstack_parts(&self) -> Option<(Arc<Device>, Netstack)> {
        self.netstack.clone().map(|n| (self.inner.device().clone(), n))
    }

    /// Converts the options, sets up the event forwarder and makes the device with `make`.
    fn start(
        options: JsDeviceOptions,
        on_events: Option<Function<Vec<JsDeviceEvent>, ()>>,
        make: impl FnOnce(DeviceOptions, Option<UapiOptions>) -> crate::error::Result<(UserspaceDevice, Option<Netstack>)>,
    ) -> napi::Result<NativeDevice, String> {
        let netns = match (options.netns_path, options.netns_fd) {
            (Some(_), Some(_)) => {
                return Err(crate::bindings::error::to_js(Error::invalid_argument(
                    "netns: give a path or a descriptor, not both",
                )))
            }
            (Some(path), None) => Some(Netns::Path(PathBuf::from(path))),
            (None, Some(fd)) => Some(Netns::Fd(fd)),
            (None, None) => None,
        };
        let tsfn: Option<EventsFn> = match on_events {
            Some(f) => Some(
                f.build_threadsafe_function::<Vec<JsDeviceEvent>>()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .max_queue_size::<64>()
                    .build()
                    .map_err(|e| napi::Error::new(e.status.as_ref().to_string(), e.reason))?,
            ),
            None => None,
        };
        let (sink, receiver) = match tsfn {
            Some(_) => {
                let (sink, rx) = event_channel(EVENT_QUEUE);
                (Some(sink), Some(rx))
            }
            None => (None, None),
        };
        let mut device_options = DeviceOptions {
            netns,
            events: sink,
            ..DeviceOptions::default()
        };
        if let Some(mtu) = options.mtu {
            device_options.mtu = mtu;
        }
        if let Some(threads) = options.threads {
            device_options.threads = threads as usize;
        }
        device_options.cpu_latency_us = options.cpu_latency_us;
        let uapi = if options.uapi.unwrap_or(true) {
            Some(UapiOptions {
                socket_dir: options.socket_dir.map(PathBuf::from),
            })
        } else {
            None
        };
        let (inner, netstack) = make(device_options, uapi).into_js()?;
        let inner = Arc::new(inner);
        let stop = Arc::new(AtomicBool::new(false));
        let js_dropped = Arc::new(AtomicU64::new(0));
        let forwarder = match (tsfn, receiver) {
            (Some(tsfn), Some(rx)) => {
                let (stop, dropped) = (stop.clone(), js_dropped.clone());
                let device = inner.device().clone();
                Some(
                    spawn_guarded(
                        format!("wgkit-events-{}", inner.device().name()),
                        move |thread, message| device.stop_after_panic(thread, message),
                        move || forward_events(rx, tsfn, &stop, &dropped),
                    )
                    .map_err(|e| crate::bindings::error::to_js(Error::from_io(&e, "spawning the event thread")))?,
                )
            }
            _ => None,
        };
        Ok(NativeDevice {
            inner,
            netstack,
            stop,
            forwarder: Mutex::new(forwarder),
            js_dropped,
        })
    }
}

impl Drop for NativeDevice {
    fn drop(&mut self) {
        self.close();
    }
}

fn forward_events(rx: Receiver<DeviceEvent>, tsfn: EventsFn, stop: &AtomicBool, dropped: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![event_to_js(first)];
        while batch.len() < EVENT_BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event_to_js(event)),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        if tsfn.call(batch, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
            dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

fn event_to_js(event: DeviceEvent) -> JsDeviceEvent {
    let mut js = JsDeviceEvent {
        kind: String::new(),
        public_key: None,
        at_sec: None,
        at_nsec: None,
        initiator: None,
        attempts: None,
        old_endpoint: None,
        new_endpoint: None,
        code: None,
        message: None,
        errno: None,
    };
    match event {
        DeviceEvent::HandshakeCompleted {
            public_key,
            at,
            initiator,
        } => {
            js.kind = "handshake".into();
            js.public_key = Some(public_key.to_base64());
            js.at_sec = Some(at.sec);
            js.at_nsec = Some(at.nsec);
            js.initiator = Some(initiator);
        }
        DeviceEvent::HandshakeFailed { public_key, attempts } => {
            js.kind = "handshakeFailed".into();
            js.public_key = Some(public_key.to_base64());
            js.attempts = Some(attempts);
        }
        DeviceEvent::EndpointChanged { public_key, old, new } => {
            js.kind = "endpointChanged".into();
            js.public_key = Some(public_key.to_base64());
            js.old_endpoint = old.as_ref().map(format_endpoint);
            js.new_endpoint = Some(format_endpoint(&new));
        }
        DeviceEvent::PeerStale {
            public_key,
            last_handshake,
        } => {
            js.kind = "peerStale".into();
            js.public_key = Some(public_key.to_base64());
            js.at_sec = Some(last_handshake.sec);
            js.at_nsec = Some(last_handshake.nsec);
        }
        DeviceEvent::PeerActive { public_key } => {
            js.kind = "peerActive".into();
            js.public_key = Some(public_key.to_base64());
        }
        DeviceEvent::Error(error) => {
            js.kind = "error".into();
            js.code = Some(error.code.as_str().to_string());
            js.errno = error.errno_name().map(str::to_string);
            js.message = Some(error.message);
        }
    }
    js
}
