'use strict';

/**
 * Proves the platform emulator (lib/emulator/, through support/emulator.js) with rhea, a
 * known-good AMQP 1.0 client (support/rhea-client.js): its TLS certificates, the documentation's example
 * script, and credentials checked as the platform checks them, so the native client's tests can trust it.
 *
 * Client credentials are computed independently of the emulator, with node:crypto.
 * No test sleeps: every wait polls a condition (emu.waitFor).
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');

const { generateCerts } = require('../support/certs');
const { runDocScript } = require('../support/doc-script');
const { platformCredentials, connectClient, emulatorFor, outcomesOf } = require('../support/rhea-client');

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
