// Builds latest.json, latest.md and latest.svg from the raw records and prints a console summary.
// Usage: node report.mjs RAW.jsonl RESULTS_DIR [NAME]  (writes NAME.{json,md,svg}, default latest)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from './machine.mjs';
import { markdown } from './markdown.mjs';
import { fmt } from './stats.mjs';
import { summarize } from './summarize.mjs';
import { svg } from './svg.mjs';

const [rawFile, outDir, name = 'latest'] = process.argv.slice(2);
const records = readFileSync(rawFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const m = machine();
const s = summarize(records);
writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ machine: m, ...s }, null, 2) + '\n');
writeFileSync(join(outDir, `${name}.md`), markdown(s, m));
writeFileSync(join(outDir, `${name}.svg`), svg(s, m));

const lines = ['', `wgkit benchmark — ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, ${s.settings.mode} mode`, ''];
const ids = s.contenders.map((c) => c.id);
lines.push(['contender'.padEnd(14), ...s.throughput.map((t) => `${t.streams}x${t.reverse ? 'rev' : 'fwd'}`.padStart(9)), 'CPU s/GB'.padStart(9), 'idle p50'.padStart(9), 'awake p50'.padStart(9), 'load p99'.padStart(9)].join(' '));
for (const id of ids) {
  const c = s.contenders.find((x) => x.id === id);
  if (c.status === 'failed') {
    lines.push(`${id.padEnd(14)} not measured: ${c.reason}`);
    continue;
  }
  const l = s.latency.find((x) => x.id === id);
  lines.push([id.padEnd(14), ...s.throughput.map((t) => fmt(t.rows.find((r) => r.id === id)?.gbps).padStart(9)),
    fmt(s.throughput[0].rows.find((r) => r.id === id)?.cpu_s_per_gb).padStart(9),
    fmt(l?.idle.p50, 3).padStart(9), fmt(l?.awake?.p50, 3).padStart(9), fmt(l?.load.p99, 3).padStart(9)].join(' '));
}
if (s.handshake?.ok) lines.push('', `handshakes/s/core: ${fmt(s.handshake.full.per_second, 0)} complete, ${fmt(s.handshake.responder.per_second, 0)} responder; flood: ${fmt(s.handshake.flood.verified_per_second, 0)} verified + ${fmt(s.handshake.flood.cookie_replies_per_second, 0)} cookie replies /s`);
if (s.eventRate?.ok) lines.push(`events into JS: ${fmt(s.eventRate.delivered_per_second, 0)}/s delivered (${s.eventRate.events_dropped} of ${s.eventRate.events_delivered + s.eventRate.events_dropped} dropped at the full queue)`);
for (const c of s.control) if (c.ok) lines.push(`control ${c.contender} ${c.method}: apply ${fmt(c.set_ms, 0)} ms, read ${fmt(c.get_ms, 0)} ms (${c.peers_read} peers)`);
for (const c of s.scale) lines.push(c.ok ? `scale ${c.contender} ${c.peers}: setconf ${c.set_ms} ms, dump ${c.get_ms} ms, ${c.rss_per_peer_bytes} B/peer` : `scale ${c.contender} ${c.peers}: failed: ${c.error}`);
lines.push('', `written: ${join(outDir, `${name}.md`)}, ${name}.json, ${name}.svg`);
console.log(lines.join('\n'));
