'use strict';
// Flow control the app can drive (pause/resume), and credentials fetched before every attempt
// (e.g. a fresh STS token).

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');

test('pause() stops the flow of messages and resume() restarts it; nothing is lost', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu));
  const r = c.open_receiver({ credit_window: 5 });
  const got = [];
  let paused = false;
  let afterPause = 0;
  c.on('message', (ctx) => {
    if (paused) afterPause += 1;
    got.push(ctx.message.application_properties.messageId);
    if (got.length === 10) {
      r.pause();
      paused = true;
    }
  });
  try {
    const ids = emu.publishMany(50);
    await emu.waitFor(() => got.length >= 10);
    // A sentinel round trip: once the emulator has seen 10+ accepts and nothing more can flow,
    // at most the credit in flight at the pause may still arrive.
    await emu.waitFor(() => emu.acceptedOnce.size === got.length);
    const seenAtPause = got.length;
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(afterPause <= 5, `at most one window after pause(), got ${afterPause}`);
    assert.ok(got.length < 50, 'the flow stopped');
    assert.equal(r.is_paused(), true);
    r.resume();
    paused = false;
    await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all accepted after resume');
    assert.ok(got.length >= seenAtPause);
    assert.equal(emu.pending(), 0);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a credentials function is called before every attempt and its result signed then', async () => {
  const emu = await startEmulator({});
  const { accessKeyId, accessKeySecret, securityToken } = emu.credentials();
  let calls = 0;
  const c = amqp.create_container().connect({
    host: emu.hostname, port: emu.port, transport: 'tls', ca: emu.ca, initial_reconnect_delay: 5,
    credentials: async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return { accessKeyId, accessKeySecret, securityToken, authMode: 'ststoken', consumerGroupId: 'g', clientId: `sts-${calls}` };
    },
  });
  c.open_receiver();
  c.on('disconnected', () => {});
  try {
    // Drop only once the first attempt has logged in and attached (not mid-handshake).
    await emu.waitFor(() => emu.attaches.length === 1, 10000, 'first attach');
    emu.dropConnections();
    await emu.waitFor(() => emu.authAttempts.filter((a) => a.ok).length === 2, 10000, 'second login');
    assert.equal(calls, 2);
    assert.deepEqual(emu.authAttempts.map((a) => [a.ok, a.authMode, a.clientId]), [[true, 'ststoken', 'sts-1'], [true, 'ststoken', 'sts-2']]);
    assert.ok(!util.inspect(c, { depth: Infinity, showHidden: true }).includes(accessKeySecret));
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a credentials function that fails is reported and retried', async () => {
  const emu = await startEmulator({});
  const { accessKeyId, accessKeySecret } = emu.credentials();
  let calls = 0;
  const c = amqp.create_container().connect({
    host: emu.hostname, port: emu.port, transport: 'tls', ca: emu.ca, initial_reconnect_delay: 5,
    credentials: () => {
      calls += 1;
      if (calls === 1) throw new Error('STS service unavailable');
      return { accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId: 'c' };
    },
  });
  c.open_receiver();
  const errors = [];
  c.on('disconnected', (ctx) => errors.push(ctx.error && ctx.error.message));
  try {
    await emu.waitFor(() => emu.connections === 1, 10000, 'connected on the second call');
    assert.match(errors[0], /STS service unavailable/);
    assert.equal(calls, 2);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a credentials function that never answers is bounded by connect_timeout and retried', async () => {
  const emu = await startEmulator({});
  let calls = 0;
  const c = amqp.create_container().connect({
    host: emu.hostname, port: emu.port, transport: 'tls', ca: emu.ca,
    connect_timeout: 200, initial_reconnect_delay: 5, reconnect_limit: 1,
    credentials: () => { calls += 1; return new Promise(() => {}); },
  });
  c.open_receiver();
  const seen = [];
  c.on('disconnected', (ctx) => seen.push([ctx.reconnecting, ctx.error && ctx.error.condition, ctx.error && ctx.error.message]));
  try {
    await emu.waitFor(() => seen.length === 2, 10000, 'two bounded attempts');
    assert.deepEqual(seen.map((s) => s.slice(0, 2)), [[true, 'aliyun-iot-amqp:timeout'], [false, 'aliyun-iot-amqp:timeout']]);
    assert.match(seen[0][2], /obtaining credentials/);
    assert.equal(calls, 2);
    assert.equal(emu.connectionCount, 0, 'nothing was dialled without credentials');
  } finally {
    await closed(c);
    await emu.close();
  }
});
