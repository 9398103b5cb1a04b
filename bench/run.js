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

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { BENCH, ROOT, RESULTS, ADDON, LOADGEN, FLOOR } = require('./lib/paths');
const { log } = require('./lib/proc');
const { build, certs } = require('./lib/setup');
const { once } = require('./lib/once');
const { CONSUMERS: ALL_CONSUMERS, pacedSeconds, ROUNDS_100, scenarios } = require('./lib/scenarios');
const { medians } = require('./lib/stats');
const { DEFAULTS } = require('../lib/options.js');
const { fmt, num } = require('./lib/format');
const { write, render } = require('./lib/report');

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
      const text = fs.readFileSync(__filename, 'utf8').split('\n');
      console.log(text.slice(2, text.findIndex((l, i) => i > 2 && !l.startsWith('//'))).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.runs === null) o.runs = o.quick ? 2 : 3;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const PACED_SECONDS = pacedSeconds(opts.quick);
const SCENARIOS = scenarios(opts.quick);
const CONSUMERS = ALL_CONSUMERS.filter((c) => !opts.only || opts.only.includes(c.id));
const RUN_SCENARIOS = SCENARIOS.filter((s) => !opts.scenarios || opts.scenarios.includes(s.id));
/** For once(): the loadgen's scheduling, our consumers' extra options. */
const ONCE = { rt: opts.rt, extra: opts.extra };

// ------------------------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0] ? cpus[0].model.trim() : '?'}), Node ${process.version}, ${os.platform()} ${os.release()}`;
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
        const r = await once(s, c, tls, ONCE);
        ((raw[s.id] ||= {})[c.id] ||= []).push(r);
        log(`round ${round + 1}/${opts.runs} ${s.id.padEnd(13)} ${c.id.padEnd(10)} ${fmt(r.rate, 0).padStart(7)} msg/s` +
          `  cpu ${num(r.cpu_us_per_msg)} µs/msg (${num(r.cpu_pct)} %)` + (r.elu_us_per_msg !== null ? `  loop ${num(r.elu_us_per_msg)}  main ${num(r.main_thread_us_per_msg)} µs/msg` : '') +
          (s.rate ? `  p50 ${num(r.lat_p50_us)} p99 ${num(r.lat_p99_us)} µs  bursts ${(100 * r.burst_share).toFixed(1)} %` + (r.credit_stalls ? ` stalls ${r.credit_stalls}` : '') : '') +
          (s.id === 'connect-tls' ? `  first message ${fmt(r.first_message_ms, 1)} ms` : '') + `  rss ${fmt(r.rss_mb, 1)} MB  [${((Date.now() - t1) / 1000).toFixed(1)} s]`);
      }
    }
    log(`round ${round + 1} took ${Math.round((Date.now() - tr) / 1000)} s; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  }
  const results = medians(raw);
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
    consumer_defaults: { credit: DEFAULTS.consumer.credit, concurrency: DEFAULTS.consumer.concurrency },
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
  // A partial or quick run (--only, --scenarios, --runs 1, --quick) is for development:
  // partial-* (git-ignored). latest.* is always a full run.
  const partial = opts.only || opts.scenarios || opts.runs < 2 || opts.quick;
  write(meta, results, raw, partial);

  if (opts.profile) {
    const dir = path.join(BENCH, 'profiles');
    fs.mkdirSync(dir, { recursive: true });
    const s = SCENARIOS.find((x) => x.id === 'tput-256') || { id: 'tput-256', count: 200000, size: 256 };
    for (const lib of ['rhea', 'ours']) {
      for (const f of fs.readdirSync(dir)) if (f.startsWith(lib)) fs.unlinkSync(path.join(dir, f));
      await once(s, { id: lib, kind: 'js', lib, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${lib}.cpuprofile`] }, tls, ONCE);
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
