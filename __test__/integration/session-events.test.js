'use strict';
// The session's events and a refused receiver, side by side with rhea 3.0.5 against the same slip
// server (support/slip-server.js):
// - when the server ends the session, rhea fires session_error (when it gave an error) then
//   session_close, from the session up to the connection and the container; so do we, and then
//   begin it again with the receiver on the same connection (session_open, receiver_open);
// - a receiver refused with amqp:unauthorized-access (a RAM user without the permission): rhea fires
//   receiver_error and receiver_close and leaves the connection open without the receiver; so does
//   the rhea-shaped API. createConsumer() ends, as after a refused login: retrying cannot help,
//   and every attempt would count against the group's connection budget.

const test = require('node:test');
const assert = require('node:assert/strict');

const rhea = require('rhea');

const { startSlipServer } = require('../support/slip-server');
const { amqp } = require('../support/client');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const NAMES = ['connection_open', 'session_open', 'session_error', 'session_close', 'receiver_open', 'receiver_error', 'receiver_close', 'disconnected'];

/**
 * Runs `lib` (rhea or ours) against a slip server with `slip` for `ms`, listening at `level`
 * ('container' or 'session'); returns the events as 'name[:condition]' and the server.
 */
async function run(lib, slip, { ms = 1200, level = 'container', publish = 10 } = {}) {
  const server = await startSlipServer({ slip });
  server.publish(publish);
  const container = lib.create_container();
  const options = { host: '127.0.0.1', port: server.port, transport: 'tcp', username: 'u', password: 'p' };
  // rhea's reconnect would open a second connection after its own close of the refused link.
  if (lib === rhea) options.reconnect = false;
  const connection = container.connect(options);
  const receiver = connection.open_receiver({});
  const events = [];
  const errors = [];
  const record = (where) => (name) => (ctx) => {
    const endpoint = name.startsWith('session') ? ctx.session : name.startsWith('receiver') ? ctx.receiver : null;
    const error = endpoint && endpoint.error;
    events.push(`${where}${name}${error ? `:${error.condition}` : ''}`);
  };
  const on = (emitter, where) => { for (const name of NAMES) emitter.on(name, record(where)(name)); };
  if (level === 'session') {
    on(receiver.session, 'session:');
    on(container, '');
  } else {
    on(container, '');
  }
  container.on('error', (err) => errors.push(err.message));
  container.on('message', () => {});
  await sleep(ms);
  const open = connection.is_open();
  connection.close();
  await sleep(200);
  await server.close();
  return { events, errors, server, open, receiver };
}

test('the server ends the session with an error: session_error then session_close, as rhea fires them; then begun again with the receiver', async () => {
  const slip = { kind: 'end-session', at: 3, error: { condition: 'amqp:session:window-violation', description: 'rebalanced' } };
  const theirs = await run(rhea, slip);
  const ours = await run(amqp, slip);
  const upToEnd = (events) => events.slice(0, events.indexOf('session_close:amqp:session:window-violation') + 1);
  assert.deepEqual(upToEnd(theirs.events), ['connection_open', 'session_open', 'receiver_open', 'session_error:amqp:session:window-violation', 'session_close:amqp:session:window-violation'], `rhea: ${theirs.events}`);
  assert.deepEqual(upToEnd(ours.events), upToEnd(theirs.events), `ours: ${ours.events}`);
  // Then ours: the attachment of the ended session closed, the session begun again, re-attached.
  assert.deepEqual(ours.events.slice(upToEnd(ours.events).length), ['receiver_close', 'session_open', 'receiver_open']);
  assert.equal(ours.server.connections, 1);
  assert.deepEqual(ours.errors, []);
});

test('the server ends the session without an error: session_close only, as in rhea', async () => {
  const slip = { kind: 'end-session', at: 3 };
  const theirs = await run(rhea, slip);
  const ours = await run(amqp, slip);
  const sessionEvents = (events) => events.filter((e) => e.startsWith('session'));
  assert.deepEqual(sessionEvents(theirs.events), ['session_open', 'session_close']);
  assert.deepEqual(sessionEvents(ours.events), ['session_open', 'session_close', 'session_open']);
});

test('session events stop at the first level that listens (the session), as in rhea', async () => {
  const slip = { kind: 'end-session', at: 3, error: { condition: 'amqp:session:window-violation', description: 'rebalanced' } };
  const theirs = await run(rhea, slip, { level: 'session' });
  const ours = await run(amqp, slip, { level: 'session' });
  const sessionEvents = (events) => events.filter((e) => e.includes('session_')).slice(0, 3);
  assert.deepEqual(sessionEvents(theirs.events), ['session:session_open', 'session:session_error:amqp:session:window-violation', 'session:session_close:amqp:session:window-violation']);
  assert.deepEqual(sessionEvents(ours.events), sessionEvents(theirs.events));
});

test('a receiver refused with amqp:unauthorized-access: receiver_error, receiver_close, not attached again, the connection stays open (as rhea)', async () => {
  const slip = { kind: 'detach-at-once', times: 1e9, error: { condition: 'amqp:unauthorized-access', description: 'no permission' } };
  const theirs = await run(rhea, slip, { ms: 2500 });
  const ours = await run(amqp, slip, { ms: 2500 });
  const linkEvents = (events) => events.filter((e) => e.startsWith('receiver') || e.startsWith('disconnected'));
  assert.deepEqual(linkEvents(theirs.events), ['receiver_open', 'receiver_error:amqp:unauthorized-access', 'receiver_close:amqp:unauthorized-access']);
  assert.deepEqual(linkEvents(ours.events), linkEvents(theirs.events));
  assert.equal(ours.server.attaches.length, 1, 'not attached again');
  assert.equal(ours.server.connections, 1, 'no reconnect');
  assert.equal(ours.open, true, 'the connection stays open');
  assert.equal(ours.receiver.is_closed(), true, 'the receiver is closed for good');
});

test('createConsumer: a receiver refused with amqp:unauthorized-access ends the consumer, as a refused login does (no reconnect)', async (t) => {
  const server = await startSlipServer({ slip: { kind: 'detach-at-once', times: 1e9, error: { condition: 'amqp:unauthorized-access', description: 'the RAM user may not subscribe' } } });
  server.publish(3);
  const consumer = amqp.createConsumer({
    host: '127.0.0.1', port: server.port, transport: 'tcp', accessKeyId: 'LTAI-test', accessKeySecret: 'not-a-secret', consumerGroupId: 'DEFAULT_GROUP',
  });
  const errors = [];
  consumer.on('message', () => {});
  consumer.on('error', (err) => errors.push(err));
  const closed = new Promise((resolve) => consumer.once('close', resolve));
  t.after(async () => {
    await consumer.close();
    await server.close();
  });
  await Promise.race([closed, sleep(5000)]);
  assert.equal(errors.length, 1, 'one error');
  assert.equal(errors[0].condition, 'amqp:unauthorized-access');
  assert.match(errors[0].message, /may not subscribe/);
  assert.equal(consumer.health().status, 'down');
  assert.equal(server.connections, 1, 'no reconnect');
  assert.equal(server.attaches.length, 1, 'no re-attach');
});
