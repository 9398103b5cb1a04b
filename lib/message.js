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
 */
function adopt(raw, section) {
  Object.setPrototypeOf(raw, Message.prototype);
  if (section) Object.setPrototypeOf(raw.body, Section.prototype);
  return raw;
}

module.exports = { Message, Section, adopt };
