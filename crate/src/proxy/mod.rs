//! The relay engine of `wgkit-proxy`: listeners on the host whose connections leave through a
//! netstack device's tunnel (SOCKS5, an HTTP proxy, `-L`/`-U` port forwards, a stdio stream),
//! a listener on the tunnel whose connections reach the host's network (`-R`), and a health
//! endpoint. Every byte is relayed here, in Rust threads; nothing goes through JavaScript.
//!
//! # Use
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use wgkit::device::{Device, DeviceOptions, NetstackOptions};
//! # use wgkit::proxy::{Proxy, Spec};
//! # fn main() -> wgkit::error::Result<()> {
//! let (device, net) = Device::create_netstack("wg0", DeviceOptions::default(), NetstackOptions {
//!     addresses: vec![("10.0.0.2".parse().unwrap(), 24)],
//!     ..Default::default()
//! })?;
//! // device.apply(config)? — the key and peers, as for any device.
//! let specs = vec![Spec::parse("--socks5", "1080")?, Spec::parse("-L", "8080:10.0.0.1:80")?];
//! let proxy = Proxy::start(Arc::new(device), net, vec!["10.0.0.1".parse().unwrap()], specs)?;
//! for line in proxy.ready_lines() {
//!     println!("{line}"); // "socks5 127.0.0.1:1080", "local-tcp 127.0.0.1:8080 -> 10.0.0.1:80"
//! }
//! proxy.stop();
//! # Ok(()) }
//! ```
//!
//! * [`Spec::parse`] takes one CLI flag and its value (`spec.rs` lists the forms and errors).
//! * [`Proxy::start`] / [`Proxy::start_with`] bind every listener first: if one cannot be
//!   bound, none is left bound and the error says which (`ERR_WGKIT_SYSTEM`, or
//!   `ERR_WGKIT_PERMISSION_DENIED`, `ERR_WGKIT_INVALID_ARGUMENT` for a second `--stdio`).
//!   Then [`Proxy::listeners`] / [`Proxy::ready_lines`] tell the bound addresses (port 0
//!   becomes the port the system chose).
//! * [`Proxy::stop`] closes the listeners, shuts down every open connection and waits for the
//!   proxy's threads (a connection still connecting to its target is waited for, up to
//!   `connect_timeout`); [`Proxy::wait_stdio`] waits for a `--stdio` session to end.
//! * [`Proxy::ready`] and [`Proxy::metrics`] give what `/readyz` and `/metrics` answer.
//! * Threads: one per listener; a fixed set of relay threads (one per core, at most 4) that
//!   move the bytes of every established TCP connection, each waiting in a poller for all of
//!   its connections (`relay.rs`); a short-lived thread per SOCKS5 or HTTP handshake (and per
//!   `-L` connection to a target given by name, to resolve it; per `-R` connection, to connect
//!   to the host's target); three per UDP ASSOCIATE, one per `-U` session, two for `--stdio`.
//!   A relayed connection holds no buffer of its own: bytes go from one socket's buffer to the
//!   other's, so an idle connection costs its two sockets (the tunnel side's buffers are
//!   resident only while they hold data).
//! * [`ProxyOptions`]: the connection limit (a connection past it is refused: SOCKS5 and `-L`
//!   close it, HTTP answers 503, and the log says `Connection limit reached: N connections are
//!   open`), timeouts, SOCKS5 credentials, the log sink, stdio streams.
//!
//! Files: `spec.rs` (arguments), `socks5.rs`, `http.rs`, `forward.rs` (-L, -U, -R),
//! `stdio.rs`, `health.rs` (/readyz, /metrics), `relay.rs` (the relay threads),
//! `relay_pair.rs` (one connection relayed both ways), `stream_copy.rs` (blocking copies for
//! `--stdio`), `dns.rs` (names resolved through the tunnel), `connections.rs` (the limit and
//! `stop()`), `counters.rs`, `host_listener.rs` (accept loops that `stop()` can end).

mod connections;
mod counters;
mod dns;
mod forward;
mod health;
mod host_listener;
mod http;
mod relay;
mod relay_pair;
mod socks5;
pub mod spec;
pub mod stdio;
mod stream_copy;

pub use spec::{Host, Spec, Target};
pub use stdio::{StdioReader, StdioWriter};

use crate::device::{Device, Netstack, TcpStream as TunnelStream};
use crate::error::{Error, Result};
use connections::Connections;
use counters::{Counters, Listener};
use dns::Resolver;
use parking_lot::Mutex;
use relay::Relays;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked loops look at the stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(200);

/// SOCKS5 username/password (RFC 1929).
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Where log lines go (one line each, no newline).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Tunables of a proxy.
pub struct ProxyOptions {
    /// Connections (and UDP sessions) open at once, all listeners together.
    pub max_connections: usize,
    /// Connecting to a target (each address of a name in turn).
    pub connect_timeout: Duration,
    /// A SOCKS5 or HTTP client must send its request within this.
    pub handshake_timeout: Duration,
    /// A `-U` session ends after this long without a datagram either way.
    pub udp_idle: Duration,
    /// If set, SOCKS5 clients must authenticate with these.
    pub socks5_auth: Option<Credentials>,
    /// Log lines (refused and failed connections); stderr if unset.
    pub log: Option<LogSink>,
    /// The `--stdio` streams; the process's stdin and stdout if unset.
    pub stdio: Option<(StdioReader, StdioWriter)>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            max_connections: 1024,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(30),
            udp_idle: Duration::from_secs(60),
            socks5_auth: None,
            log: None,
            stdio: None,
        }
    }
}

/// A bound listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    pub spec: Spec,
    /// The address it listens on (host side; tunnel side for `-R`); `None` for `--stdio`.
    pub addr: Option<SocketAddr>,
}

impl std::fmt::Display for BoundListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.spec.kind())?;
        if let Some(a) = self.addr {
            write!(f, " {a}")?;
        }
        match &self.spec {
            Spec::LocalTcp { target, .. }
            | Spec::LocalUdp { target, .. }
            | Spec::RemoteTcp { target, .. }
            | Spec::Stdio { target } => write!(f, " -> {target}"),
            _ => Ok(()),
        }
    }
}

/// What the proxy's threads share.
pub(crate) struct Context {
    pub(crate) device: Arc<Device>,
    pub(crate) net: Netstack,
    pub(crate) resolver: Resolver,
    pub(crate) options: ProxyOptions,
    pub(crate) conns: Arc<Connections>,
    pub(crate) counters: Arc<Counters>,
    /// Started with the proxy if it has TCP listeners.
    relays: OnceLock<Relays>,
    stopping: AtomicBool,
}

/// A thread's handle whose `join` gives its result, `None` if it panicked.
pub(crate) struct Joiner<T> {
    handle: JoinHandle<()>,
    result: Arc<Mutex<Option<T>>>,
}

impl<T> Joiner<T> {
    pub(crate) fn join(self) -> Option<T> {
        let _ = self.handle.join();
        self.result.lock().take()
    }
}

impl Context {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// The relay threads, which every relayed TCP connection is handed to.
    pub(crate) fn relays(&self) -> io::Result<&Relays> {
        self.relays
            .get()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "The proxy has no relay threads"))
    }

    pub(crate) fn log(&self, line: &str) {
        match &self.options.log {
            Some(l) => l(line),
            None => eprintln!("wgkit-proxy: {line}"),
        }
    }

    /// Starts a guarded thread: a panic is logged and ends only that thread.
    pub(crate) fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        body: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<Joiner<T>> {
        let result = Arc::new(Mutex::new(None));
        let r = result.clone();
        let ctx = self.clone();
        let handle = crate::thread_guard::spawn_guarded(
            format!("wgpx-{name}"),
            move |thread, message| ctx.log(&format!("thread {thread} panicked: {message}")),
            move || {
                let v = body();
                *r.lock() = Some(v);
            },
        )?;
        Ok(Joiner { handle, result })
    }

    /// Connects through the tunnel to the first address of `addrs` that answers.
    pub(crate) fn connect_tunnel_addrs(&self, addrs: &[IpAddr], port: u16) -> io::Result<TunnelStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "No address to connect to");
        for &ip in addrs {
            match self
                .net
                .tcp_connect(SocketAddr::new(ip, port), Some(self.options.connect_timeout))
            {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Resolves `name` through the tunnel's DNS (an address stays as it is) and connects.
    pub(crate) fn connect_tunnel_name(&self, name: &str, port: u16) -> io::Result<TunnelStream> {
        let addrs = self.resolver.resolve(name)?;
        self.connect_tunnel_addrs(&addrs, port)
    }

    pub(crate) fn connect_tunnel(&self, t: &Target) -> io::Result<TunnelStream> {
        match &t.host {
            Host::Ip(ip) => self.connect_tunnel_addrs(&[*ip], t.port),
            Host::Name(n) => self.connect_tunnel_name(n, t.port),
        }
    }

    /// The first address of a target inside the tunnel.
    pub(crate) fn resolve_target(&self, t: &Target) -> io::Result<SocketAddr> {
        let ip = match &t.host {
            Host::Ip(ip) => *ip,
            Host::Name(n) => self
                .resolver
                .resolve(n)?
                .first()
                .copied()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("`{n}' has no address")))?,
        };
        Ok(SocketAddr::new(ip, t.port))
    }
}

/// A running proxy.
pub struct Proxy {
    ctx: Arc<Context>,
    listeners: Vec<BoundListener>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stdio: Mutex<Option<Joiner<io::Result<u64>>>>,
}

/// A listener bound and not yet served.
enum Bound {
    Host(std::net::TcpListener, Spec),
    Udp(std::net::UdpSocket, Target),
    Tunnel(crate::device::TcpListener, Target),
    Stdio(Target),
}

fn bind_error(spec: &Spec, addr: Option<SocketAddr>, e: &io::Error) -> Error {
    let what = match addr {
        Some(a) => format!("Unable to listen on {a} for {}", spec.kind()),
        None => format!("Unable to start {}", spec.kind()),
    };
    Error::from_io(e, what)
}

impl Proxy {
    /// Starts a proxy with the default options.
    pub fn start(device: Arc<Device>, net: Netstack, dns_servers: Vec<IpAddr>, specs: Vec<Spec>) -> Result<Proxy> {
        Proxy::start_with(device, net, dns_servers, specs, ProxyOptions::default())
    }

    /// Binds every listener of `specs` (all or none), then serves them.
    pub fn start_with(
        device: Arc<Device>,
        net: Netstack,
        dns_servers: Vec<IpAddr>,
        specs: Vec<Spec>,
        mut options: ProxyOptions,
    ) -> Result<Proxy> {
        if specs.iter().filter(|s| matches!(s, Spec::Stdio { .. })).count() > 1 {
            return Err(Error::invalid_argument("Only one --stdio stream is possible"));
        }
        if options.max_connections == 0 {
            return Err(Error::invalid_argument("max_connections must be at least 1"));
        }
        let mut bound = Vec::new();
        let mut listeners = Vec::new();
        for spec in specs {
            let (b, addr) = match &spec {
                Spec::Socks5 { bind } | Spec::Http { bind } | Spec::LocalTcp { bind, .. } | Spec::Health { bind } => {
                    let l = host_listener::bind(*bind).map_err(|e| bind_error(&spec, Some(*bind), &e))?;
                    let a = l.local_addr().map_err(|e| bind_error(&spec, Some(*bind), &e))?;
                    (Bound::Host(l, spec.clone()), Some(a))
                }
                Spec::LocalUdp { bind, target } => {
                    let s = std::net::UdpSocket::bind(bind)
                        .and_then(|s| s.set_read_timeout(Some(POLL)).map(|()| s))
                        .map_err(|e| bind_error(&spec, Some(*bind), &e))?;
                    let a = s.local_addr().map_err(|e| bind_error(&spec, Some(*bind), &e))?;
                    (Bound::Udp(s, target.clone()), Some(a))
                }
                Spec::RemoteTcp { listen, target } => {
                    let l = net
                        .tcp_listen(*listen, 64)
                        .map_err(|e| bind_error(&spec, Some(*listen), &e))?;
                    (Bound::Tunnel(l, target.clone()), Some(SocketAddr::new(listen.ip(), 0)))
                }
                Spec::Stdio { target } => (Bound::Stdio(target.clone()), None),
            };
            let addr = match &b {
                Bound::Tunnel(l, _) => Some(l.local_addr()),
                _ => addr,
            };
            bound.push(b);
            listeners.push(BoundListener { spec, addr });
        }
        let stdio_streams = options.stdio.take();
        let counters = Arc::new(Counters::default());
        let ctx = Arc::new(Context {
            device,
            resolver: Resolver::new(net.clone(), dns_servers),
            net,
            conns: Connections::new(options.max_connections, counters.clone()),
            counters,
            options,
            relays: OnceLock::new(),
            stopping: AtomicBool::new(false),
        });
        let proxy = Proxy {
            ctx: ctx.clone(),
            listeners,
            threads: Mutex::new(Vec::new()),
            stdio: Mutex::new(None),
        };
        if bound.iter().any(|b| matches!(b, Bound::Host(..) | Bound::Tunnel(..))) {
            match Relays::start(&ctx) {
                Ok(r) => {
                    let _ = ctx.relays.set(r);
                }
                Err(e) => {
                    proxy.stop();
                    return Err(Error::from_io(&e, "Unable to start the relay threads"));
                }
            }
        }
        let mut stdio_streams = stdio_streams;
        for b in bound {
            let started = match b {
                Bound::Host(l, spec) => {
                    let c = ctx.clone();
                    ctx.spawn(spec.kind(), move || host_listener::serve(c, l, spec))
                        .map(|j| proxy.threads.lock().push(j.handle))
                }
                Bound::Udp(s, t) => {
                    let c = ctx.clone();
                    ctx.spawn("local-udp", move || forward::run_local_udp(c, s, t))
                        .map(|j| proxy.threads.lock().push(j.handle))
                }
                Bound::Tunnel(l, t) => {
                    let c = ctx.clone();
                    ctx.spawn("remote-tcp", move || forward::run_remote_tcp(c, l, t))
                        .map(|j| proxy.threads.lock().push(j.handle))
                }
                Bound::Stdio(t) => {
                    let (reader, writer) = stdio_streams.take().unwrap_or_else(|| {
                        (
                            Box::new(io::stdin()) as StdioReader,
                            Box::new(io::stdout()) as StdioWriter,
                        )
                    });
                    let c = ctx.clone();
                    ctx.spawn("stdio", move || {
                        let slot = c.conns.acquire(Listener::Stdio)?;
                        let r = stdio::run(&c, slot, &t, reader, writer);
                        if let Err(e) = &r {
                            c.log(&format!("stdio -> {t}: {e}"));
                        }
                        r
                    })
                    .map(|j| *proxy.stdio.lock() = Some(j))
                }
            };
            if let Err(e) = started {
                proxy.stop();
                return Err(Error::from_io(&e, "Unable to start a proxy thread"));
            }
        }
        Ok(proxy)
    }

    /// The listeners, in the order of the specs, with the addresses they are bound to.
    pub fn listeners(&self) -> &[BoundListener] {
        &self.listeners
    }

    /// One line per listener: `KIND ADDRESS [-> TARGET]` (`socks5 127.0.0.1:1080`,
    /// `local-tcp 127.0.0.1:8080 -> 10.0.0.1:80`, `stdio -> host:22`).
    pub fn ready_lines(&self) -> Vec<String> {
        self.listeners.iter().map(|l| l.to_string()).collect()
    }

    /// Connections (and UDP sessions) open now.
    pub fn active_connections(&self) -> usize {
        self.ctx.conns.active()
    }

    /// True once a peer has completed a handshake (what `/readyz` answers).
    pub fn ready(&self) -> bool {
        health::ready(&self.ctx)
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        health::metrics(&self.ctx)
    }

    /// Waits for the `--stdio` session to end; the bytes written out, or why it failed.
    /// Fails with `ERR_WGKIT_INVALID_ARGUMENT` if there is no such session (or it was waited for).
    pub fn wait_stdio(&self) -> Result<u64> {
        let Some(j) = self.stdio.lock().take() else {
            return Err(Error::invalid_argument("The proxy has no --stdio session to wait for"));
        };
        match j.join() {
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => Err(Error::from_io(&e, "The stdio stream failed")),
            None => Err(Error::new(crate::error::ErrorCode::System, "The stdio thread panicked")),
        }
    }

    /// Closes every listener and connection and waits for the proxy's threads (the listeners
    /// are closed when this returns). Idempotent.
    pub fn stop(&self) {
        self.ctx.stopping.store(true, Ordering::Relaxed);
        self.ctx.conns.close_all();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        if let Some(r) = self.ctx.relays.get() {
            r.stop();
        }
        if !self.ctx.conns.wait_empty(Duration::from_secs(10)) {
            self.ctx.log(&format!(
                "{} connections did not end within 10 s of stop",
                self.ctx.conns.active()
            ));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
