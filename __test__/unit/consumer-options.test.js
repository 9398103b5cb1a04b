'use strict';
// createConsumer() options: a bad one throws a TypeError naming it, before anything connects; the
// client id's length. (The consumer at work: integration/consumer.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');

const { amqp } = require('../support/client');
const { withEnv, noEnv } = require('../support/env');
const { consumerOptions } = require('../../lib/consumer/index.js');

const { createConsumer } = amqp;

test('bad options throw a TypeError naming the option', () => {
  const base = { host: 'localhost', consumerGroupId: 'g', accessKeyId: 'id', accessKeySecret: 'secret', clientId: 'c' };
  const cases = [
    [{ ...base, host: undefined }, 'host'],
    [{ ...base, host: '' }, 'host'],
    [{ ...base, endpoint: 'x' }, 'endpoint'],
    [{ ...base, host: undefined, endpoint: 'http://x' }, 'endpoint'],
    [{ ...base, port: 70000 }, 'port'],
    [{ ...base, consumerGroupId: undefined }, 'consumerGroupId'],
    [{ ...base, accessKeyId: undefined }, 'accessKeyId'],
    [{ ...base, accessKeySecret: 3 }, 'accessKeySecret'],
    [{ ...base, accessKeyId: undefined, accessKeySecret: undefined }, 'accessKeyId'],
    [{ ...base, authMode: 'ststoken' }, 'securityToken'],
    [{ ...base, authMode: 'token' }, 'authMode'],
    [{ ...base, signMethod: 'sha1' }, 'signMethod'],
    [{ ...base, iotInstanceId: 5 }, 'iotInstanceId'],
    [{ ...base, clientId: 'a|b' }, 'clientId'],
    [{ ...base, clientId: 'x'.repeat(65) }, 'clientId'],
    [{ ...base, clientId: 'x'.repeat(63), connections: 2 }, 'clientId'],
    [{ ...base, connections: 0 }, 'connections'],
    [{ ...base, connections: 1.5 }, 'connections'],
    [{ ...base, credit: 'many' }, 'credit'],
    [{ ...base, concurrency: 0 }, 'concurrency'],
    [{ ...base, dedupe: 'yes' }, 'dedupe'],
    [{ ...base, dedupe: { size: 0 } }, 'dedupe.size'],
    [{ ...base, credentials: { accessKeyId: 'x' } }, 'credentials'],
    [{ ...base, accessKeyId: undefined, accessKeySecret: undefined, credentials: () => ({}), securityToken: 't' }, 'securityToken'],
    [{ ...base, consumerGroup: 'g' }, 'consumerGroup'],
    [{ ...base, rejectUnauthorized: 'no' }, 'rejectUnauthorized'],
    [{ ...base, transport: 'udp' }, 'transport'],
    [{ ...base, idle_time_out: -1 }, 'idle_time_out'],
    // Node's TLS options that cannot be honoured are refused, never ignored.
    [{ ...base, crl: 'PEM' }, 'crl'],
    [{ ...base, secureContext: {} }, 'secureContext'],
    [{ ...base, sigalgs: 'ECDSA+SHA256' }, 'sigalgs'],
    [{ ...base, ciphers: 'AES128-SHA' }, 'ciphers'],
    [{ ...base, minVersion: 'TLSv1' }, 'minVersion'],
    [{ ...base, ecdhCurve: 'X448' }, 'ecdhCurve'],
  ];
  withEnv(noEnv, () => {
    for (const [options, option] of cases) {
      assert.throws(() => createConsumer(options), (err) => {
        assert.ok(err instanceof TypeError, `${option}: ${err}`);
        assert.equal(err.option, option, `${JSON.stringify(options)} → ${err.message}`);
        assert.ok(!err.message.includes('secret'), 'no secret in the message');
        return true;
      });
    }
    assert.throws(() => createConsumer(null), TypeError);
  });
});

test('clientId is at most 64 characters counted as code points, less the suffix of several connections', () => {
  const base = { host: 'localhost', consumerGroupId: 'g', accessKeyId: 'id', accessKeySecret: 'secret' };
  const smiley = '\u{1F600}';
  assert.deepEqual(consumerOptions({ ...base, clientId: smiley.repeat(64) }).clientIds, [smiley.repeat(64)]);
  assert.deepEqual(consumerOptions({ ...base, clientId: smiley.repeat(62), connections: 2 }).clientIds,
    [`${smiley.repeat(62)}-0`, `${smiley.repeat(62)}-1`]);
  for (const options of [{ ...base, clientId: smiley.repeat(65) }, { ...base, clientId: smiley.repeat(63), connections: 2 }]) {
    assert.throws(() => createConsumer(options), (e) => e instanceof TypeError && e.option === 'clientId' && /at most 6\d characters/.test(e.message));
  }
});

test('an endpoint whose port is out of range is blamed on its port, a missing key on the variable to set', () => {
  const base = { consumerGroupId: 'g', accessKeyId: 'id', accessKeySecret: 'secret', clientId: 'c' };
  for (const [endpoint, port] of [['amqps://h:99999', '99999'], ['h:99999', '99999'], ['amqp://h:0', '0'], ['h:0', '0'], ['amqps://h:abc', 'abc'], ['h:abc', 'abc'], ['[::1]:x', 'x']]) {
    assert.throws(() => consumerOptions({ ...base, endpoint }), (err) => {
      assert.equal(err.option, 'endpoint', endpoint);
      // The value quoted (an endpoint is no secret), and what is wrong with it: the port.
      assert.equal(err.message, `aliyun-iot-amqp: option 'endpoint' ${JSON.stringify(endpoint)}: the port must be a number from 1 to 65535, not ${JSON.stringify(port)}`);
      return true;
    });
  }
  // Each mistake said as what it is, the value quoted.
  const said = (endpoint) => {
    try {
      consumerOptions({ ...base, endpoint });
    } catch (err) {
      assert.equal(err.option, 'endpoint');
      assert.doesNotMatch(err.message, /got a string/, err.message);
      return err.message.replace(/^aliyun-iot-amqp: option 'endpoint' /, '');
    }
    return 'accepted';
  };
  assert.equal(said('http://h'), '"http://h": not an amqps:// URL (the scheme must be amqps://, or amqp:// for plain TCP), not http://');
  assert.equal(said('amqps://h:5671/path'), '"amqps://h:5671/path": an amqps:// URL has a host and a port only (amqps://host[:port]): no user, path, query or fragment');
  assert.equal(said('amqps://:5671'), '"amqps://:5671": no host name (amqps://host[:port])');
  assert.equal(said(''), '"": empty: give a host name, host:port or amqps://host[:port]');
  assert.equal(said('fe80::1'), '"fe80::1": an IPv6 address goes in brackets: [address] or [address]:port');
  assert.equal(said('a b'), '"a b": not a host name, host:port or amqps://host[:port]');
  for (const ok of ['h', 'h:5672', 'amqps://h', 'amqps://h:5671/', 'amqp://h:5672', '[::1]:5671', 'amqps://[::1]:5671']) assert.equal(said(ok), 'accepted', ok);
  withEnv(noEnv, () => {
    assert.throws(() => consumerOptions({ host: 'h', consumerGroupId: 'g' }), (err) => {
      assert.equal(err.option, 'accessKeyId');
      assert.match(err.message, /ALIBABA_CLOUD_ACCESS_KEY_ID/);
      assert.doesNotMatch(err.message, /undefined undefined/);
      return true;
    });
  });
});

test('batches() options: {max, maxWaitMs}, defaulted; a bad or unknown one throws a TypeError naming it', () => {
  const { batchOptions, DEFAULTS } = require('../../lib/consumer/options.js');
  assert.deepEqual(batchOptions(undefined), { max: DEFAULTS.batchMax, maxWaitMs: DEFAULTS.batchMaxWaitMs });
  assert.deepEqual(DEFAULTS.batchMax, 100);
  assert.deepEqual(DEFAULTS.batchMaxWaitMs, 50);
  assert.deepEqual(batchOptions({ max: 500, maxWaitMs: 0 }), { max: 500, maxWaitMs: 0 });
  assert.deepEqual(batchOptions({ maxWaitMs: 12.5 }), { max: 100, maxWaitMs: 12.5 });
  for (const [o, option] of [[{ max: 0 }, 'max'], [{ max: 1.5 }, 'max'], [{ max: '10' }, 'max'], [{ maxWaitMs: -1 }, 'maxWaitMs'],
    [{ maxWaitMs: Infinity }, 'maxWaitMs'], [{ size: 10 }, 'size'], [null, 'batches options'], [5, 'batches options']]) {
    assert.throws(() => batchOptions(o), (err) => err instanceof TypeError && err.option === option, JSON.stringify(o));
  }
});
