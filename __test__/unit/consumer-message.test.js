'use strict';
// A consumer's message (lib/consumer/message.js), on its own: the platform's fields as its batch
// reads them (lib/batch.js; that they match the rhea-shaped message is message-shape.test.js's
// job), the payload as bytes whatever the body, the rhea-shaped message only when read, and
// settling once, through the batch.

const test = require('node:test');
const assert = require('node:assert/strict');

const { ConsumerMessage, idString, timeNumber, contentOf } = require('../../lib/consumer/message.js');
const { Section } = require('../../lib/message.js');

const long = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};

test('idString(): a string, a number or a long (8 bytes) as a decimal string', () => {
  assert.equal(idString('1712345678901234567'), '1712345678901234567');
  assert.equal(idString(42), '42');
  assert.equal(idString(1712345678901234567n), '1712345678901234567');
  assert.equal(idString(long(1712345678901234567n)), '1712345678901234567');
  assert.equal(idString(Buffer.from([0xab, 0xcd])), 'abcd');
  assert.equal(idString(undefined), undefined);
  assert.equal(idString(null), undefined);
});

test('timeNumber(): ms since the epoch from a number, a long, a Date or digits', () => {
  assert.equal(timeNumber(1712345678901), 1712345678901);
  assert.equal(timeNumber(long(1712345678901)), 1712345678901);
  assert.equal(timeNumber(new Date(1712345678901)), 1712345678901);
  assert.equal(timeNumber('1712345678901'), 1712345678901);
  assert.equal(timeNumber('soon'), undefined);
  assert.equal(timeNumber(undefined), undefined);
});

test('contentOf(): the payload bytes of any body', () => {
  assert.deepEqual(contentOf(undefined), Buffer.alloc(0));
  assert.deepEqual(contentOf(Buffer.from('raw')), Buffer.from('raw'));
  assert.deepEqual(contentOf(new Section(0x75, Buffer.from('one'))), Buffer.from('one'));
  assert.deepEqual(contentOf(new Section(0x75, [Buffer.from('a'), Buffer.from('b')], true)), Buffer.from('ab'));
  assert.deepEqual(contentOf(new Section(0x76, [[1, 2]], true)), Buffer.from('[[1,2]]'));
  assert.deepEqual(contentOf('text'), Buffer.from('text'));
  assert.deepEqual(contentOf(new Uint8Array([1, 2])), Buffer.from([1, 2]));
  assert.deepEqual(contentOf({ a: 1 }), Buffer.from('{"a":1}'));
});

/**
 * A ConsumerMessage for delivery 1 of a fake batch (lib/batch.js's reading and settling surface)
 * and consumer that record what happens. `views`: what the batch's index reads for it; `message`:
 * the rhea-shaped message message(1) builds.
 */
function fakeMessage(views, message, sent = true) {
  const calls = [];
  let built = false;
  const batch = {
    _attach: 3,
    receiver: { connection: {} },
    topic: (i) => (calls.push(['topic', i]), views.topic),
    messageId: (i) => (calls.push(['messageId', i]), views.messageId),
    generateTime: (i) => (calls.push(['generateTime', i]), views.generateTime),
    content: (i) => (calls.push(['content', i]), views.content),
    message: (i) => (calls.push(['message', i]), (built = true), message),
    properties: (i) => (calls.push(['properties', i]), views.properties === undefined ? undefined : { ...views.properties }),
    _built: () => built,
    id: (i) => 40 + i,
    accept: (i) => (calls.push(['accept', i]), sent),
    release: (i) => (calls.push(['release', i]), sent),
    reject: (i, error) => (calls.push(['reject', i, error]), sent),
  };
  const consumer = { _onSettled: (msg, state, wasSent) => calls.push(['settled', state, wasSent]) };
  const link = { clientId: 'client-0' };
  return { msg: new ConsumerMessage(consumer, batch, 1, link), calls, link };
}

test('a ConsumerMessage reads the platform fields from its batch, builds raw only when read, and settles once', () => {
  const raw = { message_id: 'ignored', body: new Section(0x75, Buffer.from('{"x":1}')) };
  const views = { topic: '/pk/dn/thing/event/property/post', messageId: '1712345678901234567', generateTime: 1712345678901, content: Buffer.from('{"x":1}') };
  const { msg, calls, link } = fakeMessage(views, raw);
  assert.deepEqual(calls, [['topic', 1], ['messageId', 1], ['generateTime', 1], ['content', 1]], 'the fields of delivery 1, and no message built');
  assert.equal(msg.topic, '/pk/dn/thing/event/property/post');
  assert.equal(msg.messageId, '1712345678901234567');
  assert.equal(msg.generateTime, 1712345678901);
  assert.equal(msg.content, views.content, 'the batch\'s view, not a copy');
  assert.equal(msg.text(), '{"x":1}');
  assert.deepEqual(msg.json(), { x: 1 });
  assert.equal(msg.clientId, 'client-0');
  assert.equal(msg._link, link);
  assert.equal(msg._attach, 3);
  assert.equal(msg._deliveryId, 41);
  assert.equal(msg.topicInfo.kind, 'property');
  assert.deepEqual(Object.keys(msg.toJSON()).sort(), ['content', 'generateTime', 'messageId', 'topic', 'topicInfo']);
  assert.ok(!Object.keys(msg).includes('raw'), 'raw is not an own field (it is built when read)');
  calls.length = 0;
  assert.equal(msg.raw, raw);
  assert.deepEqual(calls, [['message', 1]]);

  calls.length = 0;
  assert.equal(msg.reject('bad'), true);
  assert.equal(msg.accept(), false, 'settled already');
  assert.equal(msg.release(), false);
  assert.deepEqual([msg.settled, msg.state], [true, 'rejected']);
  assert.deepEqual(calls, [['reject', 1, 'bad'], ['settled', 'rejected', true]]);
});

test('a ConsumerMessage whose body is not one data section takes its payload from the message; a settlement that cannot be sent says so', () => {
  const { msg, calls } = fakeMessage({ messageId: 'm-1' }, { message_id: 'm-1', body: 'plain' }, false);
  assert.equal(msg.messageId, 'm-1');
  assert.equal(msg.topic, undefined);
  assert.equal(msg.generateTime, undefined);
  assert.equal(msg.text(), 'plain', 'an amqp-value body as its text');
  assert.ok(calls.some((c) => c[0] === 'message'), 'the message was built for its body');
  calls.length = 0;
  assert.equal(msg.accept(), false);
  assert.deepEqual([msg.settled, msg.state], [true, 'abandoned'], 'settled, and its state says no outcome went out');
  assert.deepEqual(calls, [['accept', 1], ['settled', 'accepted', false]]);
  assert.equal(msg.release(), false, 'settled once');
});

test('applicationProperties: decoded alone while raw is not built, raw\'s once it is; the same object each time', () => {
  const props = { topic: '/pk/dn/thing/event/property/post', sendNs: 5 };
  const alone = fakeMessage({ properties: props, content: Buffer.from('x') }, { application_properties: props });
  alone.calls.length = 0;
  const decoded = alone.msg.applicationProperties;
  assert.deepEqual(decoded, props);
  assert.notEqual(decoded, props, 'decoded from the batch, not the message\'s');
  assert.equal(alone.msg.applicationProperties, decoded);
  assert.deepEqual(alone.calls, [['properties', 1]], 'decoded once, without building the message');

  const after = fakeMessage({ properties: props, content: Buffer.from('x') }, { application_properties: props });
  assert.equal(after.msg.raw.application_properties, props);
  after.calls.length = 0;
  assert.equal(after.msg.applicationProperties, props, 'the built message\'s own object');
  assert.ok(!after.calls.some((c) => c[0] === 'properties'), 'nothing decoded again');

  const none = fakeMessage({ content: Buffer.from('x') }, { body: new Section(0x75, Buffer.from('x')) });
  assert.equal(none.msg.applicationProperties, undefined);
});
