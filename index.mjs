// aliyun-iot-amqp for ES modules: the CommonJS package (index.js), its default export the ready
// container (as `require('aliyun-iot-amqp')` is), and its functions and classes by name. Each named
// export is the very object `require()` gives (one module instance, no second copy).
import amqp from './index.js';

export default amqp;
export const {
  // The default container's entry points (bound to it in index.js, so they work as plain functions).
  connect,
  create_container,
  generate_uuid,
  // The rhea-shaped classes and the platform-native API.
  Container,
  Connection,
  Receiver,
  Delivery,
  Batch,
  Message,
  Section,
  ConnectionError,
  sign,
  createConsumer,
  Consumer,
  ConsumerMessage,
  serveMetrics,
  channels,
  parseTopic,
  topicMatcher,
  startEmulator,
} = amqp;
