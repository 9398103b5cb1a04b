'use strict';

/**
 * Settlement as the server sees it: every outcome our deliveries offer (accept, release, reject,
 * modified), autoaccept, credit, handlers that throw, the documentation's accept-in-handler pattern
 * and mixed outcomes settled in one tick, checked against the emulator's records.
 *
 * Besides the emulator's records (which keep only the first outcome of each delivery), a wiretap
 * on the emulator's rhea sessions records every disposition and flow frame the emulator receives,
 * so "exactly one disposition per delivery" and "no more credit than the window" are checked on the
 * wire. The tap wraps rhea's Session.prototype.on_disposition / on_flow in this process (rhea is
 * only the emulator here, apart from the one control test that shows the tap sees rhea's double
 * dispositions); it changes nothing they do.
 *
 * No assertion depends on timing: waits are emu.waitFor() on conditions, and "nothing more came"
 * is proved with a sentinel message published afterwards (a connection's frames arrive in order,
 * so once the sentinel's acceptance is in, every frame the client sent before it is in too).
 */

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');
const RheaSession = require('rhea/lib/session.js');

const amqp = require('../../index.js');
const { startEmulator } = require('../support/emulator');

// ---------------------------------------------------------------------------------------------
// Wiretap: every disposition and flow frame the emulator receives from clients

const wire = { dispositions: [], flows: [] };
const originalOnDisposition = RheaSession.prototype.on_disposition;
const originalOnFlow = RheaSession.prototype.on_flow;

/** The emulator's connection id (as in its records) of a rhea session, or null for a client's. */
function emulatorConnectionId(session) {
  const match = /^emulator-connection-(\d+)$/.exec(String(session.connection.options.id));
  return match ? Number(match[1]) : null;
}

/** Distinct delivery ids the client settled so far on a connection, per the tap. */
function settledOnWire(connectionId) {
  const ids = new Set();
  for (const f of wire.dispositions) {
    if (f.connectionId === connectionId && f.settled) for (let i = f.first; i <= f.last; i++) ids.add(i);
  }
  return ids.size;
}

RheaSession.prototype.on_disposition = function tappedOnDisposition(frame) {
  const connectionId = emulatorConnectionId(this);
  const p = frame.performative;
  if (connectionId !== null && p.role) { // role true: from the receiving end, i.e. the client
    const state = p.state ? rhea.message.unwrap_outcome(p.state) : undefined;
    wire.dispositions.push({
      connectionId,
      first: p.first,
      last: p.last === null || p.last === undefined ? p.first : p.last,
      settled: Boolean(p.settled),
      outcome: state && state.constructor ? state.constructor.composite_type : undefined,
      state,
    });
  }
  return originalOnDisposition.call(this, frame);
};

RheaSession.prototype.on_flow = function tappedOnFlow(frame) {
  const connectionId = emulatorConnectionId(this);
  const p = frame.performative;
  if (connectionId !== null && p.handle !== null && p.handle !== undefined) {
    wire.flows.push({
      connectionId,
      delivery_count: p.delivery_count,
      link_credit: p.link_credit,
      settledBefore: settledOnWire(connectionId),
    });
  }
  return originalOnFlow.call(this, frame);
};

after(() => {
  RheaSession.prototype.on_disposition = originalOnDisposition;
  RheaSession.prototype.on_flow = originalOnFlow;
});

// ---------------------------------------------------------------------------------------------
// Helpers

const outcomesOf = (emu, key) => emu.dispositions.filter((d) => d.key === key).map((d) => d.outcome);
const attemptsOf = (emu, key) => emu.deliveries.filter((d) => d.key === key);

/** For each delivery of `key`: the outcomes of the disposition frames that covered it, in wire order. */
function wireOutcomes(emu, key) {
  return attemptsOf(emu, key).map((d) => wire.dispositions
    .filter((f) => f.connectionId === d.connectionId && f.first <= d.deliveryId && d.deliveryId <= f.last)
    .map((f) => f.outcome));
}

function signed(emu, clientId = 'test-1') {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  return amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId, signMethod: 'hmacsha1' });
}

/**
 * A fresh emulator and one of our connections to it (a fresh container too, so that events are
 * heard where the test listens). Both are closed after the test: the client first, then the
 * emulator once the client is closed.
 */
async function setup(t, connectionOptions = {}) {
  wire.dispositions.length = 0;
  wire.flows.length = 0;
  const emu = await startEmulator();
  const container = amqp.create_container();
  const connection = container.connect({
    host: 'localhost',
    port: emu.port,
    transport: 'tls',
    ca: emu.ca,
    ...signed(emu),
    reconnect: false,
    ...connectionOptions,
  });
  t.after(async () => {
    connection.close();
    await emu.waitFor(() => connection.is_closed(), 10000, 'our connection closed');
    await emu.close();
  });
  return { emu, container, connection };
}

/**
 * Publishes a sentinel and waits until it is accepted: every frame the client sent before that
 * acceptance has then reached the emulator. The test's handler must accept topic '/sentinel'.
 */
async function sentinel(emu) {
  const key = emu.publish({ topic: '/sentinel', body: 'sentinel' });
  await emu.waitFor(() => emu.acceptedOnce.has(key), 10000, 'sentinel accepted');
  return key;
}

const isSentinel = (ctx) => ctx.message.application_properties.topic === '/sentinel';

// ---------------------------------------------------------------------------------------------
// Each outcome

test('accept(): the emulator records accepted, settled, and the message is gone', async (t) => {
  const { emu, connection } = await setup(t);
  const returns = [];
  const deliveries = [];
  connection.on('message', (ctx) => {
    if (isSentinel(ctx)) return void ctx.delivery.accept();
    deliveries.push(ctx.delivery);
    returns.push(ctx.delivery.accept());
  });
  connection.open_receiver({ autoaccept: false });
  const id = emu.publish();
  await emu.waitFor(() => emu.acceptedOnce.has(id), 10000, 'accepted');
  await sentinel(emu);

  assert.deepEqual(returns, [true], 'accept() returns true on a live connection');
  assert.equal(deliveries[0].settled, true);
  assert.equal(deliveries[0].state, 'accepted');
  assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  assert.equal(emu.accepted.get(id), 1);
  assert.equal(emu.dispositions.find((d) => d.key === id).settled, true, 'settled by the client');
  assert.equal(attemptsOf(emu, id).length, 1, 'not delivered again');
  assert.deepEqual(wireOutcomes(emu, id), [['accepted']], 'one disposition frame');
  assert.equal(emu.pending(), 0, 'gone from the emulator');
});

test('release(): released, and the message is delivered again', async (t) => {
  const { emu, connection } = await setup(t);
  const returns = [];
  connection.on('message', (ctx) => {
    returns.push(returns.length === 0 ? ctx.delivery.release() : ctx.delivery.accept());
  });
  connection.open_receiver({ autoaccept: false });
  const id = emu.publish();
  await emu.waitFor(() => emu.acceptedOnce.has(id), 10000, 'accepted on redelivery');

  assert.deepEqual(returns, [true, true]);
  assert.deepEqual(outcomesOf(emu, id), ['released', 'accepted']);
  assert.deepEqual(attemptsOf(emu, id).map((d) => d.attempt), [1, 2]);
  assert.deepEqual(wireOutcomes(emu, id), [['released'], ['accepted']]);
  assert.equal(emu.pending(), 0);
});

test('reject(): rejected with the given error, dropped, not delivered again', async (t) => {
  const { emu, connection } = await setup(t);
  const seen = [];
  const returns = [];
  connection.on('message', (ctx) => {
    const { topic } = ctx.message.application_properties;
    seen.push(topic);
    if (topic === '/poison') returns.push(ctx.delivery.reject({ condition: 'amqp:internal-error', description: 'bad' }));
    else if (topic === '/poison-error') returns.push(ctx.delivery.reject(new Error('boom')));
    else ctx.delivery.accept();
  });
  connection.open_receiver({ autoaccept: false });
  const poison = emu.publish({ topic: '/poison' });
  const poisonError = emu.publish({ topic: '/poison-error' });
  await emu.waitFor(() => emu.rejected.has(poison) && emu.rejected.has(poisonError), 10000, 'rejections recorded');
  // Had a rejected message been requeued, it would come (at the head of the queue) before this one.
  const later = emu.publish({ topic: '/later' });
  await emu.waitFor(() => emu.acceptedOnce.has(later), 10000, 'later message accepted');

  assert.deepEqual(returns, [true, true]);
  assert.deepEqual(seen, ['/poison', '/poison-error', '/later']);
  assert.deepEqual(outcomesOf(emu, poison), ['rejected']);
  assert.equal(emu.rejected.get(poison).error.condition, 'amqp:internal-error');
  assert.equal(emu.rejected.get(poison).error.description, 'bad');
  assert.equal(emu.rejected.get(poisonError).error.condition, 'amqp:internal-error', 'the default condition');
  assert.equal(emu.rejected.get(poisonError).error.description, 'boom', "an Error's message is the description");
  assert.equal(attemptsOf(emu, poison).length, 1);
  assert.equal(attemptsOf(emu, poisonError).length, 1);
  assert.deepEqual(wireOutcomes(emu, poison), [['rejected']]);
  assert.equal(emu.pending(), 0);
});

test('modified({delivery_failed: true}): modified, and delivered again', async (t) => {
  const { emu, connection } = await setup(t);
  const returns = [];
  connection.on('message', (ctx) => {
    returns.push(returns.length === 0 ? ctx.delivery.modified({ delivery_failed: true }) : ctx.delivery.accept());
  });
  connection.open_receiver({ autoaccept: false });
  const id = emu.publish();
  await emu.waitFor(() => emu.acceptedOnce.has(id), 10000, 'accepted on redelivery');

  assert.deepEqual(returns, [true, true]);
  assert.deepEqual(outcomesOf(emu, id), ['modified', 'accepted']);
  const { state } = emu.dispositions.find((d) => d.key === id);
  assert.equal(state.delivery_failed, true);
  assert.notEqual(state.undeliverable_here, true);
  assert.deepEqual(attemptsOf(emu, id).map((d) => d.attempt), [1, 2]);
  assert.deepEqual(wireOutcomes(emu, id), [['modified'], ['accepted']]);
  assert.equal(emu.pending(), 0);
});

test('modified({undeliverable_here: true}): modified, and not delivered to us again', async (t) => {
  const { emu, connection } = await setup(t);
  const seen = [];
  connection.on('message', (ctx) => {
    seen.push(ctx.message.message_id);
    if (isSentinel(ctx)) ctx.delivery.accept();
    else assert.equal(ctx.delivery.modified({ undeliverable_here: true }), true);
  });
  connection.open_receiver({ autoaccept: false });
  const id = emu.publish();
  await emu.waitFor(() => emu.undeliverable.has(id), 10000, 'undeliverable recorded');
  const last = await sentinel(emu);

  assert.deepEqual(seen, [id, last], 'delivered once');
  assert.deepEqual(outcomesOf(emu, id), ['modified']);
  assert.equal(emu.undeliverable.get(id).undeliverable_here, true);
  assert.notEqual(emu.undeliverable.get(id).delivery_failed, true);
  assert.deepEqual(wireOutcomes(emu, id), [['modified']]);
  assert.equal(emu.pending(), 0);
});

test('release({delivery_failed: true}) is modified (delivered again); release({undeliverable_here: true}) too', async (t) => {
  const { emu, connection } = await setup(t);
  const returns = [];
  const attempts = new Map();
  connection.on('message', (ctx) => {
    const { topic } = ctx.message.application_properties;
    const n = (attempts.get(topic) || 0) + 1;
    attempts.set(topic, n);
    if (n === 1 && topic === '/failed') returns.push(ctx.delivery.release({ delivery_failed: true }));
    else if (n === 1 && topic === '/elsewhere') returns.push(ctx.delivery.release({ undeliverable_here: true }));
    else ctx.delivery.accept();
  });
  connection.open_receiver({ autoaccept: false });
  const failed = emu.publish({ topic: '/failed' });
  const elsewhere = emu.publish({ topic: '/elsewhere' });
  await emu.waitFor(() => emu.acceptedOnce.has(failed) && emu.undeliverable.has(elsewhere), 10000, 'outcomes in');
  await sentinel(emu);

  assert.deepEqual(returns, [true, true]);
  assert.deepEqual(outcomesOf(emu, failed), ['modified', 'accepted']);
  const failedState = emu.dispositions.find((d) => d.key === failed).state;
  assert.equal(failedState.delivery_failed, true);
  assert.notEqual(failedState.undeliverable_here, true);
  assert.deepEqual(attemptsOf(emu, failed).map((d) => d.attempt), [1, 2]);

  assert.deepEqual(outcomesOf(emu, elsewhere), ['modified']);
  assert.equal(emu.undeliverable.get(elsewhere).undeliverable_here, true);
  assert.equal(attemptsOf(emu, elsewhere).length, 1);
  assert.equal(emu.pending(), 0);
});

// ---------------------------------------------------------------------------------------------
// Settled once

test('a delivery is settled once: later settlements return false and send nothing', async (t) => {
  const { emu, connection } = await setup(t);
  const returns = {};
  const deliveries = {};
  const attempts = new Map();
  connection.on('message', (ctx) => {
    const { topic } = ctx.message.application_properties;
    const n = (attempts.get(topic) || 0) + 1;
    attempts.set(topic, n);
    const d = ctx.delivery;
    if (isSentinel(ctx) || n > 1) return void d.accept();
    deliveries[topic] = d;
    if (topic === '/accept-first') {
      returns[topic] = [d.accept(), d.accept(), d.release(), d.reject(), d.modified({ delivery_failed: true })];
    } else if (topic === '/reject-first') {
      returns[topic] = [d.reject({ condition: 'amqp:internal-error', description: 'once' }), d.accept(), d.release()];
    } else {
      returns[topic] = [d.release(), d.accept(), d.reject()];
    }
  });
  connection.open_receiver({ autoaccept: false });
  const acceptFirst = emu.publish({ topic: '/accept-first' });
  const rejectFirst = emu.publish({ topic: '/reject-first' });
  const releaseFirst = emu.publish({ topic: '/release-first' });
  await emu.waitFor(() => emu.acceptedOnce.has(acceptFirst) && emu.rejected.has(rejectFirst) && emu.acceptedOnce.has(releaseFirst),
    10000, 'all settled');
  await sentinel(emu);

  assert.deepEqual(returns['/accept-first'], [true, false, false, false, false]);
  assert.deepEqual(returns['/reject-first'], [true, false, false]);
  assert.deepEqual(returns['/release-first'], [true, false, false]);
  assert.equal(deliveries['/accept-first'].state, 'accepted');
  assert.equal(deliveries['/reject-first'].state, 'rejected');
  assert.equal(deliveries['/release-first'].state, 'released');
  for (const d of Object.values(deliveries)) assert.equal(d.settled, true);

  assert.deepEqual(wireOutcomes(emu, acceptFirst), [['accepted']], 'exactly one disposition on the wire');
  assert.deepEqual(wireOutcomes(emu, rejectFirst), [['rejected']]);
  assert.deepEqual(wireOutcomes(emu, releaseFirst), [['released'], ['accepted']]);
  assert.deepEqual(outcomesOf(emu, acceptFirst), ['accepted']);
  assert.deepEqual(outcomesOf(emu, rejectFirst), ['rejected']);
  assert.equal(emu.rejected.get(rejectFirst).error.description, 'once');
  assert.deepEqual(outcomesOf(emu, releaseFirst), ['released', 'accepted']);
  assert.equal(emu.pending(), 0);
});

// ---------------------------------------------------------------------------------------------
// autoaccept and credit

test('autoaccept (default): a handler that does nothing gets its message accepted exactly once, after it returns', async (t) => {
  const { emu, connection } = await setup(t);
  const settledDuringHandler = [];
  const deliveries = [];
  connection.on('message', (ctx) => {
    settledDuringHandler.push(ctx.delivery.settled);
    deliveries.push(ctx.delivery);
  });
  connection.open_receiver();
  const ids = emu.publishMany(3);
  await emu.waitForAccepted(3);
  await sentinel(emu);

  assert.deepEqual(settledDuringHandler, [false, false, false, false], 'not settled before the handler returns');
  for (const d of deliveries) {
    assert.equal(d.settled, true);
    assert.equal(d.state, 'accepted');
  }
  for (const id of ids) {
    assert.deepEqual(outcomesOf(emu, id), ['accepted']);
    assert.equal(emu.accepted.get(id), 1);
    assert.deepEqual(wireOutcomes(emu, id), [['accepted']], `one disposition for ${id}`);
  }
  assert.equal(emu.deliveries.length, 4, 'nothing delivered twice');
  assert.equal(emu.pending(), 0);
});

test('autoaccept: false: nothing is settled until the application settles', async (t) => {
  const { emu, connection } = await setup(t);
  const held = [];
  connection.on('message', (ctx) => held.push(ctx.delivery));
  connection.open_receiver({ autoaccept: false });
  const ids = emu.publishMany(3);
  await emu.waitFor(() => held.length === 3 && emu.inFlight() === 3, 10000, 'three unsettled deliveries');
  assert.ok(held.every((d) => !d.settled));

  // Settle the second one, later than the handler: had anything settled the others when their
  // handlers returned, those dispositions would have reached the emulator before this one.
  assert.equal(held[1].accept(), true);
  await emu.waitFor(() => emu.acceptedOnce.has(ids[1]), 10000, 'second accepted');
  const [second] = attemptsOf(emu, ids[1]);
  assert.equal(wire.dispositions.length, 1, 'the only disposition on the wire');
  assert.equal(wire.dispositions[0].first, second.deliveryId);
  assert.equal(wire.dispositions[0].last, second.deliveryId);
  assert.deepEqual(emu.dispositions.map((d) => d.key), [ids[1]]);
  assert.equal(emu.inFlight(), 2);

  assert.equal(held[0].accept(), true);
  assert.equal(held[2].accept(), true);
  await emu.waitForAccepted(3);
  for (const id of ids) assert.deepEqual(wireOutcomes(emu, id), [['accepted']]);
  assert.equal(emu.pending(), 0);
});

test('credit_window: 3 bounds the deliveries in flight; settling lets the rest flow', async (t) => {
  const { emu, connection } = await setup(t);
  // In flight as the client sees it: sent, and not yet settled by a disposition on the wire, at
  // the moment each delivery is sent. (emu.inFlight() is not used for this bound: it counts a
  // delivery until rhea has dispatched its outcome event, which can come after rhea acted on a
  // credit-granting flow that followed the disposition in the same read.)
  let maxInFlight = 0;
  const onDelivery = (r) => {
    const sent = emu.deliveries.filter((d) => d.connectionId === r.connectionId).length;
    maxInFlight = Math.max(maxInFlight, sent - settledOnWire(r.connectionId));
  };
  emu.on('delivery', onDelivery);
  t.after(() => emu.off('delivery', onDelivery));

  const held = [];
  let acceptInHandler = false;
  connection.on('message', (ctx) => {
    if (acceptInHandler) ctx.delivery.accept();
    else held.push(ctx.delivery);
  });
  const receiver = connection.open_receiver({ autoaccept: false, credit_window: 3 });
  assert.equal(receiver.credit_window, 3);
  const ids = emu.publishMany(10);

  await emu.waitFor(() => held.length === 3 && emu.inFlight() === 3, 10000, 'three in flight');
  assert.equal(emu.queued(), 7, 'the rest waits for credit');
  assert.equal(emu.deliveries.length, 3);
  // The credit the client has granted so far allows exactly three deliveries.
  const connectionId = emu.deliveries[0].connectionId;
  const grants = wire.flows.filter((f) => f.connectionId === connectionId);
  assert.ok(grants.length > 0, 'the client granted credit');
  for (const f of grants) assert.ok(f.delivery_count + f.link_credit <= 3, `flow ${JSON.stringify(f)} grants at most 3`);

  acceptInHandler = true;
  for (const d of held) assert.equal(d.accept(), true);
  await emu.waitForAccepted(10);

  assert.equal(maxInFlight, 3, 'never more than three in flight');
  assert.equal(emu.deliveries.length, 10, 'each delivered once');
  for (const id of ids) assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  // On the wire: no flow ever granted more than window + what was settled before it.
  for (const f of wire.flows.filter((g) => g.connectionId === connectionId)) {
    assert.ok(f.delivery_count + f.link_credit <= f.settledBefore + 3, `flow ${JSON.stringify(f)} within the window`);
  }
  assert.equal(emu.pending(), 0);
});

// ---------------------------------------------------------------------------------------------
// Handlers that throw

test('a handler that throws: error emitted on the connection, message released, redelivered, then accepted', async (t) => {
  const { emu, container, connection } = await setup(t);
  const errors = [];
  const containerErrors = [];
  connection.on('error', (err) => errors.push(err));
  container.on('error', (err) => containerErrors.push(err));
  const thrown = new Error('handler failed');
  const seen = [];
  const failing = new Set();
  connection.on('message', (ctx) => {
    const id = ctx.message.message_id;
    seen.push(id);
    if (failing.has(id)) {
      failing.delete(id); // throws only the first time
      throw thrown;
    }
  });
  connection.open_receiver();
  const ids = emu.publishMany(3);
  failing.add(ids[1]);
  await emu.waitForAccepted(3);
  await sentinel(emu);

  assert.deepEqual(errors, [thrown], 'the thrown error, emitted once on the connection');
  assert.equal(errors[0], thrown);
  assert.deepEqual(containerErrors, [], 'not passed on to the container');
  assert.deepEqual(outcomesOf(emu, ids[0]), ['accepted']);
  assert.deepEqual(outcomesOf(emu, ids[1]), ['released', 'accepted']);
  assert.deepEqual(outcomesOf(emu, ids[2]), ['accepted']);
  assert.deepEqual(attemptsOf(emu, ids[1]).map((d) => d.attempt), [1, 2]);
  assert.deepEqual(wireOutcomes(emu, ids[1]), [['released'], ['accepted']], 'one disposition per delivery');
  assert.equal(seen.filter((id) => id === ids[1]).length, 2);
  for (const id of ids) assert.equal(emu.accepted.get(id), 1, 'nothing lost, nothing accepted twice');
  assert.equal(emu.pending(), 0);
});

// ---------------------------------------------------------------------------------------------
// The documentation's pattern

test("the doc's pattern (accept() in the handler, autoaccept on): one disposition per message", async (t) => {
  const { emu, connection } = await setup(t);
  const returns = [];
  connection.on('message', (ctx) => returns.push(ctx.delivery.accept()));
  connection.open_receiver();
  const ids = emu.publishMany(5);
  await emu.waitForAccepted(5);
  await sentinel(emu);

  assert.deepEqual(returns, [true, true, true, true, true, true]);
  for (const id of ids) {
    assert.equal(emu.accepted.get(id), 1);
    assert.deepEqual(wireOutcomes(emu, id), [['accepted']], `exactly one disposition for ${id} (rhea sends two)`);
  }
  assert.equal(emu.pending(), 0);
});

test("control: the wiretap sees rhea's two dispositions per message in the doc's pattern", async (t) => {
  wire.dispositions.length = 0;
  const emu = await startEmulator();
  const container = rhea.create_container();
  const connection = container.connect({
    host: 'localhost', port: emu.port, transport: 'tls', ca: emu.ca, ...signed(emu), reconnect: false,
  });
  container.on('disconnected', () => {});
  t.after(async () => {
    const { socket } = connection;
    const gone = socket && !socket.destroyed ? new Promise((resolve) => socket.once('close', resolve)) : null;
    if (connection.is_open()) connection.close();
    await emu.close();
    if (gone) await gone;
  });
  container.on('message', (ctx) => ctx.delivery.accept());
  connection.open_receiver();
  const ids = emu.publishMany(3);
  await emu.waitForAccepted(3);
  await sentinel(emu);
  const counts = ids.map((id) => wireOutcomes(emu, id)[0].length);
  assert.ok(counts.some((n) => n > 1), `rhea settles some delivery more than once on the wire (counts ${counts})`);
});

// ---------------------------------------------------------------------------------------------
// Mixed outcomes in one tick

// Neighbouring ids with equal and with different outcomes, so that ranged dispositions are both
// possible and wrong if merged across outcomes. rhea 3.0.5 settles the first two of such a batch
// with one ranged disposition carrying the first's outcome (message 1 here is then accepted, not
// rejected); the settlement order varies too, as applications settle in any order.
const MIXED_PLAN = ['accept', 'reject', 'release', 'accept', 'accept', 'modified', 'reject', 'reject', 'undeliverable',
  'accept', 'release', 'release', 'modified', 'accept', 'reject', 'accept'];
const SETTLE_ORDERS = {
  'in delivery order': (n) => [...Array(n).keys()],
  'in reverse order': (n) => [...Array(n).keys()].reverse(),
  'odd ids first, then even': (n) => [...Array(n).keys()].sort((a, b) => (b % 2) - (a % 2) || a - b),
};

for (const [orderName, settleOrder] of Object.entries(SETTLE_ORDERS)) {
  test(`mixed outcomes settled in one tick, ${orderName}: the emulator sees the right outcome for each message`, async (t) => {
    const { emu, connection } = await setup(t);
    const plan = MIXED_PLAN;
    const held = [];
    const attempts = new Map();
    connection.on('message', (ctx) => {
      const id = ctx.message.message_id;
      const n = (attempts.get(id) || 0) + 1;
      attempts.set(id, n);
      if (n === 1 && !isSentinel(ctx)) held.push(ctx);
      else ctx.delivery.accept(); // redeliveries and the sentinel
    });
    connection.open_receiver({ autoaccept: false });
    const ids = emu.publishMany(plan.length);
    await emu.waitFor(() => held.length === plan.length && emu.inFlight() === plan.length, 10000, 'all held');

    held.forEach((ctx, i) => assert.equal(ctx.message.message_id, ids[i], 'delivered in order'));
    // One synchronous loop: all settlements in the same tick.
    const returns = settleOrder(plan.length).map((i) => {
      const d = held[i].delivery;
      switch (plan[i]) {
        case 'accept': return d.accept();
        case 'reject': return d.reject({ condition: 'amqp:internal-error', description: `bad-${i}` });
        case 'release': return d.release();
        case 'modified': return d.modified({ delivery_failed: true });
        case 'undeliverable': return d.modified({ undeliverable_here: true });
        default: throw new Error(plan[i]);
      }
    });
    assert.ok(returns.every((r) => r === true));

    // Done when nothing is pending: each message reached its final outcome (whichever it was).
    await emu.waitFor(() => emu.pending() === 0 && ids.every((id) => outcomesOf(emu, id).length > 0), 10000, 'every outcome in');
    await sentinel(emu);

    const expected = {
      accept: ['accepted'],
      reject: ['rejected'],
      release: ['released', 'accepted'],
      modified: ['modified', 'accepted'],
      undeliverable: ['modified'],
    };
    const got = ids.map((id, i) => [i, plan[i], outcomesOf(emu, id)]);
    assert.deepEqual(got, ids.map((id, i) => [i, plan[i], expected[plan[i]]]), 'outcome per message');
    ids.forEach((id, i) => {
      if (plan[i] === 'reject') assert.equal(emu.rejected.get(id).error.description, `bad-${i}`, `message ${i}'s own error`);
      if (plan[i] === 'modified') assert.equal(emu.dispositions.find((d) => d.key === id).state.delivery_failed, true);
      if (plan[i] === 'undeliverable') assert.equal(emu.undeliverable.get(id).undeliverable_here, true);
      // The first delivery of each message: exactly one disposition frame covered it.
      assert.equal(wireOutcomes(emu, id)[0].length, 1, `one disposition for message ${i}`);
    });
    assert.equal(emu.pending(), 0);
  });
}
