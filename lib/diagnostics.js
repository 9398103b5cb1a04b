'use strict';
// Instrumentation by Node's conventions: `node:diagnostics_channel` channels that APM agents and
// OpenTelemetry instrumentations subscribe to by name, with no dependency on us, and a tracing
// channel around createConsumer()'s handlers (lib/consumer/consumer.js). Nothing is published, and
// no payload is built, unless a channel has subscribers: the callers check `hasSubscribers` once
// per batch or per flush of acknowledgements, never per message on the default path.
//
// Payloads (documented in the README's "Instrumentation" and in index.d.ts) are plain objects of
// ids, addresses, topics, outcomes and errors; never a password, AccessKey secret, security token
// or signed username.

const dc = require('node:diagnostics_channel');

const { idString } = require('./message.js');
const { CODE_OUTCOMES } = require('./outcomes.js');

/** The channel names. */
const CHANNELS = Object.freeze({
  connect: 'aliyun-iot-amqp:connect',
  disconnect: 'aliyun-iot-amqp:disconnect',
  message: 'aliyun-iot-amqp:message',
  settle: 'aliyun-iot-amqp:settle',
  error: 'aliyun-iot-amqp:error',
  /** A tracing channel: `tracing:aliyun-iot-amqp:handler:start`, `:end`, `:asyncStart`, `:asyncEnd`, `:error`. */
  handler: 'aliyun-iot-amqp:handler',
});

// Held here for the life of the process (a channel nobody holds may be collected on Node 18).
const connect = dc.channel(CHANNELS.connect);
const disconnect = dc.channel(CHANNELS.disconnect);
const message = dc.channel(CHANNELS.message);
const settle = dc.channel(CHANNELS.settle);
const error = dc.channel(CHANNELS.error);
// tracingChannel arrived in Node 18.19 / 19.9: on older versions handlers are simply not traced.
const handler = typeof dc.tracingChannel === 'function' ? dc.tracingChannel(CHANNELS.handler) : null;

/** What every payload of a connection starts with. */
function where(connection) {
  const a = connection._address;
  return { connectionId: connection._id, clientId: a.container_id, host: a.host, port: a.port };
}

function publishConnect(connection, epoch, reconnect) {
  connect.publish({ ...where(connection), transport: connection._address.transport, epoch, reconnect });
}

function publishDisconnect(connection, epoch, err, reconnecting, delay) {
  disconnect.publish({ ...where(connection), epoch, reconnecting, delay, error: err });
}

/** `source`: 'connection' (the server closed it with an error, or refused the login), 'session' (it ended the session with one), 'receiver' (it detached the link with one), 'protocol' (a delivery could not be read), 'transport' (the socket failed), 'handler' (a handler threw). */
function publishError(connection, epoch, source, err, extra) {
  error.publish({ ...where(connection), epoch, source, error: err, ...extra });
}

/** A delivery of receiver attachment `attach` handed to the application. `topic` and `messageId` as the platform sets them. */
function publishMessage(connection, epoch, attach, deliveryId, topic, messageId) {
  message.publish({
    connectionId: connection._id,
    clientId: connection._address.container_id,
    epoch,
    attach,
    deliveryId,
    topic: typeof topic === 'string' ? topic : undefined,
    messageId: idString(messageId),
  });
}

/** The platform's topic and message id of a rhea-shaped message. */
function messageFields(msg) {
  const props = msg.application_properties;
  const topic = props !== undefined && props !== null ? props.topic : undefined;
  const id = props !== undefined && props !== null && props.messageId !== undefined ? props.messageId : msg.message_id;
  return { topic, id };
}

/** Outcomes of deliveries of attachment `attach` handed to the connection (`sent`) or not (`sent: false`: their link or connection is gone). */
function publishSettles(connection, attach, ids, codes, sent) {
  const a = connection._address;
  for (let i = 0; i < ids.length; i++) {
    settle.publish({ connectionId: connection._id, clientId: a.container_id, attach, deliveryId: ids[i], outcome: CODE_OUTCOMES[codes[i]], sent });
  }
}

function publishSettle(connection, attach, deliveryId, outcome, sent) {
  settle.publish({ connectionId: connection._id, clientId: connection._address.container_id, attach, deliveryId, outcome, sent });
}

/** The handler tracing channel when someone subscribes to it, else null. */
function handlerTracing() {
  if (handler === null) return null;
  if (handler.hasSubscribers !== undefined) return handler.hasSubscribers ? handler : null;
  // Node 18/20 before TracingChannel#hasSubscribers: look at its channels.
  const any = handler.start.hasSubscribers || handler.end.hasSubscribers || handler.asyncStart.hasSubscribers
    || handler.asyncEnd.hasSubscribers || handler.error.hasSubscribers;
  return any ? handler : null;
}

module.exports = {
  CHANNELS,
  connect,
  disconnect,
  message,
  settle,
  error,
  publishConnect,
  publishDisconnect,
  publishError,
  publishMessage,
  publishSettles,
  publishSettle,
  messageFields,
  handlerTracing,
};
