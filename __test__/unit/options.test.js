'use strict';
// Wrong options throw a TypeError that names the option, synchronously, before anything connects;
// secrets never appear in what we throw or print. Every connection here is closed in the tick it
// is made in, so none dials.

const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');

const { amqp } = require('../support/client');

const base = { host: '127.0.0.1', port: 1, reconnect: false };

const BAD = [
  ['host', { host: '' }],
  ['host', { host: 42 }],
  ['port', { port: 0 }],
  ['port', { port: 70000 }],
  ['port', { port: 'http' }],
  ['port', { port: 1.5 }],
  ['transport', { transport: 'quic' }],
  ['username', { username: 1, password: 'x' }],
  ['password', { username: 'u', password: null }],
  ['username', { password: 'only-a-password' }],
  ['idle_time_out', { idle_time_out: -1 }],
  ['idle_time_out', { idle_time_out: '60000' }],
  ['reconnect', { reconnect: 'yes' }],
  ['reconnect', { reconnect: -5 }],
  ['initial_reconnect_delay', { initial_reconnect_delay: NaN }],
  ['max_reconnect_delay', { max_reconnect_delay: Infinity }],
  ['reconnect_limit', { reconnect_limit: 1.2 }],
  ['container_id', { container_id: 7 }],
  ['hostname', { hostname: false }],
  ['servername', { servername: 1 }],
  ['ca', { ca: 123 }],
  ['rejectUnauthorized', { rejectUnauthorized: 'false' }],
  ['credit_window', { credit_window: 0 }],
  ['credit_window', { credit_window: 2.5 }],
  ['autoaccept', { autoaccept: 'no' }],
  ['max_frame_size', { max_frame_size: 100 }],
  ['max_message_size', { max_message_size: 0 }],
  ['connect_timeout', { connect_timeout: 0 }],
  ['cert', { cert: 'PEM' }],
  // Node's TLS options: refused where they cannot be honoured, checked where they are.
  ['crl', { crl: 'PEM' }],
  ['secureContext', { secureContext: {} }],
  ['sigalgs', { sigalgs: 'ECDSA+SHA256' }],
  ['session', { session: Buffer.alloc(1) }],
  ['requestOCSP', { requestOCSP: true }],
  ['secureOptions', { secureOptions: 4 }],
  ['allowPartialTrustChain', { allowPartialTrustChain: true }],
  ['ciphers', { transport: 'tls', ciphers: 'AES128-GCM-SHA256' }],
  ['ciphers', { transport: 'tls', ciphers: 'DEFAULT:@SECLEVEL=9' }],
  ['minVersion', { transport: 'tls', minVersion: 'TLSv1' }],
  ['maxVersion', { transport: 'tls', maxVersion: 'TLSv1.1' }],
  ['minVersion', { transport: 'tls', minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }],
  ['secureProtocol', { transport: 'tls', secureProtocol: 'TLSv1_method' }],
  ['secureProtocol', { transport: 'tls', secureProtocol: 'TLS_method', minVersion: 'TLSv1.2' }],
  ['ecdhCurve', { transport: 'tls', ecdhCurve: 'X448' }],
  ['ALPNProtocols', { transport: 'tls', ALPNProtocols: 'amqp' }],
  ['minDHSize', { transport: 'tls', minDHSize: 0 }],
  ['checkServerIdentity', { checkServerIdentity: 'no' }],
  ['ca', { ca: 'not a PEM certificate' }],
  ['ca', { ca: Buffer.alloc(0) }],
  ['reconnect_on_certificate_failure', { reconnect_on_certificate_failure: 'yes' }],
  ['credentials', { credentials: 'x' }],
  ['credentials.accessKeyId', { credentials: { accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c' } }],
  ['credentials.signMethod', { credentials: { accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c', signMethod: 'sha1' } }],
  ['credentials', { username: 'u', password: 'p', credentials: { accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c' } }],
];

for (const [name, opts] of BAD) {
  test(`connect() throws a TypeError naming '${name}' for ${util.inspect(opts)}`, () => {
    const container = amqp.create_container();
    assert.throws(
      () => {
        const c = container.connect({ ...base, ...opts });
        try {
          // Receiver options are checked by open_receiver().
          c.open_receiver();
        } finally {
          // Closed in the tick it was made in, a connection never dials: no socket in a unit test.
          c.close();
        }
      },
      (err) => err instanceof TypeError && err.message.includes(`'${name}'`) && err.option === name,
    );
  });
}

test('open_receiver() checks its argument', () => {
  const c = amqp.create_container().connect(base);
  try {
    assert.throws(() => c.open_receiver(42), TypeError);
    assert.throws(() => c.open_receiver({ name: '' }), /'name'/);
    assert.throws(() => c.open_receiver({ source: 5 }), /'source'/);
    const r = c.open_receiver({ source: 'queue-a', credit_window: 10, autoaccept: false });
    assert.deepEqual(r.source, { address: 'queue-a' });
    assert.equal(r.credit_window, 10);
    assert.equal(r.autoaccept, false);
    // One receiver per connection, as the platform allows.
    assert.throws(() => c.open_receiver(), /one receiver/);
  } finally {
    c.close();
  }
});

test('open_receiver() checks the batch option: a boolean or {max}', () => {
  const c = amqp.create_container().connect(base);
  try {
    for (const [value, option] of [['yes', 'batch'], [{ max: 0 }, 'batch.max'], [{ max: 1.5 }, 'batch.max'], [{ size: 3 }, 'batch.size'], [null, 'batch'], [100, 'batch']]) {
      assert.throws(() => c.open_receiver({ batch: value }), (err) => err instanceof TypeError && err.option === option, JSON.stringify(value));
    }
    const r = c.open_receiver({ batch: { max: 50 } });
    assert.equal(r._batchMax, 50);
  } finally {
    c.close();
  }
  const { receiverOptions } = require('../../lib/options.js');
  const get = (name, def) => def;
  assert.equal(receiverOptions({ batch: true }, get, () => 'n').batch, Infinity);
  assert.equal(receiverOptions({ batch: true }, get, () => 'n').native.batch, true);
  assert.equal(receiverOptions({}, get, () => 'n').batch, 0);
  assert.equal(receiverOptions({ batch: false }, get, () => 'n').native.batch, false);
});

test('options may come from the container, as in rhea', () => {
  const container = amqp.create_container({ port: 'bad' });
  assert.throws(() => container.connect({ host: 'x' }), /'port'/);
  const ok = amqp.create_container({ credit_window: 7, reconnect: false, port: 1, host: '127.0.0.1' });
  const c = ok.connect({});
  assert.equal(c.open_receiver().credit_window, 7);
  c.close();
});

test('secrets never show in errors or inspect output', () => {
  const secret = 'S3cr3t-Passw0rd-Value';
  assert.throws(() => amqp.connect({ ...base, username: 'u', password: secret, port: 'bad' }), (e) => !e.message.includes(secret));
  assert.throws(() => amqp.connect({ ...base, username: 'u', password: 12345 }), (e) => !e.message.includes('12345'));
  const c = amqp.create_container({ password: secret }).connect({ ...base, username: 'u', password: secret });
  try {
    for (const shown of [util.inspect(c), util.inspect(c, { depth: 5, showHidden: true }), util.inspect(c.options),
      JSON.stringify(c.options), util.inspect(c.container), util.inspect(c.open_receiver())]) {
      assert.ok(!shown.includes(secret), shown);
    }
  } finally {
    c.close();
  }
});

test('the package is a ready container with rhea\'s entry points', () => {
  assert.equal(typeof amqp.connect, 'function');
  assert.equal(typeof amqp.on, 'function');
  assert.equal(typeof amqp.once, 'function');
  assert.equal(typeof amqp.off, 'function');
  assert.equal(typeof amqp.create_container, 'function');
  const other = amqp.create_container({ id: 'my-container' });
  assert.notEqual(other, amqp);
  assert.equal(other.id, 'my-container');
  assert.equal(typeof amqp.id, 'string');
});

test('credentials given as an object are masked in connection.options', () => {
  const c = amqp.create_container().connect({
    host: '127.0.0.1', port: 1, reconnect: false,
    credentials: { accessKeyId: 'id', accessKeySecret: 'VERY-SECRET', consumerGroupId: 'g', clientId: 'c' },
  });
  c.on('disconnected', () => {});
  try {
    assert.equal(c.options.credentials.accessKeySecret, '[redacted]');
    assert.ok(!JSON.stringify(c.options).includes('VERY-SECRET'));
  } finally {
    c.close();
  }
});

test('reconnect_limit: 0 is no limit, as in rhea; README and the types (types/connect.d.ts) say what a limit counts', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const { connectionOptions } = require('../../lib/options.js');
  assert.equal(connectionOptions({ reconnect_limit: 0 }, {}, { container_id: 'c' }).reconnectLimit, undefined);
  assert.equal(connectionOptions({ reconnect_limit: 3 }, {}, { container_id: 'c' }).reconnectLimit, 3);
  const root = path.resolve(__dirname, '..', '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith('| `reconnect_limit` |'));
  assert.match(row, /reconnect attempts after a failure/);
  assert.match(row, /4 attempts in all/);
  assert.match(row, /`0` means no limit/);
  assert.doesNotMatch(readme, /failed attempts in a row before giving up/);
  const dts = fs.readFileSync(path.join(root, 'types', 'connect.d.ts'), 'utf8');
  assert.match(dts, /Reconnect attempts after a failure before giving up, as in rhea: `3` is the first attempt and\s+\* at most 3 reconnects \(4 attempts in all\)/);
});

test("Node's TLS options that can be honoured are taken (tls-options.test.js connects with them)", () => {
  const honoured = [
    { ciphers: 'DEFAULT:@SECLEVEL=0' }, { ciphers: 'DEFAULT@SECLEVEL=2' }, { ciphers: require('node:tls').DEFAULT_CIPHERS },
    { minVersion: 'TLSv1.3' }, { maxVersion: 'TLSv1.2' }, { secureProtocol: 'TLSv1_2_method' }, { ecdhCurve: 'auto' },
    { ecdhCurve: 'P-256:X25519' }, { ALPNProtocols: ['amqp', Buffer.from('x')] }, { minDHSize: 2048 },
    // Server-side options, which Node ignores on a client too.
    { honorCipherOrder: true }, { sessionTimeout: 10 },
  ];
  for (const o of honoured) {
    const c = amqp.create_container().connect({ ...base, transport: 'tls', ...o });
    c.close();
  }
});

test('the defaults the core owns are written once, in src/config.rs and src/sign.rs: DEFAULTS takes them from the binding, and the README states them', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const native = require('../../lib/native.js');
  const { DEFAULTS } = require('../../lib/options.js');
  const core = native.coreDefaults();
  const owned = {
    idle_time_out: 'idleTimeOut', reconnect: 'reconnect', initial_reconnect_delay: 'initialReconnectDelay',
    max_reconnect_delay: 'maxReconnectDelay', reconnect_on_auth_failure: 'reconnectOnAuthFailure',
    reconnect_on_certificate_failure: 'reconnectOnCertificateFailure', rejectUnauthorized: 'rejectUnauthorized',
    max_frame_size: 'maxFrameSize', max_message_size: 'maxMessageSize', connect_timeout: 'connectTimeout',
    close_timeout: 'closeTimeout', ack_delay: 'ackDelay', read_delay: 'readDelay',
  };
  assert.deepEqual(Object.keys(core).sort(), [...Object.values(owned), 'signMethod', 'authMode'].sort());
  const root = path.resolve(__dirname, '..', '..');
  const source = fs.readFileSync(path.join(root, 'lib', 'options.js'), 'utf8');
  for (const [name, key] of Object.entries(owned)) {
    assert.equal(DEFAULTS.connect[name], core[key], name);
    assert.match(source, new RegExp(`^ {4}${name}: CORE\\.${key},$`, 'm'), `lib/options.js takes ${name} from the core`);
  }
  // One default sign method (and auth mode), decided in the core: hmacsha256 (and aksign).
  assert.equal(core.signMethod, native.SignMethod.Hmacsha256);
  assert.equal(core.authMode, native.AuthMode.Aksign);
  assert.equal(DEFAULTS.sign.signMethod, core.signMethod);
  assert.equal(DEFAULTS.consumer.signMethod, core.signMethod);
  // The README's options table says the same.
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const cell = (option) => readme.split('\n').find((l) => l.startsWith(`| \`${option}\``)).split(' | ')[1];
  for (const name of ['idle_time_out', 'connect_timeout', 'close_timeout', 'ack_delay', 'read_delay']) {
    assert.equal(cell(name), String(core[owned[name]]), name);
  }
  assert.equal(cell('initial_reconnect_delay'), `${core.initialReconnectDelay}, ${core.maxReconnectDelay}`);
  assert.equal(cell('max_frame_size'), `${core.maxFrameSize / 1048576} MiB, ${core.maxMessageSize / 1048576} MiB`);
  assert.equal(cell('reconnect_on_auth_failure'), `\`${core.reconnectOnAuthFailure}\``);
  assert.equal(cell('reconnect_on_certificate_failure'), `\`${core.reconnectOnCertificateFailure}\``);
  assert.match(readme, new RegExp(`\\| \`signMethod\` \\| \`'${core.signMethod}'\` \\|`));
});

test('what createConsumer() has checked, connect() and the signing take as it is: each option is checked once', () => {
  const { connectionOptions, signOptions, checked } = require('../../lib/options.js');
  const { CHECKED } = require('../../lib/consumer/options.js');
  // Values that no check would let through show that none runs on them.
  const r = connectionOptions(checked({ host: 42, port: 'x', container_id: 7, reconnect: false }, CHECKED.connect), {}, { container_id: 'c' });
  assert.deepEqual([r.host, r.port, r.containerId], [42, 'x', 7]);
  assert.throws(() => connectionOptions({ host: 42 }, {}, { container_id: 'c' }), (e) => e.option === 'host');
  const identity = { consumerGroupId: 1, clientId: 2, iotInstanceId: 3, authMode: 'aksign', signMethod: 'x' };
  const s = signOptions(checked({ accessKeyId: 'a', accessKeySecret: 's', ...identity }, CHECKED.identity), 'credentials().');
  assert.deepEqual([s.consumerGroupId, s.clientId, s.iotInstanceId, s.signMethod], [1, 2, 3, 'x']);
  // The keys a credentials function returns are new at every attempt: checked each time.
  assert.throws(() => signOptions(checked({ accessKeyId: 5, accessKeySecret: 's', ...identity }, CHECKED.identity), 'credentials().'),
    (e) => e.option === 'credentials().accessKeyId');
  assert.throws(() => signOptions({ accessKeyId: 'a', accessKeySecret: 's', ...identity }, 'credentials().'), (e) => e.option === 'credentials().consumerGroupId');
});
