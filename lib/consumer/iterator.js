'use strict';
// The for-await iterator of a Consumer: hands out one message at a time and settles the one the
// loop held when it asks for the next (accepted) or leaves early (released).

/**
 * The for-await iterator. The message a loop iteration receives is accepted when the loop asks
 * for the next one (its body finished normally) unless the body settled it; if the loop is left
 * another way (break, return, throw) it is released, and the consumer is closed.
 */
class MessageIterator {
  constructor(consumer) {
    this._consumer = consumer;
    this._held = null;
    this._waiter = null;
    this._done = false;
  }

  next() {
    const c = this._consumer;
    if (this._held) {
      // The loop asks for the next message: it is done with the one it held.
      const msg = this._held;
      this._held = null;
      c._observeHandling(msg._handedAt);
      if (!msg.settled) msg.accept();
      c._finished(msg);
    }
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
    const c = this._consumer;
    if (this._held) {
      // Left early (break, return or throw): the message was not finished, it comes again.
      const msg = this._held;
      this._held = null;
      c._observeHandling(msg._handedAt);
      if (!msg.settled) msg.release();
      c._finished(msg);
    }
    this._end();
    return c.close().then(() => ({ value: undefined, done: true }));
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Hands the loop the next buffered message, if it waits for one (called by the consumer's drain). */
  _pull() {
    const c = this._consumer;
    while (this._waiter !== null && c._buffer.length > 0) {
      const msg = c._buffer.shift();
      if (c._isDuplicate(msg)) continue;
      msg._iterated = true;
      msg._handedAt = performance.now();
      c._handed.add(msg);
      const w = this._waiter;
      this._waiter = null;
      this._held = msg;
      w.resolve({ value: msg, done: false });
    }
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

module.exports = { MessageIterator };
