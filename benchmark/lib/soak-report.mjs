// The soak's verdict: node soak-report.mjs SOAK.jsonl RESULTS_DIR NAME
// Writes NAME.md (summary and pass criteria) and NAME.svg (memory and throughput over time),
// prints the criteria, and exits 1 when one fails.
//
// Criteria (the warm-up is the first 120 s, or a sixth of a shorter run; the windows are the
// first and the last 10 minutes after it, or a third of what is left each when shorter):
//  - every transfer's SHA-256 matched, and no transfer failed (failed ones are listed with cause);
//  - both processes alive at the end; no UAPI request refused; the device's peer list always
//    matched the churn's model; every roam seen by wgkit within 20 s;
//  - RSS flat: the last window's mean VmRSS at most 10 % or 8 MiB (the larger) above the first
//    window's;
//  - fds flat: the same number of open fds in every sample after the warm-up;
//  - at least one handshake per 150 s of run (REKEY_AFTER_TIME is 120 s).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from '../report/machine.mjs';
import { fmt, median } from '../report/stats.mjs';

const [file, outDir, name = 'soak'] = process.argv.slice(2);
const recs = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const settings = recs.find((r) => r.kind === 'settings') ?? {};
const samples = recs.filter((r) => r.kind === 'sample');
const transfers = recs.filter((r) => r.kind === 'transfer');
const roams = recs.filter((r) => r.kind === 'roam');
const problems = recs.filter((r) => r.kind === 'problem');
const end = recs.find((r) => r.kind === 'driver_end') ?? samples.at(-1) ?? {};
const m = machine();

const duration = settings.seconds ?? samples.at(-1)?.t ?? 0;
const warmup = Math.min(120, duration / 6);
const win = Math.min(600, (duration - warmup) / 3);
const afterWarmup = samples.filter((s) => s.t >= warmup);
const first = samples.filter((s) => s.t >= warmup && s.t < warmup + win);
const last = samples.filter((s) => s.t >= duration - win);
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const mib = (kb) => (kb === null || kb === undefined ? null : kb / 1024);

const rssFirst = mib(mean(first.map((s) => s.rss_kb)));
const rssLast = mib(mean(last.map((s) => s.rss_kb)));
const rssBound = rssFirst === null ? null : Math.max(rssFirst * 0.1, 8);
const fdsAfter = afterWarmup.map((s) => s.fds);
/** Least-squares slope of RSS (KiB per minute) over some samples. */
function slope(ss) {
  if (ss.length < 2) return null;
  const mt = mean(ss.map((s) => s.t)), mr = mean(ss.map((s) => s.rss_kb));
  const num = ss.reduce((a, s) => a + (s.t - mt) * (s.rss_kb - mr), 0), den = ss.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  return den ? (num / den) * 60 : null;
}
const thrAfter = afterWarmup.map((s) => s.threads);
const ok = transfers.filter((t) => t.ok);
const failed = transfers.filter((t) => !t.ok);
const mismatched = transfers.filter((t) => t.match === false);
const bytes = (dir) => ok.filter((t) => t.dir === dir).reduce((a, t) => a + t.bytes, 0);
const roamDelays = roams.filter((r) => r.seen_after_ms !== null).map((r) => r.seen_after_ms);
const minHandshakes = Math.max(1, Math.floor(duration / 150));

const criteria = [
  ['every transfer\'s SHA-256 matched', mismatched.length === 0 && ok.length > 0, `${ok.length} verified, ${mismatched.length} mismatched`],
  ['no transfer failed', failed.length === 0, `${failed.length} failed`],
  ['both devices alive at the end', settings.wgkit_alive_at_end !== false && settings.far_alive_at_end !== false, `wgkit ${settings.wgkit_alive_at_end ? 'alive' : 'gone'}, wireguard-go ${settings.far_alive_at_end ? 'alive' : 'gone'}`],
  ['every UAPI set accepted', (end.uapi_errors ?? 1) === 0 && (end.uapi_sets ?? 0) > 0, `${end.uapi_sets ?? 0} sets, ${end.uapi_errors ?? '?'} refused or failed`],
  ['peer list always matched the model', (end.model_mismatches ?? 1) === 0, `${end.samples ?? 0} checks, ${end.model_mismatches ?? '?'} with differences`],
  ['every roam seen by wgkit within 20 s', (end.roams ?? 0) > 0 && end.roams_seen === end.roams, `${end.roams_seen ?? 0} of ${end.roams ?? 0} seen (median ${fmt(median(roamDelays), 0)} ms, max ${roamDelays.length ? Math.max(...roamDelays) : '–'} ms)`],
  ['sessions rekeyed', (end.handshakes ?? 0) >= minHandshakes, `${end.handshakes ?? 0} handshakes seen (at least ${minHandshakes} expected)`],
  [`RSS flat (last ${Math.round(win)} s mean ≤ first + max(10 %, 8 MiB))`, rssFirst !== null && rssLast !== null && rssLast - rssFirst <= rssBound, `first ${fmt(rssFirst, 1)} MiB, last ${fmt(rssLast, 1)} MiB (bound +${fmt(rssBound, 1)} MiB)`],
  ['fds flat (same count in every sample after warm-up)', fdsAfter.length > 0 && Math.min(...fdsAfter) === Math.max(...fdsAfter), fdsAfter.length ? `min ${Math.min(...fdsAfter)}, max ${Math.max(...fdsAfter)}` : 'no samples'],
];
const pass = criteria.every((c) => c[1]);

// ---- Markdown ----
const md = [];
md.push('# wgkit soak', '');
md.push(`Generated by \`bash benchmark/run.sh soak\` (WGKIT_SOAK_SECONDS=${duration}). Started ${settings.started}, finished ${settings.finished}; ${settings.wgkit} (commit ${settings.commit}), far side ${settings.far}.`, '');
md.push(`Machine: ${m.cpu}, ${m.cores} cores (shared with other workloads; load average at the end ${settings.loadavg_end}), kernel ${m.kernel}, ${m.os}, Node.js ${m.node}.`, '');
md.push('Setup: `wgkit-userspace` (the embedded device on TUN) in namespace `soak-<id>a` and Debian `wireguard-go` in `soak-<id>b`, joined by a veth pair (192.0.2.0/24), tunnel 10.77.0.0/24, MTU 1420. ' +
  `Traffic: one loop of TCP transfers each way, random 8–64 MiB blobs, each loop held to ${settings.mbits_each_way} Mbit/s, SHA-256 checked by the receiver (\`lib/soak-traffic.mjs\`). ` +
  `Every second one UAPI \`set=1\` on the wgkit device: 50–500 dummy peers (a 300 s triangle wave) added, changed (allowed IPs replaced or added, keepalive, preshared key set or cleared, endpoint) and removed; every 10 s the traffic peer's keepalive and an extra allowed IP change. ` +
  `Every ${settings.roam_seconds} s the far side roams: it rebinds its listen port (51830 → 51831 → 51832 → …) or moves its address (192.0.2.2 → .3 → .4 → …). Natural rekeys (REKEY_AFTER_TIME 120 s). A sample every 5 s (\`lib/soak-driver.mjs\`).`, '');
md.push('## Pass criteria', '', '| criterion | result | |', '|---|---|---|');
for (const [what, good, detail] of criteria) md.push(`| ${what} | ${good ? 'pass' : '**FAIL**'} | ${detail} |`);
md.push('', `**${pass ? 'PASS' : 'FAIL'}**`, '');
md.push('## Numbers', '', '| | |', '|---|---|');
md.push(`| transfers A→B (wgkit sends) | ${ok.filter((t) => t.dir === 'a_to_b').length} ok, ${(bytes('a_to_b') / 2 ** 30).toFixed(2)} GiB |`);
md.push(`| transfers B→A (wgkit receives) | ${ok.filter((t) => t.dir === 'b_to_a').length} ok, ${(bytes('b_to_a') / 2 ** 30).toFixed(2)} GiB |`);
md.push(`| failed / mismatched transfers | ${failed.length} / ${mismatched.length} |`);
md.push(`| mean transfer rate | ${fmt(mean(ok.map((t) => t.mbits)), 1)} Mbit/s per loop |`);
md.push(`| handshakes (traffic peer, from \`last_handshake_time\`) | ${end.handshakes ?? 0} |`);
md.push(`| roams (port / address) | ${end.roams ?? 0} (${roams.filter((r) => r.what === 'port').length} / ${roams.filter((r) => r.what === 'address').length}), seen after median ${fmt(median(roamDelays), 0)} ms |`);
md.push(`| peers added / removed / changed | ${end.peers_added ?? 0} / ${end.peers_removed ?? 0} / ${end.peer_changes ?? 0}; traffic peer changed ${end.traffic_peer_changes ?? 0} times |`);
md.push(`| UAPI sets (errors) | ${end.uapi_sets ?? 0} (${end.uapi_errors ?? 0}) |`);
md.push(`| peer count | ${Math.min(...samples.map((s) => s.peers))}–${Math.max(...samples.map((s) => s.peers))} |`);
md.push(`| wgkit RSS start / end | ${fmt(mib(samples[0]?.rss_kb), 1)} / ${fmt(mib(samples.at(-1)?.rss_kb), 1)} MiB (first window mean ${fmt(rssFirst, 1)}, last ${fmt(rssLast, 1)}; max ${fmt(mib(Math.max(...samples.map((s) => s.rss_kb))), 1)}) |`);
md.push(`| wgkit RSS trend (least squares) | ${fmt(slope(first), 0)} KiB/min in the first window, ${fmt(slope(last), 0)} KiB/min in the last, ${fmt(slope(afterWarmup), 0)} KiB/min after warm-up |`);
md.push(`| wgkit fds start / end | ${samples[0]?.fds} / ${samples.at(-1)?.fds} (after warm-up: ${fdsAfter.length ? `${Math.min(...fdsAfter)}–${Math.max(...fdsAfter)}` : '–'}) |`);
md.push(`| wgkit threads start / end | ${samples[0]?.threads} / ${samples.at(-1)?.threads} (after warm-up: ${thrAfter.length ? `${Math.min(...thrAfter)}–${Math.max(...thrAfter)}` : '–'}) |`);
md.push(`| wireguard-go RSS start / end | ${fmt(mib(samples[0]?.far_rss_kb), 1)} / ${fmt(mib(samples.at(-1)?.far_rss_kb), 1)} MiB |`);
md.push(`| tunnel throughput (wgkit counters, mean of samples) | rx ${fmt(mean(samples.filter((s) => s.rx_mbits !== undefined).map((s) => s.rx_mbits)), 1)}, tx ${fmt(mean(samples.filter((s) => s.tx_mbits !== undefined).map((s) => s.tx_mbits)), 1)} Mbit/s |`);
md.push('');
if (failed.length) {
  md.push('## Failed transfers', '', '| id | direction | started | size | after | cause |', '|---:|---|---|---:|---:|---|');
  for (const t of failed) md.push(`| ${t.id} | ${t.dir} | ${t.start} | ${t.size} | ${t.ms} ms | ${t.error} |`);
  md.push('');
}
if (problems.length) {
  md.push('## Problems recorded', '');
  for (const p of problems.slice(0, 30)) md.push(`- t=${fmt(p.t, 1)} s ${p.what}: ${p.error ?? (p.diffs ? p.diffs.join('; ') : `errno ${p.errno}`)}`);
  md.push('');
}
const failedRoams = roams.filter((r) => r.seen_after_ms === null);
if (failedRoams.length) {
  md.push('## Roams not seen', '');
  for (const r of failedRoams) md.push(`- roam ${r.n} (${r.what}) to ${r.to} at t=${fmt(r.t, 1)} s: wgkit's endpoint stayed ${r.endpoint ?? '?'}${r.note ? ` (${r.note})` : ''}`);
  md.push('');
}
md.push(`Raw records: \`${name}.jsonl\` (settings, one \`sample\` every 5 s, \`roam\`, \`transfer\`, \`problem\`, \`driver_end\`, tails of the logs). Chart: \`${name}.svg\`.`, '');
writeFileSync(join(outDir, `${name}.md`), md.join('\n'));

// ---- SVG: RSS (and fds) on top, throughput below, a shared time axis ----
const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const W = 900, left = 70, right = 150, plotW = W - left - right, panelH = 170, gap = 50, top = 60;
const H = top + 2 * panelH + gap + 50;
const tMax = Math.max(1, duration);
const x = (t) => left + (t / tMax) * plotW;
const nice = (v) => {
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1e-9)));
  return [1, 2, 2.5, 5, 10].map((k) => k * p).find((n) => n >= v);
};
const el = [];
el.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
el.push(`<rect width="${W}" height="${H}" fill="white"/>`);
el.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">wgkit soak: ${Math.round(duration / 60)} min, ${pass ? 'PASS' : 'FAIL'} — memory and throughput over time</text>`);
el.push(`<text x="${left}" y="40" fill="#555">${esc(m.cpu)}, ${m.cores} cores; ${ok.length} transfers, ${end.handshakes ?? 0} handshakes, ${end.roams ?? 0} roams, ${(end.peers_added ?? 0) + (end.peers_removed ?? 0) + (end.peer_changes ?? 0)} peer changes</text>`);
function panel(y0, title, unit, series, extraMax = 0) {
  const vmax = nice(Math.max(extraMax, ...series.flatMap((s) => s.points.map((p) => p[1]))) * 1.1);
  const y = (v) => y0 + panelH - (v / vmax) * panelH;
  for (let i = 0; i <= 4; i++) {
    const v = (vmax * i) / 4;
    el.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e6e6e6"/>`);
    el.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v % 1 ? v.toFixed(1) : v}</text>`);
  }
  if (first.length) el.push(`<rect x="${x(warmup).toFixed(1)}" y="${y0}" width="${(x(warmup + win) - x(warmup)).toFixed(1)}" height="${panelH}" fill="#1f77b4" opacity="0.05"/>`);
  if (last.length) el.push(`<rect x="${x(duration - win).toFixed(1)}" y="${y0}" width="${(x(duration) - x(duration - win)).toFixed(1)}" height="${panelH}" fill="#1f77b4" opacity="0.05"/>`);
  el.push(`<text x="${left}" y="${y0 - 8}" font-weight="bold">${esc(title)}</text>`);
  el.push(`<text x="18" y="${y0 + panelH / 2}" transform="rotate(-90 18 ${y0 + panelH / 2})" text-anchor="middle">${esc(unit)}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    el.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    el.push(`<line x1="${left + plotW + 15}" x2="${left + plotW + 30}" y1="${y0 + 12 + i * 18}" y2="${y0 + 12 + i * 18}" stroke="${s.color}" stroke-width="2"/><text x="${left + plotW + 35}" y="${y0 + 16 + i * 18}">${esc(s.label)}</text>`);
  });
  el.push(`<line x1="${left}" x2="${left}" y1="${y0}" y2="${y0 + panelH}" stroke="#333"/><line x1="${left}" x2="${left + plotW}" y1="${y0 + panelH}" y2="${y0 + panelH}" stroke="#333"/>`);
  return y;
}
panel(top, `wgkit process VmRSS (fds ${samples[0]?.fds}→${samples.at(-1)?.fds}; shaded: the first and last windows compared)`, 'MiB', [
  { label: 'wgkit RSS', color: '#1f77b4', points: samples.map((s) => [s.t, s.rss_kb / 1024]) },
  { label: 'wireguard-go RSS', color: '#ff7f0e', points: samples.filter((s) => s.far_rss_kb).map((s) => [s.t, s.far_rss_kb / 1024]) },
]);
const y2 = top + panelH + gap;
const yT = panel(y2, 'tunnel throughput at wgkit (traffic peer byte counters, 5 s samples)', 'Mbit/s', [
  { label: 'received (B→A)', color: '#2ca02c', points: samples.filter((s) => s.rx_mbits !== undefined).map((s) => [s.t, s.rx_mbits]) },
  { label: 'sent (A→B)', color: '#d62728', points: samples.filter((s) => s.tx_mbits !== undefined).map((s) => [s.t, s.tx_mbits]) },
]);
for (const r of roams) el.push(`<line x1="${x(r.t).toFixed(1)}" x2="${x(r.t).toFixed(1)}" y1="${y2 + panelH}" y2="${y2 + panelH - 6}" stroke="${r.seen_after_ms === null ? '#d62728' : '#777'}"><title>roam ${r.n} (${esc(r.what)}) to ${esc(r.to)}</title></line>`);
el.push(`<text x="${left + plotW + 15}" y="${y2 + panelH - 2}" fill="#777" font-size="10">ticks: roams</text>`);
void yT;
for (let i = 0; i <= 6; i++) {
  const t = (tMax * i) / 6;
  el.push(`<text x="${x(t).toFixed(1)}" y="${y2 + panelH + 16}" text-anchor="middle">${(t / 60).toFixed(t / 60 < 10 && (t / 60) % 1 ? 1 : 0)}</text>`);
}
el.push(`<text x="${left + plotW / 2}" y="${y2 + panelH + 34}" text-anchor="middle">minutes</text>`);
el.push('</svg>');
writeFileSync(join(outDir, `${name}.svg`), el.join('\n') + '\n');

console.log(['', `wgkit soak (${duration} s): ${pass ? 'PASS' : 'FAIL'}`, ...criteria.map(([w, g, d]) => `  ${g ? 'pass' : 'FAIL'}  ${w}: ${d}`),
  `written: ${join(outDir, `${name}.md`)}, ${name}.svg, ${name}.jsonl`].join('\n'));
process.exit(pass ? 0 : 1);
