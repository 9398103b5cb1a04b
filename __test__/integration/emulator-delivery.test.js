'use strict';

/**
 * Proves the platform emulator (lib/emulator/, through support/emulator.js) with rhea, a
 * known-good AMQP 1.0 client (support/rhea-client.js): delivery outcomes, redelivery after drops and closes,
 * and credit behave as the platform's do, so the native client's tests can trust it.
 *
 * Client credentials are computed independently of the emulator, with node:crypto.
 * No test sleeps: every wait polls a condition (emu.waitFor).
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { connectClient, emulatorFor, outcomesOf, attemptsOf } = require('../support/rhea-client');

// ---------------------------------------------------------------------------------------------
// Delivery outcomes

test('released: the message is delivered again', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  const seen = [];
  client.container.on('message', (ctx) => {
    seen.push(ctx.message.message_id);
    if (seen.length === 1) ctx.delivery.release();
    else ctx.delivery.accept();
  });
  client.connection.open_receiver({ autoaccept: false, credit_window: 10 });
  const id = emu.publish({ body: { n: 1 } });

  await emu.waitForAccepted(1);
  assert.deepEqual(seen, [id, id]);
  assert.deepEqual(outcomesOf(emu, id), ['released', 'accepted']);
  assert.deepEqual(attemptsOf(emu, id).map((d) => d.attempt), [1, 2]);
  assert.equal(emu.pending(), 0);
});

test('rejected: the message is dropped, not delivered again', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  const seen = [];
  client.container.on('message', (ctx) => {
    seen.push(ctx.message.message_id);
    if (ctx.message.application_properties.topic === '/poison') {
      ctx.delivery.reject({ condition: 'amqp:internal-error', description: 'cannot handle' });
    } else {
      ctx.delivery.accept();
    }
  });
  client.connection.open_receiver({ autoaccept: false });
  const poison = emu.publish({ topic: '/poison' });
  await emu.waitFor(() => emu.rejected.has(poison), 10000, 'rejection recorded');

  // A requeued message goes back to the head of the queue: had the rejected one been requeued, it
  // would be delivered before this later message.
  const later = emu.publish();
  await emu.waitFor(() => emu.acceptedOnce.has(later), 10000, 'later message accepted');
  assert.deepEqual(seen, [poison, later]);
  assert.deepEqual(outcomesOf(emu, poison), ['rejected']);
  assert.equal(emu.rejected.get(poison).error.condition, 'amqp:internal-error');
  assert.equal(attemptsOf(emu, poison).length, 1);
  assert.equal(emu.pending(), 0);
});

test('modified: delivered again unless undeliverable-here', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  const seen = [];
  client.container.on('message', (ctx) => {
    const { topic } = ctx.message.application_properties;
    seen.push(topic);
    if (topic === '/failed' && seen.filter((s) => s === topic).length === 1) {
      ctx.delivery.modified({ delivery_failed: true });
    } else if (topic === '/elsewhere') {
      ctx.delivery.modified({ undeliverable_here: true });
    } else {
      ctx.delivery.accept();
    }
  });
  // One delivery at a time: rhea 3.0.5 merges the dispositions settled in one tick into ranges and
  // can give a whole range the first delivery's outcome, so mixed outcomes must not share a tick.
  client.connection.open_receiver({ autoaccept: false, credit_window: 1 });
  const failed = emu.publish({ topic: '/failed' });
  const elsewhere = emu.publish({ topic: '/elsewhere' });
  const sentinel = emu.publish({ topic: '/sentinel' });

  await emu.waitFor(() => emu.acceptedOnce.has(failed) && emu.acceptedOnce.has(sentinel) && emu.undeliverable.has(elsewhere),
    10000, 'all outcomes in');
  assert.deepEqual(outcomesOf(emu, failed), ['modified', 'accepted']);
  assert.deepEqual(outcomesOf(emu, elsewhere), ['modified']);
  assert.equal(attemptsOf(emu, elsewhere).length, 1);
  assert.equal(emu.pending(), 0);
});

test('unsettled deliveries are redelivered after dropConnections and rhea reconnecting', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu, { reconnect: true }));
  const held = [];
  client.container.on('message', (ctx) => {
    if (client.events.connection_open.length === 1) held.push(ctx.delivery); // never settled
    else ctx.delivery.accept();
  });
  client.connection.open_receiver({ autoaccept: false });
  const ids = emu.publishMany(3);

  await emu.waitFor(() => held.length === 3 && emu.inFlight() === 3, 10000, 'three unsettled deliveries');
  assert.equal(emu.dropConnections(), 1);
  assert.equal(emu.inFlight(), 0);
  assert.equal(emu.queued(), 3, 'requeued at once');

  await emu.waitForAccepted(3);
  assert.equal(emu.connectionCount, 2);
  assert.equal(client.events.disconnected[0].reconnecting, true);
  for (const id of ids) {
    const attempts = attemptsOf(emu, id);
    assert.deepEqual(attempts.map((d) => d.attempt), [1, 2]);
    assert.notEqual(attempts[0].connectionId, attempts[1].connectionId);
    assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  }
  assert.equal(emu.pending(), 0);
});

test('closeConnections(forced): rhea reconnects and unsettled deliveries come again', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu, { reconnect: true }));
  let first = true;
  client.container.on('message', (ctx) => {
    if (first) first = false; // leave the first delivery unsettled
    else ctx.delivery.accept();
  });
  client.connection.open_receiver({ autoaccept: false });
  const id = emu.publish();
  await emu.waitFor(() => !first && emu.inFlight() === 1, 10000, 'one unsettled delivery');

  assert.equal(emu.closeConnections({ condition: 'amqp:connection:forced', description: 'server restart' }), 1);
  await emu.waitForAccepted(1);
  assert.equal(client.events.connection_error[0].error.condition, 'amqp:connection:forced');
  assert.equal(client.events.connection_open.length, 2);
  assert.deepEqual(attemptsOf(emu, id).map((d) => d.attempt), [1, 2]);
});

test('a client closing with unsettled deliveries: they go to another connection', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const a = track(connectClient(emu, { credentials: { clientId: 'a' } }));
  a.connection.open_receiver({ autoaccept: false }); // holds what it gets
  await emu.waitFor(() => emu.attaches.length === 1, 10000, 'a attached');
  const id = emu.publish();
  await emu.waitFor(() => a.events.message.length === 1, 10000, 'a got the message');

  const b = track(connectClient(emu, { credentials: { clientId: 'b' } }));
  b.connection.open_receiver();
  await emu.waitFor(() => emu.attaches.length === 2, 10000, 'b attached');
  a.connection.close();

  await emu.waitForAccepted(1);
  assert.deepEqual(attemptsOf(emu, id).map((d) => d.clientId), ['a', 'b']);
  assert.equal(b.events.message.length, 1);
});

test('credit: no more deliveries in flight than the client allows', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  const receiver = client.connection.open_receiver({ autoaccept: false, credit_window: 0 });
  emu.publishMany(5);
  await emu.waitFor(() => client.events.receiver_open.length, 10000, 'attached');
  receiver.add_credit(2);
  await emu.waitFor(() => client.events.message.length === 2, 10000, 'two messages');
  assert.equal(emu.inFlight(), 2);
  assert.equal(emu.queued(), 3);
  for (const ctx of client.events.message) ctx.delivery.accept();
  receiver.add_credit(3);
  await emu.waitFor(() => client.events.message.length === 5, 10000, 'five messages');
  for (const ctx of client.events.message.slice(2)) ctx.delivery.accept();
  await emu.waitForAccepted(5);
  assert.equal(emu.deliveries.length, 5);
});
