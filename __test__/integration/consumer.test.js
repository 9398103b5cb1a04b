'use strict';
// The platform-native API: createConsumer() against the emulator. Iteration and handler
// settlement rules, concurrency, pause/resume, close(), dedupe, stats, several connections, and
// that the consumer never loads rhea. (Its options: unit/consumer-options.test.js; its messages:
// unit/consumer-message.test.js; its types: integration/types.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const util = require('node:util');

const { startEmulator } = require('../support/emulator');
const { amqp, PACKAGE_ROOT } = require('../support/client');
const { withEnv, noEnv } = require('../support/env');

const { createConsumer } = amqp;

/** An emulator, closed after the test (after the consumers registered with `track`). */
async function setup(t, emuOptions) {
  const emu = await startEmulator(emuOptions);
  const consumers = [];
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.close({ timeout: 1000 })));
    await emu.close();
  });
  const consumerFor = (extra = {}) => {
    const { accessKeyId, accessKeySecret } = emu.credentials();
    const c = createConsumer({
      host: emu.hostname,
      port: emu.port,
      ca: emu.ca,
      accessKeyId,
      accessKeySecret,
      consumerGroupId: 'DEFAULT_GROUP',
      clientId: 'test-consumer',
      initial_reconnect_delay: 10,
      ...extra,
    });
    consumers.push(c);
    return c;
  };
  return { emu, consumerFor, track: (c) => (consumers.push(c), c) };
}

/**
 * Runs `script` (node -e) with the emulator's credentials in the environment
 * (ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET) and EMU_PORT, EMU_CA; resolves to its exit code and output.
 */
async function runChild(emu, script) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, ...noEnv, ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret, EMU_PORT: String(emu.port), EMU_CA: emu.ca },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

const outcomesOf = (emu, key) => emu.dispositions.filter((d) => d.key === key).map((d) => d.outcome);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a consumer built from credentials in the environment, iterated with for await', async (t) => {
  const { emu, track } = await setup(t);
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = track(withEnv({ ...noEnv, ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret },
    () => createConsumer({ host: emu.hostname, port: emu.port, ca: emu.ca, consumerGroupId: 'DEFAULT_GROUP', clientId: 'env-client' })));
  assert.deepEqual(consumer.clientIds, ['env-client'], 'one connection: the client id as given');

  const generateTime = 1700000000123;
  const ids = emu.publishMany(4, (i) => ({ topic: `/a1Pk/dev${i}/thing/event/alarm/post`, generateTime, body: { i } }));
  const got = [];
  for await (const msg of consumer) {
    // Every earlier message was accepted when the loop asked for this one.
    assert.ok(got.every((m) => m.state === 'accepted'));
    assert.equal(msg.settled, false);
    got.push(msg);
    if (got.length === 4) {
      msg.accept();
      break; // leaving the loop closes the consumer
    }
  }
  assert.deepEqual(got.map((m) => m.messageId), ids);
  const [first] = got;
  assert.equal(first.topic, '/a1Pk/dev0/thing/event/alarm/post');
  assert.equal(typeof first.messageId, 'string');
  assert.equal(first.generateTime, generateTime);
  assert.ok(Buffer.isBuffer(first.content));
  assert.equal(first.text(), '{"i":0}');
  assert.deepEqual(first.json(), { i: 0 });
  assert.deepEqual(first.topicInfo, { productKey: 'a1Pk', deviceName: 'dev0', kind: 'event', identifier: 'alarm' });
  assert.equal(first.raw.application_properties.topic, first.topic);
  assert.equal(first.clientId, 'env-client');

  await emu.waitForAccepted(4);
  for (const id of ids) assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  const [attempt] = emu.authAttempts;
  assert.deepEqual([attempt.ok, attempt.clientId, attempt.authMode, attempt.signMethod, attempt.consumerGroupId],
    [true, 'env-client', 'aksign', 'hmacsha256', 'DEFAULT_GROUP']);
  assert.equal(consumer.stats().connections, 0, 'closed when the loop was left');
  assert.equal(emu.connections, 0);
});

test('ALIBABA_CLOUD_SECURITY_TOKEN in the environment: authMode ststoken', async (t) => {
  const { emu, track } = await setup(t);
  const { accessKeyId, accessKeySecret, securityToken } = emu.credentials();
  const consumer = track(withEnv({
    ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret, ALIBABA_CLOUD_SECURITY_TOKEN: securityToken,
  }, () => createConsumer({ host: emu.hostname, port: emu.port, ca: emu.ca, consumerGroupId: 'g', clientId: 'sts' })));
  emu.publish();
  for await (const msg of consumer) {
    msg.accept();
    break;
  }
  assert.deepEqual(emu.authAttempts.map((a) => [a.ok, a.authMode]), [[true, 'ststoken']]);
});

test('for await: a message the loop leaves by break or throw is released, and the consumer closes', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const [a, b, c] = emu.publishMany(3);

  const first = consumerFor({ credit: 1 });
  for await (const msg of first) {
    if (msg.messageId === a) continue; // accepted when the loop asks for the next
    break; // b: not finished, released
  }
  assert.equal(first.stats().connections, 0);
  await emu.waitFor(() => outcomesOf(emu, b).length === 1, 5000, 'b settled');
  assert.deepEqual(outcomesOf(emu, a), ['accepted']);
  assert.deepEqual(outcomesOf(emu, b), ['released']);

  const second = consumerFor({ credit: 1, clientId: 'second' });
  await assert.rejects(async () => {
    for await (const msg of second) {
      assert.equal(msg.messageId, b, 'the released message comes again');
      throw new Error('handler failed');
    }
  }, /handler failed/);
  assert.deepEqual(outcomesOf(emu, b), ['released', 'released']);

  // A message the body settles itself keeps that outcome.
  const third = consumerFor({ credit: 1, clientId: 'third' });
  const seen = [];
  for await (const msg of third) {
    seen.push(msg.messageId);
    if (msg.messageId === b) msg.reject('poison');
    if (seen.length === 2) {
      msg.accept();
      break;
    }
  }
  assert.deepEqual(seen, [b, c]);
  assert.deepEqual(outcomesOf(emu, b), ['released', 'released', 'rejected']);
  assert.deepEqual(third.stats().rejected, 1);
  assert.equal(emu.pending(), 0);
});


test('for await: the acknowledgements of the messages a read brought go to the connection in a few settle calls, not one per message', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const ids = emu.publishMany(60);
  const consumer = consumerFor();
  // Each call of the native settle, counted (the loop settles each message in a microtask of
  // its own, as it asks for the next).
  const calls = [];
  consumer.once('connected', () => {
    const native = consumer._links[0].connection._native;
    const settle = native.settle.bind(native);
    native.settle = (attach, deliveryIds, codes) => {
      calls.push(deliveryIds.length);
      return settle(attach, deliveryIds, codes);
    };
  });
  const seen = [];
  for await (const msg of consumer) {
    seen.push(msg.messageId);
    if (seen.length === ids.length) setTimeout(() => consumer.close(), 0);
  }
  assert.deepEqual(seen.sort(), [...ids].sort());
  await emu.waitFor(() => ids.every((id) => outcomesOf(emu, id).length === 1), 5000, 'all settled');
  assert.ok(ids.every((id) => outcomesOf(emu, id)[0] === 'accepted'));
  assert.equal(calls.reduce((a, b) => a + b, 0), ids.length, `every acknowledgement went through settle: ${calls}`);
  assert.ok(calls.length <= ids.length / 6, `${calls.length} settle calls for ${ids.length} messages: ${calls}`);
});
test("on('message'): a resolved handler accepts, a rejected one releases and emits 'error'", async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  const errors = [];
  consumer.on('error', (err, msg) => errors.push([err.message, msg && msg.messageId]));
  const attempts = new Map();
  consumer.on('message', async (msg) => {
    const n = (attempts.get(msg.messageId) || 0) + 1;
    attempts.set(msg.messageId, n);
    await sleep(5);
    if (msg.topic === '/flaky' && n === 1) throw new Error('database busy');
  });
  const ok = emu.publish({ topic: '/fine' });
  const flaky = emu.publish({ topic: '/flaky' });
  const sync = emu.publish({ topic: '/sync' });
  await emu.waitFor(() => [ok, flaky, sync].every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted');

  assert.deepEqual(outcomesOf(emu, ok), ['accepted']);
  assert.deepEqual(outcomesOf(emu, flaky), ['released', 'accepted'], 'released, delivered again, then accepted');
  assert.deepEqual(errors, [['database busy', flaky]]);
  assert.equal(attempts.get(flaky), 2);
  const s = consumer.stats();
  assert.equal(s.accepted, 3);
  assert.equal(s.released, 1);
  assert.equal(s.lastError, 'database busy');

  // Synchronous handlers: returning accepts, throwing releases.
  const consumer2 = consumerFor({ clientId: 'sync' });
  await consumer.close();
  const seen = [];
  consumer2.on('error', () => {});
  consumer2.on('message', (msg) => {
    seen.push(msg.topic);
    if (seen.length === 1) throw new Error('sync failure');
  });
  const x = emu.publish({ topic: '/x' });
  await emu.waitFor(() => emu.acceptedOnce.has(x), 10000, 'x accepted');
  assert.deepEqual(outcomesOf(emu, x), ['released', 'accepted']);
});

test('concurrency bounds the handlers in flight', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ concurrency: 3, credit: 20 });
  let running = 0;
  let max = 0;
  let maxInFlight = 0;
  consumer.on('message', async () => {
    running += 1;
    max = Math.max(max, running);
    maxInFlight = Math.max(maxInFlight, consumer.stats().inFlight);
    await sleep(20);
    running -= 1;
  });
  emu.publishMany(30);
  await emu.waitForAccepted(30, 15000);
  assert.equal(max, 3, 'three handlers at once, never more');
  assert.equal(maxInFlight, 3);
  assert.equal(consumer.stats().accepted, 30);
  assert.ok(emu.deliveries.length === 30);
});

test('pause() stops handing out messages and resume() restarts; nothing is lost', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ credit: 5, concurrency: 1 });
  const got = [];
  consumer.on('message', (msg) => {
    got.push(msg.messageId);
    if (got.length === 5) consumer.pause();
  });
  const ids = emu.publishMany(40);
  await emu.waitFor(() => got.length >= 5, 10000, 'five messages');
  await sleep(300);
  assert.equal(got.length, 5, 'nothing handed out while paused');
  assert.equal(consumer.isPaused(), true);
  assert.ok(emu.deliveries.length <= 5 + 5, `at most one credit window more was sent, got ${emu.deliveries.length}`);
  consumer.resume();
  await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted after resume');
  assert.deepEqual([...new Set(got)].sort(), [...ids].sort());
  assert.equal(consumer.isPaused(), false);
});

test('close() waits for the handlers in flight, releases what was not handed out, then closes', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ concurrency: 2, credit: 10 });
  const started = [];
  const finished = [];
  consumer.on('message', async (msg) => {
    started.push(msg.messageId);
    await sleep(200);
    finished.push(msg.messageId);
  });
  const ids = emu.publishMany(6);
  await emu.waitFor(() => started.length === 2 && emu.inFlight() === 6, 10000, 'two handlers running, six delivered');
  let closedAt = 0;
  const closing = consumer.close().then(() => {
    closedAt = finished.length;
  });
  await sleep(50);
  assert.equal(closedAt, 0, 'close() has not resolved while handlers run');
  await closing;
  assert.equal(closedAt, 2, 'resolved after both handlers finished');
  assert.deepEqual(started, ids.slice(0, 2), 'no handler started after close()');
  for (const id of ids.slice(0, 2)) assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  for (const id of ids.slice(2)) assert.deepEqual(outcomesOf(emu, id), ['released']);
  const s = consumer.stats();
  assert.deepEqual([s.accepted, s.released, s.inFlight, s.buffered, s.connections], [2, 4, 0, 0, 0]);
  await emu.waitFor(() => emu.connections === 0, 5000, 'connection closed');
  assert.equal(emu.queued(), 4, 'the released messages wait for the next consumer');
});

test('close({timeout}) releases what handlers still hold after the timeout', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  let release;
  consumer.on('message', () => new Promise((r) => { release = r; }));
  const id = emu.publish();
  await emu.waitFor(() => release, 10000, 'handler running');
  const t0 = Date.now();
  await consumer.close({ timeout: 100 });
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(outcomesOf(emu, id), ['released']);
  release(); // the handler finishing later settles nothing
  await sleep(10);
  assert.deepEqual(outcomesOf(emu, id), ['released']);
});

test("dedupe: a 'duplicate' listener that throws reaches 'error'; the messages read with it are still handed out and accepted", async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ dedupe: true });
  const handled = [];
  const errors = [];
  consumer.on('duplicate', () => {
    throw new Error('duplicate listener broke');
  });
  consumer.on('error', (err) => errors.push(err.message));
  consumer.on('message', (msg) => {
    handled.push(msg.messageId);
  });
  emu.publish({ messageId: 'm-1' });
  await emu.waitForAccepted(1);
  consumer.pause();
  // One read: the redelivery between two new messages.
  emu.publish({ messageId: 'm-0' });
  emu.publish({ messageId: 'm-1' });
  emu.publish({ messageId: 'm-2' });
  consumer.resume();
  await emu.waitFor(() => emu.accepted.get('m-0') === 1 && emu.accepted.get('m-1') === 2 && emu.accepted.get('m-2') === 1, 10000, 'all accepted');
  assert.deepEqual(handled, ['m-1', 'm-0', 'm-2']);
  assert.deepEqual(errors, ['duplicate listener broke']);
  assert.equal(consumer.stats().lastError, 'duplicate listener broke');
  assert.deepEqual(emu.dispositions.map((d) => d.outcome).filter((o) => o !== 'accepted'), [], 'nothing released');
});

test('dedupe: a redelivery of an accepted messageId is accepted at once, not handed out, and counted', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ dedupe: true });
  const handled = [];
  const duplicates = [];
  consumer.on('duplicate', (msg) => duplicates.push(msg.messageId));
  consumer.on('message', (msg) => {
    handled.push(msg.messageId);
  });
  emu.publish({ messageId: 'm-1' });
  await emu.waitForAccepted(1);
  emu.publish({ messageId: 'm-1' }); // the platform pushing it again
  emu.publish({ messageId: 'm-2' });
  await emu.waitFor(() => emu.accepted.get('m-1') === 2 && emu.accepted.get('m-2') === 1, 10000, 'all accepted');
  assert.deepEqual(handled, ['m-1', 'm-2']);
  assert.deepEqual(duplicates, ['m-1']);
  const s = consumer.stats();
  assert.deepEqual([s.received, s.accepted, s.duplicates], [3, 2, 1]);

  // A bounded window forgets the oldest ids.
  const small = consumerFor({ dedupe: { size: 1 }, clientId: 'small' });
  await consumer.close();
  const seen = [];
  small.on('message', (msg) => {
    seen.push(msg.messageId);
  });
  emu.publish({ messageId: 'a' });
  await emu.waitFor(() => emu.accepted.get('a') === 1);
  emu.publish({ messageId: 'b' });
  await emu.waitFor(() => emu.accepted.get('b') === 1);
  emu.publish({ messageId: 'b' });
  emu.publish({ messageId: 'a' });
  await emu.waitFor(() => emu.accepted.get('a') === 2 && emu.accepted.get('b') === 2, 10000, 'redeliveries accepted');
  assert.deepEqual(seen, ['a', 'b', 'a'], "'b' was a duplicate; 'a' had left the window");
  assert.equal(small.stats().duplicates, 1);
});

test('stats(): counters, reconnects and lastError', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ clientId: 'stats' });
  consumer.on('error', () => {});
  const events = [];
  consumer.on('connected', (e) => events.push(['connected', e.clientId, e.reconnect]));
  consumer.on('disconnected', (e) => events.push(['disconnected', e.clientId, e.reconnecting]));
  let held = 0;
  consumer.on('message', async (msg) => {
    const body = msg.json();
    if (body.do === 'reject') msg.reject({ condition: 'amqp:decode-error', description: 'bad payload' });
    else if (body.do === 'release') msg.release();
    else if (body.do === 'hold' && held++ === 0) await new Promise(() => {}); // never finishes
  });
  assert.deepEqual(Object.keys(consumer.stats()).sort(),
    ['accepted', 'buffered', 'connections', 'duplicates', 'inFlight', 'lastError', 'overCredit', 'received', 'reconnects', 'rejected', 'released', 'unreadable']);
  emu.publish({ messageId: 'ok', body: { do: 'accept' } });
  emu.publish({ messageId: 'no', body: { do: 'reject' } });
  emu.publish({ messageId: 'again', body: { do: 'release' } });
  emu.publish({ messageId: 'hold', body: { do: 'hold' } });
  await emu.waitFor(() => emu.acceptedOnce.has('ok') && emu.rejected.has('no') && outcomesOf(emu, 'again').length >= 1
    && consumer.stats().inFlight === 1, 10000, 'outcomes in');
  let s = consumer.stats();
  assert.equal(s.inFlight, 1);
  assert.equal(s.rejected, 1);
  assert.equal(s.connections, 1);
  assert.equal(s.lastError, null);

  emu.dropConnections();
  await emu.waitFor(() => consumer.stats().reconnects === 1 && emu.acceptedOnce.has('hold'), 10000, 'reconnected, held message delivered again');
  s = consumer.stats();
  assert.equal(s.reconnects, 1);
  assert.equal(typeof s.lastError, 'string');
  assert.ok(s.received >= 6);
  assert.ok(!s.lastError.includes(emu.credentials().accessKeySecret));
  assert.deepEqual(events.slice(0, 3), [['connected', 'stats', false], ['disconnected', 'stats', true], ['connected', 'stats', true]]);
  assert.ok(!util.inspect(consumer, { depth: Infinity, showHidden: true }).includes(emu.credentials().accessKeySecret));
});

test('connections: 3 opens three connections with client ids clientId-0..2, one merged stream', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor({ connections: 3, clientId: 'multi', credit: 2 });
  assert.deepEqual(consumer.clientIds, ['multi-0', 'multi-1', 'multi-2']);
  await emu.waitFor(() => emu.attaches.length === 3, 10000, 'three receivers attached');
  assert.deepEqual(emu.authAttempts.map((a) => a.clientId).sort(), ['multi-0', 'multi-1', 'multi-2']);
  assert.ok(emu.authAttempts.every((a) => a.ok));
  const seenOn = new Set();
  const ids = emu.publishMany(30);
  const got = [];
  for await (const msg of consumer) {
    got.push(msg.messageId);
    seenOn.add(msg.clientId);
    await sleep(1);
    if (got.length === 30) {
      msg.accept();
      break;
    }
  }
  assert.deepEqual(got.sort(), [...ids].sort());
  assert.ok(seenOn.size > 1, `messages came on several connections: ${[...seenOn]}`);
  await emu.waitForAccepted(30);
});

test('a credentials function is called before every attempt of every connection', async (t) => {
  const { emu, track } = await setup(t);
  const { accessKeyId, accessKeySecret, securityToken } = emu.credentials();
  let calls = 0;
  const consumer = track(createConsumer({
    host: emu.hostname, port: emu.port, ca: emu.ca, consumerGroupId: 'g', clientId: 'fn', connections: 2, initial_reconnect_delay: 10,
    credentials: async () => {
      calls += 1;
      return { accessKeyId, accessKeySecret, securityToken };
    },
  }));
  consumer.on('error', () => {});
  await emu.waitFor(() => emu.attaches.length === 2, 10000, 'both attached');
  emu.dropConnections();
  await emu.waitFor(() => emu.authAttempts.length === 4 && emu.attaches.length === 4, 10000, 'both reconnected');
  assert.equal(calls, 4);
  assert.ok(emu.authAttempts.every((a) => a.ok && a.authMode === 'ststoken'));
  assert.deepEqual(new Set(emu.authAttempts.map((a) => a.clientId)), new Set(['fn-0', 'fn-1']));
  assert.ok(new Set(emu.authAttempts.map((a) => a.timestamp)).size >= 2, 'signed afresh');
});

test('refused credentials end the consumer: the loop throws, handlers get an error event', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const wrong = consumerFor({ accessKeySecret: 'not-the-secret' });
  await assert.rejects(async () => {
    for await (const msg of wrong) msg.accept();
  }, (err) => err.condition === 'amqp:unauthorized-access' && /authentication failed/.test(err.message));
  assert.match(wrong.stats().lastError, /authentication failed/);
  assert.ok(!wrong.stats().lastError.includes('not-the-secret'));

  const wrong2 = consumerFor({ accessKeySecret: 'not-the-secret', clientId: 'w2' });
  wrong2.on('message', () => {});
  const [err] = await new Promise((resolve) => wrong2.once('error', (...a) => resolve(a)));
  assert.equal(err.condition, 'amqp:unauthorized-access');
  assert.equal(emu.authAttempts.filter((a) => !a.ok).length, 2, 'no reconnect storm');

  // Failing before any loop or listener is there: the first loop gets the error.
  const early = consumerFor({ accessKeySecret: 'not-the-secret', clientId: 'early' });
  await emu.waitFor(() => early.stats().lastError !== null && emu.authAttempts.length === 3, 10000, 'refused');
  await sleep(20);
  await assert.rejects(async () => {
    for await (const msg of early) msg.accept();
  }, (e) => e.condition === 'amqp:unauthorized-access');
});

test('close() while a loop holds a message waits for the loop to finish it', async (t) => {
  const { emu, consumerFor } = await setup(t);
  const consumer = consumerFor();
  const [a, b] = emu.publishMany(2);
  let closing;
  const seen = [];
  for await (const msg of consumer) {
    seen.push(msg.messageId);
    if (!closing) closing = consumer.close(); // e.g. from a SIGTERM handler
    await sleep(50); // still working on it
  }
  await closing;
  assert.deepEqual(seen, [a], 'the loop ends after the message it held');
  assert.deepEqual(outcomesOf(emu, a), ['accepted'], 'accepted when the loop asked for the next');
  assert.deepEqual(outcomesOf(emu, b), emu.deliveries.some((d) => d.key === b) ? ['released'] : []);
  assert.equal(consumer.stats().connections, 0);
});

test('endpoint: a host name, host:port, or an amqps:// URL', async (t) => {
  const { emu, track } = await setup(t);
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = track(createConsumer({ endpoint: `amqps://localhost:${emu.port}`, ca: emu.ca, accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId: 'url' }));
  assert.deepEqual([consumer.host, consumer.port], ['localhost', emu.port]);
  emu.publish();
  for await (const msg of consumer) {
    msg.accept();
    break;
  }
  await emu.waitForAccepted(1);
  const byName = track(createConsumer({ endpoint: 'iot-cn-x.amqp.iothub.aliyuncs.com', accessKeyId, accessKeySecret, consumerGroupId: 'g', reconnect: false }));
  assert.deepEqual([byName.host, byName.port], ['iot-cn-x.amqp.iothub.aliyuncs.com', 5671]);
  byName.on('error', () => {});
  await byName.close();
});

test("a for-await loop and 'message' listeners exclude each other", async (t) => {
  const { consumerFor } = await setup(t);
  const a = consumerFor({ reconnect: false });
  a.on('message', () => {});
  assert.throws(() => a[Symbol.asyncIterator](), /either a for-await loop or 'message' listeners/);
  const b = consumerFor({ reconnect: false, clientId: 'b' });
  b[Symbol.asyncIterator]();
  assert.throws(() => b.on('message', () => {}), /either a for-await loop or 'message' listeners/);
  assert.throws(() => b[Symbol.asyncIterator](), /one for-await loop at a time/);
});

test("an 'error' listener that throws is thrown outside the callback: the other messages of the read are still handed out and accepted, not released", async (t) => {
  const { emu } = await setup(t);
  // One read: the message whose handler fails first, two more behind it.
  const bad = emu.publish({ messageId: 'bad' });
  const good = [emu.publish({ messageId: 'good-1' }), emu.publish({ messageId: 'good-2' })];
  const script = `
    const amqp = require(${JSON.stringify(PACKAGE_ROOT)});
    const uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    const c = amqp.createConsumer({ host: 'localhost', port: Number(process.env.EMU_PORT), ca: process.env.EMU_CA, consumerGroupId: 'g', clientId: 'child', reconnect: false });
    const handled = [];
    c.on('message', (msg) => {
      handled.push(msg.messageId);
      if (msg.messageId === 'bad') throw new Error('handler broke');
    });
    c.on('error', (err) => {
      throw new Error('error listener broke on: ' + err.message);
    });
    const done = setInterval(() => {
      if (handled.length < 3 || uncaught.length < 1) return;
      clearInterval(done);
      console.log(JSON.stringify({ handled, uncaught }));
      c.close({ timeout: 1000 }).then(() => process.exit(0));
    }, 10);
    setTimeout(() => {
      console.log(JSON.stringify({ handled, uncaught, timedOut: true }));
      process.exit(1);
    }, 20000).unref();
  `;
  const { code, stdout, stderr } = await runChild(emu, script);
  assert.equal(code, 0, `${stdout}${stderr}`);
  const result = JSON.parse(stdout);
  assert.deepEqual(result.handled, ['bad', 'good-1', 'good-2']);
  assert.deepEqual(result.uncaught, ['error listener broke on: handler broke'], 'what the listener threw surfaced once, as an uncaught exception');
  assert.deepEqual(outcomesOf(emu, bad), ['released'], 'the failed handler\'s message goes back');
  for (const id of good) assert.deepEqual(outcomesOf(emu, id), ['accepted'], `${id}: accepted once, never released`);
});

test('requiring the package and consuming does not load rhea', async (t) => {
  const { emu } = await setup(t);
  emu.publish({ body: { hello: 'world' } });
  const script = `
    const amqp = require(${JSON.stringify(PACKAGE_ROOT)});
    (async () => {
      const c = amqp.createConsumer({ host: 'localhost', port: Number(process.env.EMU_PORT), ca: process.env.EMU_CA, consumerGroupId: 'g', clientId: 'child' });
      let body;
      for await (const msg of c) { body = msg.json(); msg.accept(); break; }
      const loaded = Object.keys(require.cache).filter((k) => /[\\\\/]node_modules[\\\\/]rhea[\\\\/]|[\\\\/]lib[\\\\/]emulator[\\\\/]/.test(k));
      console.log(JSON.stringify({ body, loaded, modules: Object.keys(require.cache).length }));
    })();
  `;
  const { code, stdout, stderr } = await runChild(emu, script);
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout);
  assert.deepEqual(result.body, { hello: 'world' });
  assert.deepEqual(result.loaded, [], 'neither rhea nor the emulator was loaded');
  await emu.waitForAccepted(1);
});

test('import { connect } (the rhea-shaped API, as an ES module) and `consume` on the command line do not load rhea either', async (t) => {
  const { emu } = await setup(t);
  emu.publish({ body: { n: 1 } });
  emu.publish({ body: { n: 2 } });
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const { sign } = require(PACKAGE_ROOT);
  const creds = sign({ accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId: 'esm-child' });
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-norhea-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'probe.mjs');
  fs.writeFileSync(file, `
    import { createRequire } from 'node:module';
    import { connect } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'index.mjs'))};
    const c = connect({ host: 'localhost', port: Number(process.env.EMU_PORT), transport: 'tls', ca: process.env.EMU_CA,
      username: process.env.EMU_USER, password: process.env.EMU_PASS, reconnect: false });
    c.open_receiver();
    let done = false;
    c.on('message', ({ message, delivery }) => {
      if (done) { delivery.release(); return; } // one is enough; the next is for the command line
      done = true;
      delivery.accept();
      c.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /[\\\\/]node_modules[\\\\/]rhea[\\\\/]|[\\\\/]lib[\\\\/]emulator[\\\\/]/.test(k));
      console.log(JSON.stringify({ body: JSON.parse(message.body.content.toString()), loaded }));
    });
  `);
  // Run asynchronously: the emulator serves from this process.
  const runChild = (args, childEnv) => new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
  const env = { ...process.env, ...noEnv, EMU_PORT: String(emu.port), EMU_CA: emu.ca, EMU_USER: creds.username, EMU_PASS: creds.password };
  const r = await runChild([file], env);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.deepEqual(out.body, { n: 1 });
  assert.deepEqual(out.loaded, [], 'neither rhea nor the emulator was loaded');

  // The command line's consume: a preloaded recorder lists what was loaded when it exits.
  const recorder = path.join(dir, 'recorder.js');
  const report = path.join(dir, 'loaded.json');
  fs.writeFileSync(recorder, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(Object.keys(require.cache))));`);
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, emu.ca);
  const cli = await runChild(['--require', recorder, path.join(PACKAGE_ROOT, 'bin', 'aliyun-iot-amqp.js'), 'consume',
    '--host', 'localhost', '--port', String(emu.port), '--ca', caFile, '--consumer-group', 'g', '--count', '1', '--json'],
  { ...env, ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).payload, { n: 2 });
  const loaded = JSON.parse(fs.readFileSync(report, 'utf8')).filter((k) => /[\\/]node_modules[\\/]rhea[\\/]|[\\/]lib[\\/]emulator[\\/]/.test(k));
  assert.deepEqual(loaded, [], 'consume loaded neither rhea nor the emulator');
});
