'use strict';
// The emulator's at-least-once queue (lib/emulator/queue.js), on its own: what publishing queues,
// the order things come out and go back in, and what each outcome does to a message.

const test = require('node:test');
const assert = require('node:assert/strict');

const { MessageQueue, OUTCOMES } = require('../../lib/emulator/queue.js');

test('publish(): platform-shaped entries with increasing 19-digit message ids, in order', () => {
  const q = new MessageQueue();
  const a = q.publish();
  const b = q.publish({ topic: '/pk/dn/user/x', messageId: 42, generateTime: 1700000000000, body: 'hi' });
  assert.match(a, /^\d{19}$/);
  assert.equal(b, '42');
  assert.equal(q.length, 2);
  const first = q.shift();
  assert.deepEqual([first.key, first.messageId, first.attempts], [a, a, 0]);
  assert.equal(first.message.message_id, a);
  assert.equal(first.message.application_properties.topic, '/a1ProductKey/device1/thing/event/property/post');
  assert.equal(first.message.body.typecode, 0x75, 'one data section');
  assert.equal(JSON.parse(first.message.body.content).deviceName, 'device1');
  const second = q.shift();
  assert.equal(second.message.application_properties.topic, '/pk/dn/user/x');
  assert.equal(second.message.application_properties.messageId, '42');
  assert.equal(second.message.body.content.toString(), 'hi');
  assert.equal(q.shift(), undefined);
  assert.ok(BigInt(q.publish()) > BigInt(a), 'ids keep increasing');
});

test('publishRaw(): keyed by message_id, else raw-N, or by the key given', () => {
  const q = new MessageQueue();
  assert.equal(q.publishRaw({ message_id: 7, body: 'x' }), '7');
  assert.equal(q.publishRaw({ body: 'y' }), 'raw-2');
  assert.equal(q.publishRaw({ body: 'z' }, { key: 'mine' }), 'mine');
  assert.deepEqual([q.shift().key, q.shift().key, q.shift().key], ['7', 'raw-2', 'mine']);
  assert.equal(q.length, 0);
});

test('requeue() puts entries back at the head, in their original order', () => {
  const q = new MessageQueue();
  const ids = [1, 2, 3, 4].map((i) => q.publish({ messageId: `m${i}` }));
  const taken = [q.shift(), q.shift()];
  q.requeue(taken);
  q.requeue([]);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()].map((e) => e.key), ids);
});

test('settle(): accepted is counted, rejected and undeliverable are dropped, released and modified come again', () => {
  const q = new MessageQueue();
  for (const id of ['a', 'r', 'm', 'u', 'x']) q.publish({ messageId: id });
  const [a, r, m, u, x] = [q.shift(), q.shift(), q.shift(), q.shift(), q.shift()];
  q.settle(a, 'accepted');
  q.settle(a, 'accepted');
  q.settle(r, 'rejected', { error: { condition: 'amqp:decode-error' } });
  q.settle(m, 'modified', { delivery_failed: true });
  q.settle(u, 'modified', { undeliverable_here: true });
  q.settle(x, 'released');
  assert.equal(q.accepted.get('a'), 2, 'accepted twice (a redelivery accepted again)');
  assert.deepEqual([...q.acceptedOnce], ['a']);
  assert.deepEqual(q.rejected.get('r'), { error: { condition: 'amqp:decode-error' } });
  assert.deepEqual(q.undeliverable.get('u'), { undeliverable_here: true });
  assert.deepEqual([q.shift().key, q.shift().key], ['x', 'm'], 'released and modified are back at the head, last settled first');
  assert.equal(q.length, 0);
  assert.deepEqual(OUTCOMES, ['accepted', 'released', 'rejected', 'modified']);
});
