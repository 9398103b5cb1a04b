'use strict';
// The platform-native API: createConsumer(options) → a Consumer of one consumer group over one or
// more connections, with messages as the platform describes them (topic, messageId, generateTime,
// content) and an explicit, documented settlement discipline. See index.d.ts and the README.

const { Consumer } = require('./consumer.js');
const { ConsumerMessage } = require('./message.js');
const { consumerOptions, DEFAULTS } = require('./options.js');
const { serveMetrics } = require('./metrics.js');

/**
 * Creates a consumer and starts connecting at once (messages wait, within `credit`, until a
 * 'message' listener or a for-await loop takes them). See index.d.ts and the README.
 */
function createConsumer(options) {
  return new Consumer(options);
}

module.exports = { createConsumer, Consumer, ConsumerMessage, consumerOptions, serveMetrics, DEFAULTS };
