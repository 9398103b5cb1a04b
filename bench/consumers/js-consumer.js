'use strict';
// A consumer under test, in its own process, measuring itself:
//   --lib rhea      rhea, the doc script's shape: container.on('message') reading
//                   msg.application_properties.topic, msg.message_id,
//                   Buffer.from(msg.body.content).toString(), then context.delivery.accept()
//   --lib ours      this package through its rhea-shaped API, the very same script and handler
//   --lib consumer  this package's createConsumer() with its default options (but for where to
//                   connect, the credentials and transport 'tcp' when the loadgen is TCP), consumed
//                   the README's primary way, a for-await loop reading msg.topic, msg.messageId,
//                   msg.content.toString() (accepted when the loop asks for the next one);
//                   --pattern on: consumer.on('message', msg => { the same reads }) instead
//   --lib ours-batch  the same work through the batch API: open_receiver({batch: {max}}) and
//                     receiver.on('batch', ({batch}) => ... batch.topic(i), batch.messageId(i),
//                     batch.content(i) ..., batch.accept()) (measured by bench/batch-loop.js)
//   --lib consumer-batches  createConsumer() as --lib consumer, consumed by
//                     for await (const batch of consumer.batches({max})) reading msg.topic,
//                     msg.messageId, msg.content.toString() of each message (the batch accepted
//                     when the loop asks for the next one; measured by bench/batch-loop.js)
// Measured: CPU (process.cpuUsage: user+sys of every thread of the process), event-loop busy time
// (performance.eventLoopUtilization), Node's main-thread CPU (/proc/thread-self/schedstat), peak RSS
// (VmHWM), throughput, latency (send time from the loadgen's `sendNs` application property, read
// the cheapest way each API offers: from the message rhea and the rhea-shaped API build anyway;
// msg.applicationProperties / batch.properties(i) where the message is not built unless read,
// CLOCK_MONOTONIC ns = process.hrtime.bigint()), and the time from connect() to the first message.
// Each is read at message 1, at the end of the warm-up (message floor(N/10): the first tenth of the
// messages) and at message N, in the handler; the *_steady_* fields are warm-up → N over the
// N - floor(N/10) messages after it. Prints one JSON line.
//
// node js-consumer.js --lib rhea|ours|consumer|ours-batch|consumer-batches --port P --count N [--tls --ca FILE] [--latency]
//   [--index PATH]  this package's index.js to load (default ../../index.js; for experiments and A/B)
//   [--batch-max N] the most messages per 'batch' event or batch (--lib ours-batch, consumer-batches; default 100)
//   [--opt NAME=JSON]...  an extra option for connect() / createConsumer() (value parsed as JSON,
//                   else taken as a string), e.g. to A/B a coalescing bound; none by default

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');

function parseArgs(argv) {
  const o = { lib: 'rhea', index: path.resolve(__dirname, '..', '..', 'index.js'), host: '127.0.0.1', port: 0, count: 1000, tls: false, ca: null, latency: false, servername: 'localhost', pattern: 'loop', extra: {}, batchMax: 100 };
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
    else if (a === '--pattern') o.pattern = val();
    else if (a === '--batch-max') o.batchMax = Number(val());
    else if (a === '--opt') {
      const kv = val();
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--opt NAME=VALUE, not ${kv}`);
      let v = kv.slice(eq + 1);
      try {
        v = JSON.parse(v);
      } catch {
        // a plain string
      }
      o.extra[kv.slice(0, eq)] = v;
    } else if (a === '--nodelay') o.nodelay = true; // diagnostics: TCP_NODELAY on rhea's socket (not the doc's script)
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['rhea', 'ours', 'consumer', 'ours-batch', 'consumer-batches'].includes(o.lib)) throw new Error(`unknown --lib ${o.lib}`);
  if (!['loop', 'on'].includes(o.pattern)) throw new Error(`--pattern loop|on, not ${o.pattern}`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const BATCH = opts.lib === 'ours-batch';
const CONSUMER_BATCHES = opts.lib === 'consumer-batches';
const CONSUMER = opts.lib === 'consumer' || CONSUMER_BATCHES;
const lib = opts.lib === 'rhea' ? require('rhea') : require(opts.index);

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

const N = opts.count;
const lat = opts.latency ? new Float64Array(N) : null;
let received = 0;
let checksum = 0;
// The first tenth of the messages is warm-up: steady-state figures are from message WARM to N.
const WARM = Math.floor(N / 10);
let done = false;

/** Every reading at one instant. */
function snapshot() {
  return { t: process.hrtime.bigint(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), main: mainThreadNs() };
}

const at0 = snapshot();
let atFirst = null;
let atWarm = null;
let atLast = null;

/** The measurement side of every handler; returns true at the last message. */
function measured(topic, messageId, content, sendNs) {
  checksum += topic.length + messageId.length + content.length;
  if (lat !== null) lat[received] = Number(process.hrtime.bigint()) - sendNs;
  if (received === 0) atFirst = snapshot();
  if (received === WARM) atWarm = snapshot();
  received++;
  if (received === N) {
    atLast = snapshot();
    return true;
  }
  return false;
}

// (Trees from before these accessors, e20337b and older, have neither: A/B sides built from them
// read the whole message.)
const consumerSendNs = (msg) => ('applicationProperties' in msg ? msg.applicationProperties : msg.raw.application_properties).sendNs;
const batchSendNs = (batch, i) => (typeof batch.properties === 'function' ? batch.properties(i) : batch.message(i).application_properties).sendNs;

let connection = null;
let consumer = null;
let batches = 0;

if (CONSUMER) {
  // createConsumer() with its defaults: only where to connect, the credentials, and the transport
  // (the loadgen speaks TCP unless --tls; createConsumer defaults to TLS).
  const copts = {
    host: opts.host,
    port: opts.port,
    consumerGroupId: 'DEFAULT_GROUP',
    accessKeyId: accessKey,
    accessKeySecret: accessSecret,
    clientId: 'bench-consumer',
    transport: opts.tls ? 'tls' : 'tcp',
    ...opts.extra,
  };
  if (opts.tls) {
    copts.ca = [fs.readFileSync(opts.ca)];
    copts.servername = opts.servername;
  }
  consumer = lib.createConsumer(copts);
  consumer.on('error', (e) => process.stderr.write(`consumer error: ${e && e.message}\n`));
  if (CONSUMER_BATCHES) {
    (async () => {
      for await (const batch of consumer.batches({ max: opts.batchMax })) {
        batches++;
        let last = false;
        for (const msg of batch) {
          // --- the loop body: the same reads as the doc's handler, per message ---
          const topic = msg.topic;
          const messageId = msg.messageId;
          const content = msg.content.toString();
          // --- measurement ---
          if (measured(topic, messageId, content, lat !== null ? consumerSendNs(msg) : 0)) last = true;
        }
        if (last) {
          batch.accept(); // a break releases the batch held: accept the last one first
          break;
        }
      }
      finish();
    })().catch((e) => {
      process.stderr.write(`consumer loop failed: ${e && e.stack}\n`);
      process.exit(1);
    });
  } else if (opts.pattern === 'on') {
    consumer.on('message', (msg) => {
      // --- the handler: the same reads as the doc's ---
      const topic = msg.topic;
      const messageId = msg.messageId;
      const content = msg.content.toString();
      // --- measurement ---
      if (measured(topic, messageId, content, lat !== null ? consumerSendNs(msg) : 0)) {
        msg.accept();
        setImmediate(finish);
      }
    });
  } else {
    (async () => {
      for await (const msg of consumer) {
        // --- the loop body: the same reads as the doc's handler ---
        const topic = msg.topic;
        const messageId = msg.messageId;
        const content = msg.content.toString();
        // --- measurement ---
        if (measured(topic, messageId, content, lat !== null ? consumerSendNs(msg) : 0)) {
          msg.accept(); // a break releases the message held: accept the last one first
          break;
        }
      }
      finish();
    })().catch((e) => {
      process.stderr.write(`consumer loop failed: ${e && e.stack}\n`);
      process.exit(1);
    });
  }
} else {
  const container = lib;
  const connectOptions = {
    host: opts.host,
    port: opts.port,
    transport: opts.tls ? 'tls' : 'tcp',
    reconnect: true,
    idle_time_out: 60000,
    username: `bench-${opts.lib}|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=${accessKey},iotInstanceId=,consumerGroupId=DEFAULT_GROUP|`,
    password: hmacSha1(accessSecret, `authId=${accessKey}&timestamp=1573489088171`),
    ...opts.extra,
  };
  if (opts.nodelay) connectOptions.noDelay = true;
  if (opts.tls) {
    connectOptions.ca = [fs.readFileSync(opts.ca)];
    connectOptions.servername = opts.servername;
  }
  connection = container.connect(connectOptions);
  const receiver = connection.open_receiver(BATCH ? { batch: { max: opts.batchMax } } : undefined);

  if (BATCH) {
    receiver.on('batch', ({ batch }) => {
      batches++;
      for (let i = 0; i < batch.length; i++) {
        const topic = batch.topic(i);
        const messageId = batch.messageId(i);
        const content = Buffer.from(batch.content(i)).toString();
        if (measured(topic, messageId, content, lat !== null ? batchSendNs(batch, i) : 0)) setImmediate(finish);
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
    if (measured(topic, messageId, content, lat !== null ? msg.application_properties.sendNs : 0)) setImmediate(finish);
  });

  container.on('error', (e) => {
    process.stderr.write(`consumer error: ${e && e.message}\n`);
  });
  container.on('disconnected', (ctx) => {
    if (!done) process.stderr.write(`disconnected: ${ctx && ctx.error ? ctx.error.message : ''}\n`);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.round((sorted.length - 1) * p)];
}

/** CPU (µs), event-loop active (ms) and main-thread CPU (µs) from snapshot a to b. */
function between(a, b) {
  return {
    s: Number(b.t - a.t) / 1e9,
    user: b.cpu.user - a.cpu.user,
    system: b.cpu.system - a.cpu.system,
    eluActiveMs: performance.eventLoopUtilization(b.elu, a.elu).active,
    mainUs: (b.main - a.main) / 1000,
  };
}

function finish() {
  if (done) return;
  done = true;
  const whole = between(at0, atLast);
  const steady = between(atWarm, atLast);
  const nSteady = N - WARM;
  const result = {
    consumer: opts.lib + (CONSUMER && opts.pattern === 'on' ? '-on' : ''),
    received,
    warm_messages: WARM,
    connect_ns: Number(at0.t),
    first_ns: Number(atFirst.t),
    last_ns: Number(atLast.t),
    seconds: Number(atLast.t - atFirst.t) / 1e9,
    rate: (received - 1) / (Number(atLast.t - atFirst.t) / 1e9),
    rate_steady: nSteady / steady.s,
    first_message_ms: Number(atFirst.t - at0.t) / 1e6,
    // The whole run, connect() to message N.
    cpu_user_us: whole.user,
    cpu_sys_us: whole.system,
    elu_active_ms: whole.eluActiveMs,
    main_thread_cpu_us: whole.mainUs,
    // After the warm-up: message WARM to message N.
    steady_messages: nSteady,
    steady_seconds: steady.s,
    cpu_steady_us_per_msg: (steady.user + steady.system) / nSteady,
    cpu_steady_pct: (100 * (steady.user + steady.system)) / 1e6 / steady.s,
    elu_steady_us_per_msg: (steady.eluActiveMs * 1000) / nSteady,
    elu_steady: steady.eluActiveMs / 1000 / steady.s,
    main_steady_us_per_msg: steady.mainUs / nSteady,
    vm_hwm_kb: vmHwmKb(),
    checksum,
  };
  if (BATCH || CONSUMER_BATCHES) result.batches = batches;
  if (lat !== null) {
    // The first tenth is warm-up (the same rule as the floor).
    const s = Float64Array.from(lat.subarray(WARM, received)).sort();
    result.lat_n = s.length;
    result.lat_p50_us = percentile(s, 0.5) / 1000;
    result.lat_p99_us = percentile(s, 0.99) / 1000;
    result.lat_p999_us = percentile(s, 0.999) / 1000;
    result.lat_max_us = s[s.length - 1] / 1000;
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  const bye = setTimeout(() => process.exit(0), 3000);
  if (consumer) {
    // The for-await loop closed the consumer when it broke; with handlers, close it here.
    consumer.close().then(() => {
      clearTimeout(bye);
      setImmediate(() => process.exit(0));
    }, () => process.exit(0));
    return;
  }
  lib.on('connection_close', () => {
    clearTimeout(bye);
    setImmediate(() => process.exit(0));
  });
  connection.close();
}
