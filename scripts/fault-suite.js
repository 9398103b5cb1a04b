#!/usr/bin/env node
'use strict';

/**
 * Fault suite: many platform-shaped messages through the fault proxy, with faults of every kind
 * injected while they flow, consumed by a handler shaped like the platform's doc script.
 *
 * At the end every message must have been accepted at the emulator at least once (none lost), and
 * the duplicates must be accounted for by deliveries that were in flight when a fault hit.
 *
 *   node scripts/fault-suite.js [--messages 50000] [--faults 200] [--seed 1] [--tls] [--idle 500]
 *
 * Prints one summary line starting with `fault-suite:` and exits 0 on success, 1 on failure.
 * `runFaultSuite(options)` is exported for the test suite (a scaled-down run).
 */

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { startEmulator } = require(path.join(ROOT, '__test__', 'support', 'emulator.js'));
const { startProxy } = require(path.join(ROOT, '__test__', 'support', 'fault-proxy.js'));
const { amqp, credentialsFor } = require(path.join(ROOT, '__test__', 'support', 'client.js'));
const { prng } = require(path.join(ROOT, '__test__', 'support', 'hostile-cases.js'));

const KINDS = Object.freeze(['reset', 'blackhole', 'stall', 'throttle', 'cut-toClient', 'cut-toServer']);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Runs the suite. Resolves with a summary; `summary.ok` tells whether every check passed and
 * `summary.problems` lists what did not.
 *
 * @param {object} [o]
 * @param {number} [o.messages=50000]
 * @param {number} [o.faults=200]
 * @param {number} [o.seed=1]
 * @param {boolean} [o.tls=false]
 * @param {number} [o.idleTimeOut=500] The client's idle_time_out (ms).
 * @param {number} [o.timeoutMs] Overall bound (default: generous, scaled to the run).
 * @param {(line: string) => void} [o.log]
 */
async function runFaultSuite(o = {}) {
  const messages = o.messages ?? 50000;
  const faults = o.faults ?? 200;
  const seed = o.seed ?? 1;
  const idle = o.idleTimeOut ?? 500;
  const log = o.log || (() => {});
  const timeoutMs = o.timeoutMs ?? 60000 + faults * 3 * idle + messages;
  const random = prng(seed);
  const started = Date.now();

  const emu = await startEmulator({ tls: Boolean(o.tls) });
  const proxy = await startProxy({ target: { host: emu.host, port: emu.port }, random });
  let requeuedAtDisconnects = 0;
  emu.on('disconnect', (rec) => { requeuedAtDisconnects += rec.requeued; });

  const container = amqp.create_container();
  const connection = container.connect({
    host: '127.0.0.1',
    port: proxy.port,
    transport: o.tls ? 'tls' : 'tcp',
    servername: o.tls ? emu.hostname : undefined,
    ca: o.tls ? emu.ca : undefined,
    ...credentialsFor(emu),
    reconnect: true,
    idle_time_out: idle,
    initial_reconnect_delay: 2,
    max_reconnect_delay: 20,
    close_timeout: 1000,
  });
  // As the doc script: open_receiver() with no options (credit window 1000, autoaccept).
  connection.open_receiver();

  const seen = new Map();
  let handled = 0;
  let duplicates = 0;
  let opens = 0;
  const disconnects = [];
  const clientErrors = [];
  container.on('message', (context) => {
    // The doc script's handler, minus the console.log.
    const msg = context.message;
    const messageId = msg.message_id;
    const topic = msg.application_properties.topic;
    const content = Buffer.from(msg.body.content).toString();
    if (typeof topic !== 'string' || content.length === 0) clientErrors.push(`bad message ${messageId}`);
    handled += 1;
    const n = seen.get(messageId) || 0;
    if (n > 0) duplicates += 1;
    seen.set(messageId, n + 1);
    context.delivery.accept();
  });
  const trace = (what) => { if (o.trace) log(`  t=${Date.now() - started} ${what}`); };
  container.on('connection_open', () => { opens += 1; trace('connection_open'); });
  container.on('receiver_open', () => trace('receiver_open'));
  proxy.on('connection', (p) => trace(`proxy connection ${p.id}`));
  proxy.on('close', (p) => trace(`proxy close ${p.id}`));
  proxy.on('fault', (f) => trace(`proxy fault ${JSON.stringify(f)}`));
  container.on('disconnected', (ctx) => {
    trace(`disconnected ${ctx.reconnecting} ${ctx.error && ctx.error.message}`);
    disconnects.push(ctx.error ? ctx.error.condition : 'none');
    if (!ctx.reconnecting) clientErrors.push(`gave up reconnecting: ${ctx.error && ctx.error.message}`);
  });
  container.on('error', (err) => clientErrors.push(`error event: ${err && err.message}`));

  const injected = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const detection = [];
  const problems = [];
  let faultIndex = 0;
  let struckInFlight = 0;
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };

  try {
    // Messages are published in chunks, one before each fault, and the fault strikes while the
    // chunk is on its way (after a random 0-15 ms): deliveries are in flight at most faults.
    const ids = [];
    const chunk = (k) => Math.floor(((k + 1) * messages) / faults) - Math.floor((k * messages) / faults);
    await until(() => opens >= 1, 10000, 'the first connection');

    for (let k = 0; k < faults; k++) {
      ids.push(...emu.publishMany(chunk(k)));
      // Strike while deliveries are on the wire (or after 30 ms, e.g. during a handshake).
      const deadline = Date.now() + 30;
      await until(() => emu.inFlight() > 0 || Date.now() > deadline, 1000, 'deliveries in flight');
      await sleep(Math.floor(random() * 6));
      if (emu.inFlight() > 0) struckInFlight += 1;
      // Wait for a live proxied connection to disturb.
      await until(() => proxy.connections > 0, 10000, 'a proxied connection');
      const kind = KINDS[k % KINDS.length];
      const opensBefore = opens;
      const disconnectsBefore = disconnects.length;
      injected[kind] += 1;
      if (o.trace) log(`fault ${k} ${kind} at accepted=${emu.acceptedOnce.size} pending=${emu.pending()} t=${Date.now() - started}`);
      faultIndex += 1;
      switch (kind) {
        case 'reset':
          proxy.reset();
          break;
        case 'blackhole': {
          const at = Date.now();
          proxy.blackhole();
          await until(() => disconnects.length > disconnectsBefore, 2 * idle + 2000, 'black hole detected');
          detection.push(Date.now() - at);
          break;
        }
        case 'stall': {
          const direction = random() < 0.5 ? 'toClient' : 'toServer';
          // Mostly short stalls the connection survives; one in four longer than the dead-peer limit.
          const ms = random() < 0.75 ? Math.floor(20 + random() * idle) : Math.floor(2 * idle + 100 + random() * idle);
          proxy.stall(direction, ms);
          break;
        }
        case 'throttle': {
          const rate = Math.floor(2000 + random() * 50000);
          proxy.throttle(rate, random() < 0.5 ? 'both' : 'toClient');
          later(Math.floor(50 + random() * 300), () => proxy.clear());
          break;
        }
        case 'cut-toClient':
        case 'cut-toServer':
          proxy.cut(kind.slice(4));
          break;
        default:
          break;
      }
      if (['reset', 'blackhole', 'cut-toClient', 'cut-toServer'].includes(kind)) {
        // The connection is gone: wait for its replacement before the next fault.
        await until(() => opens > opensBefore, 2 * idle + 10000, `reconnect after ${kind}`);
      }
    }

    await until(() => emu.pending() === 0, timeoutMs - (Date.now() - started), 'every message accepted');
    for (const t of timers) clearTimeout(t);
    proxy.clear();

    // Checks.
    const lost = ids.filter((id) => !emu.acceptedOnce.has(id));
    if (lost.length) problems.push(`${lost.length} messages never accepted (first: ${lost.slice(0, 3).join(', ')})`);
    const neverHandled = ids.filter((id) => !seen.has(id));
    if (neverHandled.length) problems.push(`${neverHandled.length} messages never reached the handler`);
    const redeliveries = emu.deliveries.filter((d) => d.attempt > 1).length;
    if (redeliveries > requeuedAtDisconnects) {
      problems.push(`${redeliveries} redeliveries but only ${requeuedAtDisconnects} deliveries were in flight at a disconnect`);
    }
    if (duplicates > redeliveries) problems.push(`${duplicates} duplicates at the handler but only ${redeliveries} redeliveries`);
    const releasedOrOther = emu.dispositions.filter((d) => d.outcome !== 'accepted').length;
    if (releasedOrOther) problems.push(`${releasedOrOther} dispositions other than accepted`);
    if (clientErrors.length) problems.push(`client errors: ${clientErrors.slice(0, 5).join('; ')}`);
    const lateDetection = detection.filter((ms) => ms > 2 * idle + 250);
    if (lateDetection.length) problems.push(`black holes detected late: ${lateDetection.join(', ')} ms (limit ${2 * idle} ms)`);
    for (const kind of KINDS) if (faults >= KINDS.length && injected[kind] === 0) problems.push(`no ${kind} fault injected`);

    const closeStart = Date.now();
    connection.close();
    await until(() => connection.is_closed(), 5000, 'close()');
    const closeMs = Date.now() - closeStart;

    const summary = {
      ok: problems.length === 0,
      problems,
      messages,
      accepted: emu.acceptedOnce.size,
      lost: lost.length,
      handled,
      duplicates,
      redeliveries,
      inFlightAtFaults: requeuedAtDisconnects,
      faults: faultIndex,
      struckInFlight,
      byKind: injected,
      disconnects: disconnects.length,
      reconnects: opens - 1,
      proxiedConnections: proxy.connectionCount,
      blackholeDetectionMs: detection.length ? { min: Math.min(...detection), max: Math.max(...detection) } : null,
      closeMs,
      seconds: (Date.now() - started) / 1000,
    };
    log(JSON.stringify(summary));
    return summary;
  } finally {
    for (const t of timers) clearTimeout(t);
    connection.close();
    await proxy.close();
    await emu.close();
  }
}

function summaryLine(s) {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k}=${v}`).join(' ');
  return `fault-suite: ${s.ok ? 'PASS' : 'FAIL'} messages=${s.messages} accepted=${s.accepted} lost=${s.lost} ` +
    `faults=${s.faults} (${kinds}) faults-with-deliveries-in-flight=${s.struckInFlight} duplicates=${s.duplicates} redeliveries=${s.redeliveries} ` +
    `in-flight-at-faults=${s.inFlightAtFaults} reconnects=${s.reconnects} ` +
    `blackhole-detection-ms=${s.blackholeDetectionMs ? `${s.blackholeDetectionMs.min}..${s.blackholeDetectionMs.max}` : 'n/a'} ` +
    `close-ms=${s.closeMs} time=${s.seconds.toFixed(1)}s` + (s.ok ? '' : ` problems: ${s.problems.join(' | ')}`);
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === '--messages') o.messages = next();
    else if (a === '--faults') o.faults = next();
    else if (a === '--seed') o.seed = next();
    else if (a === '--idle') o.idleTimeOut = next();
    else if (a === '--tls') o.tls = true;
    else if (a === '--verbose') o.log = (line) => console.error(line);
    else if (a === '--trace') { o.trace = true; o.log = (line) => console.error(line); }
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (require.main === module) {
  runFaultSuite(parseArgs(process.argv.slice(2)))
    .then((s) => {
      console.log(summaryLine(s));
      process.exitCode = s.ok ? 0 : 1;
    })
    .catch((err) => {
      console.log(`fault-suite: FAIL ${err && err.stack}`);
      process.exitCode = 1;
    });
}

module.exports = { runFaultSuite, summaryLine, prng, KINDS };
