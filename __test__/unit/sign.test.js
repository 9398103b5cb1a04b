'use strict';
// sign(): the platform's username and password, checked against node:crypto; defaults and refusals.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { amqp } = require('../support/client');

const HASH = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

function expected(p) {
  const ts = p.timestamp;
  const fields = [
    `authMode=${p.authMode}`,
    `signMethod=${p.signMethod}`,
    `timestamp=${ts}`,
    `authId=${p.accessKeyId}`,
    `iotInstanceId=${p.iotInstanceId || ''}`,
    `consumerGroupId=${p.consumerGroupId}`,
  ];
  let data = `authId=${p.accessKeyId}&timestamp=${ts}`;
  if (p.authMode === 'ststoken') {
    fields.push(`securityToken=${p.securityToken}`);
    data = `authId=${p.accessKeyId}&securityToken=${p.securityToken}&timestamp=${ts}`;
  }
  return {
    username: `${p.clientId}|${fields.join(',')}|`,
    password: crypto.createHmac(HASH[p.signMethod], p.accessKeySecret).update(data).digest('base64'),
  };
}

for (const authMode of ['aksign', 'ststoken']) {
  for (const signMethod of ['hmacmd5', 'hmacsha1', 'hmacsha256']) {
    test(`sign() matches node:crypto for ${authMode}/${signMethod}`, () => {
      const p = {
        accessKeyId: 'LTAI5tExampleKeyId',
        accessKeySecret: 'ExampleSecret/With+Symbols=',
        consumerGroupId: 'DEFAULT_GROUP',
        clientId: 'host-01:aa:bb',
        iotInstanceId: 'iot-060a02ne',
        authMode,
        signMethod,
        securityToken: authMode === 'ststoken' ? 'CAIS.example.token' : undefined,
        timestamp: 1573489088171,
      };
      assert.deepEqual(amqp.sign(p), expected(p));
    });
  }
}

test('sign() without iotInstanceId leaves the field empty, and the timestamp defaults to now', () => {
  const before = Date.now();
  const out = amqp.sign({ accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c' });
  const ts = Number(/timestamp=(\d+)/.exec(out.username)[1]);
  assert.ok(ts >= before && ts <= Date.now());
  assert.match(out.username, /,iotInstanceId=,/);
});

test('sign() without signMethod signs with hmacsha256', () => {
  const p = { accessKeyId: 'LTAI5tExampleKeyId', accessKeySecret: 'ExampleSecret/With+Symbols=', consumerGroupId: 'DEFAULT_GROUP', clientId: 'c1', timestamp: 1573489088171 };
  const out = amqp.sign(p);
  assert.match(out.username, /,signMethod=hmacsha256,/);
  const data = `authId=${p.accessKeyId}&timestamp=${p.timestamp}`;
  assert.equal(out.password, crypto.createHmac('sha256', p.accessKeySecret).update(data).digest('base64'));
  assert.deepEqual(out, expected({ ...p, authMode: 'aksign', signMethod: 'hmacsha256' }));
});

test('sign(): clientId is at most 64 characters counted as code points (astral characters count once)', () => {
  const base = { accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', timestamp: 1 };
  const clientId = '\u{1F600}'.repeat(64);
  assert.equal(clientId.length, 128, '128 UTF-16 code units');
  assert.ok(amqp.sign({ ...base, clientId }).username.startsWith(`${clientId}|`));
  assert.throws(() => amqp.sign({ ...base, clientId: clientId + '\u{1F600}' }),
    (e) => e instanceof TypeError && e.option === 'clientId' && /at most 64 characters/.test(e.message));
});

test('sign() refuses bad input with a TypeError naming the option', () => {
  const ok = { accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c' };
  const cases = [
    [{ ...ok, accessKeyId: '' }, /accessKeyId/],
    [{ ...ok, accessKeySecret: 5 }, /accessKeySecret/],
    [{ ...ok, signMethod: 'hmacsha512' }, /signMethod/],
    [{ ...ok, authMode: 'ststoken' }, /securityToken/],
    [{ ...ok, clientId: 'x'.repeat(65) }, /clientId/],
    [{ ...ok, clientId: 'a|b' }, /clientId/],
    [{ ...ok, timestamp: -1 }, /timestamp/],
  ];
  for (const [input, name] of cases) assert.throws(() => amqp.sign(input), (e) => e instanceof TypeError && name.test(e.message));
  // The secret never shows in the message.
  assert.throws(() => amqp.sign({ ...ok, accessKeySecret: 'TOPSECRET', clientId: 'a|b' }), (e) => !e.message.includes('TOPSECRET'));
});

test('sign() and the credentials option read the keys from the environment when neither is given (as createConsumer() does)', () => {
  const { withEnv, noEnv } = require('../support/env');
  const params = { consumerGroupId: 'g', clientId: 'c', timestamp: 1700000000000 };
  const expected = amqp.sign({ ...params, accessKeyId: 'envId', accessKeySecret: 'envSecret' });
  withEnv({ ...noEnv, ALIBABA_CLOUD_ACCESS_KEY_ID: 'envId', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'envSecret' }, () => {
    assert.deepEqual(amqp.sign({ ...params, accessKeyId: undefined, accessKeySecret: undefined }), expected);
    assert.deepEqual(amqp.sign(params), expected);
    // One given, the other not: nothing is read from the environment.
    assert.throws(() => amqp.sign({ ...params, accessKeyId: 'id' }), (err) => err.option === 'accessKeySecret');
  });
  withEnv(noEnv, () => {
    assert.throws(() => amqp.sign(params), (err) => {
      assert.equal(err.option, 'accessKeyId');
      assert.match(err.message, /ALIBABA_CLOUD_ACCESS_KEY_ID/);
      assert.doesNotMatch(err.message, /undefined undefined/);
      return true;
    });
    const c = amqp.create_container();
    assert.throws(() => c.connect({ credentials: { accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID, accessKeySecret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET, consumerGroupId: 'g', clientId: 'c' } }),
      (err) => err.option === 'credentials.accessKeyId' && /ALIBABA_CLOUD_ACCESS_KEY_ID/.test(err.message));
  });
});
