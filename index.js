'use strict';
// aliyun-iot-amqp: the package's face. `require('aliyun-iot-amqp')` is a ready container, as
// `require('rhea')` is (the platform's amqp.js runs unchanged but for the require), with the
// rhea-shaped classes, sign(), the platform-native API and its metrics server, the diagnostics
// channel names and the topic helpers attached. The code is in lib/ (see the README's Development
// section); differences from rhea, all on the side of safety, are listed in the README.

const { Container } = require('./lib/container.js');
const { Connection } = require('./lib/connection.js');
const { Receiver } = require('./lib/receiver.js');
const { Delivery } = require('./lib/delivery.js');
const { Batch } = require('./lib/batch.js');
const { Message, Section } = require('./lib/message.js');
const { ConnectionError } = require('./lib/errors.js');
const { sign } = require('./lib/sign.js');
const { createConsumer, Consumer, ConsumerMessage, serveMetrics } = require('./lib/consumer/index.js');
const { CHANNELS } = require('./lib/diagnostics.js');
const { parseTopic, topicMatcher } = require('./lib/topic.js');

const container = new Container();
// The default container's entry points work as plain functions too (`const { connect } = ...`,
// and the named exports of index.mjs, which are these very functions).
for (const name of ['connect', 'create_container', 'generate_uuid']) {
  Object.defineProperty(container, name, { value: Container.prototype[name].bind(container), enumerable: false, writable: true, configurable: true });
}
container.Container = Container;
container.Connection = Connection;
container.Receiver = Receiver;
container.Delivery = Delivery;
container.Batch = Batch;
container.Message = Message;
container.Section = Section;
container.ConnectionError = ConnectionError;
container.sign = sign;
container.createConsumer = createConsumer;
container.Consumer = Consumer;
container.ConsumerMessage = ConsumerMessage;
container.serveMetrics = serveMetrics;
// The node:diagnostics_channel names this package publishes on (see the README's Instrumentation).
container.channels = CHANNELS;
container.parseTopic = parseTopic;
container.topicMatcher = topicMatcher;
// The platform emulator, loaded on demand only: it is the one part of the package that needs rhea.
container.startEmulator = function startEmulator(options) {
  return require('./lib/emulator/index.js').startEmulator(options);
};

module.exports = container;
