'use strict';
// One message of the subscription as the platform describes it (topic, messageId, generateTime,
// content, topicInfo), over the rhea-shaped message and delivery it came as; settled once.

const util = require('node:util');

const { parseTopic } = require('../topic.js');
const { idString, timeNumber } = require('../message.js');
const diagnostics = require('../diagnostics.js');

/** The payload as bytes: the data section(s), or an amqp-value body as its text / JSON. */
function contentOf(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'object' && body.typecode === 0x75) {
    if (body.multiple) return Buffer.concat(body.content);
    return Buffer.isBuffer(body.content) ? body.content : Buffer.from(body.content);
  }
  if (typeof body === 'object' && body.typecode === 0x76) return Buffer.from(JSON.stringify(body.content));
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** One message of the subscription. Settle it once: accept(), release() or reject(). */
class ConsumerMessage {
  #consumer;
  #delivery;
  #link;
  #topicInfo;

  constructor(consumer, context, link) {
    const raw = context.message;
    const props = raw.application_properties || {};
    this.#consumer = consumer;
    this.#delivery = context.delivery;
    this.#link = link;
    /** The topic the device published on (application property `topic`). */
    this.topic = typeof props.topic === 'string' ? props.topic : undefined;
    /** The platform's message id as a decimal string (application property `messageId`, else `message_id`). */
    this.messageId = idString(props.messageId !== undefined ? props.messageId : raw.message_id);
    /** When the platform made the message, ms since the epoch (not an ordering key). */
    this.generateTime = timeNumber(props.generateTime);
    /** The payload bytes. */
    this.content = contentOf(raw.body);
    /** The client id of the connection it came on. */
    this.clientId = link.clientId;
    /** The rhea-shaped message, as the drop-in API gives it. */
    this.raw = raw;
    /** Whether it was settled (here): `state` tells how. */
    this.settled = false;
    /**
     * 'accepted' | 'released' | 'rejected' once that outcome went out; 'abandoned' when none could
     * (its connection or link was gone: the platform delivers it again).
     */
    this.state = undefined;
    this._duplicate = false;
    this._iterated = false;
    /** performance.now() when it arrived (batches: maxWaitMs) and when it was handed out (handler durations). */
    this._arrivedAt = performance.now();
    this._handedAt = 0;
  }

  /** `{productKey, deviceName, kind, identifier}` parsed from the topic (see lib/topic.js). */
  get topicInfo() {
    if (this.#topicInfo === undefined) this.#topicInfo = parseTopic(this.topic);
    return this.#topicInfo;
  }

  /** The payload as UTF-8 text. */
  text() {
    return this.content.toString('utf8');
  }

  /** The payload parsed as JSON (throws a SyntaxError when it is not JSON). */
  json() {
    return JSON.parse(this.content.toString('utf8'));
  }

  /**
   * Accepts the message: the platform is done with it. Returns true when the acknowledgement goes
   * out on the live connection, false when it cannot (already settled, or the connection it came
   * on is gone: the platform then delivers it again).
   */
  accept() {
    return this._settle('accepted');
  }

  /** Releases the message: the platform delivers it again (here or to another consumer). */
  release() {
    return this._settle('released');
  }

  /** Rejects the message: the platform drops it. `error`: a string, an Error or `{condition, description}`. */
  reject(error) {
    return this._settle('rejected', error);
  }

  _settle(state, error) {
    if (this.settled) return false;
    this.settled = true;
    this.state = state;
    const d = this.#delivery;
    const sent = state === 'accepted' ? d.accept() : state === 'released' ? d.release() : d.reject(error);
    if (!sent) this.state = 'abandoned';
    this.#consumer._onSettled(this, state, sent);
    return sent;
  }

  /**
   * Dropped unsettled from the consumer's buffer (its connection or link is gone, so it cannot be
   * settled: the platform delivers it again): 'abandoned', published on the settle channel so
   * that what its message event opened is closed.
   */
  _abandon() {
    if (this.settled) return;
    this.settled = true;
    this.state = 'abandoned';
    const d = this.#delivery;
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(d.link.connection, d._attach, d.id, 'abandoned', false);
  }

  get _link() {
    return this.#link;
  }

  get _deliveryId() {
    return this.#delivery.id;
  }

  get _attach() {
    return this.#delivery._attach;
  }

  [util.inspect.custom](depth, options) {
    const shown = { topic: this.topic, messageId: this.messageId, generateTime: this.generateTime, content: `<${this.content.length} bytes>`, clientId: this.clientId, settled: this.settled, state: this.state };
    return `ConsumerMessage ${util.inspect(shown, options)}`;
  }

  toJSON() {
    return { topic: this.topic, messageId: this.messageId, generateTime: this.generateTime, topicInfo: this.topicInfo, content: this.text() };
  }
}

module.exports = { ConsumerMessage, idString, timeNumber, contentOf };
