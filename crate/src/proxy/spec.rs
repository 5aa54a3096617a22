//! The proxy's listener arguments as the CLI takes them: `--socks5 [HOST:]PORT`,
//! `--http [HOST:]PORT`, `-L [BIND:]PORT:HOST:HOSTPORT`, `-U [BIND:]PORT:HOST:HOSTPORT`,
//! `-R [TUNADDR:]PORT:HOST:HOSTPORT`, `--stdio HOST:PORT`, `--health [HOST:]PORT`.
//!
//! Host-side listeners default to 127.0.0.1; `-R` defaults to every tunnel address. IPv6
//! addresses go in brackets (`[::1]:1080`). A listening port may be 0 (the system picks one;
//! [`super::Proxy::listeners`] tells which); a target port must be 1..=65535. Every error is
//! `ERR_WGKIT_INVALID_ARGUMENT` with a message naming the flag and the value.

use crate::error::{Error, Result};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where a relayed stream goes: an address, or a name resolved when a connection comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One listener of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A SOCKS5 server on the host (CONNECT and UDP ASSOCIATE into the tunnel).
    Socks5 { bind: SocketAddr },
    /// An HTTP proxy on the host (CONNECT and absolute-URI requests into the tunnel).
    Http { bind: SocketAddr },
    /// `-L`: a host TCP port forwarded to a target inside the tunnel.
    LocalTcp { bind: SocketAddr, target: Target },
    /// `-U`: a host UDP port forwarded to a target inside the tunnel.
    LocalUdp { bind: SocketAddr, target: Target },
    /// `-R`: a TCP port on the tunnel's addresses forwarded to a target on the host's network.
    RemoteTcp { listen: SocketAddr, target: Target },
    /// One stream between stdin/stdout and a target inside the tunnel.
    Stdio { target: Target },
    /// `/readyz` and `/metrics` over HTTP on the host.
    Health { bind: SocketAddr },
}

impl Spec {
    /// Parses the value of one CLI flag (`--socks5`, `--http`, `-L`, `-U`, `-R`, `--stdio`,
    /// `--health`).
    pub fn parse(flag: &str, value: &str) -> Result<Spec> {
        let shape = match flag {
            "--socks5" | "--http" | "--health" => "[HOST:]PORT",
            "-L" | "-U" => "[BIND:]PORT:HOST:HOSTPORT",
            "-R" => "[TUNADDR:]PORT:HOST:HOSTPORT",
            "--stdio" => "HOST:PORT",
            _ => return Err(Error::invalid_argument(format!("Unknown proxy listener flag `{flag}'"))),
        };
        let bad = |why: &str| Error::invalid_argument(format!("Invalid {flag} `{value}': {why} (expected {shape})"));
        let fields = split_fields(value).map_err(|why| bad(&why))?;
        let f: Vec<&str> = fields.iter().map(String::as_str).collect();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        match flag {
            "--socks5" | "--http" | "--health" => {
                let bind = match f[..] {
                    [port] => SocketAddr::new(loopback, listen_port(port).map_err(|w| bad(&w))?),
                    [host, port] => SocketAddr::new(
                        bind_address(host).map_err(|w| bad(&w))?,
                        listen_port(port).map_err(|w| bad(&w))?,
                    ),
                    _ => return Err(bad("wrong number of fields")),
                };
                Ok(match flag {
                    "--socks5" => Spec::Socks5 { bind },
                    "--http" => Spec::Http { bind },
                    _ => Spec::Health { bind },
                })
            }
            "-L" | "-U" | "-R" => {
                let (addr, rest) = match f[..] {
                    [port, host, hport] => (None, [port, host, hport]),
                    [addr, port, host, hport] => (Some(addr), [port, host, hport]),
                    _ => return Err(bad("wrong number of fields")),
                };
                let default = if flag == "-R" { any } else { loopback };
                let ip = match addr {
                    None => default,
                    Some(a) => bind_address(a).map_err(|w| bad(&w))?,
                };
                let local = SocketAddr::new(ip, listen_port(rest[0]).map_err(|w| bad(&w))?);
                let target = target(rest[1], rest[2]).map_err(|w| bad(&w))?;
                Ok(match flag {
                    "-L" => Spec::LocalTcp { bind: local, target },
                    "-U" => Spec::LocalUdp { bind: local, target },
                    _ => Spec::RemoteTcp { listen: local, target },
                })
            }
            _ => match f[..] {
                [host, port] => Ok(Spec::Stdio {
                    target: target(host, port).map_err(|w| bad(&w))?,
                }),
                _ => Err(bad("wrong number of fields")),
            },
        }
    }

    /// The listener's short name, as the ready lines and the metrics show it.
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::Socks5 { .. } => "socks5",
            Spec::Http { .. } => "http",
            Spec::LocalTcp { .. } => "local-tcp",
            Spec::LocalUdp { .. } => "local-udp",
            Spec::RemoteTcp { .. } => "remote-tcp",
            Spec::Stdio { .. } => "stdio",
            Spec::Health { .. } => "health",
        }
    }
}

/// Splits on `:` outside brackets; a bracketed field must be an IPv6 address.
fn split_fields(s: &str) -> std::result::Result<Vec<String>, String> {
    if s.is_empty() {
        return Err("empty value".into());
    }
    let mut fields = Vec::new();
    let mut rest = s;
    loop {
        let (field, after) = if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').ok_or("unclosed `['")?;
            let addr = &inner[..end];
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("`[{addr}]' is not an IPv6 address"));
            }
            let after = &inner[end + 1..];
            if !after.is_empty() && !after.starts_with(':') {
                return Err("`]' must be followed by `:'".into());
            }
            (addr.to_string(), after)
        } else {
            let end = rest.find(':').unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('[') || field.contains(']') {
                return Err("stray bracket".into());
            }
            (field.to_string(), &rest[end..])
        };
        if field.is_empty() {
            return Err(match s.contains("::") {
                true => "an IPv6 address must be in brackets".into(),
                false => "empty field".into(),
            });
        }
        fields.push(field);
        match after.strip_prefix(':') {
            Some(r) => rest = r,
            None => break,
        }
        if fields.len() > 4 {
            return Err("too many fields (an IPv6 address must be in brackets)".into());
        }
    }
    Ok(fields)
}

fn port_number(s: &str) -> std::result::Result<u16, String> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}' is not a port number"));
    }
    s.parse::<u32>()
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("port {s} is out of range"))
}

fn listen_port(s: &str) -> std::result::Result<u16, String> {
    port_number(s)
}

fn target_port(s: &str) -> std::result::Result<u16, String> {
    match port_number(s)? {
        0 => Err("a target port cannot be 0".into()),
        p => Ok(p),
    }
}

fn bind_address(s: &str) -> std::result::Result<IpAddr, String> {
    if s == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    s.parse::<IpAddr>()
        .map_err(|_| format!("`{s}' is not an IP address to listen on"))
}

fn target(host: &str, port: &str) -> std::result::Result<Target, String> {
    let port = target_port(port)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Err(format!("cannot connect to {ip}"));
        }
        return Ok(Target {
            host: Host::Ip(ip),
            port,
        });
    }
    if !is_host_name(host) {
        return Err(format!("`{host}' is not a host name or an IP address"));
    }
    Ok(Target {
        host: Host::Name(host.to_ascii_lowercase()),
        port,
    })
}

/// A DNS name of letters, digits, `-` and `_`, labels of 1..=63, at most 253 in all.
pub(crate) fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_default_to_loopback_and_take_brackets() {
        assert_eq!(
            Spec::parse("--socks5", "1080").unwrap(),
            Spec::Socks5 {
                bind: "127.0.0.1:1080".parse().unwrap()
            }
        );
        assert_eq!(
            Spec::parse("--http", "[::1]:8080").unwrap(),
            Spec::Http {
                bind: "[::1]:8080".parse().unwrap()
            }
        );
        assert_eq!(
            Spec::parse("-L", "[::]:0:[fd00::2]:80").unwrap(),
            Spec::LocalTcp {
                bind: "[::]:0".parse().unwrap(),
                target: Target {
                    host: Host::Ip("fd00::2".parse().unwrap()),
                    port: 80
                }
            }
        );
        assert_eq!(
            Spec::parse("-R", "8080:127.0.0.1:3000").unwrap(),
            Spec::RemoteTcp {
                listen: "0.0.0.0:8080".parse().unwrap(),
                target: Target {
                    host: Host::Ip("127.0.0.1".parse().unwrap()),
                    port: 3000
                }
            }
        );
        assert_eq!(
            Spec::parse("--stdio", "Example.com:22").unwrap(),
            Spec::Stdio {
                target: Target {
                    host: Host::Name("example.com".into()),
                    port: 22
                }
            }
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_the_problem() {
        for (flag, value, why) in [
            ("--socks5", "", "empty value"),
            ("--socks5", "99999", "port 99999 is out of range"),
            ("--http", "host:80", "`host' is not an IP address to listen on"),
            ("-L", "80:10.0.0.1", "wrong number of fields"),
            ("-L", "80:10.0.0.1:0", "a target port cannot be 0"),
            ("-U", "::1:53:10.0.0.1:53", "an IPv6 address must be in brackets"),
            (
                "-U",
                "fd00:1:2:3:4:5:6:7",
                "too many fields (an IPv6 address must be in brackets)",
            ),
            ("-L", "80::1:2", "an IPv6 address must be in brackets"),
            ("-L", "80:a::2", "an IPv6 address must be in brackets"),
            ("-R", "[10.0.0.1]:80:a:1", "`[10.0.0.1]' is not an IPv6 address"),
            (
                "--stdio",
                "bad..name:22",
                "`bad..name' is not a host name or an IP address",
            ),
            ("--stdio", "0.0.0.0:22", "cannot connect to 0.0.0.0"),
            ("--health", "[::1:80", "unclosed `['"),
        ] {
            let e = Spec::parse(flag, value).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidArgument);
            assert!(
                e.message
                    .starts_with(&format!("Invalid {flag} `{value}': {why} (expected ")),
                "{}",
                e.message
            );
        }
        assert_eq!(
            Spec::parse("-X", "1").unwrap_err().message,
            "Unknown proxy listener flag `-X'"
        );
    }
}
