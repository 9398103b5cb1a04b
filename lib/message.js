'use strict';
// The message and body-section shapes rhea gives its users, so `msg.body.content`,
// `msg.application_properties.topic` and `String(msg)` behave as they do with rhea.

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

// The native layer builds messages in JavaScript it compiles itself (src/js.rs, the batch
// unpacker). It looks the classes up here, under a registry symbol, so that it can construct
// `new Message()` / `new Section()` directly instead of plain objects that `adopt` must re-prototype
// (two Object.setPrototypeOf calls cost ~0.2 µs per message). Non-enumerable; set by the first copy
// of the package loaded in the process (another copy's messages are then re-prototyped by `adopt`).
const CLASSES = Symbol.for('aliyun-iot-amqp.message-classes');
if (!Object.prototype.hasOwnProperty.call(globalThis, CLASSES)) {
  Object.defineProperty(globalThis, CLASSES, { value: Object.freeze({ Message, Section }), enumerable: false, writable: false, configurable: true });
}

module.exports = { Message, Section, adopt };
