'use strict';
// One run: one consumer against one fresh loadgen process, and the figures of that run, from the
// JSON line each of the two ends with.

const { ADDON, LOADGEN, FLOOR, JS_CONSUMER } = require('./paths');
const { log, start, stop, lastJson } = require('./proc');

function childEnv() {
  const env = { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: ADDON };
  // This machine sets NODE_EXTRA_CA_CERTS to the whole system bundle; most deployments do not, and
  // our TLS setup honours it (parsing ~150 certificates at connect time) where Node reads it at
  // start-up. Leave it out so that the connect-time comparison is about the libraries.
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.DEBUG;
  return env;
}

/**
 * One consumer against one fresh loadgen. `rt`: the paced loadgen under SCHED_FIFO; `extra`: the
 * `--opt NAME=JSON` options for our consumers (not rhea).
 */
async function once(scenario, consumer, tls, { rt, extra }) {
  const env = childEnv();
  const lgArgs = ['--count', String(scenario.count), '--size', String(scenario.size), '--timeout-s', '120'];
  if (scenario.rate) {
    lgArgs.push('--rate', String(scenario.rate));
    if (rt) lgArgs.push('--rt');
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
    if (consumer.lib !== 'rhea') for (const o of extra) cArgs.push('--opt', o);
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
  return record(scenario, cr, lr);
}

/** The figures of one run, from the consumer's JSON line (`cr`) and the loadgen's (`lr`). */
function record(scenario, cr, lr) {
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

module.exports = { once, childEnv };
