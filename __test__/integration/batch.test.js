'use strict';
// The rhea-shaped batch API: a receiver opened with `{batch: true}` (or `{batch: {max}}`) emits one
// 'batch' event per batch of deliveries instead of 'message' events. Each delivery of a batch is
// settled once, by index or all at once; what a throwing handler leaves is released; a batch whose
// connection is gone settles nothing (false / 0) and its messages come again. (That message(i) and
// the views read exactly what 'message' events give: message-shape.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

const { amqp, optionsFor, closed } = require('../support/client');
const { startEmulator } = require('../support/emulator');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP proxy whose server-to-client bytes can be held and then let through as one write, so that
 * the deliveries held arrive in one read, hence one batch (the emulator writes one transfer at a
 * time, and a fast reader reads them one by one).
 */
async function gate(t, target) {
  let held = null;
  const clients = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    clients.add(client);
    upstream.on('data', (chunk) => {
      if (held) held.push(chunk);
      else client.write(chunk);
    });
    client.on('data', (chunk) => upstream.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      clients.delete(client);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => {
    for (const c of clients) c.destroy();
    server.close(() => resolve());
  }));
  return {
    port: server.address().port,
    hold() {
      held = [];
    },
    release() {
      const data = Buffer.concat(held);
      held = null;
      for (const c of clients) c.write(data);
    },
  };
}

async function setup(t, receiverOptions, connectExtra = {}, { gated = false } = {}) {
  const emu = await startEmulator({ tls: false });
  const proxy = gated ? await gate(t, { host: emu.host, port: emu.port }) : null;
  const container = amqp.create_container({ id: 'batch-test' });
  const connection = container.connect(optionsFor(emu, proxy ? { port: proxy.port, ...connectExtra } : connectExtra));
  container.on('disconnected', () => {});
  const receiver = connection.open_receiver(receiverOptions);
  t.after(async () => {
    await closed(connection);
    await emu.close();
  });
  return { emu, container, connection, receiver, proxy };
}

test('a batch receiver gets every message once, in batches of at most max and of at most the credit window, and no message event', async (t) => {
  const { emu, container } = await setup(t, { batch: { max: 64 }, credit_window: 100 });
  const sizes = [];
  let messages = 0;
  container.on('message', () => { messages += 1; });
  container.on('batch', (ctx) => {
    assert.ok(ctx.batch instanceof amqp.Batch);
    assert.equal(ctx.receiver, ctx.batch.receiver);
    assert.ok(ctx.connection && ctx.session && ctx.container);
    sizes.push(ctx.batch.length);
  });
  emu.publishMany(1000);
  await emu.waitForAccepted(1000, 20000);
  assert.equal(messages, 0);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 1000);
  assert.ok(sizes.every((n) => n >= 1 && n <= 64), `sizes ${sizes}`);
  assert.equal(emu.deliveries.length, 1000, 'each message delivered once (autoaccept accepted every batch)');
  assert.equal(emu.dispositions.length, 1000, 'and settled once');
});

test('settling by index and all at once: each delivery once; the released come again', async (t) => {
  const { emu, receiver, connection, proxy } = await setup(t, { batch: true, autoaccept: false }, {}, { gated: true });
  await new Promise((resolve) => receiver.once('receiver_open', resolve));
  // The 30 deliveries are held and let through at once: one batch (settled by hand below).
  proxy.hold();
  const ids = emu.publishMany(30);
  await emu.waitFor(() => emu.deliveries.length === 30, 10000, '30 sent');
  setTimeout(() => proxy.release(), 20);
  assert.ok(connection.is_open());
  const results = [];
  receiver.on('batch', ({ batch }) => {
    if (results.length === 0) {
      results.push({
        first: [batch.release(0), batch.accept(1), batch.release(0), batch.accept(1)],
        states: [batch.state(0), batch.state(1), batch.state(2)],
        settled: [batch.settled(0), batch.settled(1), batch.settled(2)],
        rest: batch.accept(),
        again: batch.accept(),
        released: batch.messageId(0),
        length: batch.length,
      });
    } else {
      // Later batches: accepted one by one, then accept() finds nothing left.
      for (let i = 0; i < batch.length; i++) assert.equal(batch.accept(i), true);
      assert.equal(batch.accept(), 0);
    }
  });
  await emu.waitForAccepted(30, 10000);
  const r = results[0];
  assert.equal(r.length, 30, 'the 30 held deliveries came in one batch');
  assert.deepEqual(r.first, [true, true, false, false]);
  assert.deepEqual(r.states, ['released', 'accepted', undefined]);
  assert.deepEqual(r.settled, [true, true, false]);
  assert.equal(r.rest, r.length - 2);
  assert.equal(r.again, 0);
  assert.equal(emu.accepted.get(r.released), 1, 'the released message came again and was accepted');
  assert.equal(emu.deliveries.length, 31, 'one redelivery: the released one');
  assert.equal(emu.dispositions.length, 31, 'every delivery settled once');
  assert.deepEqual([...emu.acceptedOnce].sort(), [...ids].sort());
});

test('autoaccept accepts what the handler left; a throwing handler has it released and reports the error', async (t) => {
  const { emu, container } = await setup(t, { batch: true });
  const errors = [];
  let thrown = false;
  let firstId;
  container.on('error', (err) => errors.push(err));
  container.on('batch', ({ batch }) => {
    if (!thrown) {
      thrown = true;
      firstId = batch.messageId(0);
      batch.accept(0);
      throw new Error('handler failed');
    }
  });
  emu.publishMany(20);
  await emu.waitForAccepted(20, 10000);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, 'handler failed');
  assert.equal(emu.accepted.get(firstId), 1, 'the one it accepted stays accepted');
  const released = emu.dispositions.filter((d) => d.outcome === 'released');
  assert.ok(released.every((d) => d.messageId !== firstId));
  assert.equal(emu.deliveries.length, 20 + released.length, 'the released ones came again');
});

test('a batch whose connection is gone settles nothing (false, 0); its messages come again', async (t) => {
  const { emu, connection, receiver } = await setup(t, { batch: true, autoaccept: false }, { initial_reconnect_delay: 20 });
  let held = null;
  let opens = 0;
  connection.on('connection_open', () => { opens += 1; });
  receiver.on('batch', ({ batch }) => {
    if (held === null) held = batch;
    else batch.accept();
  });
  emu.publishMany(5);
  await emu.waitFor(() => held !== null, 10000, 'a batch');
  const heldIds = Array.from({ length: held.length }, (_, i) => held.messageId(i));
  emu.dropConnections();
  await emu.waitFor(() => opens >= 2, 10000, 'reconnected');
  assert.equal(held.accept(0), false);
  assert.equal(held.accept(), 0);
  assert.equal(held.settled(0), true, 'claimed all the same: settled once, here');
  await emu.waitForAccepted(5, 10000);
  for (const id of heldIds) assert.equal(emu.accepted.get(id), 1, `${id} accepted once, after its redelivery`);
});

test('indexes are checked: a RangeError names the batch size', async (t) => {
  const { emu, receiver } = await setup(t, { batch: true });
  let batch = null;
  receiver.on('batch', (ctx) => { batch = ctx.batch; });
  emu.publish({});
  await emu.waitForAccepted(1, 10000);
  for (const bad of [-1, 1, 0.5, '0', undefined]) {
    assert.throws(() => batch.topic(bad), RangeError);
  }
  assert.throws(() => batch.message(1), /no delivery 1 in a batch of 1/);
  assert.throws(() => batch.accept(2), RangeError);
  assert.equal(batch.accept(0), false, 'autoaccept settled it');
  assert.deepEqual([...batch].map((m) => m.message_id), [batch.messageId(0)], 'iterating builds the messages');
  assert.match(require('node:util').inspect(batch), /^Batch \{ length: 1, settled: 1 \}$/);
});

test('a batch whose link was detached settles nothing; its messages come again on the new attachment', async (t) => {
  const { emu, receiver } = await setup(t, { batch: true, autoaccept: false });
  let held = null;
  let opens = 0;
  receiver.on('receiver_open', () => { opens += 1; });
  receiver.on('receiver_error', () => {});
  receiver.on('batch', ({ batch }) => {
    if (held === null) held = batch;
    else batch.accept();
  });
  emu.publishMany(5);
  await emu.waitFor(() => held !== null && opens === 1, 10000, 'a batch');
  const heldIds = Array.from({ length: held.length }, (_, i) => held.messageId(i));
  emu.detachReceivers({ condition: 'amqp:link:detach-forced', description: 'rebalancing' });
  await emu.waitFor(() => opens === 2, 10000, 'attached again');
  assert.equal(held.accept(), 0);
  await emu.waitForAccepted(5, 10000);
  for (const id of heldIds) assert.equal(emu.accepted.get(id), 1, `${id} accepted once, after its redelivery`);
});

test('reject and modified, by index and for every delivery left: the outcomes delivery.reject()/modified() send, each once', async (t) => {
  const { emu, receiver, proxy } = await setup(t, { batch: true, autoaccept: false }, {}, { gated: true });
  await new Promise((resolve) => receiver.once('receiver_open', resolve));
  proxy.hold();
  const ids = emu.publishMany(8);
  await emu.waitFor(() => emu.deliveries.length === 8, 10000, '8 sent');
  setTimeout(() => proxy.release(), 20);
  let r = null;
  receiver.on('batch', ({ batch }) => {
    if (r !== null) {
      batch.accept();
      return;
    }
    r = {
      length: batch.length,
      one: [
        batch.reject(0, { condition: 'amqp:decode-error', description: 'not JSON' }),
        batch.modified(1, { undeliverable_here: true }),
        batch.release(2, { delivery_failed: true }), // modified, as delivery.release(params) is
        batch.modified(3), // plain modified: delivered again
        batch.accept(4),
        batch.reject(0), // settled already
      ],
      all: batch.reject(undefined, 'bad batch'),
      again: [batch.reject(), batch.modified(), batch.accept(), batch.release()],
      states: Array.from({ length: batch.length }, (_, i) => batch.state(i)),
    };
  });
  await emu.waitFor(() => r !== null && emu.pending() === 0, 10000, 'every outcome in');
  assert.equal(r.length, 8, 'one batch of the 8 held deliveries');
  assert.deepEqual(r.one, [true, true, true, true, true, false]);
  assert.equal(r.all, 3, 'the 3 left rejected');
  assert.deepEqual(r.again, [0, 0, 0, 0]);
  assert.deepEqual(r.states, ['rejected', 'modified', 'modified', 'modified', 'accepted', 'rejected', 'rejected', 'rejected']);
  const first = (key) => emu.dispositions.find((d) => d.key === key);
  assert.deepEqual(ids.map((key) => first(key).outcome), ['rejected', 'modified', 'modified', 'modified', 'accepted', 'rejected', 'rejected', 'rejected']);
  const err = emu.rejected.get(ids[0]).error;
  assert.deepEqual([err.condition, err.description], ['amqp:decode-error', 'not JSON']);
  assert.equal(emu.rejected.get(ids[5]).error.description, 'bad batch');
  assert.ok(emu.undeliverable.has(ids[1]), 'undeliverable_here: dropped');
  assert.ok(first(ids[2]).state.delivery_failed, 'release(i, {delivery_failed}) sent modified with delivery-failed');
  // Rejected and undeliverable ones are dropped; the two plain modified come again (accepted then).
  assert.deepEqual([...emu.acceptedOnce].sort(), [ids[2], ids[3], ids[4]].sort());
  assert.equal(emu.deliveries.length, 10);
});

test('pause() stops a batch receiver: settling held batches grants no credit until resume()', async (t) => {
  const { emu, receiver } = await setup(t, { batch: { max: 500 }, credit_window: 30, autoaccept: false });
  const held = [];
  receiver.on('batch', ({ batch }) => held.push(batch));
  const count = () => held.reduce((n, b) => n + b.length, 0);
  const ids = emu.publishMany(100);
  await emu.waitFor(() => count() === 30, 10000, 'the credit window held');
  await sleep(200);
  assert.equal(count(), 30, 'at most credit_window held unsettled');
  receiver.pause();
  assert.equal(receiver.is_paused(), true);
  for (const b of held.splice(0)) b.accept();
  await emu.waitForAccepted(30, 10000);
  await sleep(300);
  assert.equal(count(), 0, 'paused: no batch although the window is free');
  receiver.resume();
  assert.equal(receiver.is_paused(), false);
  // Accepted as they come from now on.
  receiver.removeAllListeners('batch');
  receiver.on('batch', ({ batch }) => batch.accept());
  for (const b of held.splice(0)) b.accept();
  await emu.waitForAccepted(100, 10000);
  assert.deepEqual([...emu.acceptedOnce].sort(), [...ids].sort());
  assert.equal(emu.deliveries.length, 100, 'each delivered once');
});
