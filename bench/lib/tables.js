'use strict';
// The markdown report of a run: the tables (CPU, event loop, latency, rates, other rows, the pacing
// as sent), the targets of issue 12 and how each was met, and the notes on the method.

const { OURS, SIZES, rateId, rateText, sizeText, rateRows } = require('./scenarios');
const { median, ratio } = require('./stats');
const { fmt, num, x } = require('./format');

const API = { ours: 'rhea API', consumer: 'createConsumer' };

/** results: the medians per cell; raw: every run (for the pacing table). */
function table(results, meta, raw) {
  const get = (s, c, k) => (results[s] && results[s][c] && typeof results[s][c][k] === 'number' ? results[s][c][k] : null);
  const present = (id) => !!results[id];
  const out = [];
  const targets = [];
  /** Met when every one of our APIs measured meets it; '' when nothing was measured. */
  const metText = (checks) => {
    const known = checks.filter((c) => c.ok !== null);
    if (known.length === 0) return '';
    const failed = known.filter((c) => !c.ok);
    if (failed.length === 0) return 'yes';
    return `NO (${failed.map((c) => c.who).join(', ')})`;
  };
  const check = (who, v, pred) => ({ who, ok: v === null ? null : pred(v) });
  const rows = rateRows().filter((r) => present(r.id));

  // --- CPU per message
  const cpuTarget = (rate) => (rate === 1000 || rate === 10000 ? { text: '≤ 1/3', ok: (r) => r <= 1 / 3 } : { text: '< 1', ok: (r) => r < 1 });
  out.push('### CPU per message (µs, user+sys of the whole process, after warm-up)', '');
  out.push('| rate | payload | rhea | ours (rhea API) | ours / rhea | createConsumer | cC / rhea | floor | ours / floor | cC / floor | target (vs rhea) | met |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const r of rows) {
    const v = (c) => get(r.id, c, 'cpu_us_per_msg');
    const t = cpuTarget(r.rate);
    const checks = OURS.map((c) => check(API[c], ratio(v(c), v('rhea')), t.ok));
    out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)} | ${num(v('rhea'))} | ${num(v('ours'))} | ${x(ratio(v('ours'), v('rhea')))} | ${num(v('consumer'))} | ${x(ratio(v('consumer'), v('rhea')))} | ${num(v('floor'))} | ${x(ratio(v('ours'), v('floor')))} | ${x(ratio(v('consumer'), v('floor')))} | ${t.text} | ${metText(checks)} |`);
  }
  out.push('');

  // --- CPU as % of one core
  out.push('### CPU (% of one core, whole process, after warm-up)', '');
  out.push('| rate | payload | rhea | ours (rhea API) | createConsumer | floor |');
  out.push('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const v = (c) => get(r.id, c, 'cpu_pct');
    out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)} | ${num(v('rhea'))} | ${num(v('ours'))} | ${num(v('consumer'))} | ${num(v('floor'))} |`);
  }
  out.push('');

  // --- event loop, main thread
  out.push("### Node event-loop busy per message (µs, `eventLoopUtilization().active`, after warm-up), and Node's main-thread CPU per message (µs)", '');
  out.push('| rate | payload | loop: rhea | ours (rhea API) | ours / rhea | createConsumer | cC / rhea | target | met | main thread: rhea | ours | ours / rhea | createConsumer | cC / rhea |');
  out.push('|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const v = (c) => get(r.id, c, 'elu_us_per_msg');
    const m = (c) => get(r.id, c, 'main_thread_us_per_msg');
    const t = r.rate === 1000 ? { text: '≤ 1/4', ok: (q) => q <= 1 / 4 } : null;
    const met = t ? metText(OURS.map((c) => check(API[c], ratio(v(c), v('rhea')), t.ok))) : '';
    out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)} | ${num(v('rhea'))} | ${num(v('ours'))} | ${x(ratio(v('ours'), v('rhea')))} | ${num(v('consumer'))} | ${x(ratio(v('consumer'), v('rhea')))} | ${t ? t.text : ''} | ${met} | ${num(m('rhea'))} | ${num(m('ours'))} | ${x(ratio(m('ours'), m('rhea')))} | ${num(m('consumer'))} | ${x(ratio(m('consumer'), m('rhea')))} |`);
  }
  out.push('');

  // --- latency
  out.push('### Latency, loadgen send → handler (µs, p50 / p99, after warm-up)', '');
  out.push('| rate | payload | rhea | ours (rhea API) | p99 ours / rhea | createConsumer | p99 cC / rhea | floor | p99 ours / floor | target | met |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|');
  const lat = (id, c) => `${num(get(id, c, 'lat_p50_us'))} / ${num(get(id, c, 'lat_p99_us'))}`;
  for (const r of rows.filter((q) => q.rate)) {
    const p99 = (c) => get(r.id, c, 'lat_p99_us');
    const t = r.rate === 1000 ? { text: 'p99 ≤ 10 ms', ok: (v) => v <= 10000 } : null;
    const met = t ? metText(OURS.map((c) => check(API[c], p99(c), t.ok))) : '';
    out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)} | ${lat(r.id, 'rhea')} | ${lat(r.id, 'ours')} | ${x(ratio(p99('ours'), p99('rhea')))} | ${lat(r.id, 'consumer')} | ${x(ratio(p99('consumer'), p99('rhea')))} | ${lat(r.id, 'floor')} | ${x(ratio(p99('ours'), p99('floor')))} | ${t ? t.text : ''} | ${met} |`);
  }
  out.push('');

  // --- rates reached, saturation
  out.push('### Rate reached (msg/s, loadgen: first transfer → every delivery settled); unpaced = saturation', '');
  out.push('| rate | payload | rhea | ours (rhea API) | ours / rhea | createConsumer | cC / rhea | floor | ours / floor | cC / floor | target (vs rhea) | met |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  const satRows = [...rows, ...(present('tput-256-tls') ? [{ id: 'tput-256-tls', rate: 0, size: 256, tls: true }] : [])];
  for (const r of satRows) {
    const v = (c) => get(r.id, c, 'rate');
    let t = null;
    if (!r.rate) t = r.size === 256 && !r.tls ? { text: 'ours ≥ 5×', ok: (q) => q >= 5 } : { text: 'ours ≥ 3×', ok: (q) => q >= 3 };
    const met = t ? metText([check(API.ours, ratio(v('ours'), v('rhea')), t.ok)]) : '';
    out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)}${r.tls ? ', TLS' : ''} | ${num(v('rhea'))} | ${num(v('ours'))} | ${x(ratio(v('ours'), v('rhea')))} | ${num(v('consumer'))} | ${x(ratio(v('consumer'), v('rhea')))} | ${num(v('floor'))} | ${x(ratio(v('ours'), v('floor')))} | ${x(ratio(v('consumer'), v('floor')))} | ${t ? t.text : ''} | ${met} |`);
  }
  out.push('');

  // --- other saturation rows (as before)
  const other = [];
  const orow = (name, id, k, digits) => {
    if (!present(id)) return;
    const v = (c) => get(id, c, k);
    other.push(`| ${name} | ${fmt(v('rhea'), digits)} | ${fmt(v('ours'), digits)} | ${x(ratio(v('ours'), v('rhea')))} | ${fmt(v('consumer'), digits)} | ${x(ratio(v('consumer'), v('rhea')))} | ${fmt(v('floor'), digits)} | ${x(ratio(v('ours'), v('floor')))} |`);
  };
  orow('CPU per message, 256 B TLS, unpaced (µs)', 'tput-256-tls', 'cpu_us_per_msg', 2);
  orow('event-loop busy per message, 256 B TLS, unpaced (µs)', 'tput-256-tls', 'elu_us_per_msg', 2);
  orow('peak RSS, 256 B unpaced (MB)', 'tput-256', 'rss_mb', 1);
  orow('peak RSS, 4 KiB unpaced (MB)', 'tput-4k', 'rss_mb', 1);
  orow('peak RSS, 1 000 msg/s 256 B (MB)', 'r1k-256', 'rss_mb', 1);
  orow('connect() to first message, TLS (ms)', 'connect-tls', 'first_message_ms', 1);
  if (other.length) {
    out.push('### Other rows', '');
    out.push('| metric | rhea | ours (rhea API) | ours / rhea | createConsumer | cC / rhea | floor | ours / floor |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    out.push(...other, '');
  }

  // --- pacing
  const pacedRows = rows.filter((r) => r.rate);
  if (pacedRows.length) {
    out.push('### The pacing as sent (loadgen record of its sends after the first tenth; median over every run of the row)', '');
    out.push('| rate | payload | interval (µs) | gap p50 (µs) | gap p99 (µs) | gap max (µs), worst run | in bursts | late p99 (µs) | timer wake-ups / msg | credit stalls (median per run: rhea · ours · cC · floor) | loadgen µs/msg |');
    out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|');
    for (const r of pacedRows) {
      const all = Object.values(raw && raw[r.id] ? raw[r.id] : {}).flat();
      const med = (k) => median(all.map((q) => q[k]));
      const mx = Math.max(...all.map((q) => q.gap_max_us).filter((q) => typeof q === 'number'));
      const stalls = ['rhea', 'ours', 'consumer', 'floor'].map((c) => {
        const v = get(r.id, c, 'credit_stalls');
        return v === null ? 'n/a' : String(Math.round(v));
      }).join(' · ');
      const share = med('burst_share');
      out.push(`| ${rateText(r.rate)} | ${sizeText(r.size)} | ${num(1e6 / r.rate)} | ${num(med('gap_p50_us'))} | ${num(med('gap_p99_us'))} | ${num(Number.isFinite(mx) ? mx : null)} | ${share === null ? 'n/a' : (100 * share).toFixed(2) + ' %'} | ${num(med('late_p99_us'))} | ${num(med('timer_wakeups_per_msg'))} | ${stalls} | ${num(med('loadgen_cpu_us_per_msg'))} |`);
    }
    out.push('', 'Bursts: messages sent less than 20 µs (at 50 000 msg/s: 10 µs, half the interval) after or before another. ' +
      'Credit stalls: waits for credit while messages were due (the consumer held the sender back).', '');
  }

  // --- the targets of issue 12
  const tgt = (name, measured, met) => targets.push({ name, measured, met });
  const both = (id, k) => OURS.map((c) => ({ c, v: get(id, c, k), r: ratio(get(id, c, k), get(id, 'rhea', k)) }));
  const desc = (id, k, unit) => `rhea ${num(get(id, 'rhea', k))}${unit}; ` + both(id, k).map((q) => `${API[q.c]} ${num(q.v)}${unit} (${x(q.r)})`).join('; ');
  for (const rate of [1000, 10000]) {
    for (const [size, sid] of SIZES) {
      const id = `${rateId(rate)}-${sid}`;
      if (!present(id)) continue;
      tgt(`CPU per message at ${rateText(rate)}, ${sizeText(size)}: ≤ 1/3 of rhea's`, desc(id, 'cpu_us_per_msg', ' µs'),
        metText(both(id, 'cpu_us_per_msg').map((q) => check(API[q.c], q.r, (r) => r <= 1 / 3))));
    }
  }
  for (const [size, sid] of SIZES) {
    const id = `r1k-${sid}`;
    if (!present(id)) continue;
    tgt(`event-loop busy per message at 1 000 msg/s, ${sizeText(size)}: ≤ 1/4 of rhea's`, desc(id, 'elu_us_per_msg', ' µs'),
      metText(both(id, 'elu_us_per_msg').map((q) => check(API[q.c], q.r, (r) => r <= 1 / 4))));
  }
  {
    const checks = [];
    let worst = null;
    for (const r of rows) {
      for (const q of both(r.id, 'cpu_us_per_msg')) {
        checks.push(check(`${API[q.c]} at ${rateText(r.rate)} ${sizeText(r.size)}`, q.r, (v) => v < 1));
        if (q.r !== null && (worst === null || q.r > worst.r)) worst = { ...q, row: r };
      }
    }
    if (worst) {
      tgt('CPU per message below rhea\'s at every rate (100 msg/s to unpaced, 256 B and 4 KiB)',
        `highest ratio ${x(worst.r)} (${API[worst.c]}, ${rateText(worst.row.rate)}, ${sizeText(worst.row.size)}), over ${checks.filter((c) => c.ok !== null).length} cells`, metText(checks));
    }
  }
  for (const [size, sid] of SIZES) {
    const id = `r1k-${sid}`;
    if (!present(id)) continue;
    tgt(`latency p99 at 1 000 msg/s, ${sizeText(size)}: ≤ 10 ms (p50 stated)`, `p50 / p99 µs: rhea ${lat(id, 'rhea')}; ` + OURS.map((c) => `${API[c]} ${lat(id, c)}`).join('; '),
      metText(OURS.map((c) => check(API[c], get(id, c, 'lat_p99_us'), (v) => v <= 10000))));
  }
  if (present('tput-256')) {
    const r = ratio(get('tput-256', 'ours', 'rate'), get('tput-256', 'rhea', 'rate'));
    tgt('saturation, 256 B: ≥ 5× rhea\'s rate (rhea API)', `rhea ${num(get('tput-256', 'rhea', 'rate'))} msg/s; rhea API ${num(get('tput-256', 'ours', 'rate'))} (${x(r)}); createConsumer ${num(get('tput-256', 'consumer', 'rate'))} (${x(ratio(get('tput-256', 'consumer', 'rate'), get('tput-256', 'rhea', 'rate')))}); floor ${num(get('tput-256', 'floor', 'rate'))}`,
      metText([check(API.ours, r, (v) => v >= 5)]));
  }
  for (const [size, sid] of SIZES) {
    const id = `r1k-${sid}`;
    if (!present(id) || get(id, 'floor', 'cpu_pct') === null) continue;
    tgt(`the floor's own CPU at 1 000 msg/s, ${sizeText(size)} (stated; 2.4–4.9 % before issue 12)`, `${num(get(id, 'floor', 'cpu_pct'))} % of a core, ${num(get(id, 'floor', 'cpu_us_per_msg'))} µs/msg`, '');
  }

  const lines = [];
  if (targets.length) {
    lines.push('### Targets (issue 12)', '', '| target | measured | met |', '|---|---|---|');
    for (const t of targets) lines.push(`| ${t.name} | ${t.measured} | ${t.met} |`);
    lines.push('');
  }
  lines.push(...out);
  const nul = get('null', 'floor-null', 'rate');
  const rheaRate = get('tput-256', 'rhea', 'rate');
  const lgCpu = get('null', 'floor-null', 'loadgen_cpu_us_per_msg');
  if (nul !== null) {
    lines.push(`Loadgen capacity: ${fmt(nul, 0)} msg/s delivered and settled to a null consumer (the floor, accepting only)` +
      (rheaRate ? `, ${(nul / rheaRate).toFixed(1)}× rhea's consumer rate` : '') +
      (lgCpu !== null ? `; loadgen CPU ${lgCpu.toFixed(2)} µs/msg on one thread.` : '.'));
    lines.push('');
  }
  const r100 = meta.rounds_100 !== undefined && meta.rounds_100 < meta.runs ? ` (the 100 msg/s rows: ${meta.rounds_100} rounds, the mean of the two)` : '';
  lines.push(`Median of ${meta.runs} alternated rounds per cell${r100} (every consumer once per round, order rotated, each against a fresh loadgen). ${meta.machine}. ` +
    `Paced rows: one message at a time on a timerfd schedule, the loadgen thread ${meta.rt === false ? 'a normal thread' : 'under SCHED_FIFO'}; ` +
    `rows of ${Object.entries(meta.paced_seconds || {}).map(([r, sec]) => `${sec} s at ${rateText(Number(r))}`).join(', ')}. ` +
    'Warm-up: the first tenth of the messages is left out of every figure but the rate reached (CPU, loop, main thread and latency are from message N/10 to message N). ' +
    `cC = createConsumer() with its default options${meta.consumer_defaults ? ` (credit ${meta.consumer_defaults.credit}, concurrency ${meta.consumer_defaults.concurrency})` : ''}, consumed with a for-await loop. ` +
    (meta.extra && meta.extra.length ? `Our consumers were given ${meta.extra.map((e) => `\`${e}\``).join(', ')}. ` : 'Default options for every consumer. '));
  return { markdown: lines.join('\n'), targets };
}

module.exports = { table };
