'use strict';
// The chart of a run (SVG, no dependencies): CPU per message against rhea's and absolute, and
// latency p99, by rate.

const { RATES, rateId } = require('./scenarios');
const { num } = require('./format');

function chart(results) {
  const consumers = [
    ['rhea', '#9e9e9e', 'rhea'],
    ['ours', '#1976d2', 'ours, rhea-shaped API'],
    ['consumer', '#8e24aa', 'ours, createConsumer()'],
    ['floor', '#43a047', 'floor (pure Rust)'],
  ];
  const groups = (sid) => [...RATES.map((r) => [`${rateId(r)}-${sid}`, r >= 1000 ? `${r / 1000}k/s` : `${r}/s`]), [`tput-${sid}`, 'unpaced']];
  const panels = [
    { title: 'CPU per message vs rhea, 256 B (rhea = 1; line: 1/3)', metric: 'cpu_us_per_msg', rel: true, line: 1 / 3, groups: groups('256') },
    { title: 'CPU per message vs rhea, 4 KiB (rhea = 1; line: 1/3)', metric: 'cpu_us_per_msg', rel: true, line: 1 / 3, groups: groups('4k') },
    { title: 'CPU per message, 256 B (µs, log scale)', metric: 'cpu_us_per_msg', log: true, groups: groups('256') },
    { title: 'Latency p99, 256 B (µs, log scale)', metric: 'lat_p99_us', log: true, groups: groups('256').slice(0, RATES.length) },
  ];
  const W = 520;
  const H = 240;
  const svg = [];
  const width = W * 2 + 30;
  const height = H * 2 + 70;
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  svg.push(`<rect width="100%" height="100%" fill="white"/>`);
  consumers.forEach(([, color, label], i) => {
    svg.push(`<rect x="${20 + i * 190}" y="10" width="12" height="12" fill="${color}"/><text x="${36 + i * 190}" y="20">${label}</text>`);
  });
  const val = (s, c, m) => (results[s] && results[s][c] && Number.isFinite(results[s][c][m]) ? results[s][c][m] : null);
  panels.forEach((p, pi) => {
    const ox = 10 + (pi % 2) * (W + 10);
    const oy = 40 + Math.floor(pi / 2) * (H + 10);
    const value = (s, c) => {
      const v = val(s, c, p.metric);
      if (!p.rel) return v;
      const base = val(s, 'rhea', p.metric);
      return v !== null && base ? v / base : null;
    };
    const values = [];
    for (const [s] of p.groups) for (const [c] of consumers) values.push(value(s, c));
    const known = values.filter((v) => v !== null && v > 0);
    const max = Math.max(...known, p.line || 0, 1e-9);
    const min = p.log ? Math.min(...known, max) / 2 : 0;
    const scale = (v) => (p.log ? (Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min) || 1) : v / max);
    svg.push(`<text x="${ox + 10}" y="${oy + 14}" font-weight="bold">${p.title}</text>`);
    const plotTop = oy + 30;
    const plotH = H - 70;
    const groupW = (W - 40) / p.groups.length;
    const barW = Math.min(26, (groupW - 12) / consumers.length);
    p.groups.forEach(([s, label], si) => {
      const gx = ox + 20 + si * groupW;
      consumers.forEach(([c, color], ci) => {
        const v = value(s, c);
        if (v === null || !(v > 0)) return;
        const h = Math.max(1, scale(v) * plotH);
        const x = gx + 6 + ci * barW;
        svg.push(`<rect x="${x.toFixed(1)}" y="${(plotTop + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`);
        svg.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(plotTop + plotH - h - 3).toFixed(1)}" text-anchor="middle" font-size="8">${p.rel ? v.toFixed(2) : num(v)}</text>`);
      });
      svg.push(`<text x="${(gx + 6 + (barW * consumers.length) / 2).toFixed(1)}" y="${plotTop + plotH + 14}" text-anchor="middle">${label}</text>`);
    });
    if (p.line) {
      const y = plotTop + plotH - scale(p.line) * plotH;
      svg.push(`<line x1="${ox + 20}" y1="${y.toFixed(1)}" x2="${ox + W - 20}" y2="${y.toFixed(1)}" stroke="#e53935" stroke-dasharray="4 3"/>`);
    }
    svg.push(`<line x1="${ox + 20}" y1="${plotTop + plotH}" x2="${ox + W - 20}" y2="${plotTop + plotH}" stroke="#333"/>`);
  });
  svg.push('</svg>');
  return svg.join('\n');
}

module.exports = { chart };
