'use strict';
// One message of the subscription as the platform describes it (topic, messageId, generateTime,
// content, topicInfo), read from the packed batch it came in (lib/batch.js: the platform's fields
// straight from the batch's index, the rhea-shaped message only when `raw` is read); settled once,
// through that batch.

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
  #batch;
  #index;
  #topicInfo;
  #link;
  #properties;

  /**
   * Delivery `index` of `batch` (a lib/batch.js Batch), on `link` (the consumer's record of its
   * connection), come at `arrivedAt` (performance.now(): the same for every message of a read).
   */
  constructor(consumer, batch, index, link, arrivedAt = performance.now()) {
    this.#consumer = consumer;
    this.#batch = batch;
    this.#index = index;
    this.#link = link;
    /** The topic the device published on (application property `topic`). */
    this.topic = batch.topic(index);
    /** The platform's message id as a decimal string (application property `messageId`, else `message_id`). */
    this.messageId = batch.messageId(index);
    /** When the platform made the message, ms since the epoch (not an ordering key). */
    this.generateTime = batch.generateTime(index);
    /** The payload bytes. */
    const content = batch.content(index);
    this.content = content !== undefined ? content : contentOf(batch.message(index).body);
    /** The client id of the connection it came on. */
    this.clientId = link.clientId;
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
    this._arrivedAt = arrivedAt;
    this._handedAt = 0;
  }

  /** The rhea-shaped message, as the drop-in API gives it (built when first read, then the same object). */
  get raw() {
    return this.#batch.message(this.#index);
  }

  /**
   * The application properties (`topic`, `messageId`, `generateTime` and any others the message
   * carries), as `raw.application_properties` holds them, decoded without building `raw` when it
   * was not read yet; undefined if the message has none. The same object each time.
   */
  get applicationProperties() {
    if (this.#properties === undefined) {
      const b = this.#batch;
      const i = this.#index;
      this.#properties = { value: b._built(i) ? b.message(i).application_properties : b.properties(i) };
    }
    return this.#properties.value;
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
    const b = this.#batch;
    const i = this.#index;
    const sent = state === 'accepted' ? b.accept(i) : state === 'released' ? b.release(i) : b.reject(i, error);
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
    const b = this.#batch;
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(b.receiver.connection, b._attach, b.id(this.#index), 'abandoned', false);
  }

  get _link() {
    return this.#link;
  }

  get _deliveryId() {
    return this.#batch.id(this.#index);
  }

  get _attach() {
    return this.#batch._attach;
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
