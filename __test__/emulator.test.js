'use strict';

/**
 * Proves the platform emulator (support/emulator.js) with rhea, a known-good AMQP 1.0 client:
 * credentials, TLS, delivery outcomes, redelivery and attach replies behave as the platform's do,
 * so the native client's tests can trust it.
 *
 * Client credentials are computed here independently of the emulator, with node:crypto.
 * No test sleeps: every wait polls a condition (emu.waitFor).
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const rhea = require('rhea');

const { startEmulator } = require('./support/emulator');
const { generateCerts } = require('./support/certs');
const { docScriptSource, runDocScript } = require('./support/doc-script');

// ---------------------------------------------------------------------------------------------
// Helpers

const HMAC = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

/** The platform's username and password, built the way its documentation describes. */
function platformCredentials({
  clientId = 'test-client',
  authMode = 'aksign',
  signMethod = 'hmacsha1',
  timestamp = Date.now(),
  accessKeyId,
  accessKeySecret,
  securityToken,
  iotInstanceId = 'iot-test',
  consumerGroupId = 'DEFAULT_GROUP',
  reorder = false,
}) {
  const params = [
    ['authMode', authMode],
    ['signMethod', signMethod],
    ['timestamp', timestamp],
    ['authId', accessKeyId],
    ['iotInstanceId', iotInstanceId],
    ['consumerGroupId', consumerGroupId],
  ];
  if (authMode === 'ststoken') params.push(['securityToken', securityToken]);
  if (reorder) params.reverse();
  const username = `${clientId}|${params.map(([k, v]) => `${k}=${v}`).join(',')}|`;
  const data = authMode === 'ststoken'
    ? `authId=${accessKeyId}&securityToken=${securityToken}&timestamp=${timestamp}`
    : `authId=${accessKeyId}&timestamp=${timestamp}`;
  const algorithm = HMAC[signMethod] || signMethod.replace(/^hmac/, ''); // e.g. an unsupported hmacsha512
  const password = crypto.createHmac(algorithm, accessKeySecret).update(data).digest('base64');
  return { username, password };
}

const CLIENT_EVENTS = ['connection_open', 'connection_error', 'connection_close', 'disconnected',
  'receiver_open', 'receiver_error', 'receiver_close', 'message', 'error', 'protocol_error'];

/**
 * A rhea client connected to the emulator, with its own container whose events are all recorded
 * (`events.message` is the list of message contexts, and so on).
 */
function connectClient(emu, {
  credentials = {},
  username,
  password,
  reconnect = false,
  idle_time_out = 60000,
  ...options
} = {}) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const creds = username !== undefined
    ? { username, password }
    : platformCredentials({ accessKeyId, accessKeySecret, ...credentials });
  const container = rhea.create_container();
  const events = {};
  for (const name of CLIENT_EVENTS) {
    events[name] = [];
    container.on(name, (ctx) => events[name].push(ctx));
  }
  const connection = container.connect({
    host: emu.tls ? emu.hostname : emu.host,
    port: emu.port,
    transport: emu.tls ? 'tls' : 'tcp',
    ca: emu.ca || undefined,
    reconnect,
    initial_reconnect_delay: 20,
    idle_time_out,
    ...creds,
    ...options,
  });
  return { container, connection, events };
}

/**
 * Closes rhea clients and the emulator, so that nothing keeps the process alive. The clients stop
 * reconnecting and send their Close; the emulator then destroys whatever is left, which rhea sees
 * as the end of its sockets (that also clears its heartbeat timers).
 */
async function shutdown(emu, ...clients) {
  const sockets = [];
  for (const { connection } of clients) {
    connection.set_reconnect(false);
    if (connection.scheduled_reconnect) {
      clearTimeout(connection.scheduled_reconnect);
      connection.scheduled_reconnect = undefined;
    }
    const { socket } = connection;
    if (socket && !socket.destroyed) sockets.push(new Promise((resolve) => socket.once('close', resolve)));
    if (connection.is_open()) connection.close();
  }
  await emu.close();
  await Promise.all(sockets);
}

/** Starts an emulator whose shutdown (with the given clients') is registered on the test. */
async function emulatorFor(t, opts) {
  const emu = await startEmulator(opts);
  const clients = [];
  t.after(() => shutdown(emu, ...clients));
  return { emu, track: (client) => { clients.push(client); return client; } };
}

const bodyText = (ctx) => Buffer.from(ctx.message.body.content).toString();
const outcomesOf = (emu, key) => emu.dispositions.filter((d) => d.key === key).map((d) => d.outcome);
const attemptsOf = (emu, key) => emu.deliveries.filter((d) => d.key === key);

// ---------------------------------------------------------------------------------------------
// TLS material

test('certificates: a CA, and a server certificate it signed for localhost', async (t) => {
  const certs = generateCerts();
  assert.equal(generateCerts(), certs, 'generated once per process');
  assert.ok(fs.existsSync(certs.caFile));
  assert.ok(path.basename(certs.dir).startsWith('aliyun-iot-amqp-certs-'));

  const ca = new crypto.X509Certificate(certs.ca);
  const leaf = new crypto.X509Certificate(certs.cert);
  assert.equal(ca.ca, true, 'the CA is a CA');
  assert.equal(leaf.ca, false, 'the leaf is not a CA');
  assert.notEqual(leaf.subject, leaf.issuer, 'the leaf is not self-signed');
  assert.equal(leaf.issuer, ca.subject);
  assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'the leaf is signed by the CA');
  assert.match(leaf.subjectAltName, /DNS:localhost/);
  assert.match(leaf.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extendedKeyUsage serverAuth');
  assert.ok(leaf.checkPrivateKey(crypto.createPrivateKey(certs.key)));

  // A TLS client trusting the CA verifies the emulator as 'localhost'; one that does not, fails.
  const { emu } = await emulatorFor(t);
  const handshake = (options) => new Promise((resolve) => {
    const socket = tls.connect({ host: emu.host, port: emu.port, servername: emu.hostname, ...options }, () => {
      resolve({ authorized: socket.authorized });
      socket.destroy();
    });
    socket.on('error', (err) => resolve({ error: err.code }));
  });
  assert.deepEqual(await handshake({ ca: emu.ca }), { authorized: true });
  assert.deepEqual(await handshake({}), { error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
});

// ---------------------------------------------------------------------------------------------
// The documentation's example

test('doc script: the fixture is the documented amqp.js with only the connection details filled in', () => {
  const source = docScriptSource('rhea');
  assert.ok(source.startsWith("const container = require('rhea');\n"));
  assert.ok(source.includes("'host': process.env.AMQP_HOST,"));
  assert.ok(source.includes("'port': Number(process.env.AMQP_PORT),"));
  assert.ok(source.includes("'username':'test-client|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=' + accessKey + ',iotInstanceId=iot-test,consumerGroupId=DEFAULT_GROUP|', \n"));
  assert.ok(!source.includes('${'));
  assert.ok(docScriptSource('/abs/path/index.js').startsWith("const container = require('/abs/path/index.js');\n"));

  // Where the documentation page is at hand, compare with its code block byte for byte.
  const docPage = '/work/shared/reference/doc-nodejs-amqp-example.zh.md';
  if (fs.existsSync(docPage)) {
    const block = /\n {3}```javascript\n([\s\S]*?)\n {3}```\n/.exec(fs.readFileSync(docPage, 'utf8'))[1];
    const documented = block.split('\n').map((line) => line.replace(/^ {3}/, '')).join('\n') + '\n';
    const expected = documented
      .replace("'${YourHost}'", 'process.env.AMQP_HOST')
      .replace("'port': 5671", "'port': Number(process.env.AMQP_PORT)")
      .replace('${YourClientId}', 'test-client')
      .replace('${YourIotInstanceId}', 'iot-test')
      .replace('${YourConsumerGroupId}', 'DEFAULT_GROUP');
    assert.equal(source, expected);
  }
});

test('doc script with rhea prints each published body and every message is accepted', async (t) => {
  const { emu } = await emulatorFor(t);
  const bodies = [
    { deviceName: 'device1', items: { temperature: { value: 21.5, time: 1 } } },
    { status: 'online', note: '中文 payload' },
    [1, 2, 3],
    { nested: { a: { b: { c: null } } }, flag: true },
  ];
  const ids = bodies.map((body) => emu.publish({ body }));

  const run = await runDocScript({
    moduleName: 'rhea',
    emu,
    untilLines: bodies.length,
    beforeKill: () => emu.waitForAccepted(bodies.length),
  });

  assert.equal(run.timedOut, false, `the script stopped early: ${run.stderr}`);
  assert.deepEqual(run.lines, bodies.map((body) => JSON.stringify(body)));
  assert.equal(run.stderr, '');
  for (const id of ids) {
    assert.equal(emu.accepted.get(id), 1, `message ${id} accepted once`);
    assert.deepEqual(outcomesOf(emu, id), ['accepted']);
  }
  assert.equal(emu.pending(), 0);

  assert.equal(emu.authAttempts.length, 1);
  const [attempt] = emu.authAttempts;
  assert.equal(attempt.ok, true);
  assert.equal(attempt.clientId, 'test-client');
  assert.equal(attempt.authMode, 'aksign');
  assert.equal(attempt.signMethod, 'hmacsha1');
  assert.equal(attempt.timestamp, '1573489088171', "the doc's hard-coded timestamp is accepted");
  assert.equal(attempt.consumerGroupId, 'DEFAULT_GROUP');
  assert.equal(attempt.iotInstanceId, 'iot-test');

  assert.equal(emu.attaches.length, 1);
  assert.equal(emu.attaches[0].source, null, "rhea's open_receiver() sends no source");
  assert.equal(emu.attaches[0].hasSource, false);
  assert.equal(emu.attaches[0].idle_time_out, 60000);
  assert.equal(emu.attaches[0].clientId, 'test-client');
});

test('doc script with a wrong secret: SASL fails and the script dies with an unhandled error', async (t) => {
  const { emu } = await emulatorFor(t);
  emu.publish();
  const run = await runDocScript({ emu, env: { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret' } });
  assert.equal(run.timedOut, false);
  assert.deepEqual(run.lines, []);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /Failed to authenticate/);
  assert.equal(emu.authAttempts.length, 1);
  assert.equal(emu.authAttempts[0].ok, false);
  assert.equal(emu.authAttempts[0].reason, 'signature mismatch');
  assert.equal(emu.pending(), 1, 'the message is still waiting');
});

// ---------------------------------------------------------------------------------------------
// Credentials

test('wrong secret: SASL failure recorded, rhea gets connection_error and disconnected', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const wrongSecret = 'wrong-secret';
  const client = track(connectClient(emu, {
    credentials: { accessKeySecret: wrongSecret },
    reconnect: true, // rhea must give up anyway after an authentication failure
  }));

  await emu.waitFor(() => client.events.disconnected.length > 0, 10000, 'client disconnected');
  assert.equal(client.events.connection_open.length, 0);
  assert.equal(client.events.connection_error.length, 1);
  assert.equal(client.events.connection_error[0].error.condition, 'amqp:unauthorized-access');
  assert.notEqual(client.events.disconnected[0].reconnecting, true, 'rhea does not reconnect after a SASL failure');

  assert.equal(emu.authAttempts.length, 1);
  const [attempt] = emu.authAttempts;
  assert.equal(attempt.ok, false);
  assert.equal(attempt.reason, 'signature mismatch');
  assert.equal(attempt.clientId, 'test-client');
  assert.ok(!('password' in attempt), 'the password is not recorded');
  const { password } = platformCredentials({ ...emu.credentials(), accessKeySecret: wrongSecret, timestamp: attempt.timestamp });
  assert.ok(!JSON.stringify(emu.authAttempts).includes(password), 'the password appears nowhere in the records');
});

test('credentials: every sign method and auth mode, signed right and wrong', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const { accessKeyId, accessKeySecret, securityToken } = emu.credentials();

  /** Connects with the given credential fields; resolves to the emulator's record of the attempt. */
  async function attempt(fields) {
    const before = emu.authAttempts.length;
    const client = track(connectClient(emu, {
      credentials: { accessKeyId, accessKeySecret, securityToken, ...fields },
    }));
    const { events } = client;
    await emu.waitFor(() => events.connection_open.length || events.disconnected.length, 10000,
      `connection outcome for ${JSON.stringify(fields)}`);
    const opened = events.connection_open.length > 0;
    if (opened) client.connection.close();
    assert.equal(emu.authAttempts.length, before + 1);
    return { opened, record: emu.authAttempts[before], events };
  }

  for (const authMode of ['aksign', 'ststoken']) {
    for (const signMethod of ['hmacmd5', 'hmacsha1', 'hmacsha256']) {
      await t.test(`${authMode} ${signMethod}`, async () => {
        const good = await attempt({ authMode, signMethod, clientId: `${authMode}-${signMethod}` });
        assert.equal(good.opened, true, `refused: ${good.record.reason}`);
        assert.equal(good.record.ok, true);
        assert.equal(good.record.authMode, authMode);
        assert.equal(good.record.signMethod, signMethod);
        assert.equal(good.record.clientId, `${authMode}-${signMethod}`);

        const wrongSecret = await attempt({ authMode, signMethod, accessKeySecret: `${accessKeySecret}x` });
        assert.equal(wrongSecret.opened, false);
        assert.equal(wrongSecret.record.ok, false);
        assert.equal(wrongSecret.record.reason, 'signature mismatch');
        assert.equal(wrongSecret.events.connection_error[0].error.condition, 'amqp:unauthorized-access');

        // Signed with another method than the one the username names.
        const otherMethod = signMethod === 'hmacsha1' ? 'hmacsha256' : 'hmacsha1';
        const { username } = platformCredentials({ authMode, signMethod, accessKeyId, accessKeySecret, securityToken, timestamp: 42 });
        const { password } = platformCredentials({ authMode, signMethod: otherMethod, accessKeyId, accessKeySecret, securityToken, timestamp: 42 });
        const before = emu.authAttempts.length;
        const client = track(connectClient(emu, { username, password }));
        await emu.waitFor(() => client.events.disconnected.length, 10000, 'mismatched method refused');
        assert.equal(emu.authAttempts[before].reason, 'signature mismatch');
      });
    }
  }

  await t.test('wrong security token, wrong AccessKey id, malformed usernames', async () => {
    const token = await attempt({ authMode: 'ststoken', securityToken: 'expired-token' });
    assert.equal(token.opened, false);
    assert.equal(token.record.reason, 'invalid securityToken');

    const authId = await attempt({ accessKeyId: 'LTAIsomeoneElse' });
    assert.equal(authId.opened, false);
    assert.equal(authId.record.reason, 'unknown authId "LTAIsomeoneElse"');

    const method = await attempt({ signMethod: 'hmacsha512' });
    assert.equal(method.opened, false);
    assert.match(method.record.reason, /unknown signMethod/);

    for (const username of ['no-pipes-at-all', 'client|authMode=aksign', '|authMode=aksign|']) {
      const before = emu.authAttempts.length;
      const client = track(connectClient(emu, { username, password: 'x' }));
      await emu.waitFor(() => client.events.disconnected.length, 10000, `refusal of ${username}`);
      assert.equal(emu.authAttempts[before].ok, false);
      assert.match(emu.authAttempts[before].reason, /malformed username|empty clientId/);
    }
  });

  await t.test('key order is free and iotInstanceId may be empty', async () => {
    const reordered = await attempt({ reorder: true, authMode: 'ststoken', signMethod: 'hmacsha256' });
    assert.equal(reordered.opened, true, reordered.record.reason);
    const noInstance = await attempt({ iotInstanceId: '' });
    assert.equal(noInstance.opened, true, noInstance.record.reason);
    assert.equal(noInstance.record.iotInstanceId, '');
  });
});

test('requireFreshTimestamp refuses an old timestamp', async (t) => {
  const { emu, track } = await emulatorFor(t, { requireFreshTimestamp: true });
  const stale = track(connectClient(emu, { credentials: { timestamp: 1573489088171 } }));
  await emu.waitFor(() => stale.events.disconnected.length, 10000, 'stale refused');
  assert.equal(emu.authAttempts[0].reason, 'stale timestamp');
  const fresh = track(connectClient(emu));
  await emu.waitFor(() => fresh.events.connection_open.length, 10000, 'fresh accepted');
  assert.equal(emu.authAttempts[1].ok, true);
});

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

// ---------------------------------------------------------------------------------------------
// Links

for (const [sourceReply, expected] of [['null', null], ['echo', 'client-queue'], ['own', 'emulator-queue']]) {
  test(`sourceReply '${sourceReply}': the attach reply's source as the client sees it`, async (t) => {
    const { emu, track } = await emulatorFor(t, { sourceReply });
    const client = track(connectClient(emu));
    const receiver = client.connection.open_receiver({ source: 'client-queue' });
    await emu.waitFor(() => client.events.receiver_open.length, 10000, 'receiver open');
    const { source } = receiver.remote.attach;
    if (expected === null) {
      // rhea shows an absent source as a typed AMQP null.
      assert.ok(source === null || (source.type && source.type.name === 'Null'), `no source, got ${JSON.stringify(source)}`);
    } else {
      assert.equal(source.address, expected);
    }
    assert.equal(emu.attaches[0].source, 'client-queue');

    // Messages flow whatever the reply was.
    emu.publish();
    await emu.waitForAccepted(1);
  });
}

test('one receiver per connection: a second attach is refused with a detach error', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  client.connection.open_receiver();
  await emu.waitFor(() => client.events.receiver_open.length === 1, 10000, 'first receiver');
  client.connection.open_receiver();
  await emu.waitFor(() => client.events.receiver_error.length === 1, 10000, 'second receiver refused');
  assert.equal(client.events.receiver_error[0].receiver.error.condition, 'amqp:resource-limit-exceeded');
  assert.equal(emu.attaches.length, 2);
  assert.match(emu.attaches[1].refused, /receiver link/);

  emu.publish();
  await emu.waitForAccepted(1);
});

test('sender links are refused', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  const senderErrors = [];
  client.container.on('sender_error', (ctx) => senderErrors.push(ctx));
  client.connection.open_sender('somewhere');
  await emu.waitFor(() => senderErrors.length, 10000, 'sender refused');
  assert.equal(senderErrors[0].sender.error.condition, 'amqp:not-allowed');
  assert.equal(emu.attaches[0].role, 'sender');
});

// ---------------------------------------------------------------------------------------------
// Message shape

test('publish(): one data section, message_id, and topic/messageId/generateTime properties', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  client.connection.open_receiver();
  const generateTime = 1700000000123;
  const json = emu.publish({ topic: '/a1B2c3/dev/user/update', messageId: 'm-1', generateTime, body: { a: 1 } });
  const bytes = emu.publish({ body: Buffer.from([0, 1, 2, 255]) });
  const text = emu.publish({ body: 'plain text, not JSON' });
  const byDefault = emu.publish();
  await emu.waitForAccepted(4);

  const [m1, m2, m3, m4] = client.events.message.map((ctx) => ctx.message);
  assert.equal(json, 'm-1');
  assert.equal(m1.message_id, 'm-1');
  assert.deepEqual(m1.application_properties, { topic: '/a1B2c3/dev/user/update', messageId: 'm-1', generateTime });
  assert.equal(m1.body.typecode, 0x75);
  assert.equal(m1.body.multiple, undefined);
  assert.equal(bodyText(client.events.message[0]), '{"a":1}');
  assert.deepEqual([...m2.body.content], [0, 1, 2, 255]);
  assert.equal(m3.body.content.toString(), 'plain text, not JSON');

  assert.match(byDefault, /^\d{19}$/);
  assert.ok(BigInt(bytes) < BigInt(text) && BigInt(text) < BigInt(byDefault), 'increasing numeric ids');
  assert.equal(m4.application_properties.topic, '/a1ProductKey/device1/thing/event/property/post');
  assert.equal(typeof m4.application_properties.generateTime, 'number');
  assert.equal(JSON.parse(m4.body.content.toString()).deviceName, 'device1');

  // generateTime travels as an AMQP long (0x81), not as an unsigned or 32-bit integer.
  const encoded = rhea.message.encode(emu.deliveries[0].message);
  const generateTimeLong = Buffer.alloc(9);
  generateTimeLong[0] = 0x81;
  generateTimeLong.writeBigInt64BE(BigInt(generateTime), 1);
  assert.ok(encoded.includes(generateTimeLong));
});

test('publishRaw(): any body kind and property type reaches the client as rhea decodes it', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const client = track(connectClient(emu));
  client.connection.open_receiver();
  const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const creation = new Date(1700000000000);
  const cases = {
    value: { body: 'an amqp-value string' },
    map: { body: { k: 'v', n: 7 } },
    sequence: { body: rhea.message.sequence_section([1, 'two']) },
    sections: { body: rhea.message.data_sections([Buffer.from('a'), Buffer.from('b')]) },
    props: {
      message_id: uuid,
      creation_time: creation,
      subject: 'subj',
      application_properties: { big: rhea.types.wrap_ulong(Buffer.from('ffffffffffffff00', 'hex')), bin: Buffer.from('xy') },
      body: rhea.message.data_section(Buffer.from('{}')),
    },
  };
  for (const [key, message] of Object.entries(cases)) emu.publishRaw(message, { key });
  assert.equal(emu.publishRaw({ message_id: 'raw-id', body: 'x' }), 'raw-id');
  await emu.waitForAccepted(6);

  const got = Object.fromEntries(Object.keys(cases).map((key, i) => [key, client.events.message[i].message]));
  assert.equal(got.value.body, 'an amqp-value string');
  assert.deepEqual(got.map.body, { k: 'v', n: 7 });
  assert.equal(got.sequence.body.typecode, 0x76);
  assert.deepEqual(got.sequence.body.content, [1, 'two']);
  assert.equal(got.sections.body.multiple, true);
  assert.deepEqual(got.sections.body.content.map(String), ['a', 'b']);
  assert.deepEqual(got.props.message_id, uuid);
  assert.deepEqual(got.props.creation_time, creation);
  assert.equal(got.props.subject, 'subj');
  assert.ok(Buffer.isBuffer(got.props.application_properties.big), 'a ulong far beyond 2^53 arrives as a Buffer');
  assert.deepEqual(got.props.application_properties.bin, Buffer.from('xy'));
  assert.deepEqual([...emu.acceptedOnce].sort(), [...Object.keys(cases), 'raw-id'].sort());
});

// ---------------------------------------------------------------------------------------------
// Connection options

test('plain TCP mode', async (t) => {
  const { emu, track } = await emulatorFor(t, { tls: false });
  assert.equal(emu.ca, null);
  assert.match(emu.url(), /^amqp:\/\/127\.0\.0\.1:\d+$/);
  const client = track(connectClient(emu));
  client.connection.open_receiver();
  emu.publishMany(3);
  await emu.waitForAccepted(3);
});

test('checkIdleTimeout: an idle-time-out outside 30..300 s is refused', async (t) => {
  const { emu, track } = await emulatorFor(t, { checkIdleTimeout: true });
  const tooShort = track(connectClient(emu, { idle_time_out: 10000 }));
  await emu.waitFor(() => tooShort.events.connection_error.length, 10000, 'short idle-time-out refused');
  assert.equal(tooShort.events.connection_error[0].error.condition, 'amqp:invalid-field');
  assert.match(emu.refusals[0].reason, /idle-time-out/);

  const fine = track(connectClient(emu, { idle_time_out: 60000 }));
  fine.connection.open_receiver();
  emu.publish();
  await emu.waitForAccepted(1);
  assert.equal(fine.events.connection_open[0].connection.remote.open.idle_time_out, 30000,
    'the emulator advertises 30 s');
});

test('connection counters and close()', async (t) => {
  const { emu, track } = await emulatorFor(t);
  const a = track(connectClient(emu));
  const b = track(connectClient(emu));
  await emu.waitFor(() => a.events.connection_open.length && b.events.connection_open.length, 10000, 'both open');
  assert.equal(emu.connections, 2);
  assert.equal(emu.connectionCount, 2);
  assert.match(emu.url(), /^amqps:\/\/localhost:\d+$/);
  await emu.close();
  assert.equal(emu.connections, 0);
  await emu.waitFor(() => a.events.disconnected.length && b.events.disconnected.length, 10000, 'clients saw the end');
});
