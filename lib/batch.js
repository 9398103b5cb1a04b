'use strict';
// A batch of the rhea-shaped API (`'batch'` events of a receiver opened with `{batch: true}`): the
// deliveries of one read, still packed as the native layer handed them over (src/node/batch.rs:
// one Buffer, one tape, an index). Reading a field builds that field alone; message(i) builds the
// whole rhea-shaped message, once, from the same tape. Each delivery is settled once: one by one
// (batched per tick, as deliveries are), or every one left in one settle call.

const util = require('node:util');

const native = require('./native.js');
const { adopt, idString, timeNumber } = require('./message.js');
const diagnostics = require('./diagnostics.js');

const ACCEPT = native.SettleCode.Accept;
const RELEASE = native.SettleCode.Release;

// Per delivery: not settled, settled here (code + 1), or settled by the sender.
const OPEN = 0;
const BY_SENDER = 255;
const STATES = [undefined, 'accepted', 'released'];

class Batch {
  /** `packed`: what the native layer handed over; this batch is its deliveries `start` .. `start + length - 1`. */
  constructor(receiver, packed, epoch, start, length) {
    /** The receiver the batch came on. */
    this.receiver = receiver;
    /** How many deliveries it holds. */
    this.length = length;
    Object.defineProperties(this, {
      _packed: { value: packed },
      _read: { value: packed.read },
      _start: { value: start },
      _epoch: { value: epoch },
      _states: { value: new Uint8Array(length) },
      _messages: { value: null, writable: true },
    });
  }

  /** The `topic` application property of delivery `i` (a string), or undefined. */
  topic(i) {
    return this._read.topic(this._packed, this._start + this._index(i));
  }

  /** The platform's message id of delivery `i` as a decimal string (`messageId` application property, else `message_id`), or undefined. */
  messageId(i) {
    return idString(this._read.messageId(this._packed, this._start + this._index(i)));
  }

  /** The `generateTime` application property of delivery `i`, ms since the epoch, or undefined. */
  generateTime(i) {
    return timeNumber(this._read.generateTime(this._packed, this._start + this._index(i)));
  }

  /** The payload of delivery `i`: its data section (a view of the batch's Buffer), or undefined if the body is not one data section (see message(i).body). */
  content(i) {
    return this._read.content(this._packed, this._start + this._index(i));
  }

  /** The whole message of delivery `i`, as 'message' events give it; built on first use, then the same object. */
  message(i) {
    const k = this._index(i);
    if (this._messages === null) this._messages = new Array(this.length);
    let m = this._messages[k];
    if (m === undefined) {
      const at = this._start + k;
      m = adopt(this._read.message(this._packed, at), this._read.section(this._packed, at));
      this._messages[k] = m;
    }
    return m;
  }

  /** The delivery id of delivery `i` (for logs). */
  id(i) {
    return this._read.id(this._packed, this._start + this._index(i));
  }

  /** Whether delivery `i` is settled (here, or by the sender). */
  settled(i) {
    const k = this._index(i);
    return this._states[k] !== OPEN || this._read.settled(this._packed, this._start + k);
  }

  /** How delivery `i` was settled here: 'accepted', 'released', or undefined. */
  state(i) {
    const s = this._states[this._index(i)];
    return s === BY_SENDER ? undefined : STATES[s];
  }

  /**
   * `accept(i)` accepts delivery `i`: true when the outcome goes to the live connection, false when
   * it cannot (already settled, or the connection is gone: the platform delivers it again).
   * `accept()` accepts every delivery not settled yet, in one settle call, and returns how many
   * outcomes went out (0 when the connection is gone).
   */
  accept(i) {
    return i === undefined ? this._settleAll(ACCEPT) : this._settleOne(i, ACCEPT);
  }

  /** As accept(), releasing: the platform delivers the message(s) again. */
  release(i) {
    return i === undefined ? this._settleAll(RELEASE) : this._settleOne(i, RELEASE);
  }

  /** The messages, built as message(i) builds them. */
  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.message(i);
  }

  _index(i) {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`aliyun-iot-amqp: no delivery ${util.inspect(i)} in a batch of ${this.length}`);
    }
    return i;
  }

  /** Takes delivery `k` for settling with `code`: false if it already was (here or by the sender). */
  _claim(k, code) {
    if (this._states[k] !== OPEN) return false;
    if (this._read.settled(this._packed, this._start + k)) {
      this._states[k] = BY_SENDER;
      return false;
    }
    this._states[k] = code + 1;
    return true;
  }

  _settleOne(i, code) {
    const k = this._index(i);
    if (!this._claim(k, code)) return false;
    const connection = this.receiver.connection;
    const id = this._read.id(this._packed, this._start + k);
    if (!connection._isLive(this._epoch)) {
      if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(connection, this._epoch, id, STATES[code + 1], false);
      return false;
    }
    connection._queueSettle(this._epoch, id, code);
    return true;
  }

  _settleAll(code) {
    const ids = new Uint32Array(this.length);
    let n = 0;
    for (let k = 0; k < this.length; k++) {
      if (this._claim(k, code)) ids[n++] = this._read.id(this._packed, this._start + k);
    }
    if (n === 0) return 0;
    const connection = this.receiver.connection;
    if (!connection._isLive(this._epoch)) {
      if (diagnostics.settle.hasSubscribers) diagnostics.publishSettles(connection, this._epoch, ids.subarray(0, n), new Uint8Array(n).fill(code), false);
      return 0;
    }
    connection._settleMany(this._epoch, ids.subarray(0, n), code);
    return n;
  }

  [util.inspect.custom]() {
    let settled = 0;
    for (let k = 0; k < this.length; k++) if (this.settled(k)) settled += 1;
    return `Batch { length: ${this.length}, settled: ${settled} }`;
  }
}

module.exports = { Batch };
