#!/usr/bin/env node
'use strict';

/**
 * Soak: 1 000 000 platform-shaped messages through one connection, with a forced reconnect (the
 * emulator drops every connection) every 100 000 accepted messages. The emulator runs in a child
 * process, so that the RSS measured here is the client's alone.
 *
 *   node scripts/soak.js [--messages 1000000] [--drop-every 100000] [--tls]
 *
 * Prints the RSS after the first 100 000 messages and at the end, and whether the end is within
 * 10 % of the first figure; exits 1 when it is not, or when a message was lost.
 *
 * `startRemoteEmulator()` (an emulator in a child process, driven over IPC) is exported for the
 * memory test.
 */

const path = require('node:path');
const { fork } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

// -------------------------------------------------------------------------------------------------
// The emulator child

const MESSAGE_ID_BASE = 1700000000000000000n;

/**
 * Measures what is retained, not garbage that happens to be uncollected: with --expose-gc (the
 * script re-runs itself with it), a full collection runs before each RSS reading.
 */
function collectGarbage() {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
}

async function emulatorChild() {
  const { startEmulator } = require(path.join(ROOT, '__test__', 'support', 'emulator.js'));
  const emu = await startEmulator({ tls: process.env.SOAK_TLS === '1' });
  // Records are kept as counters and a bitmap: a million records would weigh more than the client.
  let published = 0;
  let target = 0;
  let accepted = new Uint8Array(1 << 20);
  let acceptedOnce = 0;
  let acceptedTwice = 0;
  let deliveries = 0;
  let redeliveries = 0;
  let dispositions = 0;
  let notAccepted = 0;
  let requeuedAtDisconnects = 0;
  let maxInFlight = 0;
  let drops = 0;
  const seqOf = (key) => Number(BigInt(key) - MESSAGE_ID_BASE);
  emu.on('delivery', (d) => {
    deliveries += 1;
    if (d.attempt > 1) redeliveries += 1;
    const f = emu.inFlight();
    if (f > maxInFlight) maxInFlight = f;
  });
  emu.on('disposition', (d) => {
    dispositions += 1;
    if (d.outcome !== 'accepted') { notAccepted += 1; return; }
    const seq = seqOf(d.key);
    if (seq >= accepted.length) {
      const bigger = new Uint8Array(Math.max(seq + 1, accepted.length * 2));
      bigger.set(accepted);
      accepted = bigger;
    }
    if (accepted[seq]) acceptedTwice += 1;
    else { accepted[seq] = 1; acceptedOnce += 1; }
  });
  emu.on('disconnect', (r) => { requeuedAtDisconnects += r.requeued; });
  const trim = () => {
    emu.deliveries.length = 0;
    emu.dispositions.length = 0;
    emu.accepted.clear();
    emu.acceptedOnce.clear();
    emu.attaches.length = 0;
    emu.authAttempts.length = 0;
  };
  /** Keeps the emulator's queue topped up (at most `window` queued) until `target` are published. */
  const topUp = () => {
    const window = 20000;
    while (published < target && emu.queued() < window) {
      const n = Math.min(5000, target - published, window - emu.queued());
      emu.publishMany(n);
      published += n;
    }
  };
  const timer = setInterval(() => { trim(); topUp(); }, 20);
  const stats = () => ({
    published, acceptedOnce, acceptedTwice, deliveries, redeliveries, dispositions, notAccepted,
    requeuedAtDisconnects, maxInFlight, drops, queued: emu.queued(), inFlight: emu.inFlight(),
    pending: emu.pending() + (target - published), connections: emu.connections, connectionCount: emu.connectionCount,
    rss: process.memoryUsage().rss,
  });
  process.on('message', async (m) => {
    switch (m.cmd) {
      case 'publish':
        target += m.n;
        topUp();
        process.send({ id: m.id, ok: true });
        break;
      case 'stats':
        process.send({ id: m.id, stats: stats() });
        break;
      case 'drop':
        drops += 1;
        process.send({ id: m.id, dropped: emu.dropConnections() });
        break;
      case 'resetMax':
        maxInFlight = emu.inFlight();
        process.send({ id: m.id, ok: true });
        break;
      case 'close':
        clearInterval(timer);
        await emu.close();
        process.send({ id: m.id, ok: true });
        process.disconnect();
        break;
      default:
        process.send({ id: m.id, error: `unknown command ${m.cmd}` });
    }
  });
  process.send({ ready: true, port: emu.port, host: emu.host, hostname: emu.hostname, tls: emu.tls, ca: emu.ca, credentials: emu.credentials() });
}

/**
 * Starts an emulator in a child process. Resolves with {port, host, hostname, tls, ca,
 * credentials, publish(n), stats(), drop(), resetMax(), close(), pid}.
 */
function startRemoteEmulator({ tls = false } = {}) {
  const child = fork(__filename, ['--emulator-child'], {
    env: { ...process.env, SOAK_TLS: tls ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`emulator child exited with ${code}`)));
    child.on('message', (m) => {
      if (m.ready) {
        child.removeAllListeners('exit');
        child.on('exit', () => { for (const w of waiting.values()) w(new Error('emulator child exited')); });
        const call = (cmd, extra = {}) => new Promise((res, rej) => {
          const id = nextId++;
          waiting.set(id, (reply) => (reply instanceof Error ? rej(reply) : res(reply)));
          child.send({ cmd, id, ...extra });
        });
        resolve({
          ...m,
          pid: child.pid,
          publish: (n) => call('publish', { n }),
          stats: () => call('stats').then((r) => r.stats),
          drop: () => call('drop').then((r) => r.dropped),
          resetMax: () => call('resetMax'),
          close: () => call('close').catch(() => {}).finally(() => { if (child.connected) child.disconnect(); }),
          child,
        });
        return;
      }
      const w = waiting.get(m.id);
      if (w) {
        waiting.delete(m.id);
        w(m);
      }
    });
  });
}

// -------------------------------------------------------------------------------------------------
// The soak

async function soak({ messages = 1000000, dropEvery = 100000, tls = false, log = console.log } = {}) {
  const amqp = require(ROOT);
  const emu = await startRemoteEmulator({ tls });
  const { accessKeyId, accessKeySecret } = emu.credentials;
  const creds = amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'soak', signMethod: 'hmacsha1' });
  const container = amqp.create_container();
  const connection = container.connect({
    host: '127.0.0.1', port: emu.port, transport: tls ? 'tls' : 'tcp', servername: tls ? emu.hostname : undefined, ca: tls ? emu.ca : undefined,
    username: creds.username, password: creds.password, initial_reconnect_delay: 10, max_reconnect_delay: 100,
  });
  connection.open_receiver();
  let handled = 0;
  let disconnects = 0;
  let opens = 0;
  const errors = [];
  container.on('message', (context) => {
    // The doc script's handler, minus the console.log.
    const msg = context.message;
    const messageId = msg.message_id;
    const topic = msg.application_properties.topic;
    const content = Buffer.from(msg.body.content).toString();
    if (!messageId || !topic || !content) errors.push('bad message');
    handled += 1;
    context.delivery.accept();
  });
  container.on('connection_open', () => { opens += 1; });
  container.on('disconnected', (ctx) => {
    disconnects += 1;
    if (!ctx.reconnecting) errors.push(`gave up: ${ctx.error && ctx.error.message}`);
  });
  container.on('error', (err) => errors.push(String(err && err.message)));

  const started = Date.now();
  await emu.publish(messages);
  let nextDrop = dropEvery;
  let rssFirst = null;
  let heapFirst = null;
  const samples = [];
  let s;
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    s = await emu.stats();
    if (rssFirst === null && s.acceptedOnce >= Math.min(dropEvery, messages)) {
      collectGarbage();
      const m = process.memoryUsage();
      rssFirst = m.rss;
      heapFirst = m.heapUsed;
      log(`soak: RSS after the first ${s.acceptedOnce} messages: ${(rssFirst / 1048576).toFixed(1)} MB (heap ${(heapFirst / 1048576).toFixed(1)} MB)`);
    }
    if (s.acceptedOnce >= nextDrop && nextDrop < messages) {
      await emu.drop();
      nextDrop += dropEvery;
      const m = process.memoryUsage();
      samples.push({ accepted: s.acceptedOnce, rss: m.rss });
      const mb = (n) => (n / 1048576).toFixed(1);
      log(`soak: ${s.acceptedOnce} accepted, forced reconnect; RSS ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    if (s.acceptedOnce >= messages && s.pending === 0) break;
    if (errors.length > 100) break;
  }
  const seconds = (Date.now() - started) / 1000;
  collectGarbage();
  const rssEnd = process.memoryUsage().rss;
  const heapEnd = process.memoryUsage().heapUsed;
  connection.close();
  const until = Date.now() + 5000;
  while (!connection.is_closed() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  await emu.close();
  const ratio = rssEnd / rssFirst;
  const within = ratio <= 1.1;
  // The trend over the second half tells a leak (still growing) from a one-off warm-up step.
  const half = samples.find((x) => x.accepted >= messages / 2);
  const secondHalfMB = half ? (rssEnd - half.rss) / 1048576 : null;
  const lost = messages - s.acceptedOnce;
  const summary = {
    messages, accepted: s.acceptedOnce, lost, handled, duplicatesAtHandler: handled - s.acceptedOnce,
    redeliveries: s.redeliveries, inFlightAtDrops: s.requeuedAtDisconnects, drops: s.drops, disconnects, reconnects: opens - 1,
    rssFirstMB: +(rssFirst / 1048576).toFixed(1), rssEndMB: +(rssEnd / 1048576).toFixed(1), ratio: +ratio.toFixed(3), within10pct: within,
    heapFirstMB: +(heapFirst / 1048576).toFixed(1), heapEndMB: +(heapEnd / 1048576).toFixed(1),
    rssGrowthSecondHalfMB: secondHalfMB === null ? null : +secondHalfMB.toFixed(1),
    rate: Math.round(messages / seconds), seconds: +seconds.toFixed(1), errors: errors.slice(0, 5),
  };
  log(`soak: RSS at the end: ${summary.rssEndMB} MB; first 100k: ${summary.rssFirstMB} MB; ratio ${summary.ratio}: ${within ? 'within' : 'NOT within'} 10 %` +
    (secondHalfMB === null ? '' : `; growth over the second half: ${secondHalfMB >= 0 ? '+' : ''}${secondHalfMB.toFixed(1)} MB`));
  log(`soak: ${JSON.stringify(summary)}`);
  return summary;
}

if (require.main === module) {
  if (process.argv.includes('--emulator-child')) {
    emulatorChild().catch((err) => {
      console.error(err);
      process.exit(1);
    });
  } else if (typeof global.gc !== 'function' && !process.execArgv.includes('--expose-gc')) {
    const { spawnSync } = require('node:child_process');
    const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exitCode = r.status === null ? 1 : r.status;
  } else {
    const args = process.argv.slice(2);
    const num = (name, def) => {
      const i = args.indexOf(name);
      return i >= 0 ? Number(args[i + 1]) : def;
    };
    soak({ messages: num('--messages', 1000000), dropEvery: num('--drop-every', 100000), tls: args.includes('--tls') })
      .then((s) => { process.exitCode = s.within10pct && s.lost === 0 && s.errors.length === 0 ? 0 : 1; })
      .catch((err) => { console.error(err); process.exitCode = 1; });
  }
}

module.exports = { soak, startRemoteEmulator };
