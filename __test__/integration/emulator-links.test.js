'use strict';

/**
 * Proves the platform emulator (lib/emulator/, through support/emulator.js) with rhea, a
 * known-good AMQP 1.0 client (support/rhea-client.js): attach replies and refused links, the shape of the
 * messages it publishes, plain TCP, the idle-time-out check and its counters, so the native client's tests can trust it.
 *
 * Client credentials are computed independently of the emulator, with node:crypto.
 * No test sleeps: every wait polls a condition (emu.waitFor).
 */

const { test } = require('node:test');
const assert = require('node:assert/strict');
const rhea = require('rhea');

const { connectClient, emulatorFor, bodyText } = require('../support/rhea-client');

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
