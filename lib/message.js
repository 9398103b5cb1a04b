'use strict';
// The message and body-section shapes rhea gives its users, so `msg.body.content`,
// `msg.application_properties.topic` and `String(msg)` behave as they do with rhea; and how the
// platform's message id and generate time read as a string and a number.

/** A body made of data (typecode 0x75) or amqp-sequence (0x76) sections. */
class Section {
  constructor(typecode, content, multiple) {
    this.typecode = typecode;
    this.content = content;
    this.multiple = multiple;
  }
}

/** A received message: header, properties and annotations as flat fields, plus `body`. */
class Message {
  toJSON() {
    const o = {};
    for (const key of Object.keys(this)) o[key] = this[key];
    return o;
  }

  toString() {
    return JSON.stringify(this.toJSON());
  }
}

/**
 * Gives a message object from the native layer its rhea prototypes. `section` tells that the body
 * is data or amqp-sequence sections (an amqp-value body is the plain value, as in rhea).
 * Messages from the native fast path are built with these classes already (see below): then
 * there is nothing to do, and the slow `Object.setPrototypeOf` is skipped.
 */
function adopt(raw, section) {
  if (!(raw instanceof Message)) Object.setPrototypeOf(raw, Message.prototype);
  if (section && !(raw.body instanceof Section)) Object.setPrototypeOf(raw.body, Section.prototype);
  return raw;
}

// The native layer builds messages in JavaScript it compiles itself (src/node/batch/, the batch
// unpacker). It looks the classes up here, under a registry symbol, so that it can construct
// `new Message()` / `new Section()` directly instead of plain objects that `adopt` must re-prototype
// (two Object.setPrototypeOf calls cost ~0.2 µs per message). Non-enumerable; set by the first copy
// of the package loaded in the process (another copy's messages are then re-prototyped by `adopt`).
const CLASSES = Symbol.for('aliyun-iot-amqp.message-classes');
if (!Object.prototype.hasOwnProperty.call(globalThis, CLASSES)) {
  Object.defineProperty(globalThis, CLASSES, { value: Object.freeze({ Message, Section }), enumerable: false, writable: false, configurable: true });
}

/** The platform's message id as a decimal string (it may travel as a string, a long, or 8 bytes beyond 2^53). */
function idString(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v)) return v.length === 8 ? v.readBigInt64BE(0).toString() : v.toString('hex');
  return String(v);
}

/** generateTime as ms since the epoch (a long on the wire). */
function timeNumber(v) {
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v) && v.length === 8) return Number(v.readBigInt64BE(0));
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

module.exports = { Message, Section, adopt, idString, timeNumber };
