'use strict';

/**
 * Message-shape parity with rhea: every message in a corpus is published to the emulator (encoded
 * by rhea, as the platform's messages would be decoded by rhea) and received twice, once by a rhea
 * client and once by ours; the two decoded messages must have exactly the same own enumerable keys,
 * and every value must be deep-equal after a normalisation that keeps JS type distinctions
 * (Buffer / string / number / boolean / null / Date / array / plain object, -0 and NaN included).
 *
 * Left out of the corpus on purpose: described values (a descriptor + value pair) inside
 * application_properties, annotations or amqp-value bodies. rhea hands those to its users as its
 * internal `Typed` wrapper objects ({type: TypeDesc, value, descriptor: Typed}); ours presents them
 * as plain `{descriptor, value}`. That difference is deliberate and documented, not compared here.
 *
 * The corpus is received a third time by ours through a batch receiver (`open_receiver({batch:
 * true})`): each message a batch builds lazily (`batch.message(i)`) must equal the one the
 * 'message' event gave, and the batch's views (topic, messageId, generateTime, content,
 * properties) must read what the platform-native API reads from that message.
 *
 * A fourth time the corpus is received through createConsumer(), whose messages are read from
 * such batches: each message's topic, messageId, generateTime and content must be what the
 * platform's fields are in the 'message' event's message, its applicationProperties must equal that
 * message's, and its `raw` must equal that message.
 *
 * No assertion depends on timing: every wait is emu.waitFor() on a condition.
 */

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');

const amqp = require('../../index.js');
const { startEmulator } = require('../support/emulator');
const { idString, timeNumber } = require('../../lib/message.js');
const { contentOf } = require('../../lib/consumer/message.js');

const T = rhea.types;
const M = rhea.message;

// ---------------------------------------------------------------------------------------------
// The corpus

const UUID = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const hex = (h) => Buffer.from(h, 'hex');

/** Application property values of every AMQP primitive type rhea can encode, one case each. */
const APP_PROPERTY_VALUES = {
  'string': 'a string',
  'string-empty': '',
  'string-unicode': 'é中文😀\u0000\n',
  'string-long (str32)': 'x'.repeat(300),
  'boolean-true': true,
  'boolean-false': false,
  'boolean-encoded (0x56)': T.Boolean(1),
  'byte-min': T.wrap_byte(-128),
  'byte-max': T.wrap_byte(127),
  'short-min': T.wrap_short(-32768),
  'short-max': T.wrap_short(32767),
  'int-small (smallint)': T.wrap_int(-5),
  'int-min': T.wrap_int(-2147483648),
  'int-max': T.wrap_int(2147483647),
  'long-small (smalllong)': T.wrap_long(42),
  'long-minus-one': T.wrap_long(-1),
  'long-2^40': T.wrap_long(2 ** 40),
  'long-minus-2^40': T.wrap_long(-(2 ** 40)),
  'long-2^53-1': T.wrap_long(hex('001fffffffffffff')),
  'long-2^53+1 (rhea: lossy number)': T.wrap_long(hex('0020000000000001')),
  'long-first-buffer (hi=2^21+1)': T.wrap_long(hex('0020000100000000')),
  'long-max (buffer)': T.wrap_long(hex('7fffffffffffffff')),
  'long-min (buffer)': T.wrap_long(hex('8000000000000000')),
  'long-negative-boundary-number (-2^53)': T.wrap_long(hex('ffe0000000000000')),
  'long-negative-boundary-buffer': T.wrap_long(hex('ffdfffff00000000')),
  'long-from-big-number (2^60)': T.wrap_long(2 ** 60),
  'long-from-big-negative-number (-2^60)': T.wrap_long(-(2 ** 60)),
  'ubyte': T.wrap_ubyte(255),
  'ushort': T.wrap_ushort(65535),
  'uint-zero (uint0)': T.wrap_uint(0),
  'uint-small (smalluint)': T.wrap_uint(200),
  'uint-max': T.wrap_uint(4294967295),
  'ulong-zero (ulong0)': T.wrap_ulong(0),
  'ulong-small (smallulong)': T.wrap_ulong(5),
  'ulong-2^40': T.wrap_ulong(2 ** 40),
  'ulong-2^53+1 (rhea: lossy number)': T.wrap_ulong(hex('0020000000000001')),
  'ulong-first-buffer (hi=2^21+1)': T.wrap_ulong(hex('0020000100000000')),
  'ulong-huge (buffer)': T.wrap_ulong(hex('ffffffffffffff00')),
  'ulong-max (buffer)': T.wrap_ulong(hex('ffffffffffffffff')),
  'float': T.wrap_float(1.5),
  'float-inexact': T.wrap_float(0.1),
  'float-nan': T.wrap_float(NaN),
  'float-minus-infinity': T.wrap_float(-Infinity),
  'double': T.wrap_double(Math.PI),
  'double-plain-js-number': 2.5,
  'double-minus-zero': T.wrap_double(-0),
  'double-nan': T.wrap_double(NaN),
  'double-infinity': T.wrap_double(Infinity),
  'double-min-subnormal': T.wrap_double(5e-324),
  'timestamp': new Date(1700000000123),
  'timestamp-epoch': new Date(0),
  'timestamp-before-epoch': new Date(-86400001),
  'timestamp-beyond-Date-range (Invalid Date)': T.wrap_timestamp(hex('0020000000000000')),
  'timestamp-beyond-rhea-range (Invalid Date)': T.wrap_timestamp(hex('7fffffffffffffff')),
  'uuid': T.wrap_uuid(UUID),
  'binary': Buffer.from([0, 1, 2, 0xff]),
  'binary-empty': Buffer.alloc(0),
  'binary-long (vbin32)': Buffer.alloc(300, 7),
  'symbol': T.wrap_symbol('a:symbol'),
  'symbol-long (sym32)': T.wrap_symbol('s'.repeat(300)),
  'char-ascii': T.wrap_char(0x41),
  'char-astral': T.wrap_char(0x1f600),
  'decimal32': T.Decimal32(hex('01020304')),
  'decimal64': T.Decimal64(hex('0102030405060708')),
  'decimal128': T.Decimal128(hex('0102030405060708090a0b0c0d0e0f10')),
  'null': null,
  'map': { a: 1, b: 'two', c: { d: [true, null] } },
  'map-empty': {},
  'map-non-string-keys': new Map([[1, 'int key'], [true, 'bool key'], [null, 'null key'],
    [Buffer.from('bk'), 'binary key'], [T.wrap_symbol('sym'), 'symbol key'], ['1', 'string key equal to the int key']]),
  'list': [1, 'a', null, [2, [3]], { k: 'v' }, Buffer.from('b')],
  'list-empty (list0)': [],
  'array-int': T.wrap_array([1, -2, 3], 0x71),
  'array-symbol': T.wrap_array(['a', 'b'], 0xa3),
  'array-long': T.wrap_array([1, 2 ** 40], 0x81),
  'array-ubyte': T.wrap_array([0, 255], 0x50),
  'array-boolean': T.wrap_array([1, 0], 0x56),
  'array-empty': T.wrap_array([], 0x71),
};

/** Builds the corpus: [name, rhea message object] pairs. */
function corpus() {
  const cases = [];
  const add = (name, message) => cases.push([name, message]);

  // Bodies.
  add('body: amqp-value string', { body: 'hello' });
  add('body: amqp-value empty string', { body: '' });
  add('body: amqp-value long unicode string (str32)', { body: 'é中😀'.repeat(100) });
  add('body: amqp-value small int', { body: 42 });
  add('body: amqp-value negative int', { body: -7 });
  add('body: amqp-value double', { body: 3.25 });
  add('body: amqp-value large number (ulong)', { body: 2 ** 40 });
  add('body: amqp-value large negative number (long)', { body: -(2 ** 40) });
  add('body: amqp-value true', { body: true });
  add('body: amqp-value false', { body: false });
  add('body: amqp-value null', { body: null });
  add('body: none given (rhea sends an amqp-value null)', { subject: 'no body given' });
  add('body: no body section at all', { subject: 'no body section', body: { collect_sections() {} } });
  add('body: amqp-value list', { body: [1, 'two', true, null, [3], { k: 'v' }] });
  add('body: amqp-value empty list', { body: [] });
  add('body: amqp-value map', { body: { a: 1, b: 'x', c: { d: [1, 2] } } });
  add('body: amqp-value empty map', { body: {} });
  add('body: amqp-value map with non-string keys', { body: new Map([[1, 'one'], [false, 'f'], [Buffer.from('k'), 'b']]) });
  add('body: amqp-value binary', { body: Buffer.from([1, 2, 3]) });
  add('body: amqp-value long binary (vbin32)', { body: Buffer.alloc(1000, 0xab) });
  add('body: amqp-value nested', { body: { level1: [{ level2: { level3: [[], {}, [null, { deep: Buffer.from('z') }]] } }] } });
  add('body: amqp-value timestamp', { body: new Date(1234567890123) });
  add('body: amqp-value uuid', { body: T.wrap_uuid(UUID) });
  add('body: amqp-value symbol', { body: T.wrap_symbol('sym-body') });
  add('body: amqp-value huge ulong (buffer)', { body: T.wrap_ulong(hex('ffffffffffffffff')) });
  add('body: amqp-value char', { body: T.wrap_char(0x263a) });
  add('body: amqp-value int array', { body: T.wrap_array([5, 6], 0x71) });
  add('body: one data section', { body: M.data_section(Buffer.from('{"a":1}')) });
  add('body: one empty data section', { body: M.data_section(Buffer.alloc(0)) });
  add('body: one large data section (split over several transfer frames)', { body: M.data_section(Buffer.alloc(1536 * 1024, 0x5a)) });
  add('body: data_sections with one element', { body: M.data_sections([Buffer.from('only')]) });
  add('body: two data sections', { body: M.data_sections([Buffer.from('a'), Buffer.from('b')]) });
  add('body: three data sections, one empty', { body: M.data_sections([Buffer.from('x'), Buffer.alloc(0), Buffer.from('z')]) });
  add('body: one sequence section', { body: M.sequence_section([1, 'two', { three: 3 }, null]) });
  add('body: one empty sequence section', { body: M.sequence_section([]) });
  add('body: two sequence sections', { body: M.sequence_sections([[1, 2], ['a']]) });

  // Header.
  add('header: every field', { durable: true, priority: 9, ttl: 60000, first_acquirer: true, delivery_count: 3, body: 'h' });
  add('header: every field at its default value', { durable: false, priority: 4, ttl: 0, first_acquirer: false, delivery_count: 0, body: 'h' });
  add('header: ttl only', { ttl: 1000, body: 'h' });

  // Properties.
  add('properties: every field, string ids', {
    message_id: 'id-1',
    user_id: Buffer.from('user'),
    to: '/to/address',
    subject: 'a subject',
    reply_to: '/reply/to',
    correlation_id: 'corr-1',
    content_type: 'application/json',
    content_encoding: 'utf-8',
    absolute_expiry_time: new Date(1800000000000),
    creation_time: new Date(1700000000000),
    group_id: 'group',
    group_sequence: 7,
    reply_to_group_id: 'reply-group',
    body: M.data_section(Buffer.from('{}')),
  });
  add('properties: message_id a 19-digit string (platform style)', { message_id: '1700000000000000001', body: 'p' });
  add('properties: message_id a plain number (ulong)', { message_id: 123, body: 'p' });
  add('properties: message_id ulong (wrap_ulong)', { message_id: T.wrap_ulong(12345678901), body: 'p' });
  add('properties: message_id ulong zero', { message_id: T.wrap_ulong(0), body: 'p' });
  add('properties: message_id huge ulong (buffer)', { message_id: T.wrap_ulong(hex('ff00000000000001')), body: 'p' });
  add('properties: message_id uuid (wrap_uuid)', { message_id: T.wrap_uuid(UUID), body: 'p' });
  add('properties: message_id a Buffer (rhea sends uuid)', { message_id: hex('fedcba9876543210fedcba9876543210'), body: 'p' });
  add('properties: message_id binary (wrap_binary)', { message_id: T.wrap_binary(Buffer.from('bin-id')), body: 'p' });
  add('properties: correlation_id ulong, uuid-valued message_id', { message_id: T.wrap_uuid(UUID), correlation_id: T.wrap_ulong(99), body: 'p' });
  add('properties: correlation_id binary', { correlation_id: T.wrap_binary(Buffer.from([9, 8, 7])), body: 'p' });
  add('properties: correlation_id uuid', { correlation_id: T.wrap_uuid(UUID), body: 'p' });
  add('properties: timestamps at and before the epoch', { creation_time: new Date(0), absolute_expiry_time: new Date(-1), body: 'p' });
  add('properties: timestamp out of range (Invalid Date)', { creation_time: hex('7fffffffffffffff'), body: 'p' });
  add('properties: empty strings', { to: '', subject: '', group_id: '', body: 'p' });

  // Annotations and footer.
  add('message_annotations: symbol keys, values of several types', {
    message_annotations: {
      'x-opt-partition-key': 'pk',
      'x-opt-sequence-number': T.wrap_long(42),
      'x-opt-enqueued-time': new Date(1700000000456),
      'x-opt-flag': true,
      'x-opt-null': null,
      'x-opt-list': [1, 'two'],
      'x-opt-map': { k: 'v' },
      'x-opt-binary': Buffer.from('ab'),
      'x-opt-uuid': T.wrap_uuid(UUID),
    },
    body: 'ma',
  });
  add('message_annotations: empty map', { message_annotations: {}, body: 'ma' });
  add('delivery_annotations: symbol keys', {
    delivery_annotations: { 'x-opt-lock-token': T.wrap_uuid(UUID), 'x-count': 3, 'x-name': 'n' },
    body: 'da',
  });
  add('footer', { footer: { hash: Buffer.from('c0ffee', 'hex'), alg: 'sha256', n: T.wrap_long(-3) }, body: 'f' });

  // Application properties: each type on its own, then all of them in one map.
  for (const [name, value] of Object.entries(APP_PROPERTY_VALUES)) {
    add(`application_properties: ${name}`, { application_properties: { v: value }, body: M.data_section(Buffer.from(name)) });
  }
  // (Without the values of KNOWN_DIFFERENCES, which are covered by their own cases.)
  const everyType = Object.fromEntries(Object.entries(APP_PROPERTY_VALUES).filter(([name]) => !KNOWN_VALUES.has(name)));
  add('application_properties: every type in one map', { application_properties: everyType });
  add('application_properties: empty map', { application_properties: {}, body: 'ap' });

  // A message with every section.
  add('every section at once', {
    durable: true,
    priority: 5,
    delivery_annotations: { 'x-da': 1 },
    message_annotations: { 'x-ma': 'm' },
    message_id: T.wrap_ulong(77),
    subject: 'all',
    creation_time: new Date(1600000000000),
    application_properties: { topic: '/a/b/c', n: T.wrap_long(hex('7fffffffffffffff')) },
    body: M.data_sections([Buffer.from('1'), Buffer.from('2')]),
    footer: { f: 'end' },
  });

  // A realistic platform message, exactly as the platform shapes them.
  add('platform message: topic/messageId/generateTime(long) + one JSON data section', {
    message_id: '1712345678901234567',
    application_properties: {
      topic: '/a1ProductKey/device1/thing/event/property/post',
      messageId: '1712345678901234567',
      generateTime: T.wrap_long(1712345678901),
    },
    body: M.data_section(Buffer.from(JSON.stringify({
      deviceType: 'CustomCategory',
      iotId: 'iotIdOfDevice1',
      requestId: '123',
      productKey: 'a1ProductKey',
      gmtCreate: 1712345678901,
      deviceName: 'device1',
      items: { temperature: { value: 21.5, time: 1712345678901 }, note: { value: '中文', time: 1712345678901 } },
    }))),
  });
  return cases;
}

/**
 * Cases where our message may differ from rhea's: case name -> reason (marked todo). None today:
 * even rhea's reading of the one-byte boolean 0x56 as the number 1/0 is matched, for drop-in parity.
 */
const KNOWN_DIFFERENCES = {};
const KNOWN_VALUES = new Set();

const CASES = corpus();
const NAMES = CASES.map(([name]) => name);
assert.equal(new Set(NAMES).size, NAMES.length, 'case names are unique');

// ---------------------------------------------------------------------------------------------
// Normalisation

/** The class name of an object ('Object' for a plain object, 'null' for a null prototype). */
function className(o) {
  const proto = Object.getPrototypeOf(o);
  if (proto === null) return 'null';
  return proto.constructor && proto.constructor.name ? proto.constructor.name : '?';
}

/**
 * A tagged tree of `v` that keeps every type distinction a user could observe: the type tag, then
 * the value. Numbers are kept as numbers (deepStrictEqual compares with Object.is: NaN equals NaN,
 * -0 differs from 0); Dates become their time value (NaN for an Invalid Date).
 */
function norm(v) {
  if (v === undefined) return { type: 'undefined' };
  if (v === null) return { type: 'null' };
  const t = typeof v;
  if (t === 'number' || t === 'string' || t === 'boolean') return { type: t, value: v };
  if (t === 'bigint') return { type: t, value: String(v) };
  if (t !== 'object') return { type: t, value: String(v) };
  if (Buffer.isBuffer(v)) return { type: 'Buffer', hex: v.toString('hex') };
  if (ArrayBuffer.isView(v)) return { type: className(v), hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (v instanceof Date) return { type: 'Date', time: v.getTime() };
  if (Array.isArray(v)) return { type: 'array', items: v.map(norm) };
  const keys = Object.keys(v).sort();
  return { type: 'object', class: className(v), keys, entries: keys.map((k) => [k, norm(v[k])]) };
}

/** Whether rhea left one of its Typed wrappers in the value (the corpus must not contain any). */
function containsTyped(v) {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Date) return false;
  if (v instanceof T.Null().constructor) return true; // rhea's Typed
  return Object.keys(v).some((k) => containsTyped(v[k]));
}

// ---------------------------------------------------------------------------------------------
// Receiving the corpus

function signed(emu) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  return amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'test-1', signMethod: 'hmacsha1' });
}

/**
 * Publishes the corpus to `emu` and receives it with `lib` (rhea or ours); resolves to a Map
 * case name -> received message. A single link delivers in order, so the i-th message received
 * is the i-th delivery the emulator recorded.
 */
async function receiveAll(lib, emu, closers, { batch = false } = {}) {
  for (const [name, message] of CASES) emu.publishRaw(message, { key: name });
  const { username, password } = signed(emu);
  const received = [];
  const errors = [];
  const container = lib.create_container();
  const connection = container.connect({
    host: 'localhost', port: emu.port, transport: 'tls', ca: emu.ca, username, password, reconnect: false,
  });
  closers.push(async () => {
    if (lib === rhea) {
      connection.set_reconnect(false);
      const { socket } = connection;
      const gone = socket && !socket.destroyed ? new Promise((resolve) => socket.once('close', resolve)) : null;
      if (connection.is_open()) connection.close();
      await emu.close();
      if (gone) await gone;
    } else {
      connection.close();
      await emu.waitFor(() => connection.is_closed(), 10000, 'our connection closed');
      await emu.close();
    }
  });
  container.on('message', (ctx) => received.push(ctx.message));
  container.on('batch', ({ batch: b }) => {
    for (let i = 0; i < b.length; i++) {
      // The views first, then the whole message (built after them, from the same tape).
      const views = { topic: b.topic(i), messageId: b.messageId(i), generateTime: b.generateTime(i), content: b.content(i), properties: b.properties(i) };
      const message = b.message(i);
      assert.equal(b.message(i), message, 'message(i) is built once');
      batchViews.set(received.length, views);
      received.push(message);
    }
  });
  // Heard, so that rhea does not print a warning when the emulator shuts the connection at the end.
  container.on('disconnected', () => {});
  for (const name of ['error', 'connection_error', 'protocol_error']) container.on(name, (e) => errors.push([name, e]));
  connection.open_receiver(batch ? { batch: true } : undefined);
  await emu.waitFor(() => emu.acceptedOnce.size === CASES.length || errors.length, 60000, `corpus received by ${lib === rhea ? 'rhea' : 'ours'}`);
  assert.deepEqual(errors, [], 'no errors while receiving');
  assert.equal(received.length, CASES.length, 'each message received once');
  assert.deepEqual(emu.deliveries.map((d) => d.key), NAMES, 'delivered once each, in order');
  return new Map(NAMES.map((name, i) => [name, received[i]]));
}

/**
 * Publishes the corpus to `emu` and receives it with createConsumer() (handlers, each message
 * accepted when its handler returns); resolves to a Map case name -> the ConsumerMessage.
 */
async function consumeAll(emu, closers) {
  for (const [name, message] of CASES) emu.publishRaw(message, { key: name });
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = amqp.createConsumer({
    host: emu.hostname, port: emu.port, ca: emu.ca, accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'test-consumer', reconnect: false,
  });
  closers.push(async () => {
    await consumer.close({ timeout: 1000 });
    await emu.close();
  });
  const received = [];
  const errors = [];
  consumer.on('message', (msg) => {
    received.push(msg);
  });
  consumer.on('error', (e) => errors.push(e));
  consumer.on('protocol_error', (e) => errors.push(e));
  await emu.waitFor(() => emu.acceptedOnce.size === CASES.length || errors.length, 60000, 'corpus received by createConsumer()');
  assert.deepEqual(errors, [], 'no errors while receiving');
  assert.equal(received.length, CASES.length, 'each message received once');
  assert.deepEqual(emu.deliveries.map((d) => d.key), NAMES, 'delivered once each, in order');
  return new Map(NAMES.map((name, i) => [name, received[i]]));
}

let fromRhea;
let fromOurs;
let fromBatches;
let fromConsumer;
/** Index of a message received through batches -> what the batch's views read for it. */
const batchViews = new Map();
const closers = [];

before(async () => {
  const emuRhea = await startEmulator();
  fromRhea = await receiveAll(rhea, emuRhea, closers);
  const emuOurs = await startEmulator();
  fromOurs = await receiveAll(amqp, emuOurs, closers);
  const emuBatches = await startEmulator();
  fromBatches = await receiveAll(amqp, emuBatches, closers, { batch: true });
  const emuConsumer = await startEmulator();
  fromConsumer = await consumeAll(emuConsumer, closers);
});

after(async () => {
  for (const close of closers) await close();
});

// ---------------------------------------------------------------------------------------------
// Field-by-field parity

for (const name of NAMES) {
  const options = KNOWN_DIFFERENCES[name] ? { todo: KNOWN_DIFFERENCES[name] } : {};
  test(`parity: ${name}`, options, () => {
    const theirs = fromRhea.get(name);
    const ours = fromOurs.get(name);
    assert.ok(!containsTyped(theirs), 'the case yields no rhea Typed wrapper (such cases are out of scope)');
    assert.ok(ours instanceof amqp.Message, 'ours is a Message');
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), 'own enumerable keys of the message');
    for (const key of Object.keys(theirs)) {
      assert.deepStrictEqual(norm(ours[key]), norm(theirs[key]), `field '${key}'`);
    }
    // The JSON users log (String(msg) / JSON.stringify(msg)) has the same content.
    assert.deepStrictEqual(JSON.parse(String(ours)), JSON.parse(String(theirs)), 'String(msg) content');
    assert.deepStrictEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)), 'JSON.stringify(msg) content');
  });
}

test('batches: message(i) equals the message event\'s, and the views read what it holds, for every case', () => {
  NAMES.forEach((name, index) => {
    const ours = fromOurs.get(name);
    const lazy = fromBatches.get(name);
    assert.ok(lazy instanceof amqp.Message, `${name}: a Message`);
    assert.deepEqual(Object.keys(lazy), Object.keys(ours), `${name}: the same keys in the same order`);
    for (const key of Object.keys(ours)) assert.deepStrictEqual(norm(lazy[key]), norm(ours[key]), `${name}: field '${key}'`);
    if (ours.body !== null && typeof ours.body === 'object' && 'typecode' in ours.body) {
      assert.equal(Object.getPrototypeOf(lazy.body), Object.getPrototypeOf(ours.body), `${name}: the body's class`);
    }
    const views = batchViews.get(index);
    const props = ours.application_properties || {};
    assert.equal(views.topic, typeof props.topic === 'string' ? props.topic : undefined, `${name}: topic(i)`);
    assert.equal(views.messageId, idString(props.messageId !== undefined ? props.messageId : ours.message_id), `${name}: messageId(i)`);
    assert.equal(views.generateTime, timeNumber(props.generateTime), `${name}: generateTime(i)`);
    const single = ours.body && ours.body.typecode === 0x75 && !ours.body.multiple;
    assert.deepStrictEqual(norm(views.content), norm(single ? ours.body.content : undefined), `${name}: content(i)`);
    assert.deepStrictEqual(norm(views.properties), norm(ours.application_properties), `${name}: properties(i)`);
  });
});

test('createConsumer(): each message reads the platform fields of the message event\'s message, and raw is that message, for every case', () => {
  for (const name of NAMES) {
    const ours = fromOurs.get(name);
    const msg = fromConsumer.get(name);
    const props = ours.application_properties || {};
    assert.equal(msg.topic, typeof props.topic === 'string' ? props.topic : undefined, `${name}: topic`);
    assert.equal(msg.messageId, idString(props.messageId !== undefined ? props.messageId : ours.message_id), `${name}: messageId`);
    assert.equal(msg.generateTime, timeNumber(props.generateTime), `${name}: generateTime`);
    assert.ok(Buffer.isBuffer(msg.content), `${name}: content is a Buffer`);
    assert.deepStrictEqual(norm(msg.content), norm(contentOf(ours.body)), `${name}: content`);
    // Read before raw is: decoded alone.
    const decoded = msg.applicationProperties;
    assert.deepStrictEqual(norm(decoded), norm(ours.application_properties), `${name}: applicationProperties`);
    assert.equal(msg.applicationProperties, decoded, `${name}: applicationProperties is the same object each time`);
    assert.ok(msg.raw instanceof amqp.Message, `${name}: raw is a Message`);
    assert.equal(msg.raw, msg.raw, `${name}: raw is built once`);
    assert.deepEqual(Object.keys(msg.raw), Object.keys(ours), `${name}: raw has the same keys in the same order`);
    for (const key of Object.keys(ours)) assert.deepStrictEqual(norm(msg.raw[key]), norm(ours[key]), `${name}: raw field '${key}'`);
    assert.deepEqual([msg.settled, msg.state], [true, 'accepted'], `${name}: accepted when its handler returned`);
  }
});

// ---------------------------------------------------------------------------------------------
// The shapes users rely on, on our side

test('ours: one data section is {typecode: 0x75, content: Buffer}', () => {
  const msg = fromOurs.get('body: one data section');
  assert.ok(msg.body instanceof amqp.Section);
  assert.equal(msg.body.typecode, 0x75);
  assert.ok(Buffer.isBuffer(msg.body.content), 'body.content is a Buffer');
  assert.equal(msg.body.content.toString(), '{"a":1}');
  assert.equal(msg.body.multiple, undefined);
  assert.ok(Buffer.isBuffer(fromOurs.get('body: one empty data section').body.content));
  assert.equal(fromOurs.get('body: one empty data section').body.content.length, 0);
  assert.equal(fromOurs.get('body: one large data section (split over several transfer frames)').body.content.length, 1536 * 1024);
});

test('ours: several data sections have multiple: true and an array of Buffers', () => {
  const msg = fromOurs.get('body: three data sections, one empty');
  assert.equal(msg.body.typecode, 0x75);
  assert.equal(msg.body.multiple, true);
  assert.ok(Array.isArray(msg.body.content));
  assert.ok(msg.body.content.every((b) => Buffer.isBuffer(b)));
  assert.deepEqual(msg.body.content.map(String), ['x', '', 'z']);
  const seq = fromOurs.get('body: two sequence sections');
  assert.equal(seq.body.typecode, 0x76);
  assert.equal(seq.body.multiple, true);
  assert.deepEqual(seq.body.content, [[1, 2], ['a']]);
});

test('ours: the platform message reads as the doc script reads it, and String()/JSON.stringify() work', () => {
  const msg = fromOurs.get('platform message: topic/messageId/generateTime(long) + one JSON data section');
  assert.equal(msg.message_id, '1712345678901234567');
  assert.equal(msg.application_properties.topic, '/a1ProductKey/device1/thing/event/property/post');
  assert.equal(msg.application_properties.generateTime, 1712345678901);
  const content = JSON.parse(Buffer.from(msg.body.content).toString());
  assert.equal(content.deviceName, 'device1');
  assert.equal(content.items.note.value, '中文');

  const text = String(msg);
  assert.equal(typeof text, 'string');
  const parsed = JSON.parse(text);
  assert.equal(parsed.message_id, '1712345678901234567');
  assert.equal(parsed.body.typecode, 0x75);
  assert.deepEqual(parsed.body.content, { type: 'Buffer', data: [...msg.body.content] });
  assert.equal(JSON.stringify(msg), text);
  assert.equal(`${msg}`, text);
  // Every message of the corpus stringifies (no BigInt, no cycles).
  for (const m of fromOurs.values()) assert.equal(typeof String(m), 'string');
});
