'use strict';
// Network faults between the client and the platform, injected by a proxy: resets, black holes,
// stalls, slow links and streams cut mid-frame. Nothing is lost, dead connections are noticed in
// bounded time and replaced, and close() stays bounded whatever the network does.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');

const { startEmulator } = require('../support/emulator');
const { startProxy } = require('../support/fault-proxy');
const { amqp, PACKAGE_ROOT, credentialsFor } = require('../support/client');
const { runFaultSuite, summaryLine } = require('../../scripts/fault-suite');

const IDLE = 600; // the client's idle_time_out in these tests: a dead peer is declared after 1 200 ms
const SLACK = 200; // timer and event-delivery latency allowed on top of a bound (2 busy cores)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An emulator, a proxy in front of it, and a client connected through the proxy (doc-like handler). */
async function setup(t, { tls = false, client = {}, receiver, handler } = {}) {
  const emu = await startEmulator({ tls });
  const proxy = await startProxy({ target: { host: emu.host, port: emu.port } });
  const container = amqp.create_container();
  const rec = { opens: 0, receiverOpens: 0, disconnects: [], errors: [], handled: 0, seen: new Map() };
  container.on('connection_open', () => { rec.opens += 1; });
  container.on('receiver_open', () => { rec.receiverOpens += 1; });
  container.on('disconnected', (ctx) => rec.disconnects.push({ at: Date.now(), error: ctx.error, reconnecting: ctx.reconnecting }));
  container.on('error', (err) => rec.errors.push(err));
  container.on('message', handler || ((context) => {
    const msg = context.message;
    const id = msg.message_id;
    assert.equal(typeof msg.application_properties.topic, 'string');
    Buffer.from(msg.body.content).toString();
    rec.handled += 1;
    rec.seen.set(id, (rec.seen.get(id) || 0) + 1);
    context.delivery.accept();
  }));
  const connection = container.connect({
    host: '127.0.0.1',
    port: proxy.port,
    transport: tls ? 'tls' : 'tcp',
    servername: tls ? emu.hostname : undefined,
    ca: tls ? emu.ca : undefined,
    ...credentialsFor(emu),
    idle_time_out: IDLE,
    initial_reconnect_delay: 5,
    max_reconnect_delay: 50,
    close_timeout: 500,
    ...client,
  });
  connection.open_receiver(receiver);
  t.after(async () => {
    connection.close();
    await emu.waitFor(() => connection.is_closed(), 5000, 'client closed').catch(() => {});
    await proxy.close();
    await emu.close();
  });
  await emu.waitFor(() => rec.receiverOpens >= 1, 10000, 'receiver open');
  return { emu, proxy, container, connection, rec };
}

/** Every one of `ids` accepted at the emulator, and nothing left queued or in flight. */
async function allAccepted(emu, ids, timeoutMs = 15000) {
  await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)) && emu.pending() === 0, timeoutMs,
    `all ${ids.length} messages accepted`);
}

/** Redeliveries are accounted for by deliveries in flight when a connection died. */
function trackRequeues(emu) {
  const box = { requeued: 0 };
  emu.on('disconnect', (r) => { box.requeued += r.requeued; });
  return box;
}

function assertDuplicatesAccounted(emu, box) {
  const redeliveries = emu.deliveries.filter((d) => d.attempt > 1).length;
  assert.ok(redeliveries <= box.requeued, `${redeliveries} redeliveries, ${box.requeued} in flight at faults`);
  assert.equal(emu.dispositions.filter((d) => d.outcome !== 'accepted').length, 0);
}

for (const tls of [false, true]) {
  test(`reset (RST both ways) with deliveries in flight: reconnect, nothing lost (${tls ? 'TLS' : 'TCP'})`, async (t) => {
    const { emu, proxy, rec } = await setup(t, { tls });
    const box = trackRequeues(emu);
    const ids = [];
    for (let round = 0; round < 5; round++) {
      const opens = rec.opens;
      ids.push(...emu.publishMany(300));
      await emu.waitFor(() => emu.inFlight() > 0, 5000, 'deliveries in flight');
      assert.equal(proxy.reset(), 1);
      await emu.waitFor(() => rec.opens > opens, 5000, 'reconnected');
    }
    await allAccepted(emu, ids);
    assert.equal(rec.disconnects.length, 5);
    for (const d of rec.disconnects) {
      assert.equal(d.reconnecting, true);
      assert.ok(d.error, 'a reset is reported with an error');
    }
    assert.ok(rec.disconnects.some((d) => /reset|closed|lost/i.test(d.error.message)), rec.disconnects.map((d) => d.error.message).join('; '));
    assertDuplicatesAccounted(emu, box);
    assert.equal(rec.errors.length, 0);
  });
}

test('a fault aimed at one connection leaves the others alone', async (t) => {
  const { emu, proxy, rec } = await setup(t);
  // A second consumer through the same proxy.
  const other = amqp.create_container();
  let otherOpens = 0;
  other.on('connection_open', () => { otherOpens += 1; });
  other.on('disconnected', () => {});
  other.on('message', (ctx) => ctx.delivery.accept());
  const c2 = other.connect({ host: '127.0.0.1', port: proxy.port, transport: 'tcp', ...credentialsFor(emu, { clientId: 'second' }), idle_time_out: IDLE });
  c2.open_receiver();
  t.after(() => c2.close());
  await emu.waitFor(() => otherOpens === 1 && proxy.connections === 2);
  const [first] = [...proxy.pairs.keys()];
  assert.equal(proxy.reset({ id: first }), 1);
  await emu.waitFor(() => rec.opens + otherOpens === 3, 5000, 'one reconnect');
  await sleep(100);
  assert.equal(rec.opens + otherOpens, 3, 'exactly one of the two connections was replaced');
  const ids = emu.publishMany(50);
  await allAccepted(emu, ids);
});

test('black hole: detected within twice the idle timeout, replaced, nothing lost', async (t) => {
  const { emu, proxy, rec } = await setup(t);
  const box = trackRequeues(emu);
  const ids = emu.publishMany(200);
  await allAccepted(emu, ids);
  for (let round = 0; round < 2; round++) {
    const before = rec.disconnects.length;
    const opens = rec.opens;
    // Deliveries on the wire when the network dies.
    ids.push(...emu.publishMany(200));
    await emu.waitFor(() => emu.inFlight() > 0, 5000, 'deliveries in flight');
    const at = Date.now();
    assert.equal(proxy.blackhole(), 1);
    await emu.waitFor(() => rec.disconnects.length > before, 2 * IDLE + 2000, 'black hole detected');
    const detected = rec.disconnects[before].at - at;
    t.diagnostic(`black hole detected after ${detected} ms (idle_time_out ${IDLE} ms)`);
    assert.ok(detected <= 2 * IDLE + SLACK, `detected after ${detected} ms, more than twice the idle timeout (${2 * IDLE} ms)`);
    assert.ok(detected >= IDLE, `detected after only ${detected} ms: heartbeats should have kept it alive that long`);
    assert.match(rec.disconnects[before].error.message, /presumed dead|no frame/);
    assert.equal(rec.disconnects[before].reconnecting, true);
    await emu.waitFor(() => rec.opens > opens, 5000, 'replaced');
  }
  ids.push(...emu.publishMany(100));
  await allAccepted(emu, ids);
  assertDuplicatesAccounted(emu, box);
});

test('black hole during the handshake is bounded by connect_timeout; the client recovers once it lifts', async (t) => {
  const emu = await startEmulator({ tls: false });
  const proxy = await startProxy({ target: { host: emu.host, port: emu.port } });
  t.after(async () => { await proxy.close(); await emu.close(); });
  proxy.blackhole({ sticky: true }); // every new connection falls into the hole
  const container = amqp.create_container();
  const disconnects = [];
  let opens = 0;
  container.on('disconnected', (ctx) => disconnects.push({ at: Date.now(), error: ctx.error }));
  container.on('connection_open', () => { opens += 1; });
  container.on('message', (ctx) => ctx.delivery.accept());
  const started = Date.now();
  const c = container.connect({
    host: '127.0.0.1', port: proxy.port, transport: 'tcp', ...credentialsFor(emu),
    idle_time_out: IDLE, connect_timeout: 400, initial_reconnect_delay: 5, max_reconnect_delay: 20,
  });
  c.open_receiver();
  t.after(() => c.close());
  await emu.waitFor(() => disconnects.length >= 2, 5000, 'two timed-out attempts');
  assert.ok(disconnects[0].at - started < 400 + SLACK + 100, `first attempt took ${disconnects[0].at - started} ms`);
  assert.match(disconnects[0].error.message, /did not complete within 400 ms/);
  proxy.clear();
  await emu.waitFor(() => opens === 1, 5000, 'connected once the hole is gone');
  const ids = emu.publishMany(20);
  await allAccepted(emu, ids);
});

test('close() during a black hole returns within close_timeout', async (t) => {
  const { emu, proxy, connection } = await setup(t, { client: { close_timeout: 500 } });
  const ids = emu.publishMany(20);
  await allAccepted(emu, ids);
  proxy.blackhole();
  const started = Date.now();
  connection.close();
  await emu.waitFor(() => connection.is_closed(), 5000, 'closed');
  const took = Date.now() - started;
  t.diagnostic(`close() during a black hole took ${took} ms (close_timeout 500 ms)`);
  assert.ok(took <= 500 + 500 + SLACK, `close() took ${took} ms`);
});

test('close() during a black hole: the process exits by itself, promptly', async (t) => {
  const emu = await startEmulator({ tls: false });
  const proxy = await startProxy({ target: { host: emu.host, port: emu.port } });
  t.after(async () => { await proxy.close(); await emu.close(); });
  const creds = credentialsFor(emu);
  const code = `
    const amqp = require(process.env.PACKAGE_ROOT);
    const c = amqp.connect({ host: '127.0.0.1', port: Number(process.env.PORT), transport: 'tcp',
      username: process.env.U, password: process.env.P, idle_time_out: ${IDLE}, close_timeout: 500 });
    c.open_receiver();
    amqp.on('message', (ctx) => ctx.delivery.accept());
    amqp.on('receiver_open', () => console.log('open'));
    amqp.on('disconnected', () => console.log('disconnected'));
    process.stdin.once('data', () => {
      const t0 = Date.now();
      c.close();
      process.stdin.destroy();
      const iv = setInterval(() => { if (c.is_closed()) { clearInterval(iv); console.log('closed ' + (Date.now() - t0)); } }, 5);
    });
  `;
  const child = spawn(process.execPath, ['-e', code], {
    env: { ...process.env, PACKAGE_ROOT, PORT: String(proxy.port), U: creds.username, P: creds.password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s, at: Date.now() })));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15000);
  try {
    await emu.waitFor(() => out.includes('open'), 10000, 'child connected');
    assert.equal(proxy.blackhole(), 1);
    const closeAt = Date.now();
    child.stdin.write('close\n');
    const { code: exitCode, signal, at } = await exited;
    assert.equal(signal, null, `the child did not exit by itself: ${out} ${err}`);
    assert.equal(exitCode, 0, err);
    t.diagnostic(`child exited ${at - closeAt} ms after close() during a black hole; it reported: ${out.trim().split('\n').pop()}`);
    assert.ok(at - closeAt < 500 + 1500, `exit took ${at - closeAt} ms`);
    assert.match(out, /closed \d+/);
    assert.doesNotMatch(out, /disconnected/);
    assert.doesNotMatch(err, /panicked/);
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

test('stall: shorter than the dead-peer limit is ridden out; longer is a dead connection, replaced', async (t) => {
  const { emu, proxy, rec } = await setup(t);
  const box = trackRequeues(emu);
  const ids = emu.publishMany(50);
  await allAccepted(emu, ids);

  // Server → client held for 400 ms (the limit is 1 200 ms): late, but the same connection.
  proxy.stall('toClient', 400);
  const t0 = Date.now();
  ids.push(...emu.publishMany(50));
  await allAccepted(emu, ids);
  assert.ok(Date.now() - t0 >= 350, 'the stall held the messages back');
  // Client → server held for 1 500 ms: acknowledgements wait; the client still hears the server.
  proxy.stall('toServer', 1500);
  ids.push(...emu.publishMany(50));
  await sleep(300);
  assert.ok(emu.inFlight() > 0, 'acknowledgements were held back');
  await allAccepted(emu, ids);
  assert.equal(rec.disconnects.length, 0, 'no reconnect for stalls the connection survives');
  assert.equal(rec.opens, 1);

  // Server → client held for 2 000 ms: presumed dead after 1 200 ms, replaced, nothing lost.
  const at = Date.now();
  ids.push(...emu.publishMany(100));
  proxy.stall('toClient', 2000);
  await emu.waitFor(() => rec.disconnects.length === 1, 5000, 'stall detected');
  assert.ok(rec.disconnects[0].at - at <= 2 * IDLE + SLACK, `detected after ${rec.disconnects[0].at - at} ms`);
  await allAccepted(emu, ids);
  assert.equal(rec.opens, 2);
  assertDuplicatesAccounted(emu, box);
});

test('slow link: throttled to a few kB/s, everything still arrives on the same connection', async (t) => {
  const { emu, proxy, rec } = await setup(t);
  const ids = emu.publishMany(10);
  await allAccepted(emu, ids);
  const before = proxy.faults.length;
  const pair = [...proxy.pairs.values()][0];
  const bytesBefore = pair.down.bytes;
  proxy.throttle(40000, 'both');
  const t0 = Date.now();
  ids.push(...emu.publishMany(100));
  await allAccepted(emu, ids);
  const took = Date.now() - t0;
  const bytes = pair.down.bytes - bytesBefore;
  t.diagnostic(`${bytes} bytes at 40 000 B/s took ${took} ms`);
  assert.equal(proxy.faults.length, before + 1);
  // The bucket starts empty: the bytes are paced from the first one.
  assert.ok(took >= (bytes / 40000) * 1000 * 0.8, `throttle not applied: ${bytes} bytes in ${took} ms`);
  assert.equal(rec.disconnects.length, 0);
  assert.equal(rec.opens, 1);
  proxy.clear();
});

for (const direction of ['toClient', 'toServer']) {
  test(`stream cut mid-frame (${direction}) with deliveries in flight: reconnect, nothing lost`, async (t) => {
    const { emu, proxy, rec } = await setup(t);
    const box = trackRequeues(emu);
    const ids = [];
    for (let round = 0; round < 4; round++) {
      const opens = rec.opens;
      ids.push(...emu.publishMany(200));
      await emu.waitFor(() => emu.inFlight() > 0, 5000, 'deliveries in flight');
      assert.equal(proxy.cut(direction), 1);
      await emu.waitFor(() => rec.opens > opens, 5000, 'reconnected after the cut');
    }
    await allAccepted(emu, ids);
    const cuts = proxy.faults.filter((f) => f.kind === 'cut');
    assert.equal(cuts.length, 4);
    for (const c of cuts) assert.equal(c.detail, direction);
    assert.equal(rec.disconnects.length, 4);
    for (const d of rec.disconnects) assert.ok(d.error && d.reconnecting);
    assertDuplicatesAccounted(emu, box);
  });
}

test('settling a delivery whose connection is gone returns false and does not throw', async (t) => {
  const held = [];
  const { emu, proxy, rec } = await setup(t, {
    receiver: { autoaccept: false },
    handler: (ctx) => {
      // The first 8 deliveries are held; their redeliveries after the reset are accepted.
      if (held.length < 8) held.push(ctx.delivery);
      else ctx.delivery.accept();
    },
  });
  const ids = emu.publishMany(8);
  await emu.waitFor(() => held.length === 8, 5000, '8 held deliveries');
  const opens = rec.opens;
  proxy.reset();
  await emu.waitFor(() => rec.disconnects.length === 1, 5000, 'disconnected');
  const results = [];
  assert.doesNotThrow(() => {
    results.push(held[0].accept());
    results.push(held[1].release());
    results.push(held[2].reject({ condition: 'amqp:internal-error', description: 'x' }));
    results.push(held[3].modified({ delivery_failed: true }));
    results.push(held[4].release({ undeliverable_here: true }));
    results.push(held[5].accept());
  });
  assert.deepEqual(results, [false, false, false, false, false, false]);
  await emu.waitFor(() => rec.opens > opens, 5000, 'reconnected');
  // The same messages come again on the new connection; held[6] and [7] are still stale.
  await allAccepted(emu, ids);
  assert.equal(held[6].accept(), false);
  assert.equal(held[7].accept(), false);
  assert.equal(emu.dispositions.filter((d) => d.outcome !== 'accepted').length, 0, 'no stale settlement reached the server');
});

test('settling right after a reset, before the client noticed, does not throw either', async (t) => {
  const held = [];
  const { emu, proxy } = await setup(t, {
    receiver: { autoaccept: false },
    handler: (ctx) => held.push(ctx.delivery),
  });
  const ids = emu.publishMany(5);
  await emu.waitFor(() => held.length === 5, 5000, 'deliveries');
  proxy.reset();
  // Same tick as the reset: whatever accept() answers, it must not throw, and nothing is lost.
  assert.doesNotThrow(() => held.forEach((d) => d.accept()));
  await emu.waitFor(() => held.length >= 10, 5000, 'redelivered');
  for (const d of held.slice(5)) d.accept();
  await allAccepted(emu, ids);
});

test('scaled-down fault suite: 3 000 messages, 20 faults of every kind', async (t) => {
  const summary = await runFaultSuite({ messages: 3000, faults: 20, seed: 7, idleTimeOut: 500 });
  t.diagnostic(summaryLine(summary));
  assert.deepEqual(summary.problems, []);
  assert.equal(summary.lost, 0);
  assert.equal(summary.accepted, 3000);
  assert.equal(summary.faults, 20);
  for (const [kind, n] of Object.entries(summary.byKind)) assert.ok(n >= 3, `${kind}: ${n}`);
});
