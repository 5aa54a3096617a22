// A grouped bar chart of median throughput (benchmark/results/latest.svg), written as plain SVG text.
const COLORS = { veth: '#9e9e9e', wgkit: '#1f77b4', 'wggo-debian': '#ff7f0e', 'wggo-latest': '#2ca02c', boringtun: '#d62728' };
const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svg(s, m) {
  const ids = s.contenders.filter((c) => s.throughput.some((t) => t.rows.some((r) => r.id === c.id && r.gbps !== null))).map((c) => c.id);
  const W = 900, H = 420, left = 60, right = 190, top = 50, bottom = 60;
  const plotW = W - left - right, plotH = H - top - bottom;
  const max = Math.max(0.1, ...s.throughput.flatMap((t) => t.rows.map((r) => r.gbps ?? 0)));
  const niceMax = Math.ceil(max / (max > 10 ? 5 : 1)) * (max > 10 ? 5 : 1);
  const y = (v) => top + plotH - (v / niceMax) * plotH;
  const groupW = plotW / s.throughput.length, barW = Math.min(32, (groupW - 20) / Math.max(1, ids.length));
  const el = [];
  el.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  el.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  el.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">iperf3 through each tunnel, median Gbit/s (${esc(s.settings.mode)} mode, MTU 1420)</text>`);
  el.push(`<text x="${left}" y="38" fill="#555">${esc(m.cpu)}, ${m.cores} cores, kernel ${esc(m.kernel)}, two netns over veth</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (niceMax * i) / 5;
    el.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`);
    el.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`);
  }
  s.throughput.forEach((t, g) => {
    const x0 = left + g * groupW + (groupW - barW * ids.length) / 2;
    ids.forEach((id, i) => {
      const v = t.rows.find((r) => r.id === id)?.gbps;
      if (v === null || v === undefined) return;
      const x = x0 + i * barW;
      el.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[id] ?? '#8c564b'}"><title>${esc(id)}: ${v.toFixed(2)} Gbit/s</title></rect>`);
      el.push(`<text x="${(x + (barW - 3) / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${v.toFixed(v < 10 ? 2 : 1)}</text>`);
    });
    el.push(`<text x="${left + g * groupW + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle">${esc(t.name)}</text>`);
  });
  el.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  el.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  el.push(`<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">Gbit/s</text>`);
  ids.forEach((id, i) => {
    const lx = left + plotW + 20, ly = top + 10 + i * 20;
    const name = s.contenders.find((c) => c.id === id)?.label ?? id;
    el.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[id] ?? '#8c564b'}"/><text x="${lx + 18}" y="${ly}">${esc(name)}</text>`);
  });
  el.push('</svg>');
  return el.join('\n') + '\n';
}
