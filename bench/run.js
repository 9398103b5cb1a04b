#!/usr/bin/env node
'use strict';
// The benchmark: rhea vs this package vs the pure-Rust floor, side by side, against the loadgen.
//
//   npm run bench                 # full run (median of 5 alternated runs per cell), ~8-10 min
//   npm run bench -- --quick      # 3 runs, smaller counts, ~2-3 min
//   node bench/run.js --runs 7 --no-build --only rhea,ours
//   node bench/run.js --profile   # also one --cpu-prof run of rhea and ours, top functions printed
//   node bench/run.js --render bench/results/results-<date>.json   # table and chart of a past run
// A run limited with --only or --scenarios writes partial-latest.* instead of latest.*.
//
// What it does: builds (the addon in release mode with the package's own `npm run build`, output
// kept in bench/build so the working tree's .node is untouched; loadgen and floor with cargo
// --release into bench/target), generates a TLS CA and leaf with openssl (bench/certs), then for
// every scenario runs each consumer in turn (order rotated every round) against a fresh loadgen
// process, and takes the median of the rounds. Every consumer is a process of its own and measures
// itself (bench/consumers/js-consumer.js, bench/floor); the loadgen measures delivery to
// settlement. Results: a markdown table on stdout and in bench/results/latest.md, JSON in
// bench/results/latest.json (and a timestamped copy), a chart in bench/results/latest.svg.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const BENCH = __dirname;
const ROOT = path.resolve(BENCH, '..');
const TARGET = path.join(BENCH, 'target');
const BUILD = path.join(BENCH, 'build');
const CERTS = path.join(BENCH, 'certs');
const RESULTS = path.join(BENCH, 'results');
const ADDON = path.join(BUILD, 'aliyun-iot-amqp.linux-x64-gnu.node');
const LOADGEN = path.join(TARGET, 'release', 'loadgen');
const FLOOR = path.join(TARGET, 'release', 'floor');
const JS_CONSUMER = path.join(BENCH, 'consumers', 'js-consumer.js');

// ------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { quick: false, runs: null, build: true, only: null, profile: false, scenarios: null, render: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--no-build') o.build = false;
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--scenarios') o.scenarios = argv[++i].split(',');
    else if (a === '--profile') o.profile = true;
    else if (a === '--render') o.render = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 19).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.runs === null) o.runs = o.quick ? 3 : 5;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const Q = opts.quick;

/** The consumers under test. */
const CONSUMERS = [
  { id: 'rhea', label: 'rhea 3 (doc script)', kind: 'js', lib: 'rhea' },
  { id: 'ours', label: 'ours, rhea-shaped API', kind: 'js', lib: 'ours' },
  { id: 'floor', label: 'floor (pure Rust, our core)', kind: 'floor' },
].filter((c) => !opts.only || opts.only.includes(c.id));

/** The scenarios: one loadgen configuration each. */
const SCENARIOS = [
  { id: 'tput-256', title: 'throughput, 256 B, TCP', count: Q ? 60000 : 200000, size: 256 },
  { id: 'tput-4k', title: 'throughput, 4 KiB, TCP', count: Q ? 20000 : 50000, size: 4096 },
  { id: 'tput-256-tls', title: 'throughput, 256 B, TLS', count: Q ? 60000 : 200000, size: 256, tls: true },
  { id: 'lat-1k', title: 'latency at 1 000 msg/s', count: Q ? 4000 : 10000, size: 256, rate: 1000 },
  { id: 'lat-10k', title: 'latency at 10 000 msg/s', count: Q ? 20000 : 50000, size: 256, rate: 10000 },
  { id: 'connect-tls', title: 'connect() to first message, TLS', count: 200, size: 256, tls: true },
  // The loadgen's own capacity: the floor with no work (accepts only), once per round.
  { id: 'null', title: 'loadgen capacity (null consumer)', count: Q ? 200000 : 500000, size: 256, only: ['floor-null'] },
].filter((s) => !opts.scenarios || opts.scenarios.includes(s.id));

// ------------------------------------------------------------------------------------------------
// Helpers

function log(...a) {
  process.stderr.write(a.join(' ') + '\n');
}

function run(cmd, args, options = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function childEnv() {
  const env = { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: ADDON };
  // This machine sets NODE_EXTRA_CA_CERTS to the whole system bundle; most deployments do not, and
  // our TLS setup honours it (parsing ~150 certificates at connect time) where Node reads it at
  // start-up. Leave it out so that the connect-time comparison is about the libraries.
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.DEBUG;
  return env;
}

function build() {
  fs.mkdirSync(BUILD, { recursive: true });
  // The addon, release, with the package's own build script; output kept under bench/.
  run('npm', ['run', 'build', '--', '--target-dir', TARGET, '--output-dir', BUILD], { cwd: ROOT });
  // Only the .node is used (through NAPI_RS_NATIVE_LIBRARY_PATH, by the package's own native.js).
  for (const f of ['native.js', 'native.d.ts']) fs.rmSync(path.join(BUILD, f), { force: true });
  run('cargo', ['build', '--release', '--quiet'], { cwd: BENCH, env: { ...process.env, CARGO_TARGET_DIR: TARGET } });
}

function certs() {
  const ca = path.join(CERTS, 'ca.pem');
  const cert = path.join(CERTS, 'leaf.pem');
  const key = path.join(CERTS, 'leaf.key');
  if (fs.existsSync(ca) && fs.existsSync(cert) && fs.existsSync(key)) return { ca, cert, key };
  fs.mkdirSync(CERTS, { recursive: true });
  const ossl = (args) => execFileSync('openssl', args, { cwd: CERTS, stdio: ['ignore', 'ignore', 'pipe'] });
  // RSA 2048 as the platform's certificates are.
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=bench CA',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'leaf.key', '-out', 'leaf.csr']);
  fs.writeFileSync(path.join(CERTS, 'leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  ossl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650',
    '-out', 'leaf.pem', '-extfile', 'leaf.ext']);
  return { ca, cert, key };
}

/** Spawns `cmd` and collects its stdout lines; `onLine` may resolve early things. */
function start(cmd, args, env) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  // 'close', not 'exit': only then has all of stdout been read.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    get stderr() {
      return stderr;
    },
    exited,
    async line(i, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (lines.length <= i) {
        if (Date.now() > deadline) throw new Error(`${path.basename(cmd)}: no output line ${i} within ${timeoutMs} ms; stderr: ${stderr}`);
        await Promise.race([new Promise((r) => waiters.push(r)), exited, new Promise((r) => setTimeout(r, 100))]);
        if (child.exitCode !== null && child.stdout.readableEnded && lines.length <= i) throw new Error(`${path.basename(cmd)} exited (${child.exitCode}); stderr: ${stderr}`);
      }
      return lines[i];
    },
  };
}

async function stop(proc, ms) {
  const t = setTimeout(() => {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }, ms);
  await proc.exited;
  clearTimeout(t);
}

function lastJson(lines) {
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i].startsWith('{')) return JSON.parse(lines[i]);
  }
  return null;
}

/** One consumer against one fresh loadgen. */
async function once(scenario, consumer, tls) {
  const env = childEnv();
  const lgArgs = ['--count', String(scenario.count), '--size', String(scenario.size), '--timeout-s', '120'];
  if (scenario.rate) lgArgs.push('--rate', String(scenario.rate));
  if (scenario.tls) lgArgs.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  const lg = start(LOADGEN, lgArgs, env);
  const first = await lg.line(0, 10000);
  const port = /^listening (\d+)/.exec(first)[1];
  let cArgs;
  let cmd;
  if (consumer.kind === 'js') {
    cmd = process.execPath;
    cArgs = [...(consumer.nodeArgs || []), JS_CONSUMER, '--lib', consumer.lib, '--port', port, '--count', String(scenario.count)];
  } else {
    cmd = FLOOR;
    cArgs = ['--port', port, '--count', String(scenario.count)];
    if (consumer.null) cArgs.push('--null');
  }
  if (scenario.tls) cArgs.push('--tls', '--ca', tls.ca);
  if (scenario.rate) cArgs.push('--latency');
  const c = start(cmd, cArgs, env);
  const budget = 120000 + (scenario.rate ? (1000 * scenario.count) / scenario.rate : 0);
  const killer = setTimeout(() => c.child.kill('SIGKILL'), budget);
  await c.exited;
  clearTimeout(killer);
  await stop(lg, 5000);
  const cr = lastJson(c.lines);
  const lr = lastJson(lg.lines);
  if (!cr || cr.received !== scenario.count) {
    throw new Error(`${consumer.id} in ${scenario.id}: incomplete run: ${JSON.stringify(cr)}\n${c.stderr}\nloadgen: ${JSON.stringify(lr)} ${lg.stderr}`);
  }
  if (!lr || lr.error || lr.accepted !== scenario.count) {
    log(`  warning: loadgen saw ${lr && lr.accepted} accepted of ${scenario.count} (${lr && lr.error})`);
  }
  const n = cr.received;
  const r = {
    rate: lr && lr.rate ? lr.rate : cr.rate,
    consumer_rate: cr.rate,
    cpu_us_per_msg: (cr.cpu_user_us + cr.cpu_sys_us) / n,
    cpu_user_us_per_msg: cr.cpu_user_us / n,
    cpu_sys_us_per_msg: cr.cpu_sys_us / n,
    cpu_steady_us_per_msg: cr.cpu_steady_us_per_msg,
    cpu_steady_pct: cr.cpu_steady_pct,
    main_thread_us_per_msg: cr.main_thread_cpu_us !== undefined ? cr.main_thread_cpu_us / n : null,
    elu_us_per_msg: cr.elu_active_ms !== undefined ? (cr.elu_active_ms * 1000) / n : null,
    rss_mb: cr.vm_hwm_kb / 1024,
    first_message_ms: cr.first_message_ms !== undefined ? cr.first_message_ms : (cr.first_ns - cr.connect_ns) / 1e6,
    lat_p50_us: cr.lat_p50_us,
    lat_p99_us: cr.lat_p99_us,
    lat_p999_us: cr.lat_p999_us,
    loadgen_cpu_us_per_msg: lr ? (lr.cpu_user_us + lr.cpu_sys_us) / scenario.count : null,
    disposition_frames: lr ? lr.disposition_frames : null,
    flow_frames: lr ? lr.flow_frames : null,
  };
  return r;
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

// ------------------------------------------------------------------------------------------------
// The table

function table(results, meta) {
  const get = (s, c, k) => (results[s] && results[s][c] ? results[s][c][k] : null);
  const rows = [];
  const ratio = (a, b) => (a !== null && b !== null && b !== 0 ? a / b : null);
  /** A row: metric, rhea, ours, ours/rhea, target, met?, floor, ours/floor. */
  function row(name, s, k, { digits = 1, target = null, better = 'higher', scale = 1 } = {}) {
    const rhea = get(s, 'rhea', k);
    const ours = get(s, 'ours', k);
    const floor = get(s, 'floor', k);
    const r = ratio(ours, rhea);
    let met = '';
    if (target !== null && r !== null) met = target(r, ours, rhea) ? 'yes' : 'NO';
    rows.push({
      name,
      rhea: rhea === null ? null : rhea * scale,
      ours: ours === null ? null : ours * scale,
      ratio: r,
      target: target ? target.text : '',
      met,
      floor: floor === null ? null : floor * scale,
      vsFloor: ratio(ours, floor),
      digits,
      better,
    });
  }
  const atLeast = (x, text) => Object.assign((r) => r >= x, { text });
  const atMost = (x, text) => Object.assign((r) => r <= x, { text });
  row('throughput 256 B, TCP (msg/s)', 'tput-256', 'rate', { digits: 0, target: atLeast(3, '≥ 3×') });
  row('throughput 4 KiB, TCP (msg/s)', 'tput-4k', 'rate', { digits: 0, target: atLeast(3, '≥ 3×') });
  row('throughput 256 B, TLS (msg/s)', 'tput-256-tls', 'rate', { digits: 0, target: atLeast(3, '≥ 3×') });
  row('CPU per message, 256 B (µs, user+sys, all threads)', 'tput-256', 'cpu_us_per_msg', { digits: 2, target: atMost(1 / 3, '≤ 1/3'), better: 'lower' });
  row('CPU per message, 4 KiB (µs)', 'tput-4k', 'cpu_us_per_msg', { digits: 2, target: atMost(1 / 3, '≤ 1/3'), better: 'lower' });
  row('CPU per message, 256 B TLS (µs)', 'tput-256-tls', 'cpu_us_per_msg', { digits: 2, target: atMost(1 / 3, '≤ 1/3'), better: 'lower' });
  row('event-loop busy per message, 256 B (µs)', 'tput-256', 'elu_us_per_msg', { digits: 2, target: atMost(1 / 4, '≤ 1/4'), better: 'lower' });
  row('event-loop busy per message, 4 KiB (µs)', 'tput-4k', 'elu_us_per_msg', { digits: 2, target: atMost(1 / 4, '≤ 1/4'), better: 'lower' });
  row('Node main-thread CPU per message, 256 B (µs)', 'tput-256', 'main_thread_us_per_msg', { digits: 2, better: 'lower' });
  row('Node main-thread CPU per message, 4 KiB (µs)', 'tput-4k', 'main_thread_us_per_msg', { digits: 2, better: 'lower' });
  const rssTarget = Object.assign((r, ours, rhea) => ours <= rhea + 20, { text: '≤ rhea + 20 MB' });
  row('peak RSS, 256 B run (MB)', 'tput-256', 'rss_mb', { digits: 1, target: rssTarget, better: 'lower' });
  row('peak RSS, 4 KiB run (MB)', 'tput-4k', 'rss_mb', { digits: 1, target: rssTarget, better: 'lower' });
  row('latency p50 at 1 000 msg/s (µs)', 'lat-1k', 'lat_p50_us', { digits: 0, better: 'lower' });
  row('latency p99 at 1 000 msg/s (µs)', 'lat-1k', 'lat_p99_us', { digits: 0, target: atMost(1, '≤ rhea'), better: 'lower' });
  row('latency p50 at 10 000 msg/s (µs)', 'lat-10k', 'lat_p50_us', { digits: 0, better: 'lower' });
  row('latency p99 at 10 000 msg/s (µs)', 'lat-10k', 'lat_p99_us', { digits: 0, better: 'lower' });
  row('CPU at 1 000 msg/s, steady state (% of one core)', 'lat-1k', 'cpu_steady_pct', { digits: 1, better: 'lower' });
  row('CPU at 10 000 msg/s, steady state (% of one core)', 'lat-10k', 'cpu_steady_pct', { digits: 1, better: 'lower' });
  row('connect() to first message, TLS (ms)', 'connect-tls', 'first_message_ms', { digits: 1, better: 'lower' });
  const out = [];
  out.push('| metric | rhea | ours (rhea API) | ours / rhea | target | met | floor (Rust) | ours / floor |');
  out.push('|---|---:|---:|---:|---|---|---:|---:|');
  for (const r of rows) {
    out.push(`| ${r.name} | ${fmt(r.rhea, r.digits)} | ${fmt(r.ours, r.digits)} | ${r.ratio === null ? 'n/a' : r.ratio.toFixed(2) + '×'} | ${r.target} | ${r.met} | ${fmt(r.floor, r.digits)} | ${r.vsFloor === null ? 'n/a' : r.vsFloor.toFixed(2) + '×'} |`);
  }
  const nul = get('null', 'floor-null', 'rate');
  const rheaRate = get('tput-256', 'rhea', 'rate');
  const lgCpu = get('null', 'floor-null', 'loadgen_cpu_us_per_msg');
  const lines = [out.join('\n'), ''];
  if (nul !== null) {
    lines.push(`Loadgen capacity: ${fmt(nul, 0)} msg/s delivered and settled to a null consumer (the floor, accepting only)` +
      (rheaRate ? `, ${(nul / rheaRate).toFixed(1)}× rhea's consumer rate` : '') +
      (lgCpu !== null ? `; loadgen CPU ${lgCpu.toFixed(2)} µs/msg on one thread.` : '.'));
  }
  lines.push('(c) ours through a faster API: none exists today; see bench/README.md for the measured proposal.');
  lines.push('');
  lines.push(`Median of ${meta.runs} alternated runs per cell. ${meta.machine}. Throughput: loadgen's first transfer to last settlement. ` +
    'CPU: user+sys of the consumer process, connect() to last message. Latency: loadgen send → handler, first 10% dropped.');
  return { markdown: lines.join('\n'), rows };
}

// ------------------------------------------------------------------------------------------------
// The chart (SVG, no dependencies)

function chart(results) {
  const consumers = [
    ['rhea', '#9e9e9e'],
    ['ours', '#1976d2'],
    ['floor', '#43a047'],
  ];
  const panels = [
    { title: 'Throughput (msg/s, higher is better)', metric: 'rate', scenarios: [['tput-256', '256 B'], ['tput-4k', '4 KiB'], ['tput-256-tls', '256 B TLS']] },
    { title: 'CPU per message (µs, lower is better)', metric: 'cpu_us_per_msg', scenarios: [['tput-256', '256 B'], ['tput-4k', '4 KiB'], ['tput-256-tls', '256 B TLS']] },
    { title: 'Event-loop busy per message (µs, lower is better)', metric: 'elu_us_per_msg', scenarios: [['tput-256', '256 B'], ['tput-4k', '4 KiB'], ['tput-256-tls', '256 B TLS']] },
    { title: 'Latency p99 (µs, lower is better)', metric: 'lat_p99_us', scenarios: [['lat-1k', '1 000/s'], ['lat-10k', '10 000/s']] },
  ];
  const W = 460;
  const H = 230;
  const svg = [];
  const width = W * 2 + 30;
  const height = H * 2 + 70;
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  svg.push(`<rect width="100%" height="100%" fill="white"/>`);
  consumers.forEach(([c, color], i) => {
    svg.push(`<rect x="${20 + i * 170}" y="10" width="12" height="12" fill="${color}"/><text x="${36 + i * 170}" y="20">${c === 'ours' ? 'ours (rhea-shaped API)' : c === 'floor' ? 'floor (pure Rust)' : 'rhea'}</text>`);
  });
  panels.forEach((p, pi) => {
    const ox = 10 + (pi % 2) * (W + 10);
    const oy = 40 + Math.floor(pi / 2) * (H + 10);
    const values = [];
    for (const [s] of p.scenarios) for (const [c] of consumers) values.push(results[s] && results[s][c] ? results[s][c][p.metric] : null);
    const max = Math.max(...values.filter((v) => v !== null && Number.isFinite(v)), 1e-9);
    svg.push(`<text x="${ox + 10}" y="${oy + 14}" font-weight="bold">${p.title}</text>`);
    const plotTop = oy + 30;
    const plotH = H - 70;
    const groupW = (W - 40) / p.scenarios.length;
    const barW = Math.min(36, (groupW - 20) / consumers.length);
    p.scenarios.forEach(([s, label], si) => {
      const gx = ox + 20 + si * groupW;
      consumers.forEach(([c, color], ci) => {
        const v = results[s] && results[s][c] ? results[s][c][p.metric] : null;
        if (v === null || !Number.isFinite(v)) return;
        const h = (v / max) * plotH;
        const x = gx + 10 + ci * barW;
        svg.push(`<rect x="${x.toFixed(1)}" y="${(plotTop + plotH - h).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`);
        svg.push(`<text x="${(x + barW / 2 - 1.5).toFixed(1)}" y="${(plotTop + plotH - h - 3).toFixed(1)}" text-anchor="middle" font-size="9">${fmt(v, v < 10 ? 2 : 0)}</text>`);
      });
      svg.push(`<text x="${(gx + 10 + (barW * consumers.length) / 2).toFixed(1)}" y="${plotTop + plotH + 14}" text-anchor="middle">${label}</text>`);
    });
    svg.push(`<line x1="${ox + 20}" y1="${plotTop + plotH}" x2="${ox + W - 20}" y2="${plotTop + plotH}" stroke="#333"/>`);
  });
  svg.push('</svg>');
  return svg.join('\n');
}

// ------------------------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0] ? cpus[0].model.trim() : '?'}), Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function render(file) {
  const { meta, results } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { markdown } = table(results, meta);
  const md = `## aliyun-iot-amqp vs rhea — ${meta.date}\n\nCommand: \`${meta.command}\` (git ${meta.git}); took ${Math.round(meta.seconds)} s; load average ${meta.load_average_start.map((x) => x.toFixed(2)).join(' ')} → ${meta.load_average_end.map((x) => x.toFixed(2)).join(' ')}.\n\n${markdown}\n`;
  const base = file.replace(/\.json$/, '');
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(`${base}.svg`, chart(results));
  process.stdout.write(md);
  log(`wrote ${base}.md and ${base}.svg`);
}

async function main() {
  if (opts.render) return render(opts.render);
  const t0 = Date.now();
  if (opts.build) build();
  for (const f of [ADDON, LOADGEN, FLOOR]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: run without --no-build`);
  }
  const tls = certs();
  fs.mkdirSync(RESULTS, { recursive: true });
  const load0 = os.loadavg();
  const raw = {};
  const results = {};
  log(`\n${machine()}; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  log(`${opts.runs} rounds; scenarios ${SCENARIOS.map((s) => s.id).join(', ')}; consumers ${CONSUMERS.map((c) => c.id).join(', ')}`);
  for (let round = 0; round < opts.runs; round++) {
    for (const s of SCENARIOS) {
      const list = s.only ? s.only.map((id) => ({ id, kind: 'floor', null: true })) : CONSUMERS;
      // Alternate: rotate the order every round.
      const order = list.map((_, i) => list[(i + round) % list.length]);
      for (const c of order) {
        const r = await once(s, c, tls);
        ((raw[s.id] ||= {})[c.id] ||= []).push(r);
        log(`round ${round + 1}/${opts.runs} ${s.id.padEnd(13)} ${c.id.padEnd(10)} ` +
          (s.rate ? `p50 ${fmt(r.lat_p50_us, 0)} µs p99 ${fmt(r.lat_p99_us, 0)} µs` : s.id === 'connect-tls' ? `first message ${fmt(r.first_message_ms, 1)} ms` : `${fmt(r.rate, 0)} msg/s`) +
          `  cpu ${fmt(r.cpu_us_per_msg, 2)} µs/msg` + (r.elu_us_per_msg !== null ? `  loop ${fmt(r.elu_us_per_msg, 2)} µs/msg` : '') + `  rss ${fmt(r.rss_mb, 1)} MB`);
      }
    }
  }
  for (const [s, byC] of Object.entries(raw)) {
    results[s] = {};
    for (const [c, runs] of Object.entries(byC)) {
      const m = {};
      for (const k of Object.keys(runs[0])) m[k] = median(runs.map((r) => r[k]));
      results[s][c] = m;
    }
  }
  const load1 = os.loadavg();
  const meta = {
    date: new Date().toISOString(),
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    runs: opts.runs,
    quick: opts.quick,
    machine: machine(),
    load_average_start: load0,
    load_average_end: load1,
    seconds: (Date.now() - t0) / 1000,
    scenarios: SCENARIOS,
    git: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim() +
          (execFileSync('git', ['status', '--porcelain', '--', 'src', 'lib', 'index.js'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (with uncommitted changes)' : '');
      } catch {
        return null;
      }
    })(),
  };
  const { markdown, rows } = table(results, meta);
  const header = `## aliyun-iot-amqp vs rhea — ${meta.date}\n\nCommand: \`${meta.command}\` (git ${meta.git}); took ${Math.round(meta.seconds)} s; load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${load1.map((x) => x.toFixed(2)).join(' ')}.\n\n`;
  const md = header + markdown + '\n';
  const json = JSON.stringify({ meta, results, runs: raw, table: rows }, null, 2);
  const stamp = meta.date.replace(/[:.]/g, '-');
  const latest = opts.only || opts.scenarios ? 'partial-latest' : 'latest';
  fs.writeFileSync(path.join(RESULTS, `${latest}.md`), md);
  fs.writeFileSync(path.join(RESULTS, `${latest}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `results-${stamp}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${latest}.svg`), chart(results));
  process.stdout.write('\n' + md + '\n');
  log(`results: ${path.relative(ROOT, path.join(RESULTS, `${latest}.md`))}, ${latest}.json, ${latest}.svg (${Math.round(meta.seconds)} s)`);

  if (opts.profile) {
    const dir = path.join(BENCH, 'profiles');
    fs.mkdirSync(dir, { recursive: true });
    const s = SCENARIOS.find((x) => x.id === 'tput-256') || { id: 'tput-256', count: 200000, size: 256 };
    for (const lib of ['rhea', 'ours']) {
      for (const f of fs.readdirSync(dir)) if (f.startsWith(lib)) fs.unlinkSync(path.join(dir, f));
      await once(s, { id: lib, kind: 'js', lib, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${lib}.cpuprofile`] }, tls);
      process.stdout.write(`\n### CPU profile, ${lib}, ${s.id} (self time, main thread)\n\n\`\`\`\n`);
      process.stdout.write(execFileSync(process.execPath, [path.join(BENCH, 'tools', 'cpuprofile-top.js'), path.join(dir, `${lib}.cpuprofile`), '15'], { encoding: 'utf8' }));
      process.stdout.write('```\n');
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
