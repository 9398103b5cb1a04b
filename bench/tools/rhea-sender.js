#!/usr/bin/env node
'use strict';
// A second sender, written on rhea instead of this package's code: a rhea server (rhea 3's
// `container.listen`, its defaults: Nagle's algorithm on, rhea's own framing) that accepts any
// SASL PLAIN login and sends platform-shaped messages on the receiver link a client attaches, as
// the loadgen does, so that the consumers can be measured against a sender this package did not
// shape. The consumers' figures must not depend on which of the two sends.
//
//   node bench/tools/rhea-sender.js --count N [--size 256] [--rate R] [--timeout-s 120] [--port 0]
//                                   [--tls --cert FILE --key FILE]
//
// --tls     TLS (rhea's `transport: 'tls'`), with the certificate and key in PEM files (bench/certs/,
//           made by run.js: leaf.pem, leaf.key)
// --rate R  paced: a Node timer every millisecond sends the messages due by then (start + i / R),
//           each with its own send() (one per tick at 1 000 msg/s; Node's 1 ms timers run a little
//           late, so a tick now and then sends two); 0 or absent: as fast as credit allows (rhea's
//           own ceiling, about 35 000 msg/s here)
// Prints `listening <port>`, then, when every message is settled, one JSON line: sent, settled,
// rate (first send to last settlement), the sender's CPU per message, and how the sends fell per
// timer tick (paced). Messages carry `sendNs` (CLOCK_MONOTONIC ns, process.hrtime.bigint()) for the
// consumers' latency, as the loadgen's do.

const fs = require('node:fs');
const rhea = require('rhea');

function parseArgs(argv) {
  const o = { count: 1000, size: 256, rate: 0, timeoutS: 120, port: 0, tls: false, cert: null, key: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} takes a number`);
      return v;
    };
    if (a === '--count') o.count = num();
    else if (a === '--size') o.size = num();
    else if (a === '--rate') o.rate = num();
    else if (a === '--timeout-s') o.timeoutS = num();
    else if (a === '--port') o.port = num();
    else if (a === '--tls') o.tls = true;
    else if (a === '--cert') o.cert = argv[++i];
    else if (a === '--key') o.key = argv[++i];
    else if (a === '--rt' || a === '--no-rt') continue; // the loadgen's scheduling flag: not for Node
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.tls && (!o.cert || !o.key)) throw new Error('--tls needs --cert FILE and --key FILE');
  return o;
}

const o = parseArgs(process.argv.slice(2));

/** A JSON payload of exactly `size` bytes, as the loadgen's. */
function payload(size) {
  const head = '{"temperature":21.5,"humidity":40,"pad":"';
  const tail = '"}';
  const pad = Math.max(0, size - head.length - tail.length);
  return Buffer.from(head + 'x'.repeat(pad) + tail).subarray(0, size);
}

const body = payload(o.size);
const topic = '/a1bench/device1/user/update';
let sent = 0;
let settled = 0;
let firstSend = 0n;
let startNs = 0n;
let timer = null;
const perTick = new Map();
let sender = null;

function sendOne() {
  const now = process.hrtime.bigint();
  if (sent === 0) firstSend = now;
  const id = String(1_000_000_000_000 + sent);
  sender.send({
    message_id: id,
    application_properties: { topic, messageId: id, generateTime: Date.now(), sendNs: Number(now) },
    body: rhea.message.data_section(body),
  });
  sent++;
}

/** Sends what credit allows, up to what is due (all of it when unpaced). */
function pump() {
  if (sender === null || !sender.is_open()) return;
  let due = o.count;
  if (o.rate > 0) {
    if (startNs === 0n) startNs = process.hrtime.bigint();
    const elapsed = Number(process.hrtime.bigint() - startNs) / 1e9;
    due = Math.min(o.count, Math.floor(elapsed * o.rate) + 1);
  }
  let n = 0;
  while (sent < due && sender.sendable()) {
    sendOne();
    n++;
  }
  if (o.rate > 0 && n > 0) perTick.set(n, (perTick.get(n) || 0) + 1);
}

const cpu0 = process.cpuUsage();
const container = rhea.create_container({ id: 'rhea-sender' });
container.sasl_server_mechanisms.enable_plain(() => true);
container.on('sender_open', (ctx) => {
  sender = ctx.sender;
  if (o.rate > 0 && timer === null) timer = setInterval(pump, 1);
});
container.on('sendable', () => {
  if (o.rate === 0) pump();
});
container.on('accepted', () => {
  settled++;
  if (settled === o.count) finish();
});
for (const e of ['released', 'rejected', 'modified']) container.on(e, () => process.stderr.write(`a delivery was ${e}\n`));
for (const e of ['connection_error', 'connection_close', 'sender_close', 'disconnected', 'error']) container.on(e, () => {});

const listen = { host: '127.0.0.1', port: o.port };
if (o.tls) Object.assign(listen, { transport: 'tls', cert: fs.readFileSync(o.cert), key: fs.readFileSync(o.key) });
const server = container.listen(listen);
server.on('listening', () => process.stdout.write(`listening ${server.address().port}\n`));

function finish() {
  const s = Number(process.hrtime.bigint() - firstSend) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const ticks = Object.fromEntries([...perTick].sort((a, b) => a[0] - b[0]));
  process.stdout.write(JSON.stringify({ sender: 'rhea', sent, settled, seconds: s, rate: (settled - 1) / s, cpu_us_per_msg: (cpu.user + cpu.system) / settled, sends_per_tick: o.rate > 0 ? ticks : undefined }) + '\n');
  setTimeout(() => process.exit(0), 200);
}

setTimeout(() => {
  process.stderr.write(`timed out: ${settled} of ${o.count} settled, ${sent} sent\n`);
  process.exit(1);
}, o.timeoutS * 1000).unref();
