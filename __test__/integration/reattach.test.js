'use strict';
// Detach is not disconnect: when the server detaches the receiver, it is attached again on the
// same connection (a reconnect would count against the platform's per-group connection budget);
// what was unsettled on the detached link can no longer be settled and comes again.

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');

/** A connection to `emu` recording the rhea events of its receiver and connection, in order. */
function watched(emu, options = {}, receiverOptions = {}) {
  const c = amqp.create_container().connect(optionsFor(emu, { initial_reconnect_delay: 20, ...options }));
  const events = [];
  for (const name of ['connection_open', 'receiver_open', 'receiver_error', 'receiver_close', 'disconnected']) {
    c.on(name, (ctx) => events.push(ctx.error ? `${name}:${ctx.error.condition}` : name));
  }
  c.open_receiver(receiverOptions);
  return { c, events };
}

test('a detach with an error: receiver_error, receiver_close, then the receiver is attached again on the same connection', async () => {
  const emu = await startEmulator({});
  const { c, events } = watched(emu, {}, { autoaccept: false });
  const held = [];
  const got = [];
  c.on('message', (ctx) => {
    got.push(ctx.message.application_properties.messageId);
    // Before the detach, hold every delivery; after it, accept at once.
    if (held.length < 3 && emu.attaches.length === 1) held.push(ctx.delivery);
    else ctx.delivery.accept();
  });
  try {
    const ids = emu.publishMany(3);
    await emu.waitFor(() => held.length === 3, 5000, 'three deliveries held');
    assert.equal(emu.detachReceivers({ condition: 'amqp:link:detach-forced', description: 'rebalancing' }), 1);
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted after the re-attach');
    // The held deliveries belong to the detached link: settling them does not pretend to work.
    assert.deepEqual(held.map((d) => d.accept()), [false, false, false]);
    assert.deepEqual(events, [
      'connection_open', 'receiver_open',
      'receiver_error:amqp:link:detach-forced', 'receiver_close:amqp:link:detach-forced',
      'receiver_open',
    ]);
    assert.equal(emu.attaches.length, 2, 'attached twice');
    assert.equal(new Set(emu.attaches.map((a) => a.connectionId)).size, 1, 'both on one connection');
    assert.equal(emu.authAttempts.length, 1, 'one login: no reconnect');
    assert.equal(got.length, 6, 'each message delivered twice: held, then again after the re-attach');
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a detach without an error: receiver_close only, and the receiver is attached again', async () => {
  const emu = await startEmulator({});
  const { c, events } = watched(emu);
  c.on('message', () => {});
  try {
    await emu.waitFor(() => emu.attaches.length === 1, 5000, 'attached');
    emu.detachReceivers();
    await emu.waitFor(() => emu.attaches.length === 2, 5000, 'attached again');
    const id = emu.publish({ body: { after: 'detach' } });
    await emu.waitFor(() => emu.acceptedOnce.has(id), 5000, 'a message after the re-attach');
    assert.deepEqual(events, ['connection_open', 'receiver_open', 'receiver_close', 'receiver_open']);
    assert.equal(emu.authAttempts.length, 1, 'one login: no reconnect');
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('with reconnect: false the detached receiver stays closed and the connection stays open', async () => {
  const emu = await startEmulator({});
  const { c, events } = watched(emu, { reconnect: false });
  c.on('message', () => {});
  try {
    await emu.waitFor(() => emu.attaches.length === 1, 5000, 'attached');
    emu.detachReceivers({ condition: 'amqp:resource-deleted', description: 'gone' });
    await emu.waitFor(() => events.includes('receiver_close:amqp:resource-deleted'), 5000, 'receiver_close');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(emu.attaches.length, 1, 'not attached again');
    assert.equal(c.is_open(), true, 'the connection stays open');
    assert.ok(!events.some((e) => e.startsWith('disconnected')), events.join(', '));
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('createConsumer: a detach costs no reconnect and loses nothing', async () => {
  const emu = await startEmulator({});
  const creds = emu.credentials();
  const consumer = amqp.createConsumer({
    host: emu.hostname,
    port: emu.port,
    ca: emu.ca,
    accessKeyId: creds.accessKeyId,
    accessKeySecret: creds.accessKeySecret,
    consumerGroupId: 'DEFAULT_GROUP',
    initial_reconnect_delay: 20,
  });
  const seen = new Set();
  consumer.on('message', async (msg) => {
    seen.add(msg.messageId);
    await new Promise((r) => setTimeout(r, 2));
  });
  consumer.on('error', () => {});
  try {
    const ids = emu.publishMany(200);
    await emu.waitFor(() => seen.size >= 50, 10000, 'some messages');
    emu.detachReceivers({ condition: 'amqp:link:detach-forced', description: 'rebalancing' });
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 15000, 'every message accepted');
    assert.equal(consumer.stats().reconnects, 0);
    assert.equal(emu.authAttempts.length, 1, 'one login');
    assert.equal(ids.filter((id) => !seen.has(id)).length, 0);
  } finally {
    await consumer.close();
    await emu.close();
  }
});
