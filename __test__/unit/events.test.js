'use strict';
// How the rhea-shaped endpoints emit (lib/events.js): to the nearest endpoint that listens, walking
// up receiver → session → connection → container; the container always emits.

const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');

const { dispatch } = require('../../lib/events.js');

/** A container → connection → session → receiver chain of plain emitters. */
function chain() {
  const container = Object.assign(new EventEmitter(), { _isContainer: true });
  const connection = Object.assign(new EventEmitter(), { _parent: container });
  const session = Object.assign(new EventEmitter(), { _parent: connection });
  const receiver = Object.assign(new EventEmitter(), { _parent: session });
  return { container, connection, session, receiver };
}

test('dispatch() emits on the nearest endpoint that listens, and only there', () => {
  const { container, connection, session, receiver } = chain();
  const heard = [];
  container.on('message', (x) => heard.push(['container', x]));
  connection.on('message', (x) => heard.push(['connection', x]));
  assert.equal(dispatch(receiver, 'message', 1), true);
  session.on('message', (x) => heard.push(['session', x]));
  assert.equal(dispatch(receiver, 'message', 2), true);
  receiver.on('message', (x) => heard.push(['receiver', x]));
  assert.equal(dispatch(receiver, 'message', 3), true);
  assert.equal(dispatch(connection, 'message', 4), true);
  assert.deepEqual(heard, [['connection', 1], ['session', 2], ['receiver', 3], ['connection', 4]]);
});

test('dispatch() reaches the container, which always emits: unheard, it reports false (and an unheard error throws)', () => {
  const { container, receiver } = chain();
  assert.equal(dispatch(receiver, 'receiver_open', {}), false);
  const seen = [];
  container.on('receiver_open', (ctx) => seen.push(ctx));
  assert.equal(dispatch(receiver, 'receiver_open', { n: 1 }), true);
  assert.deepEqual(seen, [{ n: 1 }]);
  assert.throws(() => dispatch(receiver, 'error', new Error('unheard')), /unheard/);
});

test('dispatch() without a container in the chain reports false when no one listens', () => {
  const lone = new EventEmitter();
  assert.equal(dispatch(lone, 'message', 1), false);
});
