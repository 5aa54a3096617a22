//! `NativeNetstack` and its sockets: the TCP/IP stack of a netstack device for `lib/netstack/`.
//!
//! Nothing here blocks the JS thread and no thread is spent per socket: every call reads or
//! writes what it can at once, and a `when*` call registers a one-shot callback that the
//! stack's thread fires (through a thread-safe function) once the socket is ready. Data moves
//! in chunks of up to [`READ_CHUNK`] bytes, so a busy stream costs one N-API call per chunk,
//! not per segment.

use crate::bindings::closable::Closable;
use crate::bindings::error::to_js;
use crate::device::netstack::{
    EchoReply, IcmpSocket, Interest, TcpBuffers, TcpListener, TcpStream, UdpSocket, MAX_ECHO_PAYLOAD,
};
use crate::device::{Netstack, NetstackOptions};
use crate::error::{Error, ErrorCode};
use crate::model::AllowedIp;
use napi::bindgen_prelude::{Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most one `tryRead` returns.
const READ_CHUNK: usize = 1 << 20;

#[napi(object)]
pub struct JsNetstackOptions {
    /// The tunnel's addresses with prefixes (`10.0.0.2/32`, `fd00::2/128`).
    pub addresses: Vec<String>,
    /// Per-connection TCP buffers in bytes (default 4 MiB each way).
    pub tcp_receive_buffer: Option<u32>,
    pub tcp_send_buffer: Option<u32>,
}

pub fn netstack_options_from_js(o: JsNetstackOptions) -> crate::error::Result<NetstackOptions> {
    let mut addresses = Vec::new();
    for a in &o.addresses {
        let cidr = AllowedIp::parse(a)
            .map_err(|_| Error::invalid_argument(format!("Address is not in the correct format: `{a}'")))?;
        addresses.push((cidr.addr, cidr.cidr));
    }
    let mut buffers = TcpBuffers::default();
    let check = |v: u32, what: &str| -> crate::error::Result<usize> {
        if !(4096..=(64 << 20)).contains(&v) {
            return Err(Error::invalid_argument(format!("{what} must be 4 KiB to 64 MiB")));
        }
        Ok(v as usize)
    };
    if let Some(v) = o.tcp_receive_buffer {
        buffers.receive = check(v, "tcpReceiveBuffer")?;
    }
    if let Some(v) = o.tcp_send_buffer {
        buffers.send = check(v, "tcpSendBuffer")?;
    }
    Ok(NetstackOptions {
        addresses,
        tcp_buffers: buffers,
    })
}

/// A socket error for JS: `ERR_WGKIT_SYSTEM:ECONNREFUSED` and the like; a closed tunnel is
/// `ERR_WGKIT_DEVICE_NOT_FOUND`.
fn io_to_js(e: std::io::Error, context: &str) -> napi::Error<String> {
    if e.raw_os_error().is_none() && e.kind() == std::io::ErrorKind::NotConnected {
        return to_js(Error::new(ErrorCode::DeviceNotFound, "The tunnel is closed"));
    }
    if e.raw_os_error().is_none() && e.kind() == std::io::ErrorKind::InvalidInput {
        return to_js(Error::invalid_argument(e.to_string()));
    }
    to_js(Error::from_io(&e, context))
}

fn socket_addr(host: &str, port: u32) -> napi::Result<SocketAddr, String> {
    let ip: IpAddr = host
        .parse()
        .map_err(|_| to_js(Error::invalid_argument(format!("`{host}' is not an IP address"))))?;
    let port =
        u16::try_from(port).map_err(|_| to_js(Error::invalid_argument(format!("Port {port} is out of range"))))?;
    Ok(SocketAddr::new(ip, port))
}

type Wake = ThreadsafeFunction<(), (), (), Status, false, false, 0>;

/// A one-shot callback into JS from the stack's thread. Strong: a socket waiting for data
/// keeps the event loop alive, as a `net.Socket` does.
fn notifier(callback: Function<(), ()>) -> napi::Result<Box<dyn FnOnce() + Send>, String> {
    let tsfn: Wake = callback
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .build()
        .map_err(|e| napi::Error::new(e.status.as_ref().to_string(), e.reason))?;
    Ok(Box::new(move || {
        tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }))
}

#[napi]
pub struct NativeNetstack {
    net: Netstack,
}

impl NativeNetstack {
    pub fn new(net: Netstack) -> NativeNetstack {
        NativeNetstack { net }
    }
}

#[napi]
impl NativeNetstack {
    /// Starts a TCP connection; `whenConnected` tells when it is settled.
    #[napi(catch_unwind)]
    pub fn connect(&self, host: String, port: u32) -> napi::Result<NativeTcpSocket, String> {
        let to = socket_addr(&host, port)?;
        let s = self.net.tcp_connect_start(to).map_err(|e| io_to_js(e, "connect"))?;
        Ok(NativeTcpSocket::new(s))
    }

    #[napi(catch_unwind)]
    pub fn listen(&self, host: String, port: u32, backlog: u32) -> napi::Result<NativeTcpListener, String> {
        let at = socket_addr(&host, port)?;
        let l = self
            .net
            .tcp_listen(at, backlog as usize)
            .map_err(|e| io_to_js(e, "listen"))?;
        Ok(NativeTcpListener {
            listener: Mutex::new(Some(l)),
        })
    }

    #[napi(catch_unwind)]
    pub fn bind_udp(&self, host: String, port: u32) -> napi::Result<NativeUdpSocket, String> {
        let at = socket_addr(&host, port)?;
        let s = self.net.udp_bind(at).map_err(|e| io_to_js(e, "bind"))?;
        Ok(NativeUdpSocket {
            socket: Closable::new(s, "The socket is closed"),
        })
    }
}

#[napi]
pub struct NativeTcpSocket {
    stream: Closable<TcpStream>,
    local: SocketAddr,
    remote: SocketAddr,
}

impl NativeTcpSocket {
    fn new(s: TcpStream) -> NativeTcpSocket {
        NativeTcpSocket {
            local: s.local_addr(),
            remote: s.peer_addr(),
            stream: Closable::new(s, "The socket is destroyed"),
        }
    }

    fn stream(&self) -> napi::Result<Arc<TcpStream>, String> {
        self.stream.get()
    }
}

#[napi]
impl NativeTcpSocket {
    #[napi(getter)]
    pub fn local_address(&self) -> String {
        self.local.ip().to_string()
    }

    #[napi(getter)]
    pub fn local_port(&self) -> u32 {
        self.local.port() as u32
    }

    #[napi(getter)]
    pub fn remote_address(&self) -> String {
        self.remote.ip().to_string()
    }

    #[napi(getter)]
    pub fn remote_port(&self) -> u32 {
        self.remote.port() as u32
    }

    /// `null` while connecting, `true` once connected; throws if refused.
    #[napi(catch_unwind)]
    pub fn connected(&self) -> napi::Result<Option<bool>, String> {
        match self.stream()?.connected() {
            Ok(state) => Ok(state.map(|()| true)),
            Err(e) => Err(io_to_js(e, "connect")),
        }
    }

    /// What has arrived: `null` if nothing yet, an empty Buffer at the end of the stream.
    #[napi(catch_unwind)]
    pub fn try_read(&self) -> napi::Result<Option<Buffer>, String> {
        let s = self.stream()?;
        let want = s.queues().map_err(|e| io_to_js(e, "read"))?.1.clamp(1, READ_CHUNK);
        let mut buf = vec![0u8; want];
        match s.try_read(&mut buf).map_err(|e| io_to_js(e, "read"))? {
            None => Ok(None),
            Some(n) => {
                buf.truncate(n);
                Ok(Some(buf.into()))
            }
        }
    }

    /// Queues what fits of `data` now; returns how many bytes.
    #[napi(catch_unwind)]
    pub fn try_write(&self, data: Buffer) -> napi::Result<u32, String> {
        let n = self.stream()?.try_write(&data).map_err(|e| io_to_js(e, "write"))?;
        Ok(n as u32)
    }

    #[napi(catch_unwind)]
    pub fn when_readable(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        self.when(Interest::Read, callback)
    }

    #[napi(catch_unwind)]
    pub fn when_writable(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        self.when(Interest::Write, callback)
    }

    #[napi(catch_unwind)]
    pub fn when_connected(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        self.when(Interest::Open, callback)
    }

    /// Bytes queued to send and not yet acknowledged.
    #[napi(catch_unwind)]
    pub fn pending_send(&self) -> napi::Result<u32, String> {
        Ok(self.stream()?.queues().map_err(|e| io_to_js(e, "send"))?.0 as u32)
    }

    /// Half-close: FIN after what is queued.
    #[napi(catch_unwind)]
    pub fn end(&self) -> napi::Result<(), String> {
        self.stream()?.shutdown_write().map_err(|e| io_to_js(e, "shutdown"))
    }

    #[napi(catch_unwind)]
    pub fn set_no_delay(&self, on: bool) -> napi::Result<(), String> {
        self.stream()?.set_nodelay(on).map_err(|e| io_to_js(e, "setNoDelay"))
    }

    #[napi(catch_unwind)]
    pub fn set_keep_alive(&self, on: bool, initial_delay_ms: u32) -> napi::Result<(), String> {
        let interval = on.then(|| Duration::from_millis(initial_delay_ms.max(1000) as u64));
        self.stream()?
            .set_keepalive(interval)
            .map_err(|e| io_to_js(e, "setKeepAlive"))
    }

    /// Lets go of the socket: a graceful close if everything was read, else a reset (`abort`
    /// forces the reset).
    #[napi(catch_unwind)]
    pub fn destroy(&self, abort: bool) {
        let s = self.stream.take();
        if let (Some(s), true) = (&s, abort) {
            let _ = s.abort();
        }
    }
}

impl NativeTcpSocket {
    fn when(&self, interest: Interest, callback: Function<(), ()>) -> napi::Result<(), String> {
        let notify = notifier(callback)?;
        self.stream()?
            .when_ready(interest, notify)
            .map_err(|e| io_to_js(e, "poll"))
    }
}

#[napi]
pub struct NativeTcpListener {
    listener: Mutex<Option<TcpListener>>,
}

#[napi]
impl NativeTcpListener {
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|l| l.local_addr().port() as u32)
            .unwrap_or(0)
    }

    /// The next connection if one is waiting.
    #[napi(catch_unwind)]
    pub fn try_accept(&self) -> napi::Result<Option<NativeTcpSocket>, String> {
        let mut l = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        let Some(l) = l.as_mut() else {
            return Err(to_js(Error::invalid_argument("The server is closed")));
        };
        Ok(l.try_accept()
            .map_err(|e| io_to_js(e, "accept"))?
            .map(NativeTcpSocket::new))
    }

    #[napi(catch_unwind)]
    pub fn when_acceptable(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        let notify = notifier(callback)?;
        let l = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        let Some(l) = l.as_ref() else {
            return Err(to_js(Error::invalid_argument("The server is closed")));
        };
        l.when_acceptable(notify).map_err(|e| io_to_js(e, "accept"))
    }

    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.listener.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[napi(object)]
pub struct JsDatagram {
    pub data: Buffer,
    pub address: String,
    pub port: u32,
}

#[napi]
pub struct NativeUdpSocket {
    socket: Closable<UdpSocket>,
}

impl NativeUdpSocket {
    fn socket(&self) -> napi::Result<Arc<UdpSocket>, String> {
        self.socket.get()
    }
}

#[napi]
impl NativeUdpSocket {
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.socket().map(|s| s.local_addr().port() as u32).unwrap_or(0)
    }

    /// Queues one datagram (dropped, as UDP allows, when the queue is full: `ENOBUFS`).
    #[napi(catch_unwind)]
    pub fn send(&self, data: Buffer, host: String, port: u32) -> napi::Result<u32, String> {
        let to = socket_addr(&host, port)?;
        let s = self.socket()?;
        match s.send_to_until(&data, to, Some(std::time::Instant::now())) {
            Ok(n) => Ok(n as u32),
            Err(e) if crate::os_error::errno_of(&e) == Some(libc::ETIMEDOUT) => {
                Err(io_to_js(crate::os_error::io_error(libc::ENOBUFS), "send"))
            }
            Err(e) => Err(io_to_js(e, "send")),
        }
    }

    /// The next queued datagram, or `null`.
    #[napi(catch_unwind)]
    pub fn try_receive(&self) -> napi::Result<Option<JsDatagram>, String> {
        let mut buf = vec![0u8; 65536];
        let r = self
            .socket()?
            .try_recv_from(&mut buf)
            .map_err(|e| io_to_js(e, "recv"))?;
        Ok(r.map(|(n, from)| {
            buf.truncate(n);
            JsDatagram {
                data: buf.into(),
                address: from.ip().to_string(),
                port: from.port() as u32,
            }
        }))
    }

    #[napi(catch_unwind)]
    pub fn when_readable(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        let notify = notifier(callback)?;
        self.socket()?.when_readable(notify).map_err(|e| io_to_js(e, "recv"))
    }

    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.socket.take();
    }
}

// ---- ICMP echo (`tunnel.ping`, lib/netstack/ping.ts) ----------------------------------------

#[napi(object)]
pub struct JsEchoReply {
    pub address: String,
    pub seq: u32,
    pub data: Buffer,
}

#[napi]
impl NativeNetstack {
    /// An ICMP echo socket with identifier `ident` (0 to 65535).
    #[napi(catch_unwind)]
    pub fn open_ping(&self, ident: u32) -> napi::Result<NativeIcmpSocket, String> {
        let ident = u16::try_from(ident).map_err(|_| {
            to_js(Error::invalid_argument(format!(
                "ICMP identifier {ident} is out of range"
            )))
        })?;
        let s = self.net.icmp_bind(ident).map_err(|e| io_to_js(e, "socket"))?;
        Ok(NativeIcmpSocket {
            socket: Closable::new(s, "The socket is closed"),
        })
    }
}

#[napi]
pub struct NativeIcmpSocket {
    socket: Closable<IcmpSocket>,
}

impl NativeIcmpSocket {
    fn socket(&self) -> napi::Result<Arc<IcmpSocket>, String> {
        self.socket.get()
    }
}

#[napi]
impl NativeIcmpSocket {
    /// Queues an echo request (ICMP for IPv4 `host`, ICMPv6 for IPv6).
    #[napi(catch_unwind)]
    pub fn send(&self, host: String, seq: u32, data: Buffer) -> napi::Result<(), String> {
        let to: IpAddr = host
            .parse()
            .map_err(|_| to_js(Error::invalid_argument(format!("`{host}' is not an IP address"))))?;
        let seq = u16::try_from(seq)
            .map_err(|_| to_js(Error::invalid_argument(format!("Sequence {seq} is out of range"))))?;
        if data.len() > MAX_ECHO_PAYLOAD {
            return Err(to_js(Error::invalid_argument(format!(
                "An echo payload is at most {MAX_ECHO_PAYLOAD} bytes"
            ))));
        }
        self.socket()?
            .send_echo(to, seq, &data)
            .map_err(|e| io_to_js(e, "sendto"))
    }

    /// The next echo reply with this socket's identifier, or `null`.
    #[napi(catch_unwind)]
    pub fn try_receive(&self) -> napi::Result<Option<JsEchoReply>, String> {
        let r = self.socket()?.try_recv().map_err(|e| io_to_js(e, "recvmsg"))?;
        Ok(r.map(|r: EchoReply| JsEchoReply {
            address: r.from.to_string(),
            seq: r.seq as u32,
            data: r.data.into(),
        }))
    }

    #[napi(catch_unwind)]
    pub fn when_readable(&self, callback: Function<(), ()>) -> napi::Result<(), String> {
        let notify = notifier(callback)?;
        self.socket()?.when_readable(notify).map_err(|e| io_to_js(e, "recvmsg"))
    }

    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.socket.take();
    }
}
