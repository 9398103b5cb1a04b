'use strict';
// A consumer's message (lib/consumer/message.js), on its own: the platform's fields read from the
// rhea-shaped message, the payload as bytes whatever the body, and settling once.

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

/** A ConsumerMessage over a fake delivery and consumer that record what happens. */
function fakeMessage(message, sent = true) {
  const calls = [];
  const delivery = {
    accept: () => (calls.push(['accept']), sent),
    release: () => (calls.push(['release']), sent),
    reject: (error) => (calls.push(['reject', error]), sent),
  };
  const consumer = { _onSettled: (msg, state, wasSent) => calls.push(['settled', state, wasSent]) };
  const link = { clientId: 'client-0' };
  return { msg: new ConsumerMessage(consumer, { message, delivery }, link), calls, link };
}

test('a ConsumerMessage reads the platform fields and settles once', () => {
  const raw = {
    message_id: 'ignored',
    application_properties: { topic: '/pk/dn/thing/event/property/post', messageId: long(1712345678901234567n), generateTime: long(1712345678901) },
    body: new Section(0x75, Buffer.from('{"x":1}')),
  };
  const { msg, calls, link } = fakeMessage(raw);
  assert.equal(msg.topic, '/pk/dn/thing/event/property/post');
  assert.equal(msg.messageId, '1712345678901234567', 'the messageId property wins over message_id');
  assert.equal(msg.generateTime, 1712345678901);
  assert.equal(msg.text(), '{"x":1}');
  assert.deepEqual(msg.json(), { x: 1 });
  assert.equal(msg.clientId, 'client-0');
  assert.equal(msg.raw, raw);
  assert.equal(msg._link, link);
  assert.equal(msg.topicInfo.kind, 'property');
  assert.deepEqual(Object.keys(msg.toJSON()).sort(), ['content', 'generateTime', 'messageId', 'topic', 'topicInfo']);

  assert.equal(msg.reject('bad'), true);
  assert.equal(msg.accept(), false, 'settled already');
  assert.equal(msg.release(), false);
  assert.deepEqual([msg.settled, msg.state], [true, 'rejected']);
  assert.deepEqual(calls, [['reject', 'bad'], ['settled', 'rejected', true]]);
});

test('a ConsumerMessage without a messageId property uses message_id; a settlement that cannot be sent says so', () => {
  const { msg, calls } = fakeMessage({ message_id: 'm-1', body: 'plain' }, false);
  assert.equal(msg.messageId, 'm-1');
  assert.equal(msg.topic, undefined);
  assert.equal(msg.generateTime, undefined);
  assert.equal(msg.text(), 'plain');
  assert.equal(msg.accept(), false);
  assert.deepEqual([msg.settled, msg.state], [true, 'abandoned'], 'settled, and its state says no outcome went out');
  assert.deepEqual(calls, [['accept'], ['settled', 'accepted', false]]);
});
