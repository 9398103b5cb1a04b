'use strict';
// The emulator's at-least-once message queue: published messages (shaped like the platform's) wait
// here for link credit; a delivery is done when the client accepts it; released and modified
// (unless undeliverable-here) deliveries, and those left unsettled by a link or connection that
// went away, come back to the head of the queue; rejected ones are dropped. Records each outcome.
// No I/O (rhea only encodes the messages).

const rhea = require('rhea');

/** The terminal delivery outcomes of AMQP 1.0. */
const OUTCOMES = Object.freeze(['accepted', 'released', 'rejected', 'modified']);

const DEFAULT_TOPIC = '/a1ProductKey/device1/thing/event/property/post';
/** First numeric message id: 19 digits like the platform's (beyond 2^53, but sent as a string). */
const MESSAGE_ID_BASE = 1700000000000000000n;

/** The default payload: a property-post message in the platform's data format. */
function defaultBody(topic, seq, generateTime) {
  const [, productKey = 'a1ProductKey', deviceName = 'device1'] = topic.split('/');
  return {
    deviceType: 'CustomCategory',
    iotId: `emulated${productKey}${deviceName}`,
    requestId: String(seq),
    productKey,
    gmtCreate: generateTime,
    deviceName,
    items: { seq: { value: seq, time: generateTime } },
  };
}

/** A payload as the bytes of a data section: Buffers and strings as they are, anything else as JSON. */
function bodyBytes(body) {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/**
 * The queue. Entries are `{key, messageId, message, attempts}`; `message` is what rhea's
 * sender.send() takes.
 */
class MessageQueue {
  constructor() {
    this._waiting = [];
    this._seq = 0;
    /** key -> number of times it was accepted (more than 1 after redeliveries of accepted messages). */
    this.accepted = new Map();
    /** Keys accepted at least once. */
    this.acceptedOnce = new Set();
    /** key -> the rejected outcome (with its error): rejected messages are dropped. */
    this.rejected = new Map();
    /** key -> the modified outcome: messages modified with undeliverable-here are dropped. */
    this.undeliverable = new Map();
  }

  /** Messages waiting for credit. */
  get length() {
    return this._waiting.length;
  }

  /** Queues a platform-shaped message (see Emulator.publish()); returns its messageId. */
  publish(m = {}) {
    const seq = ++this._seq;
    const topic = m.topic !== undefined ? m.topic : DEFAULT_TOPIC;
    const messageId = m.messageId !== undefined ? String(m.messageId) : String(MESSAGE_ID_BASE + BigInt(seq));
    const generateTime = m.generateTime !== undefined ? m.generateTime : Date.now();
    const body = m.body !== undefined ? m.body : defaultBody(topic, seq, generateTime);
    const message = {
      message_id: messageId,
      application_properties: {
        topic,
        messageId,
        generateTime: rhea.types.wrap_long(generateTime),
      },
      body: rhea.message.data_section(bodyBytes(body)),
    };
    this._waiting.push({ key: messageId, messageId, message, attempts: 0 });
    return messageId;
  }

  /** Queues an arbitrary rhea message object, sent as it is (see Emulator.publishRaw()); returns its key. */
  publishRaw(message, { key } = {}) {
    const seq = ++this._seq;
    // Encode once now, so a message rhea cannot encode fails here rather than inside a later send.
    rhea.message.encode(message);
    let k = key;
    if (k === undefined) {
      const id = message && message.message_id;
      k = id !== undefined && id !== null && (typeof id === 'string' || typeof id === 'number') ? String(id) : `raw-${seq}`;
    }
    this._waiting.push({ key: k, messageId: k, message, attempts: 0 });
    return k;
  }

  /** Takes the next entry to send, or undefined. */
  shift() {
    return this._waiting.shift();
  }

  /** Puts entries back at the head of the queue, in their original order. */
  requeue(entries) {
    if (entries.length) this._waiting.unshift(...entries);
  }

  /** A client's terminal outcome for a delivery of `entry` (`state`: the outcome as rhea decoded it). */
  settle(entry, outcome, state) {
    switch (outcome) {
      case 'accepted':
        this.accepted.set(entry.key, (this.accepted.get(entry.key) || 0) + 1);
        this.acceptedOnce.add(entry.key);
        break;
      case 'rejected':
        this.rejected.set(entry.key, state);
        break;
      case 'modified':
        if (state.undeliverable_here) this.undeliverable.set(entry.key, state);
        else this.requeue([entry]);
        break;
      default: // released
        this.requeue([entry]);
    }
  }
}

module.exports = { MessageQueue, OUTCOMES };
