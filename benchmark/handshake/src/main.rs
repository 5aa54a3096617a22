//! Handshake benchmark on boringtun's `noise::Tunn`, single thread.
//!
//! Prints one JSON object with four measurements:
//! - `full`: complete handshakes (init -> response -> first keepalive) between one
//!   initiator/responder pair, both sides with a device-wide limiter set to u64::MAX;
//! - `responder`: a responder taking fresh initiations the way wgkit's device does
//!   (device limiter `verify_packet`, `parse_handshake_anon`, `Tunn::decapsulate`), no limit;
//! - `flood`: the same responder path with the device limiter at 100/s (reset every second),
//!   fed mac1-valid initiations without cookie as fast as one core can: verified inits/s and
//!   cookie replies/s;
//! - `mac1_reject`: initiations with a wrong mac1, rejected by the limiter.
//!
//! Usage: wgkit-handshake-bench [--seconds S]   (each measurement runs S seconds, default 3)

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICE_LIMIT: u64 = 100;
const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn random_secret() -> StaticSecret {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).expect("read /dev/urandom");
    StaticSecret::from(b)
}

struct Side {
    secret: StaticSecret,
    public: PublicKey,
}

fn side() -> Side {
    let secret = random_secret();
    let public = PublicKey::from(&secret);
    Side { secret, public }
}

fn unlimited(p: &PublicKey) -> Arc<RateLimiter> {
    Arc::new(RateLimiter::new(p, u64::MAX))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Complete handshakes between one pair, repeated for `secs`.
fn full(secs: f64) -> String {
    let (a, b) = (side(), side());
    let mut ini = Tunn::new(a.secret.clone(), b.public, None, None, 1, Some(unlimited(&a.public)));
    let mut res = Tunn::new(b.secret.clone(), a.public, None, None, 2, Some(unlimited(&b.public)));
    let (mut m1, mut m2, mut m3, mut sink) = ([0u8; 256], [0u8; 256], [0u8; 256], [0u8; 256]);
    let mut lat = Vec::with_capacity(1 << 16);
    let deadline = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < deadline {
        let t0 = Instant::now();
        let init = match ini.format_handshake_initiation(&mut m1, true) {
            TunnResult::WriteToNetwork(p) => p.len(),
            _ => panic!("initiator did not produce an initiation"),
        };
        let resp = match res.decapsulate(Some(SRC), &m1[..init], &mut m2) {
            TunnResult::WriteToNetwork(p) => p.len(),
            _ => panic!("responder rejected an initiation"),
        };
        let ka = match ini.decapsulate(Some(SRC), &m2[..resp], &mut m3) {
            TunnResult::WriteToNetwork(p) => p.len(),
            _ => panic!("initiator rejected a response"),
        };
        match res.decapsulate(Some(SRC), &m3[..ka], &mut sink) {
            TunnResult::Done => {}
            _ => panic!("responder rejected the first keepalive"),
        }
        lat.push(t0.elapsed().as_secs_f64() * 1e6);
        n += 1;
    }
    let el = start.elapsed().as_secs_f64();
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    format!(
        "{{\"handshakes\":{n},\"seconds\":{el:.3},\"per_second\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
        n as f64 / el,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    )
}

/// `count` fresh initiations from one initiator, in timestamp order.
fn initiations(ini: &mut Tunn, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count);
    let mut buf = [0u8; 256];
    for _ in 0..count {
        match ini.format_handshake_initiation(&mut buf, true) {
            TunnResult::WriteToNetwork(p) => out.push(p.to_vec()),
            _ => panic!("initiator did not produce an initiation"),
        }
    }
    out
}

struct Responder {
    side: Side,
    tunn: Tunn,
    device_limiter: Arc<RateLimiter>,
}

impl Responder {
    fn new(resp: Side, initiator: &PublicKey, limit: u64) -> Self {
        let tunn = Tunn::new(resp.secret.clone(), *initiator, None, None, 2, Some(unlimited(&resp.public)));
        let device_limiter = Arc::new(RateLimiter::new(&resp.public, limit));
        Responder { side: resp, tunn, device_limiter }
    }

    /// The part after the limiter: identify the peer, run the Noise responder.
    fn accept(&mut self, init: &[u8], out: &mut [u8]) -> bool {
        if let Ok(Packet::HandshakeInit(h)) = Tunn::parse_incoming_packet(init) {
            if parse_handshake_anon(&self.side.secret, &self.side.public, &h).is_err() {
                return false;
            }
        }
        matches!(self.tunn.decapsulate(Some(SRC), init, out), TunnResult::WriteToNetwork(_))
    }
}

/// Responder without limit: fresh initiations per second (pool generated beforehand).
fn responder(secs: f64) -> String {
    let (a, b) = (side(), side());
    let mut ini = Tunn::new(a.secret.clone(), b.public, None, None, 1, Some(unlimited(&a.public)));
    let mut r = Responder::new(b, &a.public, u64::MAX);
    // Calibrate the pool size with a short probe, then time a full pass over it.
    let probe = initiations(&mut ini, 200);
    let (mut cookie, mut out) = ([0u8; 64], [0u8; 256]);
    let t = Instant::now();
    for p in &probe {
        let _ = r.device_limiter.verify_packet(Some(SRC), p, &mut cookie);
        r.accept(p, &mut out);
    }
    let rate = probe.len() as f64 / t.elapsed().as_secs_f64();
    let pool = initiations(&mut ini, ((rate * secs) as usize).clamp(200, 200_000));
    let start = Instant::now();
    let mut ok = 0u64;
    for p in &pool {
        if r.device_limiter.verify_packet(Some(SRC), p, &mut cookie).is_ok() && r.accept(p, &mut out) {
            ok += 1;
        }
    }
    let el = start.elapsed().as_secs_f64();
    format!("{{\"inits\":{},\"responses\":{ok},\"seconds\":{el:.3},\"per_second\":{:.1}}}", pool.len(), ok as f64 / el)
}

/// Handshake flood at the device limit (100/s): verified inits/s and cookie replies/s.
fn flood(secs: f64) -> String {
    let (a, b) = (side(), side());
    let mut ini = Tunn::new(a.secret.clone(), b.public, None, None, 1, Some(unlimited(&a.public)));
    let mut r = Responder::new(b, &a.public, DEVICE_LIMIT);
    // Packets that pass the limiter are served from `fresh` (in timestamp order) so each one is a
    // real, new handshake; the flood itself cycles over `wire` (mac1 valid, mac2 zero: no cookie).
    let fresh = initiations(&mut ini, (DEVICE_LIMIT as f64 * (secs + 2.0)) as usize * 2);
    let wire = initiations(&mut ini, 64);
    let (mut cookie, mut out) = ([0u8; 64], [0u8; 256]);
    let (mut sent, mut verified, mut completed, mut cookies, mut other) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut next_fresh = 0usize;
    let deadline = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut last_reset = start;
    while start.elapsed() < deadline {
        for i in 0..wire.len() {
            sent += 1;
            match r.device_limiter.verify_packet(Some(SRC), &wire[i], &mut cookie) {
                Ok(_) => {
                    verified += 1;
                    let p = &fresh[next_fresh % fresh.len()];
                    next_fresh += 1;
                    if r.accept(p, &mut out) {
                        completed += 1;
                    }
                }
                Err(TunnResult::WriteToNetwork(_)) => cookies += 1,
                Err(_) => other += 1,
            }
        }
        if last_reset.elapsed() >= Duration::from_secs(1) {
            r.device_limiter.reset_count();
            last_reset = Instant::now();
        }
    }
    let el = start.elapsed().as_secs_f64();
    format!(
        "{{\"limit_per_second\":{DEVICE_LIMIT},\"packets\":{sent},\"seconds\":{el:.3},\"packets_per_second\":{:.1},\
\"verified_per_second\":{:.1},\"responses_per_second\":{:.1},\"cookie_replies_per_second\":{:.1},\"other\":{other}}}",
        sent as f64 / el,
        verified as f64 / el,
        completed as f64 / el,
        cookies as f64 / el
    )
}

/// Initiations with a wrong mac1: rejected by the limiter before any public-key work.
fn mac1_reject(secs: f64) -> String {
    let (a, b) = (side(), side());
    let mut ini = Tunn::new(a.secret.clone(), b.public, None, None, 1, Some(unlimited(&a.public)));
    let r = Responder::new(b, &a.public, DEVICE_LIMIT);
    let mut bad = initiations(&mut ini, 64);
    for p in &mut bad {
        let n = p.len();
        p[n - 32] ^= 0xff;
    }
    let mut cookie = [0u8; 64];
    let (mut sent, mut rejected) = (0u64, 0u64);
    let deadline = Duration::from_secs_f64(secs);
    let start = Instant::now();
    while start.elapsed() < deadline {
        for p in &bad {
            sent += 1;
            if let Err(TunnResult::Err(_)) = r.device_limiter.verify_packet(Some(SRC), p, &mut cookie) {
                rejected += 1;
            }
        }
    }
    let el = start.elapsed().as_secs_f64();
    format!("{{\"packets\":{sent},\"rejected\":{rejected},\"seconds\":{el:.3},\"per_second\":{:.1}}}", rejected as f64 / el)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    let full = full(secs);
    let responder = responder(secs);
    let flood = flood(secs);
    let mac1 = mac1_reject(secs.min(2.0));
    println!(
        "{{\"boringtun\":\"0.7.1\",\"threads\":1,\"seconds\":{secs},\"full\":{full},\"responder\":{responder},\"flood\":{flood},\"mac1_reject\":{mac1}}}"
    );
}
