'use strict';
// consumer.batches({max, maxWaitMs}) against the emulator: what a batch holds and when it comes
// (max, maxWaitMs, and a max above the total credit), how it is settled (as a whole when the loop
// asks for the next one, by batch.accept()/release(), per message; released when the loop is left
// early), and its interplay with concurrency, pause/resume, close() and dedupe.

const test = require('node:test');
const assert = require('node:assert/strict');
const dc = require('node:diagnostics_channel');

const { startEmulator } = require('../support/emulator');
const { amqp } = require('../support/client');

/** An emulator and consumers on it, closed after the test. */
async function setup(t) {
  const emu = await startEmulator({ tls: false });
  const consumers = [];
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.close({ timeout: 1000 })));
    await emu.close();
  });
  const consumerFor = (extra = {}) => {
    const { accessKeyId, accessKeySecret } = emu.credentials();
    const c = amqp.createConsumer({
      host: emu.host, port: emu.port, transport: 'tcp', accessKeyId, accessKeySecret,
      consumerGroupId: 'DEFAULT_GROUP', clientId: 'batches', initial_reconnect_delay: 10, ...extra,
    });
    consumers.push(c);
    return c;
  };
  return { emu, consumerFor };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const outcomesOf = (emu, key) => emu.dispositions.filter((d) => d.key === key).map((d) => d.outcome);

test('batches of at most max, every message once, each batch accepted when the loop asks for the next', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ credit: 100 });
  const ids = emu.publishMany(250);
  const seen = [];
  let previous = null;
  for await (const batch of consumer.batches({ max: 40, maxWaitMs: 20 })) {
    assert.ok(Array.isArray(batch) && batch instanceof Array);
    assert.ok(batch.length >= 1 && batch.length <= 40, `a batch of ${batch.length}`);
    assert.equal(batch.map((m) => m).constructor, Array, 'map() gives a plain array');
    if (previous) assert.ok(previous.every((m) => m.state === 'accepted'), 'the previous batch was accepted');
    assert.ok(batch.every((m) => !m.settled));
    seen.push(...batch.map((m) => m.messageId));
    previous = batch;
    if (seen.length === ids.length) {
      assert.equal(batch.accept(), batch.length, 'accept() settles the batch: every outcome went out');
      assert.equal(batch.accept(), 0);
      break;
    }
  }
  assert.deepEqual(seen.sort(), [...ids].sort());
  assert.equal(emu.acceptedOnce.size, 250);
  assert.equal(emu.dispositions.length, 250, 'each settled once');
  assert.equal(consumer.stats().accepted, 250);
});

test('a batch comes maxWaitMs after its first message, or at once when max are there', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  const it = consumer.batches({ max: 10, maxWaitMs: 300 });
  await new Promise((resolve) => consumer.once('connected', resolve));
  emu.publishMany(3);
  const t0 = Date.now();
  const first = await it.next();
  const waited = Date.now() - t0;
  assert.equal(first.value.length, 3);
  assert.ok(waited >= 250, `yielded after ${waited} ms: it waited for more`);
  emu.publishMany(10);
  const t1 = Date.now();
  const second = await it.next();
  assert.equal(second.value.length, 10);
  assert.ok(Date.now() - t1 < 250, 'max reached: yielded without waiting out maxWaitMs');
  await it.return();
});

test('a max above the total credit does not deadlock: a batch comes once the credit is used up, or after maxWaitMs', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ credit: 10 });
  const it = consumer.batches({ max: 500, maxWaitMs: 400 });
  await new Promise((resolve) => consumer.once('connected', resolve));
  emu.publishMany(25);
  const timed = async () => {
    const t0 = Date.now();
    const r = await it.next();
    return { n: r.value.length, ms: Date.now() - t0 };
  };
  const a = await timed();
  const b = await timed();
  const c = await timed();
  assert.deepEqual([a.n, b.n, c.n], [10, 10, 5], 'at most the credit: nothing more can come until the batch is settled');
  assert.ok(a.ms < 350 && b.ms < 350, `full credit: yielded at once (${a.ms}, ${b.ms} ms)`);
  assert.ok(c.ms >= 350, `the last 5 after maxWaitMs (${c.ms} ms)`);
  await it.return();
  assert.equal(emu.acceptedOnce.size, 20);
});

test('batch.release() and per-message settlement; leaving the loop releases what the held batch left, and closes', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  const ids = emu.publishMany(6);
  let round = 0;
  let released;
  const closed = new Promise((resolve) => consumer.once('close', resolve));
  for await (const batch of consumer.batches({ max: 6, maxWaitMs: 200 })) {
    round += 1;
    if (round === 1) {
      assert.equal(batch.length, 6);
      released = batch.map((m) => m.messageId);
      assert.equal(batch.release(), 6);
      continue; // accepting a released batch changes nothing
    }
    assert.deepEqual(batch.map((m) => m.messageId).sort(), [...released].sort(), 'the released batch came again');
    assert.equal(batch[0].accept(), true);
    assert.equal(batch[1].reject('bad'), true);
    break; // leaves 4 unsettled: released
  }
  await closed;
  assert.deepEqual(outcomesOf(emu, ids[0]), ['released', 'accepted']);
  assert.deepEqual(outcomesOf(emu, ids[1]), ['released', 'rejected']);
  for (const id of ids.slice(2)) assert.deepEqual(outcomesOf(emu, id), ['released', 'released']);
  const s = consumer.stats();
  assert.equal(s.accepted, 1);
  assert.equal(s.rejected, 1);
  assert.equal(s.released, 10);
});

test('a throw in the loop body releases the held batch and rejects the loop with it', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  const ids = emu.publishMany(3);
  await assert.rejects(async () => {
    for await (const batch of consumer.batches({ max: 3, maxWaitMs: 500 })) {
      assert.equal(batch.length, 3);
      throw new Error('db down');
    }
  }, /db down/);
  for (const id of ids) assert.deepEqual(outcomesOf(emu, id), ['released']);
});

test('concurrency does not apply to a batch loop; pause() holds batches back until resume()', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ concurrency: 1 });
  const it = consumer.batches({ max: 20, maxWaitMs: 50 });
  await new Promise((resolve) => consumer.once('connected', resolve));
  emu.publishMany(20);
  const first = await it.next();
  assert.equal(first.value.length, 20, 'a batch of 20 with concurrency 1');
  consumer.pause();
  emu.publishMany(5);
  let got = null;
  const pending = it.next().then((r) => { got = r; });
  await sleep(300);
  assert.equal(got, null, 'no batch while paused');
  assert.equal(emu.acceptedOnce.size, 20, 'the first batch was accepted when the loop asked for the next');
  consumer.resume();
  await pending;
  assert.equal(got.value.length, 5);
  await it.return();
});

test('close() waits for the held batch (accepted when the loop asks for the next), releases what is buffered, and ends the loop', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ credit: 50 });
  const ids = emu.publishMany(30);
  let closing = null;
  let batches = 0;
  let held = [];
  for await (const batch of consumer.batches({ max: 10, maxWaitMs: 10000 })) {
    batches += 1;
    held = batch.map((m) => m.messageId);
    await emu.waitFor(() => consumer.stats().buffered === 20, 5000, 'the rest buffered');
    closing = consumer.close();
    await sleep(100); // close() waits for this body
    assert.ok(batch.every((m) => !m.settled));
  }
  await closing;
  assert.equal(batches, 1, 'no batch after close()');
  for (const id of held) assert.deepEqual(outcomesOf(emu, id), ['accepted'], 'the held batch finished: accepted');
  const rest = ids.filter((id) => !held.includes(id));
  for (const id of rest) assert.deepEqual(outcomesOf(emu, id), ['released'], 'the buffered ones released');
});

test('dedupe: copies inside a batch and redeliveries across batches are accepted at once and not yielded', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ dedupe: true });
  const duplicates = [];
  consumer.on('duplicate', (m) => duplicates.push(m.messageId));
  const it = consumer.batches({ max: 100, maxWaitMs: 300 });
  emu.publish({ messageId: 'a' });
  emu.publish({ messageId: 'b' });
  emu.publish({ messageId: 'a' });
  const first = await it.next();
  assert.deepEqual(first.value.map((m) => m.messageId), ['a', 'b'], 'the copy of a left out');
  assert.deepEqual(duplicates, ['a']);
  emu.publish({ messageId: 'b' });
  emu.publish({ messageId: 'c' });
  const second = await it.next(); // accepts the first batch, then b is a redelivery of an accepted message
  assert.deepEqual(second.value.map((m) => m.messageId), ['c']);
  assert.deepEqual(duplicates, ['a', 'b']);
  await it.return();
  assert.equal(consumer.stats().duplicates, 2);
  assert.deepEqual(outcomesOf(emu, 'a'), ['accepted', 'accepted']);
  assert.deepEqual(outcomesOf(emu, 'b'), ['accepted', 'accepted']);
  assert.deepEqual(outcomesOf(emu, 'c'), ['released'], 'left in the held batch by return(): released');
});

test('one loop at a time: batches() excludes another loop and message listeners', async (t) => {
  const { consumerFor } = await setup(t);
  const consumer = consumerFor();
  const it = consumer.batches();
  assert.throws(() => consumer.batches(), /already being iterated/);
  assert.throws(() => consumer[Symbol.asyncIterator](), /already being iterated/);
  assert.throws(() => consumer.on('message', () => {}), /being iterated/);
  await it.return();
  const other = consumerFor();
  other.on('message', () => {});
  assert.throws(() => other.batches(), /'message' listeners/);
});

test('maxWaitMs: 0 yields what each read brought as one batch, not its first message alone', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ credit: 100 });
  // The sizes of the native reads, as the receiver hands them to the consumer.
  const reads = [];
  const { receiver } = consumer._links[0];
  const onMessages = receiver._onMessages.bind(receiver);
  receiver._onMessages = (deliveries, attach, epoch) => {
    reads.push(deliveries.length);
    onMessages(deliveries, attach, epoch);
  };
  const it = consumer.batches({ max: 100, maxWaitMs: 0 });
  await new Promise((resolve) => consumer.once('connected', resolve));
  await sleep(50);
  const ids = emu.publishMany(50);
  const sizes = [];
  const seen = [];
  while (seen.length < 50) {
    const { value } = await it.next();
    sizes.push(value.length);
    seen.push(...value.map((m) => m.messageId));
  }
  assert.ok(reads.some((n) => n > 1), `some read brought several deliveries (reads ${reads})`);
  assert.deepEqual(sizes, reads, 'one batch per read, whole');
  assert.deepEqual(seen, ids);
  await it.return();
});

test('a drop while the loop holds a batch: accept() sends nothing (0, abandoned), the held and the buffered messages come again in later batches, none lost, and every message event gets its settle event', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const events = { message: [], settle: [] };
  const listeners = Object.keys(events).map((name) => {
    const fn = (payload) => events[name].push(payload);
    dc.subscribe(`aliyun-iot-amqp:${name}`, fn);
    return [`aliyun-iot-amqp:${name}`, fn];
  });
  t.after(() => { for (const [name, fn] of listeners) dc.unsubscribe(name, fn); });
  const consumer = consumerFor({ credit: 50 });
  const ids = emu.publishMany(40);
  const it = consumer.batches({ max: 20, maxWaitMs: 50 });
  const { value: held } = await it.next();
  assert.equal(held.length, 20);
  await emu.waitFor(() => consumer.stats().buffered === 20, 5000, 'the other 20 buffered');
  emu.dropConnections();
  // The 20 buffered are dropped with their connection (each with an 'abandoned' settle event). Not
  // stats().buffered === 0: after a 10 ms reconnect, the redeliveries may fill the buffer again
  // before a poll sees it empty.
  await emu.waitFor(() => events.settle.filter((e) => e.outcome === 'abandoned').length === 20, 5000, 'the buffered ones dropped with their connection');
  assert.equal(held.accept(), 0, 'no outcome can go out: the connection is gone');
  assert.deepEqual([...new Set(held.map((m) => m.state))], ['abandoned'], 'state says what happened');
  assert.ok(held.every((m) => m.settled), 'settled once all the same');
  assert.equal(held[0].accept(), false);
  // The 40 come again, in later batches, each accepted once.
  const seen = [];
  while (seen.length < 40) {
    const { value } = await it.next();
    seen.push(...value.map((m) => m.messageId));
    assert.equal(value.accept(), value.length);
  }
  await it.return();
  assert.deepEqual(seen.sort(), [...ids].sort(), 'every message again, none lost');
  assert.equal(emu.acceptedOnce.size, 40);
  for (const id of ids) assert.equal(emu.accepted.get(id), 1, `${id} accepted once`);
  const s = consumer.stats();
  assert.equal(s.accepted, 40, 'outcomes counted as sent only');
  assert.equal(s.reconnects, 1);
  // diagnostics_channel: each delivery's message event is closed by a settle event.
  const key = (e) => `${e.connectionId}/${e.attach}/${e.deliveryId}`;
  const settled = new Map(events.settle.map((e) => [key(e), e]));
  const open = events.message.filter((m) => !settled.has(key(m)));
  assert.deepEqual(open, [], 'no message event without its settle event');
  assert.equal(events.message.length, 80);
  const abandoned = events.settle.filter((e) => e.outcome === 'abandoned');
  assert.equal(abandoned.length, 20, 'the 20 dropped from the buffer: abandoned');
  assert.ok(abandoned.every((e) => e.sent === false));
  assert.equal(events.settle.filter((e) => e.outcome === 'accepted' && e.sent === false).length, 20, 'the held 20: accepted, not sent');
});
