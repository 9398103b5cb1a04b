#!/usr/bin/env node
'use strict';
// A/B of addon builds (or package trees) at paced rates and/or unpaced, alternating the sides run by
// run, each run against a fresh loadgen (paced one message at a time, as bench/run.js does):
//
//   node bench/tools/ab.js [options] SIDE SIDE...
//   bench/tools/ab-rate.sh A B          # the same with the defaults below: 1 000 and 10 000 msg/s
//
// SIDE: a .node file (loaded with this tree's index.js), a package directory (its index.js and its
// aliyun-iot-amqp.linux-x64-gnu.node, as `npm run build` leaves them), `rhea`, or `floor:PATH`, a
// floor binary (bench/floor, built from some checkout's core: `cargo build --release --bin floor`
// in its bench/), to A/B the core alone.
// `ours:SIDE` or `consumer:SIDE` runs that side through that API whatever --lib says (to set
// the two APIs side by side: `consumer:. ours:.`).
// A side may carry options for our consumer after a '+': `bench/build/x.node+ackDelay=5` (several:
// `+a=1+b=2`; values parsed as JSON, else strings), handed to connect() / createConsumer().
//
// Options:
//   --rates 1000,10000   paced rates; 0 = unpaced (saturation)        (default 1000,10000)
//   --seconds 5          length of a paced run                         (default 5)
//   --count N            messages of an unpaced run                    (default 100000)
//   --runs 3             runs per side and rate (alternated)           (default 3)
//   --size 256           payload bytes                                 (default 256)
//   --lib ours|consumer  our API: rhea-shaped (doc script) or createConsumer() (for-await)  (default ours)
//   --no-rt              the paced loadgen as a normal thread (default: SCHED_FIFO)
//   --tls                TLS, with bench/certs (made here when missing, as run.js does)
//   --sender loadgen|rhea  what sends: the Rust loadgen, or tools/rhea-sender.js, a rhea server
//                        paced by a 1 ms Node timer (unpaced: rhea's own ceiling)  (default loadgen)
//
// Prints each run, then per rate the medians per side and each side's ratio to the first:
// CPU µs/msg (whole process, after the warm-up tenth), % of a core, event-loop busy µs/msg, main
// thread µs/msg, latency p50/p99, rate reached. Needs bench/target/release/loadgen (node bench/run.js
// builds it, or `cargo build --release` in bench/).

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, LOADGEN, JS_CONSUMER } = require('../lib/paths');
const { start, lastJson } = require('../lib/proc');
const { certs } = require('../lib/setup');

const NODE_NAME = 'aliyun-iot-amqp.linux-x64-gnu.node';
const RHEA_SENDER = path.join(__dirname, 'rhea-sender.js');

function parseArgs(argv) {
  const o = { rates: [1000, 10000], seconds: 5, count: 100000, runs: 3, size: 256, lib: 'ours', rt: true, sender: 'loadgen', tls: false, sides: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--rates') o.rates = val().split(',').map(Number);
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--count') o.count = Number(val());
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--size') o.size = Number(val());
    else if (a === '--lib') o.lib = val();
    else if (a === '--no-rt') o.rt = false;
    else if (a === '--sender') o.sender = val();
    else if (a === '--tls') o.tls = true;
    else if (a === '--help' || a === '-h') {
      // The header comment, from its second line to its last.
      const lines = fs.readFileSync(__filename, 'utf8').split('\n');
      console.log(lines.slice(2, lines.findIndex((l, i) => i > 2 && !l.startsWith('//'))).join('\n'));
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.sides.push(a);
  }
  if (o.sides.length < 1) throw new Error('ab.js SIDE [SIDE...]: see --help');
  if (!['loadgen', 'rhea'].includes(o.sender)) throw new Error(`--sender loadgen|rhea, not ${o.sender}`);
  return o;
}

function side(spec) {
  const api = /^(ours|consumer):/.exec(spec);
  if (api) return { ...side(spec.slice(api[0].length)), name: spec, lib: api[1] };
  const [where, ...extra] = spec.split('+');
  const opts = extra.flatMap((kv) => ['--opt', kv]);
  if (where === 'rhea') return { name: spec, lib: 'rhea', env: {}, args: [] };
  if (where.startsWith('floor:')) {
    const bin = path.resolve(where.slice('floor:'.length));
    if (!fs.existsSync(bin)) throw new Error(`${bin}: no such file`);
    if (extra.length) throw new Error(`${spec}: a floor takes no options`);
    return { name: spec, floor: bin, env: {}, args: [] };
  }
  const p = path.resolve(where);
  if (!fs.existsSync(p)) throw new Error(`${where}: no such file or directory`);
  if (fs.statSync(p).isDirectory()) {
    const addon = path.join(p, NODE_NAME);
    if (!fs.existsSync(addon)) throw new Error(`${p} has no ${NODE_NAME}: build it there (npm run build)`);
    return { name: spec, lib: null, env: { NAPI_RS_NATIVE_LIBRARY_PATH: addon }, args: ['--index', path.join(p, 'index.js'), ...opts] };
  }
  return { name: spec, lib: null, env: { NAPI_RS_NATIVE_LIBRARY_PATH: p }, args: ['--index', path.join(ROOT, 'index.js'), ...opts] };
}

async function once(o, s, rate) {
  const count = rate ? Math.round(rate * o.seconds) : o.count;
  const env = { ...process.env, ...s.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const lgArgs = ['--count', String(count), '--size', String(o.size), '--timeout-s', '120'];
  if (rate) lgArgs.push('--rate', String(rate), ...(o.rt ? ['--rt'] : []));
  if (o.tls) lgArgs.push(...(o.sender === 'rhea' ? ['--tls', '--cert', o.tls.cert, '--key', o.tls.key] : ['--tls-cert', o.tls.cert, '--tls-key', o.tls.key]));
  const lg = o.sender === 'rhea' ? start(process.execPath, [RHEA_SENDER, ...lgArgs], process.env) : start(LOADGEN, lgArgs, process.env);
  const port = /^listening (\d+)/.exec(await lg.line(0, 10000))[1];
  const common = ['--port', port, '--count', String(count), ...(rate ? ['--latency'] : []), ...(o.tls ? ['--tls', '--ca', o.tls.ca] : [])];
  const c = s.floor
    ? start(s.floor, common, env)
    : start(process.execPath, [JS_CONSUMER, '--lib', s.lib || o.lib, ...common, ...s.args], env);
  await c.exited;
  await lg.exited;
  const cj = lastJson(c.lines);
  const lj = lastJson(lg.lines);
  if (!cj || cj.received !== count) throw new Error(`${s.name} at ${rate || 'unpaced'}: incomplete run\n${c.stderr}`);
  return {
    cpu: cj.cpu_steady_us_per_msg,
    pct: cj.cpu_steady_pct,
    loop: cj.elu_steady_us_per_msg,
    main: cj.main_steady_us_per_msg,
    p50: rate ? cj.lat_p50_us : NaN,
    p99: rate ? cj.lat_p99_us : NaN,
    rate: lj && lj.rate ? lj.rate : cj.rate,
    bursts: lj && lj.pacing ? lj.pacing.steady.burst_share : NaN,
  };
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const f = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.sender === 'loadgen' && !fs.existsSync(LOADGEN)) throw new Error(`${LOADGEN} is missing: run node bench/run.js once, or cargo build --release in bench/`);
  const sides = o.sides.map(side);
  if (o.tls) o.tls = certs();
  const load = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`load average ${load()}; ${o.runs} runs per side and rate; lib ${o.lib}; ${o.size} B; sender ${o.sender}${o.tls ? ', TLS' : ''}; sides: ${sides.map((s) => s.name).join(' | ')}`);
  const res = {};
  const t0 = Date.now();
  for (let run = 0; run < o.runs; run++) {
    for (const rate of o.rates) {
      // Alternate: rotate the order of the sides every run.
      const order = sides.map((_, i) => sides[(i + run) % sides.length]);
      for (const s of order) {
        const r = await once(o, s, rate);
        ((res[rate] ||= {})[s.name] ||= []).push(r);
        console.log(`  ${String(rate || 'unpaced').padStart(7)} ${s.name}: cpu ${f(r.cpu, 2)} µs/msg (${f(r.pct)} %)  loop ${f(r.loop, 2)}  main ${f(r.main, 2)} µs/msg` +
          (rate ? `  p50 ${f(r.p50, 0)} p99 ${f(r.p99, 0)} µs  bursts ${f(100 * r.bursts, 1)} %` : `  ${f(r.rate, 0)} msg/s`));
      }
    }
  }
  console.log(`\nmedians (${Math.round((Date.now() - t0) / 1000)} s; load average ${load()}); ratio to ${sides[0].name} in brackets`);
  for (const rate of o.rates) {
    const base = {};
    for (const s of sides) {
      const rs = res[rate][s.name];
      const m = {};
      for (const k of Object.keys(rs[0])) m[k] = median(rs.map((r) => r[k]));
      if (s === sides[0]) Object.assign(base, m);
      const q = (k) => (s === sides[0] ? '' : ` (${f(m[k] / base[k], 2)}×)`);
      console.log(`${String(rate || 'unpaced').padStart(7)} ${s.name}: cpu ${f(m.cpu, 2)} µs/msg${q('cpu')} = ${f(m.pct)} % of a core  loop ${f(m.loop, 2)}${q('loop')}  main ${f(m.main, 2)}${q('main')}` +
        (rate ? `  p50 ${f(m.p50, 0)} µs  p99 ${f(m.p99, 0)} µs${q('p99')}` : `  ${f(m.rate, 0)} msg/s${q('rate')}`));
    }
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
