// The soak's control side, one tick a second for SECONDS (node soak-driver.mjs CONFIG.json):
//  - peer churn on the wgkit device over its UAPI socket: 50-500 dummy peers added, changed
//    (allowed IPs replaced or added, keepalive, preshared key set or cleared, endpoint) and
//    removed, one `set=1` request a tick; every 10th tick the traffic peer itself gets a new
//    keepalive and an extra allowed IP added or dropped (its tunnel address always kept);
//  - roaming of the traffic peer: every ROAM seconds the far side (wireguard-go) either rebinds
//    its listen port or moves its underlay address, and the tick loop then watches wgkit's
//    endpoint for the peer until it shows the new address:port (or 20 s pass: a failed roam);
//  - every SAMPLE seconds one sample: the wgkit process's VmRSS, open fds and threads
//    (/proc/PID), peer count, handshakes seen, tunnel throughput from the traffic peer's byte
//    counters, and a check of the whole peer list against the model the churn keeps.
// Every UAPI exchange of a tick is finished before the next tick's /proc sample, so the fd count
// never includes a UAPI connection in flight. One JSON line per sample / roam / problem.
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const {
  seconds, out, wgkitSock, wgkitPid, farSock, farPid, farNs, farDev, trafficPeer, trafficAllowed,
  farAddresses, farPorts, nearPeer, nearEndpoint, roamSeconds = 20, sampleSeconds = 5, minPeers = 50, maxPeers = 500,
} = cfg;

const emit = (rec) => appendFileSync(out, JSON.stringify(rec) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ZERO_KEY = '0'.repeat(64);

// ---- UAPI ----
function uapi(path, request) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`UAPI ${path}: no reply within 10 s`));
    }, 10_000);
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      buf += d;
      // A reply ends with "errno=N\n\n".
      const m = buf.match(/(?:^|\n)errno=(-?\d+)\n\n$/);
      if (m) {
        clearTimeout(timer);
        sock.end();
        sock.once('close', () => resolve({ errno: Number(m[1]), text: buf }));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`UAPI ${path}: ${e.message}`));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (!/errno=-?\d+\n\n$/.test(buf)) reject(new Error(`UAPI ${path}: connection closed before the reply (${JSON.stringify(buf.slice(-80))})`));
    });
    sock.write(request);
  });
}

/** Parses a `get=1` reply: {device: {...}, peers: Map(pubhex -> {allowed: [], ...})}. */
function parseGet(text) {
  const device = {};
  const peers = new Map();
  let peer = null;
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const k = line.slice(0, eq), v = line.slice(eq + 1);
    if (k === 'public_key') {
      peer = { allowed: [] };
      peers.set(v, peer);
    } else if (!peer) device[k] = v;
    else if (k === 'allowed_ip') peer.allowed.push(v);
    else peer[k] = v;
  }
  return { device, peers };
}

// ---- the model of the dummy peers ----
const dummies = new Map(); // pubhex -> {allowed: string[], keepalive, psk, endpoint}
let ipCounter = 0;
/** A fresh allowed IP never used before (so no peer ever takes another's): IPv4 /32 or IPv6 /64. */
function freshAllowed() {
  const i = ipCounter++;
  if (i % 5 === 4) return `fd00:77:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`;
  return `10.${128 + ((i >>> 16) & 63)}.${(i >>> 8) & 255}.${i & 255}/32`;
}
/** Canonical text of an allowed IP (IPv6 compressed as the device prints it). */
function canonical(cidr) {
  const [addr, len] = cidr.split('/');
  if (!addr.includes(':')) return cidr;
  return `${new URL(`http://[${addr}]`).hostname.slice(1, -1)}/${len}`;
}
const pubhex = () => {
  const { publicKey } = generateKeyPairSync('x25519');
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
};
const pick = (m) => [...m.keys()][randomInt(m.size)];

const counters = {
  ticks: 0, uapi_sets: 0, uapi_errors: 0, peers_added: 0, peers_removed: 0, peer_changes: 0,
  traffic_peer_changes: 0, roams: 0, roams_seen: 0, roams_failed: 0, handshakes: 0,
  samples: 0, model_mismatches: 0, sample_errors: 0,
};

/** One tick's churn as one `set=1` request, applied to the model only if the device took it. */
function churnRequest(tick) {
  const lines = ['set=1'];
  const next = new Map(dummies);
  const dirty = new Map();
  // The target count is a triangle wave between minPeers and maxPeers (period 300 s).
  const phase = (tick % 300) / 150;
  const target = Math.round(minPeers + (maxPeers - minPeers) * (phase <= 1 ? phase : 2 - phase));
  let added = 0, removed = 0, changes = 0;
  if (next.size < target) {
    for (let n = Math.min(target - next.size, randomInt(5, 41)); n > 0; n--) {
      const p = { allowed: [freshAllowed()], keepalive: randomInt(2) ? randomInt(1, 26) : 0, psk: randomInt(2) ? randomBytes(32).toString('hex') : null, endpoint: randomInt(3) ? `127.0.0.1:${randomInt(20000, 30000)}` : null };
      if (randomInt(2)) p.allowed.push(freshAllowed());
      const k = pubhex();
      next.set(k, p);
      lines.push(`public_key=${k}`);
      if (p.psk) lines.push(`preshared_key=${p.psk}`);
      if (p.endpoint) lines.push(`endpoint=${p.endpoint}`);
      lines.push(`persistent_keepalive_interval=${p.keepalive}`);
      for (const a of p.allowed) lines.push(`allowed_ip=${a}`);
      added++;
    }
  } else if (next.size > target) {
    for (let n = Math.min(next.size - target, randomInt(5, 41)); n > 0; n--) {
      const k = pick(next);
      next.delete(k);
      lines.push(`public_key=${k}`, 'remove=true');
      removed++;
    }
  }
  // Changes to existing peers (not those added in this request).
  for (let n = randomInt(5, 16); n > 0 && dummies.size > 0; n--) {
    const k = pick(dummies);
    if (!next.has(k) || dirty.has(k)) continue;
    const p = { ...next.get(k), allowed: [...next.get(k).allowed] };
    lines.push(`public_key=${k}`, 'update_only=true');
    switch (randomInt(6)) {
      case 0:
        p.allowed = [freshAllowed(), ...(randomInt(2) ? [freshAllowed()] : [])];
        lines.push('replace_allowed_ips=true', ...p.allowed.map((a) => `allowed_ip=${a}`));
        break;
      case 1: {
        const a = freshAllowed();
        p.allowed.push(a);
        lines.push(`allowed_ip=${a}`);
        break;
      }
      case 2:
        p.keepalive = randomInt(0, 26);
        lines.push(`persistent_keepalive_interval=${p.keepalive}`);
        break;
      case 3:
        p.psk = randomBytes(32).toString('hex');
        lines.push(`preshared_key=${p.psk}`);
        break;
      case 4:
        p.psk = null;
        lines.push(`preshared_key=${ZERO_KEY}`);
        break;
      case 5:
        p.endpoint = `127.0.0.1:${randomInt(20000, 30000)}`;
        lines.push(`endpoint=${p.endpoint}`);
        break;
    }
    next.set(k, p);
    dirty.set(k, true);
    changes++;
  }
  // The traffic peer: keepalive and an extra allowed IP every 10th tick; 10.77.0.2/32 stays.
  let trafficChange = false;
  if (tick % 10 === 5) {
    const extra = (tick / 10) % 2 < 1 ? ['10.78.0.0/24'] : [];
    trafficModel.allowed = [trafficAllowed, ...extra];
    trafficModel.keepalive = extra.length ? 25 : 0;
    lines.push(`public_key=${trafficPeer}`, 'update_only=true', `persistent_keepalive_interval=${trafficModel.keepalive}`, 'replace_allowed_ips=true', ...trafficModel.allowed.map((a) => `allowed_ip=${a}`));
    trafficChange = true;
  }
  return { request: lines.join('\n') + '\n\n', next, added, removed, changes, trafficChange };
}
const trafficModel = { allowed: [trafficAllowed], keepalive: 0 };

/** Compares the device's peer list with the model; returns a list of differences (at most 5). */
function checkModel(peers) {
  const diffs = [];
  const note = (d) => diffs.length < 5 && diffs.push(d);
  if (peers.size !== dummies.size + 1) note(`peer count ${peers.size}, expected ${dummies.size + 1}`);
  const tp = peers.get(trafficPeer);
  if (!tp) note('traffic peer missing');
  else {
    const got = tp.allowed.map(canonical).sort().join(','), want = trafficModel.allowed.map(canonical).sort().join(',');
    if (got !== want) note(`traffic peer allowed IPs ${got}, expected ${want}`);
  }
  for (const [k, p] of dummies) {
    const d = peers.get(k);
    if (!d) {
      note(`dummy ${k.slice(0, 8)} missing`);
      continue;
    }
    const got = d.allowed.map(canonical).sort().join(','), want = p.allowed.map(canonical).sort().join(',');
    if (got !== want) note(`dummy ${k.slice(0, 8)} allowed IPs ${got}, expected ${want}`);
    if (Number(d.persistent_keepalive_interval ?? 0) !== p.keepalive) note(`dummy ${k.slice(0, 8)} keepalive ${d.persistent_keepalive_interval}, expected ${p.keepalive}`);
    const psk = d.preshared_key && d.preshared_key !== ZERO_KEY ? d.preshared_key : null;
    if (psk !== p.psk) note(`dummy ${k.slice(0, 8)} preshared key ${psk ? 'set' : 'unset'}, expected ${p.psk ? 'set' : 'unset'}${psk && p.psk ? ' (different)' : ''}`);
    if ((d.endpoint ?? null) !== p.endpoint) note(`dummy ${k.slice(0, 8)} endpoint ${d.endpoint}, expected ${p.endpoint}`);
  }
  return diffs;
}

// ---- roaming of the far side ----
let farAddr = 0, farPort = 0;
let pendingRoam = null;
async function roam() {
  const n = ++counters.roams;
  let what;
  if (n % 2) {
    // Rebind wireguard-go's listen port.
    farPort = (farPort + 1) % farPorts.length;
    const r = await uapi(farSock, `set=1\nlisten_port=${farPorts[farPort]}\n\n`);
    if (r.errno) throw new Error(`wireguard-go refused listen_port=${farPorts[farPort]}: errno ${r.errno}`);
    what = 'port';
  } else {
    // Move the far side's underlay address: the new one first, then the old one goes
    // (promote_secondaries keeps the new one when the old primary is deleted).
    const old = farAddresses[farAddr];
    farAddr = (farAddr + 1) % farAddresses.length;
    execFileSync('ip', ['-n', farNs, 'addr', 'add', `${farAddresses[farAddr]}/24`, 'dev', farDev]);
    execFileSync('ip', ['-n', farNs, 'addr', 'del', `${old}/24`, 'dev', farDev]);
    // wireguard-go sends from the address it last received on (a "sticky" source); setting
    // its peer's endpoint again clears that, as a host that changed address would start
    // over, and its next packet leaves from the new address.
    const r = await uapi(farSock, `set=1\npublic_key=${nearPeer}\nendpoint=${nearEndpoint}\n\n`);
    if (r.errno) throw new Error(`wireguard-go refused the endpoint reset: errno ${r.errno}`);
    what = 'address';
  }
  pendingRoam = { n, what, to: `${farAddresses[farAddr]}:${farPorts[farPort]}`, at: Date.now() };
}

// ---- /proc ----
function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1]);
  return { rss_kb: field('VmRSS'), threads: field('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

// ---- the tick loop ----
const t0 = Date.now();
let lastHandshake = null;
let lastBytes = null;
for (let tick = 0; Date.now() - t0 < seconds * 1000; tick++) {
  const tickStart = Date.now();
  counters.ticks++;
  let sample = null;
  if (tick % sampleSeconds === 0) {
    try {
      sample = { kind: 'sample', t: Math.round((tickStart - t0) / 100) / 10, time: new Date(tickStart).toISOString(), ...procSample(wgkitPid) };
      const far = procSample(farPid);
      sample.far_rss_kb = far.rss_kb;
      sample.far_fds = far.fds;
    } catch (e) {
      counters.sample_errors++;
      emit({ kind: 'problem', t: (tickStart - t0) / 1000, what: 'proc', error: e.message });
    }
  }
  try {
    const c = churnRequest(tick);
    const r = await uapi(wgkitSock, c.request);
    counters.uapi_sets++;
    if (r.errno) {
      counters.uapi_errors++;
      emit({ kind: 'problem', t: (tickStart - t0) / 1000, what: 'uapi_set', errno: r.errno, request_lines: c.request.split('\n').length });
    } else {
      dummies.clear();
      for (const [k, v] of c.next) dummies.set(k, v);
      counters.peers_added += c.added;
      counters.peers_removed += c.removed;
      counters.peer_changes += c.changes;
      if (c.trafficChange) counters.traffic_peer_changes++;
    }
  } catch (e) {
    counters.uapi_errors++;
    emit({ kind: 'problem', t: (tickStart - t0) / 1000, what: 'uapi_set', error: e.message });
  }
  try {
    if (!pendingRoam && tick > 0 && tick % roamSeconds === 0) await roam();
  } catch (e) {
    counters.roams_failed++;
    emit({ kind: 'problem', t: (tickStart - t0) / 1000, what: 'roam', error: e.message });
  }
  if (pendingRoam || sample) {
    try {
      const r = await uapi(wgkitSock, 'get=1\n\n');
      const { peers } = parseGet(r.text);
      const tp = peers.get(trafficPeer);
      if (pendingRoam) {
        if (tp?.endpoint === pendingRoam.to) {
          counters.roams_seen++;
          emit({ kind: 'roam', t: (pendingRoam.at - t0) / 1000, n: pendingRoam.n, what: pendingRoam.what, to: pendingRoam.to, seen_after_ms: Date.now() - pendingRoam.at });
          pendingRoam = null;
        } else if (Date.now() - pendingRoam.at > 20_000) {
          counters.roams_failed++;
          emit({ kind: 'roam', t: (pendingRoam.at - t0) / 1000, n: pendingRoam.n, what: pendingRoam.what, to: pendingRoam.to, seen_after_ms: null, endpoint: tp?.endpoint ?? null });
          pendingRoam = null;
        }
      }
      if (tp) {
        const hs = `${tp.last_handshake_time_sec}.${tp.last_handshake_time_nsec}`;
        if (tp.last_handshake_time_sec !== '0' && hs !== lastHandshake) {
          counters.handshakes++;
          lastHandshake = hs;
        }
      }
      if (sample) {
        const now = Date.now();
        const rx = Number(tp?.rx_bytes ?? 0), tx = Number(tp?.tx_bytes ?? 0);
        if (lastBytes) {
          const dt = (now - lastBytes.at) / 1000;
          sample.rx_mbits = Math.round(((rx - lastBytes.rx) * 8) / 1e4 / dt) / 100;
          sample.tx_mbits = Math.round(((tx - lastBytes.tx) * 8) / 1e4 / dt) / 100;
        }
        lastBytes = { at: now, rx, tx };
        const diffs = checkModel(peers);
        if (diffs.length) {
          counters.model_mismatches++;
          emit({ kind: 'problem', t: sample.t, what: 'model', diffs });
        }
        Object.assign(sample, { peers: peers.size, endpoint: tp?.endpoint ?? null, rx_bytes: rx, tx_bytes: tx, ...counters });
        counters.samples++;
        emit(sample);
      }
    } catch (e) {
      counters.sample_errors++;
      emit({ kind: 'problem', t: (tickStart - t0) / 1000, what: 'uapi_get', error: e.message });
    }
  }
  await sleep(Math.max(0, 1000 - (Date.now() - tickStart)));
}
if (pendingRoam) {
  counters.roams_failed++;
  emit({ kind: 'roam', t: (pendingRoam.at - t0) / 1000, n: pendingRoam.n, what: pendingRoam.what, to: pendingRoam.to, seen_after_ms: null, note: 'run ended first' });
}
emit({ kind: 'driver_end', seconds: (Date.now() - t0) / 1000, dummy_peers_at_end: dummies.size, ...counters });
