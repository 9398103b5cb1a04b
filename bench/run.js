#!/usr/bin/env node
'use strict';
// The benchmark: rhea vs this package (its rhea-shaped API and createConsumer()) vs the pure-Rust
// floor, side by side, against the loadgen, at paced rates (100, 1 000, 10 000, 50 000 msg/s, one
// message at a time) and unpaced (saturation), for 256 B and 4 KiB payloads.
//
//   npm run bench                 # full run: 3 alternated rounds per cell (100 msg/s rows: 2), ~15 min
//   npm run bench -- --quick      # 2 rounds, shorter rows, ~2-4 min (for development; partial-latest.*)
//   node bench/run.js --runs 5 --no-build --only rhea,ours
//   node bench/run.js --scenarios r1k-256,r10k-256     # some rows only (writes partial-latest.*)
//   node bench/run.js --opt NAME=JSON  # an extra option for our consumers' connect() / createConsumer()
//   node bench/run.js --no-rt     # the paced loadgen as a normal thread (default: SCHED_FIFO, see README)
//   node bench/run.js --profile   # also one --cpu-prof run of rhea and ours, top functions printed
//   node bench/run.js --render bench/results/results-<date>.json   # table and chart of a past run
// Scenario ids: r100-256 r1k-256 r10k-256 r50k-256 tput-256, the same with -4k, tput-256-tls,
// connect-tls, null. A quick run, or one limited with --only, --scenarios or --runs 1, writes
// partial-latest.* instead of latest.* (git-ignored): latest.* is always a full run.
//
// What it does: builds (the addon in release mode with the package's own `npm run build`, output
// kept in bench/build so the working tree's .node is untouched; loadgen and floor with cargo
// --release into bench/target), generates a TLS CA and leaf with openssl (bench/certs), then for
// every scenario runs each consumer in turn (order rotated every round) against a fresh loadgen
// process, and takes the median of the rounds. Every consumer is a process of its own and measures
// itself (bench/consumers/js-consumer.js, bench/floor), after a warm-up of the first tenth of the
// messages; the loadgen measures delivery to settlement and the evenness of its pacing. Results:
// markdown tables on stdout and in bench/results/latest.md, JSON in bench/results/latest.json (and a
// timestamped copy), a chart in bench/results/latest.svg.

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
  const o = { quick: false, runs: null, build: true, only: null, profile: false, scenarios: null, render: null, rt: true, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--no-build') o.build = false;
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--scenarios') o.scenarios = argv[++i].split(',');
    else if (a === '--profile') o.profile = true;
    else if (a === '--render') o.render = argv[++i];
    else if (a === '--no-rt') o.rt = false;
    else if (a === '--opt') o.extra.push(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 32).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.runs === null) o.runs = o.quick ? 2 : 3;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const Q = opts.quick;

/** The consumers under test. */
const CONSUMERS = [
  { id: 'rhea', label: 'rhea 3 (doc script)', kind: 'js', lib: 'rhea' },
  { id: 'ours', label: 'ours, rhea-shaped API (doc script, default options)', kind: 'js', lib: 'ours' },
  { id: 'consumer', label: 'ours, createConsumer() (default options, for-await loop)', kind: 'js', lib: 'consumer' },
  { id: 'floor', label: 'floor (pure Rust, our core)', kind: 'floor' },
].filter((c) => !opts.only || opts.only.includes(c.id));
/** Ours: the package's two APIs, each compared with rhea and with the floor. */
const OURS = ['ours', 'consumer'];

/** The paced rates (one message at a time, see loadgen/src/pace.rs) and how long each row runs. */
const RATES = [100, 1000, 10000, 50000];
const PACED_SECONDS = Q ? { 100: 2, 1000: 2, 10000: 1, 50000: 0.5 } : { 100: 20, 1000: 10, 10000: 3, 50000: 1 };
/** The 100 msg/s rows are the slowest (20 s a run): 2 rounds in the full run, to keep it near 15 min. */
const ROUNDS_100 = 2;
const SIZES = [[256, '256'], [4096, '4k']];
const rateId = (r) => (r >= 1000 ? `r${r / 1000}k` : `r${r}`);
const rateText = (r) => (r ? `${r.toLocaleString('en-US').replace(/,/g, ' ')} msg/s` : 'unpaced');

/** The scenarios: one loadgen configuration each. */
const SCENARIOS = [];
for (const [size, sid] of SIZES) {
  for (const rate of RATES) {
    SCENARIOS.push({ id: `${rateId(rate)}-${sid}`, title: `${rateText(rate)}, ${size === 256 ? '256 B' : '4 KiB'}`, count: Math.round(rate * PACED_SECONDS[rate]), size, rate, ...(rate === 100 ? { maxRuns: ROUNDS_100 } : {}) });
  }
  // Unpaced: as fast as credit allows (saturation).
  SCENARIOS.push({ id: `tput-${sid}`, title: `unpaced (saturation), ${size === 256 ? '256 B' : '4 KiB'}`, count: size === 256 ? (Q ? 40000 : 150000) : (Q ? 15000 : 50000), size, rate: 0 });
}
SCENARIOS.push(
  { id: 'tput-256-tls', title: 'unpaced (saturation), 256 B, TLS', count: Q ? 40000 : 100000, size: 256, rate: 0, tls: true },
  { id: 'connect-tls', title: 'connect() to first message, TLS', count: 200, size: 256, rate: 0, tls: true },
  // The loadgen's own capacity: the floor with no work (accepts only), once per round.
  { id: 'null', title: 'loadgen capacity (null consumer)', count: Q ? 200000 : 500000, size: 256, rate: 0, only: ['floor-null'] },
);
const RUN_SCENARIOS = SCENARIOS.filter((s) => !opts.scenarios || opts.scenarios.includes(s.id));

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
  // A fresh checkout has no native.js (generated, git-ignored): put the one just generated where
  // `npm run build` would have, so that index.js loads.
  for (const f of ['native.js', 'native.d.ts']) {
    if (!fs.existsSync(path.join(ROOT, f)) && fs.existsSync(path.join(BUILD, f))) fs.copyFileSync(path.join(BUILD, f), path.join(ROOT, f));
    fs.rmSync(path.join(BUILD, f), { force: true });
  }
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
  if (scenario.rate) {
    lgArgs.push('--rate', String(scenario.rate));
    if (opts.rt) lgArgs.push('--rt');
  }
  if (scenario.tls) lgArgs.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  const lg = start(LOADGEN, lgArgs, env);
  const first = await lg.line(0, 10000);
  const port = /^listening (\d+)/.exec(first)[1];
  let cArgs;
  let cmd;
  if (consumer.kind === 'js') {
    cmd = process.execPath;
    cArgs = [...(consumer.nodeArgs || []), JS_CONSUMER, '--lib', consumer.lib, '--port', port, '--count', String(scenario.count)];
    if (consumer.lib !== 'rhea') for (const o of opts.extra) cArgs.push('--opt', o);
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
  const pace = lr && lr.pacing ? lr.pacing : null;
  const r = {
    rate: lr && lr.rate ? lr.rate : cr.rate,
    consumer_rate: cr.rate,
    // After the warm-up (the first tenth of the messages): the figures of the tables.
    cpu_us_per_msg: cr.cpu_steady_us_per_msg,
    cpu_pct: cr.cpu_steady_pct,
    elu_us_per_msg: cr.elu_steady_us_per_msg !== undefined ? cr.elu_steady_us_per_msg : null,
    main_thread_us_per_msg: cr.main_steady_us_per_msg !== undefined ? cr.main_steady_us_per_msg : null,
    // The whole run, connect() to the last message (warm-up and connection set-up included).
    cpu_whole_us_per_msg: (cr.cpu_user_us + cr.cpu_sys_us) / n,
    elu_whole_us_per_msg: cr.elu_active_ms !== undefined ? (cr.elu_active_ms * 1000) / n : null,
    main_whole_us_per_msg: cr.main_thread_cpu_us !== undefined ? cr.main_thread_cpu_us / n : null,
    rss_mb: cr.vm_hwm_kb / 1024,
    first_message_ms: cr.first_message_ms !== undefined ? cr.first_message_ms : (cr.first_ns - cr.connect_ns) / 1e6,
    lat_p50_us: cr.lat_p50_us,
    lat_p99_us: cr.lat_p99_us,
    lat_p999_us: cr.lat_p999_us,
    lat_max_us: cr.lat_max_us,
    loadgen_cpu_us_per_msg: lr ? (lr.cpu_user_us + lr.cpu_sys_us) / scenario.count : null,
    loadgen_sched: lr ? lr.sched : null,
    disposition_frames: lr ? lr.disposition_frames : null,
    flow_frames: lr ? lr.flow_frames : null,
    // The pacing as sent (after the first tenth), from the loadgen's record of its sends.
    gap_p50_us: pace ? pace.steady.gap_p50_us : null,
    gap_p99_us: pace ? pace.steady.gap_p99_us : null,
    gap_max_us: pace ? pace.steady.gap_max_us : null,
    burst_share: pace ? pace.steady.burst_share : null,
    late_p50_us: pace ? pace.steady.late_p50_us : null,
    late_p99_us: pace ? pace.steady.late_p99_us : null,
    timer_wakeups_per_msg: pace ? pace.timer_wakeups / scenario.count : null,
    credit_stalls: pace ? pace.credit_stalls : null,
    credit_stall_ms: pace ? pace.credit_stall_ms : null,
  };
  return r;
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** A figure with as many digits as it deserves. */
function num(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 999.5) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// ------------------------------------------------------------------------------------------------
// The tables

/** The rows by rate: every paced rate, then unpaced, for each payload. */
function rateRows() {
  const rows = [];
  for (const [size, sid] of SIZES) {
    for (const rate of RATES) rows.push({ id: `${rateId(rate)}-${sid}`, rate, size });
    rows.push({ id: `tput-${sid}`, rate: 0, size });
  }
  return rows;
}

const sizeText = (size) => (size === 256 ? '256 B' : '4 KiB');
const API = { ours: 'rhea API', consumer: 'createConsumer' };

function table(results, meta, raw) {
  const get = (s, c, k) => (results[s] && results[s][c] && typeof results[s][c][k] === 'number' ? results[s][c][k] : null);
  const ratio = (a, b) => (a !== null && b !== null && b !== 0 ? a / b : null);
  const x = (r) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);
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
    'cC = createConsumer() with its default options (credit 100), consumed with a for-await loop. ' +
    (meta.extra && meta.extra.length ? `Our consumers were given ${meta.extra.map((e) => `\`${e}\``).join(', ')}. ` : 'Default options for every consumer. '));
  return { markdown: lines.join('\n'), targets };
}

// ------------------------------------------------------------------------------------------------
// The chart (SVG, no dependencies)

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

// ------------------------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0] ? cpus[0].model.trim() : '?'}), Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function render(file) {
  const { meta, results, runs } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { markdown } = table(results, meta, runs);
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
  log(`${opts.runs} rounds; scenarios ${RUN_SCENARIOS.map((s) => s.id).join(', ')}; consumers ${CONSUMERS.map((c) => c.id).join(', ')}` +
    (opts.extra.length ? `; our consumers given ${opts.extra.join(' ')}` : ''));
  for (let round = 0; round < opts.runs; round++) {
    const tr = Date.now();
    for (const s of RUN_SCENARIOS) {
      if (s.maxRuns && round >= s.maxRuns) continue;
      const list = s.only ? s.only.map((id) => ({ id, kind: 'floor', null: true })) : CONSUMERS;
      // Alternate: rotate the order every round.
      const order = list.map((_, i) => list[(i + round) % list.length]);
      for (const c of order) {
        const t1 = Date.now();
        const r = await once(s, c, tls);
        ((raw[s.id] ||= {})[c.id] ||= []).push(r);
        log(`round ${round + 1}/${opts.runs} ${s.id.padEnd(13)} ${c.id.padEnd(10)} ${fmt(r.rate, 0).padStart(7)} msg/s` +
          `  cpu ${num(r.cpu_us_per_msg)} µs/msg (${num(r.cpu_pct)} %)` + (r.elu_us_per_msg !== null ? `  loop ${num(r.elu_us_per_msg)}  main ${num(r.main_thread_us_per_msg)} µs/msg` : '') +
          (s.rate ? `  p50 ${num(r.lat_p50_us)} p99 ${num(r.lat_p99_us)} µs  bursts ${(100 * r.burst_share).toFixed(1)} %` + (r.credit_stalls ? ` stalls ${r.credit_stalls}` : '') : '') +
          (s.id === 'connect-tls' ? `  first message ${fmt(r.first_message_ms, 1)} ms` : '') + `  rss ${fmt(r.rss_mb, 1)} MB  [${((Date.now() - t1) / 1000).toFixed(1)} s]`);
      }
    }
    log(`round ${round + 1} took ${Math.round((Date.now() - tr) / 1000)} s; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
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
    scenarios: RUN_SCENARIOS,
    rt: opts.rt,
    extra: opts.extra,
    paced_seconds: PACED_SECONDS,
    rounds_100: Math.min(opts.runs, ROUNDS_100),
    warm_up: 'the first tenth of the messages',
    git: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim() +
          (execFileSync('git', ['status', '--porcelain', '--', 'src', 'lib', 'index.js'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (with uncommitted changes)' : '');
      } catch {
        return null;
      }
    })(),
  };
  const { markdown, targets } = table(results, meta, raw);
  const header = `## aliyun-iot-amqp vs rhea — ${meta.date}\n\nCommand: \`${meta.command}\` (git ${meta.git}); took ${Math.round(meta.seconds)} s; load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${load1.map((x) => x.toFixed(2)).join(' ')}.\n\n`;
  const md = header + markdown + '\n';
  const json = JSON.stringify({ meta, results, runs: raw, targets }, null, 2);
  const stamp = meta.date.replace(/[:.]/g, '-');
  // A partial or quick run (--only, --scenarios, --runs 1, --quick) is for development:
  // partial-* (git-ignored). latest.* is always a full run.
  const partial = opts.only || opts.scenarios || opts.runs < 2 || opts.quick;
  const latest = partial ? 'partial-latest' : 'latest';
  fs.writeFileSync(path.join(RESULTS, `${latest}.md`), md);
  fs.writeFileSync(path.join(RESULTS, `${latest}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${partial ? 'partial-' : ''}results-${stamp}.json`), json);
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
