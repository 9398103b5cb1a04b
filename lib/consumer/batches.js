'use strict';
// consumer.batches({max, maxWaitMs}): a for-await loop over arrays of messages. A batch is yielded
// when `max` messages are buffered, when the first of them has waited `maxWaitMs`, or at once when
// no more can come (every open connection's credit is used up by what is buffered: a `max` above
// the total credit never deadlocks). The loop asking for the next batch accepts what the held one
// left unsettled; leaving the loop (break, return, throw) releases it and closes the consumer, as
// the message iterator does (both are HeldIterators, ./iterator.js). With `dedupe`, a copy of a
// message already in the batch is accepted at once and left out, as redeliveries of accepted
// messages are.

const { HeldIterator } = require('./iterator.js');

/** The messages of one batch: an Array (map, filter... return plain arrays) with accept() and release(). */
class ConsumerBatch extends Array {
  static get [Symbol.species]() {
    return Array;
  }

  /** Accepts every message of the batch not settled yet; returns how many outcomes went out (a message whose connection is gone cannot be: it comes again). */
  accept() {
    return settleAll(this, 'accept');
  }

  /** Releases every message of the batch not settled yet (they come again); returns how many outcomes went out. */
  release() {
    return settleAll(this, 'release');
  }
}

function settleAll(batch, how) {
  let sent = 0;
  for (let i = 0; i < batch.length; i++) {
    const msg = batch[i];
    if (!msg.settled && msg[how]()) sent += 1;
  }
  return sent;
}

class BatchIterator extends HeldIterator {
  constructor(consumer, max, maxWaitMs) {
    super(consumer);
    this._max = max;
    this._maxWait = maxWaitMs;
    this._timer = null;
    this._timerDue = 0;
  }

  /** Yields a batch if one is due (called by the consumer's drain), else arms the timer for when it will be. */
  _pull() {
    const c = this._consumer;
    const buf = c._buffer;
    if (this._waiter === null || buf.length === 0) return;
    const now = performance.now();
    const due = buf[0]._arrivedAt + this._maxWait;
    if (buf.length < this._max && now < due && !c._creditUsedUp()) {
      this._arm(due);
      return;
    }
    this._disarm();
    const batch = new ConsumerBatch();
    const ids = c._window !== null ? new Set() : null;
    while (buf.length > 0 && batch.length < this._max) {
      const msg = buf.shift();
      if (c._isDuplicate(msg)) continue;
      if (ids !== null && msg.messageId !== undefined) {
        if (ids.has(msg.messageId)) {
          c._acceptDuplicate(msg);
          continue;
        }
        ids.add(msg.messageId);
      }
      msg._iterated = true;
      c._handed.add(msg);
      batch.push(msg);
    }
    // Only duplicates: wait for more.
    if (batch.length === 0) {
      this._pull();
      return;
    }
    Object.defineProperty(batch, '_handedAt', { value: performance.now() });
    this._hand(batch);
  }

  _finish(batch) {
    this._consumer._finishedAll(batch);
  }

  _arm(due) {
    if (this._timer !== null && this._timerDue === due) return;
    this._disarm();
    this._timerDue = due;
    this._timer = setTimeout(() => {
      this._timer = null;
      this._consumer._drain();
    }, Math.max(1, Math.ceil(due - performance.now())));
  }

  _disarm() {
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
  }

  _end() {
    this._disarm();
    super._end();
  }

  _fail(err) {
    this._disarm();
    super._fail(err);
  }
}

module.exports = { BatchIterator, ConsumerBatch };
