'use strict';
// A dropped connection comes back; what was not accepted is delivered again; the rhea events of a
// reconnect fire.

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');

test('after a drop the receiver re-attaches and unaccepted messages come again', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { initial_reconnect_delay: 5 }));
  const events = [];
  const held = [];
  const got = [];
  c.on('connection_open', () => events.push('connection_open'));
  c.on('receiver_open', () => events.push('receiver_open'));
  c.on('disconnected', (ctx) => events.push(`disconnected:${ctx.reconnecting}:${Boolean(ctx.error)}`));
  c.open_receiver({ autoaccept: false });
  c.on('message', (ctx) => {
    const id = ctx.message.application_properties.messageId;
    got.push(id);
    // The first time round, hold every other message unaccepted.
    if (got.indexOf(id) === got.lastIndexOf(id) && got.length % 2 === 0) held.push(ctx.delivery);
    else ctx.delivery.accept();
  });
  try {
    const ids = emu.publishMany(10);
    await emu.waitFor(() => got.length === 10);
    await emu.waitFor(() => emu.acceptedOnce.size === 5);
    assert.equal(held.length, 5);
    emu.dropConnections();
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted after reconnect');
    // Settling a delivery of the dropped connection does not pretend to succeed.
    assert.equal(held[0].accept(), false);
    assert.deepEqual(events.slice(0, 2), ['connection_open', 'receiver_open']);
    assert.equal(events[2], 'disconnected:true:true');
    assert.deepEqual(events.slice(3, 5), ['connection_open', 'receiver_open']);
    assert.equal(emu.attaches.length, 2);
    assert.equal(emu.pending(), 0);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a server close with amqp:connection:forced is reported and followed by a reconnect', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { initial_reconnect_delay: 5 }));
  c.open_receiver();
  const errors = [];
  c.on('connection_error', (ctx) => errors.push(ctx.connection.error.condition));
  let opens = 0;
  c.on('connection_open', () => { opens += 1; });
  c.on('disconnected', () => {});
  try {
    await emu.waitFor(() => opens === 1);
    emu.closeConnections({ condition: 'amqp:connection:forced', description: 'server restart' });
    await emu.waitFor(() => opens === 2, 10000, 'reconnected');
    assert.deepEqual(errors, ['amqp:connection:forced']);
    const id = emu.publish({ body: { after: 'restart' } });
    await emu.waitFor(() => emu.acceptedOnce.has(id));
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('reconnect: false ends with disconnected {reconnecting: false}; close() during backoff stops at once', async () => {
  const emu = await startEmulator({});
  const c1 = amqp.create_container().connect(optionsFor(emu, { reconnect: false }));
  c1.open_receiver();
  try {
    await emu.waitFor(() => emu.connections === 1);
    const d = new Promise((resolve) => c1.on('disconnected', resolve));
    emu.dropConnections();
    assert.equal((await d).reconnecting, false);
    await emu.waitFor(() => c1.is_closed());
  } finally {
    c1.close();
  }
  // A long backoff: close() must not wait for it.
  const c2 = amqp.create_container().connect(optionsFor(emu, { initial_reconnect_delay: 60000 }));
  c2.open_receiver();
  c2.on('disconnected', () => {});
  try {
    await emu.waitFor(() => emu.connections === 1);
    emu.dropConnections();
    await new Promise((resolve) => c2.once('disconnected', resolve));
    const started = Date.now();
    await closed(c2);
    assert.ok(Date.now() - started < 5000, 'close() waited for the backoff');
    assert.equal(emu.connections, 0);
  } finally {
    await emu.close();
  }
});

test('a connection refused by the network is retried with backoff and reported each time', async () => {
  const emu = await startEmulator({});
  const port = emu.port;
  await emu.close();
  const c = amqp.create_container().connect({ host: '127.0.0.1', port, transport: 'tcp', initial_reconnect_delay: 5, max_reconnect_delay: 10, reconnect_limit: 2 });
  const seen = [];
  c.on('disconnected', (ctx) => seen.push([ctx.reconnecting, ctx.error && ctx.error.message]));
  await new Promise((resolve) => { const t = setInterval(() => { if (c.is_closed()) { clearInterval(t); resolve(); } }, 10); });
  assert.deepEqual(seen.map((s) => s[0]), [true, true, false]);
  assert.match(seen[0][1], /cannot connect/);
});

/** The `reconnecting` flag of each 'disconnected' event of a client against a refused port, up to `most`. */
function refusedRun(container, port, options, most) {
  return new Promise((resolve) => {
    const seen = [];
    const c = container.connect({ host: '127.0.0.1', port, transport: 'tcp', initial_reconnect_delay: 5, max_reconnect_delay: 10, ...options });
    let finished = false;
    c.on('disconnected', (ctx) => {
      if (finished) return; // closing may report once more
      seen.push(Boolean(ctx.reconnecting));
      if (!ctx.reconnecting || seen.length >= most) {
        finished = true;
        setImmediate(() => {
          // rhea's close() leaves a scheduled reconnect running: stop that first.
          if (typeof c.set_reconnect === 'function') c.set_reconnect(false);
          if (c.scheduled_reconnect) clearTimeout(c.scheduled_reconnect);
          c.close();
          resolve(seen);
        });
      }
    });
  });
}

test('reconnect_limit counts as rhea does: n reconnects after the first attempt (n + 1 in all); 0 is no limit', { timeout: 60000 }, async () => {
  const rhea = require('rhea');
  const probe = require('node:net').createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  for (const limit of [1, 2, 3, 0]) {
    const theirs = await refusedRun(rhea.create_container(), port, { reconnect_limit: limit }, 6);
    const ours = await refusedRun(amqp.create_container(), port, { reconnect_limit: limit }, 6);
    assert.deepEqual(ours, theirs, `reconnect_limit: ${limit}`);
    const expected = limit === 0 ? [true, true, true, true, true, true] : [...Array(limit).fill(true), false];
    assert.deepEqual(ours, expected, `reconnect_limit: ${limit}`);
  }
});
