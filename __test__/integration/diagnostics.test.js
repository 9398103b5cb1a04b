'use strict';
// Instrumentation: a node:diagnostics_channel subscriber sees every connection (connect,
// disconnect, the reconnect), every message, every settlement and the errors, with the documented
// payloads and no secret; batch receivers publish per delivery too; createConsumer()'s handlers
// run inside the 'aliyun-iot-amqp:handler' tracing channel (a store bound to its start is the
// handler's async context, as an APM's span would be).

const test = require('node:test');
const assert = require('node:assert/strict');
const dc = require('node:diagnostics_channel');
const util = require('node:util');
const { AsyncLocalStorage } = require('node:async_hooks');

const { amqp, optionsFor, closed } = require('../support/client');
const { startEmulator } = require('../support/emulator');

const NAMES = ['connect', 'disconnect', 'message', 'settle', 'error'];

/** Subscribes to the five channels for the test; returns {events: [[name, payload]], of(name)}. */
function subscribe(t) {
  const events = [];
  const subscriptions = NAMES.map((name) => {
    const channel = `aliyun-iot-amqp:${name}`;
    const fn = (payload, published) => {
      assert.equal(published, channel);
      events.push([name, payload]);
    };
    dc.subscribe(channel, fn);
    return [channel, fn];
  });
  t.after(() => {
    for (const [channel, fn] of subscriptions) dc.unsubscribe(channel, fn);
  });
  return { events, of: (name) => events.filter(([n]) => n === name).map(([, p]) => p) };
}

test('the channel names are exported', () => {
  assert.deepEqual(amqp.channels, {
    connect: 'aliyun-iot-amqp:connect',
    disconnect: 'aliyun-iot-amqp:disconnect',
    message: 'aliyun-iot-amqp:message',
    settle: 'aliyun-iot-amqp:settle',
    error: 'aliyun-iot-amqp:error',
    handler: 'aliyun-iot-amqp:handler',
  });
  assert.ok(Object.isFrozen(amqp.channels));
});

test('every connection, reconnect, message and settlement is seen, and no payload carries a secret', async (t) => {
  const emu = await startEmulator();
  const { events, of } = subscribe(t);
  const options = optionsFor(emu, { initial_reconnect_delay: 20, container_id: 'diag-client' });
  const secrets = [options.password, options.username, emu.credentials().accessKeySecret];
  const container = amqp.create_container();
  const connection = container.connect(options);
  container.on('disconnected', () => {});
  connection.open_receiver();
  let opens = 0;
  container.on('connection_open', () => { opens += 1; });
  const ids = emu.publishMany(5, (i) => ({ topic: `/pk/dev${i}/thing/event/property/post` }));
  await emu.waitForAccepted(5, 10000);
  await emu.waitFor(() => of('settle').length === 5, 5000, '5 settle events');
  emu.dropConnections();
  await emu.waitFor(() => opens === 2, 10000, 'reconnected');
  emu.publish({ messageId: 'after-reconnect', topic: '/pk/dev9/user/x' });
  await emu.waitForAccepted(6, 10000);
  await emu.waitFor(() => of('settle').length === 6, 5000, '6 settle events');
  await closed(connection);
  await emu.close();

  const [first, second] = of('connect');
  assert.deepEqual(Object.keys(first).sort(), ['clientId', 'connectionId', 'epoch', 'host', 'port', 'reconnect', 'transport']);
  assert.equal(first.clientId, 'diag-client');
  assert.equal(first.host, emu.hostname);
  assert.equal(first.port, emu.port);
  assert.equal(first.transport, 'tls');
  assert.equal(first.reconnect, false);
  assert.equal(first.epoch, 1);
  assert.equal(typeof first.connectionId, 'number');
  assert.equal(second.reconnect, true);
  assert.ok(second.epoch > first.epoch);
  assert.equal(second.connectionId, first.connectionId);

  const disconnects = of('disconnect');
  assert.ok(disconnects.length >= 1);
  const drop = disconnects[0];
  assert.deepEqual(Object.keys(drop).sort(), ['clientId', 'connectionId', 'delay', 'epoch', 'error', 'host', 'port', 'reconnecting']);
  assert.equal(drop.reconnecting, true);
  assert.equal(drop.epoch, 1);
  assert.equal(typeof drop.delay, 'number');
  const transport = of('error').find((e) => e.source === 'transport');
  if (drop.error) {
    assert.ok(drop.error instanceof amqp.ConnectionError);
    assert.equal(transport.error, drop.error, 'the transport failure is also an error event');
  }

  const messages = of('message');
  assert.deepEqual(messages.map((m) => m.messageId), [...ids, 'after-reconnect']);
  assert.deepEqual(Object.keys(messages[0]).sort(), ['attach', 'clientId', 'connectionId', 'deliveryId', 'epoch', 'messageId', 'topic']);
  assert.ok(messages[5].attach > messages[0].attach, 'a new attachment after the reconnect');
  assert.equal(messages[0].topic, '/pk/dev0/thing/event/property/post');
  assert.equal(messages[5].epoch, second.epoch);
  const settles = of('settle');
  assert.deepEqual(settles.map((s) => [s.deliveryId, s.attach]), messages.map((m) => [m.deliveryId, m.attach]), 'one settlement per message');
  assert.ok(settles.every((s) => s.outcome === 'accepted' && s.sent === true));
  assert.deepEqual(Object.keys(settles[0]).sort(), ['attach', 'clientId', 'connectionId', 'deliveryId', 'outcome', 'sent']);

  // The order a subscriber sees: connect, then each message before its settlement.
  const order = events.map(([n]) => n);
  assert.equal(order[0], 'connect');
  assert.ok(order.indexOf('message') < order.indexOf('settle'));

  const text = JSON.stringify(events, (k, v) => (v instanceof Error ? { message: v.message, condition: v.condition, description: v.description } : v));
  for (const secret of secrets) assert.ok(!text.includes(secret), 'no secret in any payload');
});

test('errors: a refused login (connection), a throwing handler (handler), a release of a lost delivery (sent: false)', async (t) => {
  const emu = await startEmulator({ tls: false });
  t.after(() => emu.close());
  const { of } = subscribe(t);

  const refused = amqp.create_container();
  const bad = refused.connect({ ...optionsFor(emu), password: 'not-the-password', reconnect: false });
  bad.open_receiver();
  refused.on('connection_error', () => {});
  refused.on('disconnected', () => {});
  await emu.waitFor(() => of('error').some((e) => e.source === 'connection'), 10000, 'a connection error');
  const login = of('error').find((e) => e.source === 'connection');
  assert.equal(login.error.condition, 'amqp:unauthorized-access');
  assert.ok(!JSON.stringify({ m: login.error.message, d: login.error.description }).includes('not-the-password'));
  assert.deepEqual(Object.keys(login).sort(), ['clientId', 'connectionId', 'epoch', 'error', 'host', 'port', 'source']);
  await closed(bad);

  const container = amqp.create_container();
  const connection = container.connect(optionsFor(emu, { initial_reconnect_delay: 20 }));
  container.on('disconnected', () => {});
  container.on('error', () => {});
  let held = null;
  let n = 0;
  container.on('message', (ctx) => {
    n += 1;
    if (n === 1) throw new Error('handler failed');
    if (n === 2) held = ctx.delivery;
    else ctx.delivery.accept();
  });
  connection.open_receiver({ autoaccept: false });
  const [failedId] = emu.publishMany(2);
  await emu.waitFor(() => held !== null, 10000, 'a delivery held');
  const handler = of('error').find((e) => e.source === 'handler');
  assert.equal(handler.error.message, 'handler failed');
  assert.equal(handler.messageId, failedId);
  assert.equal(typeof handler.deliveryId, 'number');
  assert.equal(typeof handler.attach, 'number');
  emu.dropConnections();
  await emu.waitFor(() => !connection.is_open(), 10000, 'dropped');
  assert.equal(held.release(), false);
  const lost = of('settle').find((s) => s.sent === false);
  assert.deepEqual([lost.deliveryId, lost.outcome], [held.id, 'released']);
  await closed(connection);
});

test('a batch receiver publishes a message and a settle event per delivery', async (t) => {
  const emu = await startEmulator({ tls: false });
  t.after(() => emu.close());
  const { of } = subscribe(t);
  const container = amqp.create_container();
  const connection = container.connect(optionsFor(emu));
  connection.open_receiver({ batch: true });
  const ids = emu.publishMany(50);
  await emu.waitForAccepted(50, 10000);
  await emu.waitFor(() => of('settle').length === 50, 5000, '50 settle events');
  assert.deepEqual(of('message').map((m) => m.messageId), ids);
  assert.deepEqual(of('settle').map((s) => s.deliveryId), of('message').map((m) => m.deliveryId));
  await closed(connection);
});

/** Every string reachable from `root` through own properties (enumerable or not, no getter run), Maps and Sets, with its path. */
function reachableStrings(root) {
  const seen = new Set();
  const out = [];
  const visit = (v, where, depth) => {
    if (typeof v === 'string') {
      out.push([where, v]);
      return;
    }
    if (Buffer.isBuffer(v)) {
      out.push([where, v.toString('latin1')]);
      return;
    }
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v) || depth > 12) return;
    seen.add(v);
    if (v instanceof Map || v instanceof Set) for (const [k, x] of v.entries()) visit(x, `${where}<${String(k)}>`, depth + 1);
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) visit(d.value, `${where}.${String(key)}`, depth + 1);
    }
  };
  visit(root, '$', 0);
  return out;
}

test('no payload leads to a secret: the signed username (with its STS token) is masked on the connection its errors carry', async (t) => {
  const token = 'STS-token-Xq81Lz0Pw4';
  const emu = await startEmulator({ tls: false, securityToken: token });
  t.after(() => emu.close());
  const { events } = subscribe(t);
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const signed = amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'G', clientId: 'sts-rhea', authMode: 'ststoken', securityToken: token });
  assert.ok(signed.username.includes(token), 'the signed username carries the token');

  // The rhea-shaped API with the signed pair: a drop (a transport error and a disconnect carrying
  // the connection), and a refused login with the same username and a wrong password.
  const container = amqp.create_container();
  container.on('disconnected', () => {});
  container.on('error', () => {});
  const connection = container.connect({ host: emu.host, port: emu.port, transport: 'tcp', username: signed.username, password: signed.password, initial_reconnect_delay: 20 });
  let opens = 0;
  connection.on('connection_open', () => { opens += 1; });
  connection.open_receiver({ batch: true });
  const refused = container.connect({ host: emu.host, port: emu.port, transport: 'tcp', username: signed.username, password: 'wrong-password-Yt5', reconnect: false });
  refused.on('connection_error', () => {});
  refused.open_receiver();
  emu.publishMany(3);
  await emu.waitFor(() => emu.acceptedOnce.size === 3 && opens === 1, 10000, '3 accepted');
  emu.dropConnections();
  await emu.waitFor(() => opens === 2, 10000, 'reconnected');
  await closed(connection);
  await closed(refused);

  // createConsumer() with an STS token from credentials(), whose handler throws once.
  const consumer = amqp.createConsumer({
    host: emu.host, port: emu.port, transport: 'tcp', consumerGroupId: 'G', clientId: 'sts-consumer', initial_reconnect_delay: 20,
    credentials: async () => ({ accessKeyId, accessKeySecret, securityToken: token }),
  });
  consumer.on('error', () => {});
  let thrown = false;
  consumer.on('message', () => {
    if (!thrown) {
      thrown = true;
      throw new Error('handler failed');
    }
  });
  emu.publishMany(3);
  await emu.waitFor(() => emu.acceptedOnce.size === 6, 10000, '6 accepted');
  await consumer.close({ timeout: 1000 });

  const sources = new Set(events.filter(([n]) => n === 'error').map(([, p]) => p.source));
  for (const source of ['connection', 'transport', 'handler']) assert.ok(sources.has(source), `a '${source}' error event was seen`);
  assert.ok(events.some(([n, p]) => n === 'error' && p.error.connection), 'an error carries its connection');
  const secrets = [token, signed.username, signed.password, accessKeySecret, 'wrong-password-Yt5'];
  const leaks = reachableStrings(events).filter(([, v]) => secrets.some((s) => v.includes(s))).map(([where]) => where);
  assert.deepEqual(leaks, [], 'no secret reachable from any payload');
  const text = util.inspect(events, { depth: Infinity, showHidden: true }) + JSON.stringify(events);
  for (const s of secrets) assert.ok(!text.includes(s), 'nor in util.inspect or JSON.stringify of the payloads');
  assert.equal(connection.options.username, '[redacted]');
  assert.equal(connection.options.password, '[redacted]');
  assert.ok(!util.inspect(connection.options, { showHidden: true }).includes(token));
});

test("createConsumer() handlers run inside the 'aliyun-iot-amqp:handler' tracing channel, sync and async", async (t) => {
  if (typeof dc.tracingChannel !== 'function') {
    t.skip('no tracingChannel in this Node.js');
    return;
  }
  const emu = await startEmulator({ tls: false });
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = amqp.createConsumer({ host: emu.host, port: emu.port, transport: 'tcp', accessKeyId, accessKeySecret, consumerGroupId: 'G', clientId: 'traced' });
  const tc = dc.tracingChannel('aliyun-iot-amqp:handler');
  const spans = new AsyncLocalStorage();
  const seen = [];
  const handlers = {
    start: (ctx) => seen.push(['start', ctx.messageId]),
    end: (ctx) => seen.push(['end', ctx.messageId]),
    asyncStart: (ctx) => seen.push(['asyncStart', ctx.messageId]),
    asyncEnd: (ctx) => seen.push(['asyncEnd', ctx.messageId, ctx.message.state]),
    error: (ctx) => seen.push(['error', ctx.messageId, ctx.error.message]),
  };
  tc.subscribe(handlers);
  tc.start.bindStore(spans, (ctx) => ({ span: ctx.messageId }));
  t.after(async () => {
    tc.unsubscribe(handlers);
    tc.start.unbindStore(spans);
    await consumer.close({ timeout: 1000 });
    await emu.close();
  });
  consumer.on('error', () => {});
  const inside = [];
  let failures = 0;
  consumer.on('message', (msg) => {
    assert.deepEqual(Object.keys(tcContext(msg)).sort(), ['clientId', 'message', 'messageId', 'topic']);
    inside.push(['sync', msg.messageId, spans.getStore() && spans.getStore().span]);
    if (msg.messageId === 'sync') return undefined;
    return (async () => {
      await new Promise((r) => setTimeout(r, 5));
      inside.push(['after await', msg.messageId, spans.getStore() && spans.getStore().span]);
      if (msg.messageId === 'fails' && failures++ === 0) throw new Error('async failure');
    })();
  });
  // The context the handler runs in is the one published: its fields, seen from inside.
  const contexts = new Map();
  tc.start.subscribe((ctx) => contexts.set(ctx.message, ctx));
  const tcContext = (msg) => contexts.get(msg);
  emu.publish({ messageId: 'sync' });
  emu.publish({ messageId: 'async' });
  emu.publish({ messageId: 'fails' });
  // 'fails' fails once (released), then comes again and succeeds.
  await emu.waitFor(() => emu.acceptedOnce.size === 3 && seen.filter(([k]) => k === 'asyncEnd').length === 3, 10000, 'traced');
  const of = (id) => seen.filter((e) => e[1] === id).map((e) => e.slice(0, 1).concat(e.slice(2)));
  assert.deepEqual(of('sync'), [['start'], ['end']]);
  assert.deepEqual(of('async'), [['start'], ['end'], ['asyncStart'], ['asyncEnd', 'accepted']]);
  assert.deepEqual(of('fails'), [['start'], ['end'], ['error', 'async failure'], ['asyncStart'], ['asyncEnd', 'released'],
    ['start'], ['end'], ['asyncStart'], ['asyncEnd', 'accepted']]);
  assert.ok(inside.length >= 6);
  for (const [where, id, span] of inside) assert.equal(span, id, `the store bound to start is the handler's context (${where} of ${id})`);
});
