'use strict';
// The for-await iterators of a Consumer. Each hands the loop one thing at a time (a message, or a
// batch in ./batches.js) and settles the thing the loop held when it asks for the next (accepted,
// unless the body settled it) or when it leaves early (released: it comes again).

/**
 * What both iterators share: the held thing, the waiting loop, the end. A subclass says what it
 * hands out (`_pull`, called by the consumer's drain) and how the consumer is told that a held thing
 * is finished (`_finish`).
 */
class HeldIterator {
  constructor(consumer) {
    this._consumer = consumer;
    this._held = null;
    this._waiter = null;
    this._done = false;
  }

  next() {
    const c = this._consumer;
    // The loop asks for the next: it is done with what it held.
    this._settleHeld('accept');
    if (this._done) return Promise.resolve({ value: undefined, done: true });
    if (c._failure) {
      this._done = true;
      return Promise.reject(c._failure);
    }
    if (c._closing) {
      this._done = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this._waiter = { resolve, reject };
      c._drain();
    });
  }

  return() {
    // Left early (break, return or throw): what it held was not finished, it comes again.
    this._settleHeld('release');
    this._end();
    return this._consumer.close().then(() => ({ value: undefined, done: true }));
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Hands `value` to the waiting loop and holds it until the loop asks again. */
  _hand(value) {
    const w = this._waiter;
    this._waiter = null;
    this._held = value;
    w.resolve({ value, done: false });
  }

  /** Settles what the loop held (`how`: 'accept' or 'release'), unless the body settled it. */
  _settleHeld(how) {
    const held = this._held;
    if (held === null) return;
    this._held = null;
    this._consumer._observeHandling(held._handedAt);
    if (!held.settled) held[how]();
    this._finish(held);
  }

  _end() {
    this._done = true;
    const w = this._waiter;
    this._waiter = null;
    if (w) w.resolve({ value: undefined, done: true });
  }

  _fail(err) {
    const w = this._waiter;
    this._waiter = null;
    if (w) {
      this._done = true;
      w.reject(err);
    }
  }
}

/** The message iterator: one message per loop iteration. */
class MessageIterator extends HeldIterator {
  /** Hands the loop the next buffered message, if it waits for one (called by the consumer's drain). */
  _pull() {
    const c = this._consumer;
    while (this._waiter !== null && c._buffer.length > 0) {
      const msg = c._buffer.shift();
      if (c._isDuplicate(msg)) continue;
      msg._iterated = true;
      msg._handedAt = performance.now();
      c._handed.add(msg);
      this._hand(msg);
    }
  }

  _finish(msg) {
    this._consumer._finished(msg);
  }
}

module.exports = { HeldIterator, MessageIterator };
