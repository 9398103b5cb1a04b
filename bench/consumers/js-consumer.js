'use strict';
// A consumer under test, in its own process: rhea, or this package through its rhea-shaped API.
// Both run the doc script's shape (container.on('message') reading msg.application_properties.topic,
// msg.message_id, Buffer.from(msg.body.content).toString(), then context.delivery.accept()), and
// measure themselves: CPU (process.cpuUsage: user+sys of every thread of the process), event-loop
// busy time (performance.eventLoopUtilization), peak RSS (VmHWM), throughput, latency (send time
// from the loadgen's `sendNs` application property, CLOCK_MONOTONIC ns = process.hrtime.bigint()),
// and the time from connect() to the first message. Prints one JSON line.
//
// node js-consumer.js --lib rhea|ours|ours-batch --port P --count N [--tls --ca FILE] [--latency]
//   [--index PATH]  this package's index.js to load (default ../../index.js; for experiments)
//   --lib ours-batch  the same work through the batch API: open_receiver({batch: {max}}) and
//                     receiver.on('batch', ({batch}) => ... batch.topic(i), batch.messageId(i),
//                     batch.content(i) ..., batch.accept())
//   [--batch-max N]   the most messages per 'batch' event (default 100)

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');

function parseArgs(argv) {
  const o = { lib: 'rhea', index: path.resolve(__dirname, '..', '..', 'index.js'), host: '127.0.0.1', port: 0, count: 1000, tls: false, ca: null, latency: false, servername: 'localhost', batchMax: 100 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--lib') o.lib = val();
    else if (a === '--host') o.host = val();
    else if (a === '--index') o.index = path.resolve(val());
    else if (a === '--port') o.port = Number(val());
    else if (a === '--count') o.count = Number(val());
    else if (a === '--tls') o.tls = true;
    else if (a === '--ca') o.ca = val();
    else if (a === '--servername') o.servername = val();
    else if (a === '--latency') o.latency = true;
    else if (a === '--nodelay') o.nodelay = true; // diagnostics: TCP_NODELAY on rhea's socket (not the doc's script)
    else if (a === '--batch-max') o.batchMax = Number(val());
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const BATCH = opts.lib === 'ours-batch';
const container = opts.lib === 'rhea' ? require('rhea') : require(opts.index);

function vmHwmKb() {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** On-CPU time of this (the main) thread in ns, from the scheduler's own accounting. */
function mainThreadNs() {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

function hmacSha1(key, context) {
  return Buffer.from(crypto.createHmac('sha1', key).update(context).digest()).toString('base64');
}

// The doc script's credentials, built the doc's way (the loadgen accepts any).
const accessKey = 'LTAIbenchAccessKeyId';
const accessSecret = 'benchAccessKeySecret';
const connectOptions = {
  host: opts.host,
  port: opts.port,
  transport: opts.tls ? 'tls' : 'tcp',
  reconnect: true,
  idle_time_out: 60000,
  username: `bench-${opts.lib}|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=${accessKey},iotInstanceId=,consumerGroupId=DEFAULT_GROUP|`,
  password: hmacSha1(accessSecret, `authId=${accessKey}&timestamp=1573489088171`),
};
if (opts.nodelay) connectOptions.noDelay = true;
if (opts.tls) {
  connectOptions.ca = [fs.readFileSync(opts.ca)];
  connectOptions.servername = opts.servername;
}

const N = opts.count;
const lat = opts.latency ? new Float64Array(N) : null;
let received = 0;
let checksum = 0;
let tFirst = 0n;
let tLast = 0n;
let cpuLast = null;
// Readings at the end of the warm-up (the first tenth of the messages), for steady-state CPU.
const WARM = Math.floor(N / 10);
let cpuWarm = null;
let tWarm = 0n;
let eluLast = null;
let done = false;

const main0 = mainThreadNs();
const cpu0 = process.cpuUsage();
const elu0 = performance.eventLoopUtilization();
const tConnect = process.hrtime.bigint();
const connection = container.connect(connectOptions);
const receiver = connection.open_receiver(BATCH ? { batch: { max: opts.batchMax } } : undefined);
let batches = 0;

function measured(topic, messageId, content, sendNs) {
  checksum += topic.length + messageId.length + content.length;
  if (lat !== null) lat[received] = Number(process.hrtime.bigint()) - sendNs;
  if (received === 0) tFirst = process.hrtime.bigint();
  if (received === WARM) {
    cpuWarm = process.cpuUsage();
    tWarm = process.hrtime.bigint();
  }
  received++;
  if (received === N) {
    tLast = process.hrtime.bigint();
    setImmediate(finish);
  }
}

if (BATCH) {
  receiver.on('batch', ({ batch }) => {
    batches++;
    for (let i = 0; i < batch.length; i++) {
      const topic = batch.topic(i);
      const messageId = batch.messageId(i);
      const content = Buffer.from(batch.content(i)).toString();
      measured(topic, messageId, content, lat !== null ? batch.message(i).application_properties.sendNs : 0);
    }
    batch.accept();
  });
}

container.on('message', function (context) {
  // --- the doc script's handler ---
  var msg = context.message;
  var messageId = msg.message_id;
  var topic = msg.application_properties.topic;
  var content = Buffer.from(msg.body.content).toString();
  context.delivery.accept();
  // --- measurement ---
  measured(topic, messageId, content, lat !== null ? msg.application_properties.sendNs : 0);
});

container.on('error', (e) => {
  process.stderr.write(`consumer error: ${e && e.message}\n`);
});
container.on('disconnected', (ctx) => {
  if (!done) process.stderr.write(`disconnected: ${ctx && ctx.error ? ctx.error.message : ''}\n`);
});

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.round((sorted.length - 1) * p)];
}

function finish() {
  if (done) return;
  done = true;
  const cpuNow = process.cpuUsage();
  cpuLast = process.cpuUsage(cpu0);
  const steadyUs = cpuWarm ? cpuNow.user + cpuNow.system - cpuWarm.user - cpuWarm.system : NaN;
  const steadyS = Number(process.hrtime.bigint() - tWarm) / 1e9;
  eluLast = performance.eventLoopUtilization(elu0);
  const mainNs = mainThreadNs() - main0;
  const result = {
    consumer: opts.lib,
    received,
    connect_ns: Number(tConnect),
    first_ns: Number(tFirst),
    last_ns: Number(tLast),
    seconds: Number(tLast - tFirst) / 1e9,
    rate: (received - 1) / (Number(tLast - tFirst) / 1e9),
    first_message_ms: Number(tFirst - tConnect) / 1e6,
    cpu_user_us: cpuLast.user,
    cpu_sys_us: cpuLast.system,
    cpu_steady_us_per_msg: steadyUs / (received - WARM),
    cpu_steady_pct: (100 * steadyUs) / 1e6 / steadyS,
    elu_active_ms: eluLast.active,
    elu_idle_ms: eluLast.idle,
    elu: eluLast.utilization,
    main_thread_cpu_us: mainNs / 1000,
    vm_hwm_kb: vmHwmKb(),
    checksum,
  };
  if (BATCH) result.batches = batches;
  if (lat !== null) {
    // The first tenth is warm-up (the same rule as the floor).
    const s = Float64Array.from(lat.subarray(Math.floor(received / 10), received)).sort();
    result.lat_n = s.length;
    result.lat_p50_us = percentile(s, 0.5) / 1000;
    result.lat_p99_us = percentile(s, 0.99) / 1000;
    result.lat_p999_us = percentile(s, 0.999) / 1000;
    result.lat_max_us = s[s.length - 1] / 1000;
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  const bye = setTimeout(() => process.exit(0), 3000);
  container.on('connection_close', () => {
    clearTimeout(bye);
    setImmediate(() => process.exit(0));
  });
  connection.close();
}
