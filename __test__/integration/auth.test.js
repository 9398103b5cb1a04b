'use strict';
// Logging in with signed credentials, and what a refused login looks like to the app (sign() itself
// is checked against node:crypto in unit/sign.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { runDocScript } = require('../support/doc-script');
const { amqp, PACKAGE_ROOT, optionsFor, closed } = require('../support/client');

for (const authMode of ['aksign', 'ststoken']) {
  for (const signMethod of ['hmacmd5', 'hmacsha1', 'hmacsha256']) {
    test(`the emulator accepts a connection signed with ${authMode}/${signMethod}`, async () => {
      const emu = await startEmulator({});
      const { accessKeyId, accessKeySecret, securityToken } = emu.credentials();
      const creds = amqp.sign({
        accessKeyId, accessKeySecret, consumerGroupId: 'g1', clientId: 'c1', authMode, signMethod,
        securityToken: authMode === 'ststoken' ? securityToken : undefined,
      });
      const c = amqp.create_container().connect(optionsFor(emu, creds));
      c.open_receiver();
      try {
        const id = emu.publish({ body: { ok: true } });
        const got = await new Promise((resolve) => c.on('message', (ctx) => resolve(ctx.message)));
        assert.equal(got.application_properties.messageId, id);
        await emu.waitFor(() => emu.acceptedOnce.has(id));
        assert.equal(emu.authAttempts.at(-1).ok, true);
      } finally {
        await closed(c);
        await emu.close();
      }
    });
  }
}

test('a wrong password ends in an error naming the authentication failure, with no retry', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { password: 'wrong-password', reconnect: true, initial_reconnect_delay: 10 }));
  c.open_receiver();
  try {
    const seen = [];
    const error = await new Promise((resolve) => {
      c.on('connection_error', (ctx) => { seen.push('connection_error'); resolve(ctx.connection.error); });
    });
    const disconnected = await new Promise((resolve) => c.on('disconnected', resolve));
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(error.message, /authentication failed/i);
    assert.equal(disconnected.reconnecting, false);
    assert.match(disconnected.error.message, /authentication/i);
    assert.ok(!error.message.includes('wrong-password'));
    // Give a reconnect storm every chance to show itself; there must be exactly one attempt.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(emu.authAttempts.length, 1);
    await emu.waitFor(() => c.is_closed(), 5000, 'connection closed for good');
  } finally {
    c.close();
    await emu.close();
  }
});

test('reconnect_on_auth_failure keeps trying (bounded by reconnect_limit)', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, {
    password: 'wrong', reconnect_on_auth_failure: true, initial_reconnect_delay: 5, max_reconnect_delay: 20, reconnect_limit: 3,
  }));
  c.on('connection_error', () => {});
  const events = [];
  c.on('disconnected', (ctx) => events.push(ctx.reconnecting));
  try {
    await emu.waitFor(() => events.length === 4, 10000, 'four disconnects');
    assert.deepEqual(events, [true, true, true, false]);
    assert.equal(emu.authAttempts.length, 4);
  } finally {
    c.close();
    await emu.close();
  }
});

test('the doc script with a wrong secret exits non-zero with a message naming the authentication failure', async () => {
  const emu = await startEmulator({});
  try {
    const result = await runDocScript({
      moduleName: PACKAGE_ROOT,
      emu,
      env: { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret' },
      timeoutMs: 15000,
    });
    assert.equal(result.timedOut, false, 'the script must end by itself, not hang');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /ConnectionError: authentication failed/);
    assert.ok(!result.stderr.includes('not-the-secret'));
    assert.equal(emu.authAttempts.length, 1);
  } finally {
    await emu.close();
  }
});

test('credentials option signs afresh at every connection attempt', async () => {
  const emu = await startEmulator({});
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const c = amqp.create_container().connect({
    host: emu.hostname, port: emu.port, transport: 'tls', ca: emu.ca, initial_reconnect_delay: 5,
    credentials: { accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId: 'fresh', signMethod: 'hmacsha256' },
  });
  c.open_receiver();
  c.on('disconnected', () => {});
  try {
    // Drop only once the first attempt has logged in and attached (not mid-handshake).
    await emu.waitFor(() => emu.attaches.length === 1, 10000, 'first attach');
    emu.dropConnections();
    await emu.waitFor(() => emu.authAttempts.filter((a) => a.ok).length === 2, 10000, 'second login');
    const [a, b] = emu.authAttempts.map((x) => Number(x.timestamp));
    assert.ok(b > a, `second attempt signed with a newer timestamp (${a} → ${b})`);
    assert.equal(emu.authAttempts[1].signMethod, 'hmacsha256');
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('credentials without signMethod sign with hmacsha256, and a clientId of 64 astral characters logs in', async () => {
  const emu = await startEmulator({});
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const clientId = '\u{1F600}'.repeat(64);
  const c = amqp.create_container().connect({
    host: emu.hostname, port: emu.port, transport: 'tls', ca: emu.ca,
    credentials: { accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId },
  });
  c.open_receiver();
  try {
    await emu.waitFor(() => emu.attaches.length === 1, 10000, 'attach');
    const [attempt] = emu.authAttempts;
    assert.equal(attempt.ok, true, attempt.reason);
    assert.equal(attempt.signMethod, 'hmacsha256');
    assert.equal(attempt.clientId, clientId);
  } finally {
    await closed(c);
    await emu.close();
  }
});
