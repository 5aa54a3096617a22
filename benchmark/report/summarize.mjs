// Turns the raw measurement records (JSON lines) into the summary tables' numbers.
import { median, percentile } from './stats.mjs';

export const TESTS = [
  { streams: 1, reverse: false, name: '1 stream A→B' },
  { streams: 1, reverse: true, name: '1 stream B→A (-R)' },
  { streams: 4, reverse: false, name: '4 streams A→B (-P 4)' },
  { streams: 4, reverse: true, name: '4 streams B→A (-P 4 -R)' },
];
const BASELINES = ['wgkit', 'wggo-debian'];

export function summarize(records) {
  const contenders = records.filter((r) => r.kind === 'contender');
  const ids = contenders.map((c) => c.id);
  const throughput = [];
  for (const t of TESTS) {
    const rows = ids.map((id) => {
      const runs = records.filter((r) => r.kind === 'iperf' && r.contender === id && r.streams === t.streams && r.reverse === t.reverse);
      const ok = runs.filter((r) => r.ok);
      const gbps = median(ok.map((r) => r.bits_per_second / 1e9));
      // Runs whose CPU sample is missing or negative (an older sampler could lose a process mid-scan) are left out.
      const cpu = id === 'veth' ? null : median(ok.filter((r) => Number.isFinite(r.cpu_ticks) && r.cpu_ticks >= 0).map((r) => r.cpu_ticks / r.clk_tck / (r.bytes / 1e9)));
      return { id, runs: runs.length, ok: ok.length, gbps, cpu_s_per_gb: cpu, retransmits: median(ok.map((r) => r.retransmits)) };
    });
    for (const row of rows) {
      for (const b of BASELINES) {
        const base = rows.find((r) => r.id === b)?.gbps;
        row[`vs_${b}`] = row.gbps !== null && base ? row.gbps / base : null;
      }
    }
    throughput.push({ ...t, rows });
  }
  const latency = ids.map((id) => {
    const out = { id };
    for (const state of ['idle', 'awake', 'load']) {
      const pings = records.filter((r) => r.kind === 'ping' && r.contender === id && r.state === state);
      const rtts = pings.flatMap((r) => r.rtts_ms);
      const sent = pings.reduce((s, r) => s + r.sent, 0);
      out[state] = { p50: percentile(rtts, 50), p99: percentile(rtts, 99), replies: rtts.length, sent };
    }
    return out;
  });
  const veth = latency.find((l) => l.id === 'veth');
  for (const l of latency) {
    for (const state of ['idle', 'awake', 'load']) {
      const v = veth?.[state];
      l[state].p50_added = v && l[state].p50 !== null && v.p50 !== null ? l[state].p50 - v.p50 : null;
      l[state].p99_added = v && l[state].p99 !== null && v.p99 !== null ? l[state].p99 - v.p99 : null;
    }
  }
  const handshake = records.find((r) => r.kind === 'handshake') ?? null;
  const control = records.filter((r) => r.kind === 'control');
  const scale = records.filter((r) => r.kind === 'scale');
  const jsBoundary = records.find((r) => r.kind === 'js_boundary') ?? null;
  const eventRate = records.find((r) => r.kind === 'event_rate') ?? null;
  const settings = records.find((r) => r.kind === 'settings') ?? {};
  const finished = records.find((r) => r.kind === 'settings_end')?.finished ?? null;
  return { settings: { ...settings, finished }, contenders, throughput, latency, handshake, control, scale, jsBoundary, eventRate };
}
