// Renders the netstack section (benchmark/results/netstack.{json,md}) from its raw records.
// Usage: node netstack.mjs RAW.jsonl RESULTS_DIR [NAME]. Every metric is also given as a ratio
// against the best contender of the same run (higher is better except latency and memory).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from './machine.mjs';
import { fmt, median } from './stats.mjs';

const [rawFile, outDir, name = 'netstack'] = process.argv.slice(2);
const records = readFileSync(rawFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const m = machine();
const settings = records.find((r) => r.kind === 'ns_settings') ?? {};
const finished = records.find((r) => r.kind === 'ns_settings_end') ?? {};
const far = records.find((r) => r.kind === 'ns_far') ?? null;
const contenders = records.filter((r) => r.kind === 'ns_contender');
const ids = contenders.map((c) => c.id);

const SOCKS = new Set(['wgkit-proxy', 'wggo-netstack']);
const UDP_FORWARD = new Set(['wgkit-proxy', 'wggo-netstack', 'onetun']);
const unsupported = (id, metric) => {
  if (metric.startsWith('socks5') || metric.startsWith('udp_socks5') || metric === 'dns') {
    if (!SOCKS.has(id)) return id === 'onetun' ? 'no SOCKS5 in onetun' : 'not implemented in the JS forward';
  }
  if (metric.startsWith('udp_forward') && !UDP_FORWARD.has(id)) return 'not implemented in the JS forward';
  return null;
};

// metric id -> { label, unit, better, value(id) -> {value, detail, load} }
const streams = (id, via, dir) => records.filter((r) => r.kind === 'ns_stream' && r.contender === id && r.via === via && r.dir === dir);
const METRICS = [];
for (const via of ['forward', 'socks5']) {
  for (const dir of ['up', 'down']) {
    METRICS.push({
      id: `${via}_${dir}`,
      label: `1 TCP stream ${dir === 'up' ? 'client → far' : 'far → client'} through ${via === 'forward' ? 'the -L forward' : 'SOCKS5 CONNECT'}`,
      unit: 'Gbit/s',
      better: 'higher',
      value: (id) => {
        const rs = streams(id, via, dir);
        const ok = rs.filter((r) => r.ok);
        if (rs.length === 0) return null;
        return {
          value: median(ok.map((r) => r.result.bits_per_second / 1e9)),
          detail: `${ok.length}/${rs.length} runs: ${ok.map((r) => fmt(r.result.bits_per_second / 1e9, 3)).join(', ')}`,
          load: rs.map((r) => r.loadavg.split(' ')[0]).join(', '),
          error: rs.find((r) => !r.ok)?.error,
        };
      },
    });
  }
}
const http = (id) => records.filter((r) => r.kind === 'ns_http' && r.contender === id);
const httpMetric = (key, label, unit, better, pick) => ({
  id: key, label, unit, better,
  value: (id) => {
    const rs = http(id);
    if (rs.length === 0) return null;
    const ok = rs.filter((r) => r.ok);
    return {
      value: median(ok.map(pick)),
      detail: `${ok.length}/${rs.length} runs: ${ok.map((r) => fmt(pick(r), unit === 'ms' ? 1 : 0)).join(', ')}`,
      load: rs.map((r) => r.loadavg.split(' ')[0]).join(', '),
      error: rs.find((r) => !r.ok)?.error ?? ok.find((r) => r.result.failures > 0)?.result.error_example,
    };
  },
});
METRICS.push(httpMetric('http_rps', '1,000 concurrent HTTP requests through the forward (one connection each): requests/s', 'req/s', 'higher', (r) => r.result.requests_per_second));
METRICS.push(httpMetric('http_p99', 'same: p99 latency', 'ms', 'lower', (r) => (r.result.ok > 0 ? r.result.p99_ms : NaN)));
METRICS.push(httpMetric('http_failures', 'same: failed requests of 1,000', 'failures', 'lower', (r) => r.result.failures));
const udp = (id, via) => records.find((r) => r.kind === 'ns_udp' && r.contender === id && r.via === via);
for (const via of ['forward', 'socks5']) {
  const lbl = via === 'forward' ? 'the -U forward' : 'SOCKS5 UDP ASSOCIATE';
  METRICS.push({
    id: `udp_${via}_rt`, label: `UDP echo through ${lbl}, 1,000 sequential round trips: round trips/s`, unit: 'rt/s', better: 'higher',
    value: (id) => { const r = udp(id, via); return r ? { value: r.ok && r.result.round_trips > 0 ? r.result.round_trips_per_second : null, detail: r.ok ? `${r.result.round_trips} answered, ${r.result.lost} lost` : '', load: r.loadavg.split(' ')[0], error: r.error ?? (r.result?.stopped_after_10_lost_in_a_row ? `no echo: stopped after 10 lost in a row (${r.result.round_trips} answered)` : undefined) } : null; },
  });
  METRICS.push({
    id: `udp_${via}_p99`, label: `same: p99 round trip`, unit: 'ms', better: 'lower',
    value: (id) => { const r = udp(id, via); return r ? { value: r.ok && r.result.round_trips > 0 ? r.result.p99_ms : null, detail: r.ok ? `p50 ${fmt(r.result.p50_ms, 3)} ms` : '', load: r.loadavg.split(' ')[0], error: r.error } : null; },
  });
}
METRICS.push({
  id: 'idle_rss', label: 'resident memory per idle connection through the forward (1,000 open)', unit: 'bytes', better: 'lower',
  value: (id) => {
    const r = records.find((x) => x.kind === 'ns_idle' && x.contender === id);
    if (!r) return null;
    // A process whose RSS does not grow was already holding more than the connections need
    // (onetun after stalled uploads): no per-connection figure can be read off it.
    const grew = r.ok && r.result.open > 0 && r.rss_after_kb > r.rss_before_kb;
    if (r.ok && !grew) r.error = `VmRSS did not grow (${fmt(r.rss_before_kb / 1048576, 2)} GiB before the 1,000 connections)`;
    return { value: grew ? r.bytes_per_connection : null, detail: r.ok ? `${r.result.open} open, ${r.result.failed} failed; VmRSS ${r.rss_before_kb} → ${r.rss_after_kb} KiB` : '', load: r.loadavg.split(' ')[0], error: r.error ?? (r.result?.failed ? r.result.error_example : undefined) };
  },
});

const table = METRICS.map((mt) => {
  const rows = ids.map((id) => {
    const why = unsupported(id, mt.id);
    if (why) return { id, value: null, unsupported: why };
    const c = contenders.find((x) => x.id === id);
    if (c.status !== 'ok') return { id, value: null, unsupported: `not measured: ${c.reason}` };
    return { id, ...(mt.value(id) ?? { value: null }) };
  });
  const vals = rows.map((r) => r.value).filter((v) => Number.isFinite(v));
  const best = vals.length ? (mt.better === 'higher' ? Math.max(...vals) : Math.min(...vals)) : null;
  for (const r of rows) {
    if (!Number.isFinite(r.value) || best === null) r.vs_best = null;
    else if (mt.better === 'higher') r.vs_best = best > 0 ? r.value / best : null;
    else r.vs_best = r.value > 0 ? best / r.value : best === 0 ? 1 : null; // 1.00× = best; 0.50× = twice the best's cost
    r.best = Number.isFinite(r.value) && r.value === best;
  }
  return { ...mt, value: undefined, rows };
});
const dns = ids.map((id) => {
  const why = unsupported(id, 'dns');
  const r = records.find((x) => x.kind === 'ns_dns' && x.contender === id);
  return { id, unsupported: why, ...(r ?? {}) };
});

const short = (e) =>
  /stream server/.test(e) ? 'stalled: the end of the upload never reached the far server' :
  /Client.Timeout/.test(e) ? 'every request timed out (30 s)' : e.slice(0, 80);
const label = (id) => contenders.find((c) => c.id === id)?.label ?? id;
const digits = (unit) => (unit === 'Gbit/s' ? 3 : unit === 'ms' ? 2 : 0);
const out = [];
out.push('# wgkit benchmark: userspace-stack tunnels (netstack section)', '');
out.push(`Generated by \`bash benchmark/run.sh netstack${settings.mode === 'quick' ? ' --quick' : ''}\` (${settings.runs} run(s), ${settings.seconds} s per stream test, medians). Started ${settings.started}, finished ${finished.finished ?? '?'}.`, '');
out.push(`**Machine:** ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, kernel ${m.kernel}, ${m.os}, Node.js ${m.node}; load average at the start ${settings.loadavg} (shared with other workloads; each result's 1-minute load average is listed beside it).`, '');
out.push(`**Topology:** namespace \`nsb-*-near\` holds the contenders and the clients (127.0.0.1); namespace \`nsb-*-far\` holds one WireGuard peer, ${far?.peer ?? '(not started)'}, with a stream sink/source, an HTTP server (128-byte body), a UDP echo and a DNS server on its tunnel address 10.77.0.1; veth 192.0.2.0/24 between them, MTU 1420. Every contender is its own peer of that device. The far peer is wgkit-userspace because it is the faster TUN peer on this machine (\`latest.md\`: 9.3 Gbit/s against Debian wireguard-go's 0.73), so it does not limit the contenders (\`NSB_FAR=wggo-debian\` picks the other). Programs: \`benchmark/netstack-go\` (the wireguard-go harness and \`nsbtool\`, the servers and clients), \`benchmark/lib/netstack-js-forward.mjs\`, \`benchmark/lib/netstack-bench.sh\`.`, '');
out.push('## Contenders', '', '| id | contender | version | status |', '|---|---|---|---|');
for (const c of contenders) out.push(`| \`${c.id}\` | ${c.label} | ${c.version || '–'} | ${c.status === 'ok' ? 'measured' : `**not measured**: ${c.reason}`} |`);
out.push('');
out.push('## Results', '', '"vs best" is the ratio to the best contender of this run for that metric (1.00× = the best; for latency and memory, best ÷ this).', '');
out.push(`| metric | ${ids.map((id) => `\`${id}\``).join(' | ')} |`, `|---|${ids.map(() => '---:').join('|')}|`);
for (const t of table) {
  const cells = t.rows.map((r) => {
    if (r.unsupported) return r.unsupported.startsWith('not measured') ? 'not measured' : 'not supported';
    if (!Number.isFinite(r.value)) return `failed${r.error ? ` (${short(r.error)})` : ''}`;
    const v = fmt(r.value, digits(t.unit));
    return `${r.best ? `**${v}**` : v} (${fmt(r.vs_best)}×)`;
  });
  out.push(`| ${t.label} [${t.unit}] | ${cells.join(' | ')} |`);
}
const dnsCell = (d) => d.unsupported ? 'not supported' : d.requests === undefined ? 'not measured' : `${d.ok_requests}/${d.requests} ok; tunnel DNS ${d.tunnel_dns_queries}, host resolver **${d.host_resolver_queries}**${d.host_resolver_queries === 0 && d.tunnel_dns_queries > 0 ? ' (no leak)' : ' (LEAK)'}`;
out.push(`| DNS through SOCKS5 (\`curl --socks5-hostname\`, 20 names): queries seen | ${dns.map(dnsCell).join(' | ')} |`);
out.push('');
out.push('## Details (runs and load average)', '', '| metric | contender | value | runs | 1-min load average | note |', '|---|---|---:|---|---|---|');
for (const t of table) for (const r of t.rows) {
  if (r.unsupported) continue;
  out.push(`| ${t.label} | ${label(r.id)} | ${fmt(r.value, digits(t.unit))} ${t.unit} | ${r.detail ?? ''} | ${r.load ?? ''} | ${r.error ? r.error.replace(/\|/g, '/') : ''} |`);
}
out.push('');
out.push('## Method', '');
out.push('- **Streams:** `nsbtool stream`, 256 KiB writes for the given seconds; Gbit/s at the receiver (first byte to end of stream), through the contender\'s `-L` forward (127.0.0.1 → 10.77.0.1:5300) or a SOCKS5 CONNECT to 10.77.0.1:5300. Runs interleave the contenders.');
out.push('- **HTTP:** `nsbtool httpload`, 1,000 GETs started at once, each on a new connection through the forward; requests/s = answered ÷ wall time; latency from dial to the end of the body; timeout 30 s.');
out.push('- **Idle connections:** `nsbtool idle` opens 1,000 connections through the forward, each confirmed end to end by a one-byte reply from the far server; (VmRSS of the contender\'s process 2 s later − before) ÷ 1,000.');
out.push('- **UDP:** `nsbtool udprt`, 1,000 sequential 64-byte echoes (1 s timeout each) through the UDP forward or a SOCKS5 UDP ASSOCIATE.');
out.push('- **DNS leak check:** the near namespace\'s resolver (`/etc/netns/NAME/resolv.conf`) is a counting DNS server on its 127.0.0.1; the tunnel\'s DNS (config `DNS = 10.77.0.1`) is another in the far namespace. 20 `curl --socks5-hostname` requests with distinct names; a contender leaks if any query reaches the host resolver.');
out.push('- Speed is reported, never asserted. 2 shared cores run both tunnel ends, the servers and the clients: compare ratios within this run.');
const text = out.join('\n') + '\n';
writeFileSync(join(outDir, `${name}.md`), text);
writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ machine: m, settings, finished: finished.finished, far, contenders,
  metrics: table.map(({ id, label: l, unit, better, rows }) => ({ id, label: l, unit, better, rows })), dns }, null, 2) + '\n');
console.log(text);
