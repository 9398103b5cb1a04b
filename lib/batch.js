'use strict';
// A batch of the rhea-shaped API (`'batch'` events of a receiver opened with `{batch: true}`): the
// deliveries of one read, still packed as the native layer handed them over (src/node/batch/:
// one Buffer, one tape ending with an index). The platform's fields are read straight from the
// index (one slice of the Buffer each); message(i) builds the whole rhea-shaped message, once,
// with the native layer's own unpacker. Each delivery is settled once: one by one (batched per
// tick, as deliveries are), or every one left in one settle call; rejected or modified (one
// parameterised outcome each, as lib/delivery.js sends them) one by one or every one left.

const util = require('node:util');

const native = require('./native.js');
const { adopt, idString, timeNumber } = require('./message.js');
const diagnostics = require('./diagnostics.js');
const { ACCEPT, RELEASE, OUTCOMES, rejectedOutcome, modifiedOutcome, isModifiedRelease } = require('./outcomes.js');

// The index: SLOTS numbers per delivery, at the places, and with the codes, that
// src/node/batch/ lays out (`slot` in codes.rs, `append_index` in packer.rs), read from the
// binding once.
const {
  slots: SLOTS, fields: FIELDS, id: ID, flags: FLAGS, topicAt: TOPIC_AT, topicLen: TOPIC_LEN, topicAscii: TOPIC_ASCII,
  idKind: ID_KIND, idA: ID_A, idB: ID_B, timeKind: TIME_KIND, timeA: TIME_A, bodyAt: BODY_AT, bodyLen: BODY_LEN, propsAt: PROPS_AT,
  idAscii: ID_ASCII, idUtf8: ID_UTF8, idNumber: ID_NUMBER, idValue: ID_VALUE, timeNumber: TIME_NUMBER, timeValue: TIME_VALUE,
  flagSettled: SETTLED, flagSection: SECTION,
} = native.batchIndex();

// Per delivery: not settled, settled here (how: an index of STATES), or settled by the sender.
const OPEN = 0;
const ACCEPTED = 1;
const RELEASED = 2;
const REJECTED = 3;
const MODIFIED = 4;
const BY_SENDER = 255;
/** The name of each state settled here (the outcome kinds, as lib/delivery.js names them). */
const STATES = [undefined, OUTCOMES.Accepted, OUTCOMES.Released, OUTCOMES.Rejected, OUTCOMES.Modified];
/** The native settle code of the states settle() sends. */
const CODES = [undefined, ACCEPT, RELEASE];

class Batch {
  /**
   * `packed`: what the native layer handed over for receiver attachment `attach` (settled through
   * that one only); this batch is its deliveries `start` .. `start + length - 1`.
   */
  constructor(receiver, packed, attach, start, length) {
    /** The receiver the batch came on. */
    this.receiver = receiver;
    /** How many deliveries it holds. */
    this.length = length;
    this._packed = packed;
    this._buffer = packed.buffer;
    this._tape = packed.tape;
    this._index = packed.indexAt + start * SLOTS;
    this._attach = attach;
    this._states = new Uint8Array(length);
    this._messages = null;
  }

  /** The `topic` application property of delivery `i` (a string), or undefined. */
  topic(i) {
    const k = this._at(i);
    const t = this._tape;
    const o = t[k + TOPIC_AT];
    if (o < 0) return undefined;
    return t[k + TOPIC_ASCII] === 1 ? this._buffer.latin1Slice(o, o + t[k + TOPIC_LEN]) : this._buffer.utf8Slice(o, o + t[k + TOPIC_LEN]);
  }

  /** The platform's message id of delivery `i` as a decimal string (`messageId` application property, else `message_id`), or undefined. */
  messageId(i) {
    const k = this._at(i);
    const t = this._tape;
    switch (t[k + ID_KIND]) {
      case ID_ASCII: return this._buffer.latin1Slice(t[k + ID_A], t[k + ID_A] + t[k + ID_B]);
      case ID_UTF8: return this._buffer.utf8Slice(t[k + ID_A], t[k + ID_A] + t[k + ID_B]);
      case ID_NUMBER: return String(t[k + ID_A]);
      case ID_VALUE: return idString(this._packed.read.value(this._packed, t[k + ID_A]));
      default: return undefined;
    }
  }

  /** The `generateTime` application property of delivery `i`, ms since the epoch, or undefined. */
  generateTime(i) {
    const k = this._at(i);
    const t = this._tape;
    switch (t[k + TIME_KIND]) {
      case TIME_NUMBER: return t[k + TIME_A];
      case TIME_VALUE: return timeNumber(this._packed.read.value(this._packed, t[k + TIME_A]));
      default: return undefined;
    }
  }

  /** The payload of delivery `i`: its data section (a view of the batch's Buffer), or undefined if the body is not one data section (see message(i).body). */
  content(i) {
    const k = this._at(i);
    const o = this._tape[k + BODY_AT];
    if (o < 0) return undefined;
    const b = this._buffer;
    return Buffer.from(b.buffer, b.byteOffset + o, this._tape[k + BODY_LEN]);
  }

  /**
   * The application properties of delivery `i` (what message(i).application_properties holds),
   * decoded alone, without the rest of the message: a new object each call; undefined if it has none.
   */
  properties(i) {
    const q = this._tape[this._at(i) + PROPS_AT];
    return q < 0 ? undefined : this._packed.read.value(this._packed, q);
  }

  /** The whole message of delivery `i`, as 'message' events give it; built on first use, then the same object. */
  message(i) {
    const k = this._at(i);
    if (this._messages === null) this._messages = new Array(this.length);
    let m = this._messages[i];
    if (m === undefined) {
      m = adopt(this._packed.read.message(this._packed, this._tape[k + FIELDS]), (this._tape[k + FLAGS] & SECTION) !== 0);
      this._messages[i] = m;
    }
    return m;
  }

  /** Whether message(i) was built already. */
  _built(i) {
    this._at(i);
    return this._messages !== null && this._messages[i] !== undefined;
  }

  /** The delivery id of delivery `i` (for logs). */
  id(i) {
    return this._tape[this._at(i) + ID];
  }

  /** Whether delivery `i` is settled (here, or by the sender). */
  settled(i) {
    const k = this._at(i);
    return this._states[i] !== OPEN || (this._tape[k + FLAGS] & SETTLED) !== 0;
  }

  /** How delivery `i` was settled here: 'accepted', 'released', 'rejected', 'modified', or undefined. */
  state(i) {
    this._at(i);
    const s = this._states[i];
    return s === OPEN || s === BY_SENDER ? undefined : STATES[s];
  }

  /**
   * `accept(i)` accepts delivery `i`: true when the outcome goes to the live connection, false when
   * it cannot (already settled, or the connection is gone: the platform delivers it again).
   * `accept()` accepts every delivery not settled yet, in one settle call, and returns how many
   * outcomes went out (0 when the connection is gone).
   */
  accept(i) {
    return i === undefined ? this._settleAll(ACCEPTED) : this._settleOne(i, ACCEPTED);
  }

  /**
   * As accept(), releasing: the platform delivers the message(s) again. With `params`
   * (`{delivery_failed, undeliverable_here, message_annotations}`) it is modified(i, params), as
   * delivery.release(params) is.
   */
  release(i, params) {
    if (isModifiedRelease(params)) return this.modified(i, params);
    return i === undefined ? this._settleAll(RELEASED) : this._settleOne(i, RELEASED);
  }

  /**
   * `reject(i, error)` rejects delivery `i` (the platform drops it, or dead-letters it); `error` as
   * delivery.reject(error) takes it: a string, an Error or `{condition, description}`.
   * `reject(undefined, error)` rejects every delivery not settled yet. Returns as accept().
   */
  reject(i, error) {
    return this._settleWith(i, REJECTED, rejectedOutcome(error));
  }

  /** As reject(), with the `modified` outcome of delivery.modified(params). */
  modified(i, params) {
    return this._settleWith(i, MODIFIED, modifiedOutcome(params));
  }

  /** The messages, built as message(i) builds them. */
  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.message(i);
  }

  /** Where delivery `i` is in the index; a RangeError if there is no such delivery. */
  _at(i) {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new RangeError(`aliyun-iot-amqp: no delivery ${util.inspect(i)} in a batch of ${this.length}`);
    }
    return this._index + i * SLOTS;
  }

  /** Takes delivery `i` for settling as `state`: false if it already was (here or by the sender). */
  _claim(i, state) {
    if (this._states[i] !== OPEN) return false;
    if ((this._tape[this._index + i * SLOTS + FLAGS] & SETTLED) !== 0) {
      this._states[i] = BY_SENDER;
      return false;
    }
    this._states[i] = state;
    return true;
  }

  _settleOne(i, state) {
    const k = this._at(i);
    if (!this._claim(i, state)) return false;
    const connection = this.receiver.connection;
    const id = this._tape[k + ID];
    if (!connection._isLive(this._attach)) {
      if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(connection, this._attach, id, STATES[state], false);
      return false;
    }
    connection._queueSettle(this._attach, id, CODES[state]);
    return true;
  }

  _settleAll(state) {
    const code = CODES[state];
    const ids = new Uint32Array(this.length);
    const t = this._tape;
    let n = 0;
    for (let i = 0; i < this.length; i++) {
      if (this._claim(i, state)) ids[n++] = t[this._index + i * SLOTS + ID];
    }
    if (n === 0) return 0;
    const connection = this.receiver.connection;
    if (!connection._isLive(this._attach)) {
      if (diagnostics.settle.hasSubscribers) diagnostics.publishSettles(connection, this._attach, ids.subarray(0, n), new Uint8Array(n).fill(code), false);
      return 0;
    }
    connection._settleMany(this._attach, n === this.length ? ids : ids.subarray(0, n), code);
    return n;
  }

  /** Settles delivery `i` (every one left when `i` is undefined) with a parameterised outcome, one settle call each. */
  _settleWith(i, state, outcome) {
    const all = i === undefined;
    const from = all ? 0 : i;
    const to = all ? this.length : i + 1;
    if (!all) this._at(i);
    const connection = this.receiver.connection;
    const live = connection._isLive(this._attach);
    // Keep the order of the calls: acknowledgements queued before these go out first.
    if (live) connection._flushSettles();
    let sent = 0;
    for (let j = from; j < to; j++) {
      if (!this._claim(j, state)) continue;
      const id = this._tape[this._index + j * SLOTS + ID];
      const ok = live && connection._native.settleWith(this._attach, id, outcome);
      if (ok) sent += 1;
      if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(connection, this._attach, id, STATES[state], ok);
    }
    return all ? sent : sent === 1;
  }

  [util.inspect.custom]() {
    let settled = 0;
    for (let i = 0; i < this.length; i++) if (this.settled(i)) settled += 1;
    return `Batch { length: ${this.length}, settled: ${settled} }`;
  }
}

module.exports = { Batch };
