'use strict';
// Coalescing at the platform's own rate: acknowledgements gathered for at most `ack_delay`, reads
// held back for at most `read_delay` when messages trickle in, the first message after a quiet
// spell handed over at once, and 0 turning each off. Nothing may be lost or stalled by it.

const test = require('node:test');
const assert = require('node:assert/strict');

const path = require('node:path');
const { spawn } = require('node:child_process');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');

/** Resolves with the time of the next disposition the emulator records. */
function nextDisposition(emu) {
  return new Promise((resolve) => emu.once('disposition', () => resolve(Date.now())));
}

/**
 * An emulator and a connection to it with `options` (and its receiver, with `receiverOptions`),
 * attached; both closed when test `t` ends.
 */
async function attached(t, options, receiverOptions) {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, options));
  t.after(async () => {
    await closed(c);
    await emu.close();
  });
  c.open_receiver(receiverOptions);
  await emu.waitFor(() => emu.attaches.length === 1, 5000, 'attached');
  return { emu, c };
}

const RHEA_SENDER = path.join(__dirname, '..', '..', 'bench', 'tools', 'rhea-sender.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('an acknowledgement goes out within ack_delay, not at once; with ack_delay 0 at once', async () => {
  const emu = await startEmulator({});
  const slow = amqp.create_container().connect(optionsFor(emu, { ack_delay: 300, read_delay: 0 }));
  slow.open_receiver();
  let handled = 0;
  slow.on('message', () => { handled = Date.now(); });
  try {
    await emu.waitFor(() => emu.attaches.length === 1, 5000, 'attached');
    const acked = nextDisposition(emu);
    emu.publish({ body: { n: 1 } });
    const at = await acked;
    const waited = at - handled;
    assert.ok(waited >= 200, `acknowledged ${waited} ms after the handler: not gathered`);
    assert.ok(waited < 1500, `acknowledged ${waited} ms after the handler: past ack_delay`);
  } finally {
    await closed(slow);
  }
  const quick = amqp.create_container().connect(optionsFor(emu, { ack_delay: 0, read_delay: 0 }));
  quick.open_receiver();
  quick.on('message', () => { handled = Date.now(); });
  try {
    await emu.waitFor(() => emu.attaches.length === 2, 5000, 'attached');
    const acked = nextDisposition(emu);
    emu.publish({ body: { n: 2 } });
    const waited = (await acked) - handled;
    assert.ok(waited < 150, `ack_delay 0: acknowledged ${waited} ms after the handler`);
  } finally {
    await closed(quick);
    await emu.close();
  }
});

test('close() sends the gathered acknowledgements first: nothing accepted comes again', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ack_delay: 5000 }));
  c.open_receiver();
  let got = 0;
  c.on('message', () => { got += 1; });
  try {
    const ids = emu.publishMany(20);
    await emu.waitFor(() => got === 20, 5000, 'all delivered');
    assert.equal(emu.acceptedOnce.size, 0, 'acknowledgements were gathered (ack_delay 5 s)');
    await closed(c);
    assert.equal(ids.filter((id) => emu.acceptedOnce.has(id)).length, 20, 'every one accepted by the close');
    assert.equal(emu.pending(), 0);
  } finally {
    await emu.close();
  }
});

test('a small credit window is never throttled by gathering: settlements go at once when credit runs low', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ack_delay: 2000 }));
  c.open_receiver({ credit_window: 2 });
  c.on('message', () => {});
  try {
    const ids = emu.publishMany(60);
    const t0 = Date.now();
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted');
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `60 messages with credit_window 2 took ${ms} ms`);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('the first message after a quiet spell is handed over at once; a steady trickle comes in batches', async (t) => {
  const { emu, c } = await attached(t, { read_delay: 50 });
  const batches = [];
  let lastBatch = null;
  let received = 0;
  c.on('message', (ctx) => {
    received += 1;
    // Messages of one batch are dispatched in one turn of the event loop.
    if (lastBatch === null) {
      lastBatch = [];
      batches.push(lastBatch);
      setImmediate(() => { lastBatch = null; });
    }
    lastBatch.push(ctx.message.application_properties.messageId);
  });
  // After a quiet spell: one message, handed over at once.
  const t0 = Date.now();
  emu.publish({ body: { n: 0 } });
  await emu.waitFor(() => received === 1, 5000, 'the first message');
  assert.ok(Date.now() - t0 < 45, `the first message took ${Date.now() - t0} ms (read_delay 50)`);
  // A steady trickle, one message every 5 ms: gathered into batches of several.
  for (let i = 1; i <= 40; i++) {
    emu.publish({ body: { n: i } });
    await sleep(5);
  }
  await emu.waitFor(() => received === 41, 5000, 'all 41');
  const sizes = batches.map((b) => b.length);
  assert.ok(Math.max(...sizes) >= 4, `batches ${sizes.join(',')}: the trickle was not gathered`);
  assert.ok(batches.length <= 20, `${batches.length} batches for 41 messages`);
});

test('a held-back read is woken by the messages it waits for: a burst meanwhile is handed over at once, not after read_delay', async (t) => {
  const { emu, c } = await attached(t, { read_delay: 1000 });
  let received = 0;
  c.on('message', () => { received += 1; });
  // A trickle of one message every 50 ms: the reads after the second wait for what
  // read_delay would bring at that rate (about 20 messages), or 1 s.
  for (let i = 0; i < 3; i++) {
    emu.publish({ body: { n: i } });
    await sleep(50);
  }
  assert.equal(received, 2, 'the third message of the trickle was not held back');
  const t0 = Date.now();
  emu.publishMany(40);
  await emu.waitFor(() => received === 43, 5000, 'all 43');
  const ms = Date.now() - t0;
  assert.ok(ms < 500, `a burst of 40 during a held-back read came after ${ms} ms (read_delay 1000)`);
});

/**
 * Publishes `count` messages, `perTick` every `everyMs`, and resolves once all reached `c`'s
 * handler with how long each waited from its publishing (ms), in ascending order.
 */
async function waits(emu, c, count, perTick, everyMs) {
  const at = new Map();
  c.on('message', (ctx) => at.set(ctx.message.application_properties.messageId, Date.now()));
  const sent = new Map();
  for (let i = 0; i < count; i += perTick) {
    for (let k = 0; k < perTick && i + k < count; k++) sent.set(emu.publish({ body: { n: i + k } }), Date.now());
    await sleep(everyMs);
  }
  await emu.waitFor(() => at.size === count, 5000, `all ${count}`);
  return [...sent].map(([id, sentAt]) => at.get(id) - sentAt).sort((a, b) => a - b);
}

test('a held-back read ends at read_delay when fewer messages come than it waits for', async (t) => {
  const { emu, c } = await attached(t, { read_delay: 300 });
  // One message every 10 ms: the reads wait for about 30 messages. The stream stops after 8,
  // so the last read is ended by its timer, not by the messages it waits for.
  const worst = (await waits(emu, c, 8, 1, 10)).pop();
  assert.ok(worst >= 150, `the trickle was not held back (worst wait ${worst} ms)`);
  assert.ok(worst < 600, `a message waited ${worst} ms with read_delay 300`);
});

test('faster than a trickle, reads are held for a few ms only, whatever read_delay', async (t) => {
  const { emu, c } = await attached(t, { read_delay: 1000 });
  // About 2 000 msg/s: far more than 32 messages expected in read_delay.
  const all = await waits(emu, c, 400, 4, 2);
  const p90 = all[Math.floor(all.length * 0.9)];
  assert.ok(p90 < 100, `90 % of the messages waited up to ${p90} ms with read_delay 1000`);
});

test('a sender that waits for acknowledgements (Nagle) is acknowledged in time: at 1 000 msg/s a message waits about read_delay, not ack_delay', async (t) => {
  // bench/tools/rhea-sender.js: rhea in a process of its own, on a Node socket with Nagle's
  // algorithm on, one message a millisecond. After a small packet it sends nothing more until
  // that packet is acknowledged, and the kernel acknowledges unread data only with data of ours
  // (or after 40 ms): paced reads alone would hold the trickle for ack_delay (20 ms).
  const sender = spawn(process.execPath, [RHEA_SENDER, '--count', '2000', '--rate', '1000', '--timeout-s', '30'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => sender.kill());
  const port = await new Promise((resolve, reject) => {
    let out = '';
    sender.stdout.on('data', (d) => {
      out += d;
      const m = /^listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    sender.once('exit', (code) => reject(new Error(`the sender ended (${code}) before listening`)));
  });
  const c = amqp.create_container().connect({ host: '127.0.0.1', port, transport: 'tcp', username: 'any', password: 'any' });
  t.after(() => closed(c));
  c.open_receiver();
  const waited = [];
  await new Promise((resolve, reject) => {
    c.on('message', (ctx) => {
      waited.push(Number(process.hrtime.bigint() - BigInt(ctx.message.application_properties.sendNs)) / 1e6);
      ctx.delivery.accept();
      if (waited.length === 2000) resolve();
    });
    // Not a silent wait: the sender gone or the connection failed ends the test at once.
    sender.once('exit', (code) => reject(new Error(`the sender ended (${code}) after ${waited.length} of 2000 messages`)));
    c.on('disconnected', (ctx) => reject(new Error(`disconnected after ${waited.length} of 2000 messages: ${ctx.error ? ctx.error.message : 'no error'}`)));
  });
  // After the first half second (the connection's start, the pacing's first estimates).
  const steady = waited.slice(500).sort((x, y) => x - y);
  const p50 = steady[steady.length >> 1];
  const p90 = steady[Math.floor(steady.length * 0.9)];
  assert.ok(p90 < 15, `90 % of the messages waited up to ${p90.toFixed(1)} ms (median ${p50.toFixed(1)} ms; read_delay 8, ack_delay 20)`);
});

test('read_delay 0 hands every message over as it comes', async (t) => {
  const { emu, c } = await attached(t, { read_delay: 0 });
  const worst = (await waits(emu, c, 10, 1, 20)).pop();
  assert.ok(worst < 18, `a message waited ${worst} ms with read_delay 0`);
});

test('ack_delay and read_delay are checked like every option', () => {
  for (const [name, value] of [['ack_delay', -1], ['read_delay', 'soon'], ['ack_delay', 1e9]]) {
    assert.throws(() => amqp.create_container().connect({ host: '127.0.0.1', port: 1, [name]: value }),
      (err) => err instanceof TypeError && err.option === name);
  }
});

test('receiver.close() sends the gathered acknowledgements before the detach', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ack_delay: 5000 }));
  const receiver = c.open_receiver({ autoaccept: false });
  const held = [];
  c.on('message', (ctx) => held.push(ctx.delivery));
  c.on('receiver_close', () => {});
  try {
    const ids = emu.publishMany(5);
    await emu.waitFor(() => held.length === 5, 5000, 'all delivered');
    for (const d of held) assert.equal(d.accept(), true);
    receiver.close();
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 3000, 'accepted before the detach');
    assert.equal(emu.pending(), 0, 'nothing goes back to the queue');
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('read_delay never throttles a fast sender held back by a small credit window', async (t) => {
  // Waiting 50 ms after each small read would cap 20 credits at 400 msg/s.
  const { emu, c } = await attached(t, { read_delay: 50 }, { credit_window: 20 });
  let got = 0;
  c.on('message', () => { got += 1; });
  const t0 = Date.now();
  const ids = emu.publishMany(2000);
  await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 15000, 'all accepted');
  const ms = Date.now() - t0;
  assert.equal(got, 2000);
  assert.ok(ms < 3000, `2000 messages with credit_window 20 and read_delay 50 took ${ms} ms`);
});
