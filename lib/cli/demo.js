'use strict';
// `aliyun-iot-amqp demo`: an emulator and a consumer in one process, generated device messages
// printed as short lines (see its --help).

const { parse, int, positive } = require('./args.js');
const { usage } = require('./help.js');
const { log, formatMessage, formatDemoMessage } = require('./output.js');
const { stopOnSignals } = require('./signals.js');
const { printMessages, watchConsumer, summary } = require('./watch.js');
const { randomKeys, generate } = require('./feed.js');

async function demo(args) {
  const o = parse(args, {
    count: { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return usage('demo');
  const count = int('--count', o.count, { min: 1 });
  const rate = positive('--rate', o.rate, 10);
  const connections = int('--connections', o.connections, { min: 1, def: 1 });

  const { startEmulator } = require('../emulator/index.js');
  const { createConsumer } = require('../../index.js');
  // Signals are heard from the start (see emulator.js): one before the consumer exists stops it at once.
  let consumer = null;
  let signalled = false;
  stopOnSignals(() => {
    signalled = true;
    if (consumer) consumer.close();
  });
  const emu = await startEmulator({ port: 0, ...randomKeys() });
  log(`emulator: ${emu.url()} (TLS, signature check, redelivery)`);

  const { accessKeyId, accessKeySecret } = emu.credentials();
  consumer = createConsumer({
    host: emu.hostname,
    port: emu.port,
    ca: emu.ca,
    accessKeyId,
    accessKeySecret,
    consumerGroupId: 'DEFAULT_GROUP',
    clientId: 'demo',
    connections,
  });
  watchConsumer(consumer, `${emu.hostname}:${emu.port}`);
  const stop = generate(emu, rate, count);
  log(`publishing ${rate} device message(s) per second${count ? `, ${count} in all` : ' (Ctrl-C to stop)'}`);
  if (signalled) consumer.close();
  try {
    await printMessages(consumer, { json: o.json, count, format: (msg, json) => (json ? formatMessage(msg, true) : formatDemoMessage(msg)) });
  } finally {
    stop();
    await consumer.close();
    log(`consumer: ${summary(consumer.stats(), { short: true })}`);
    await emu.close();
    log(`emulator: ${emu.acceptedOnce.size} message(s) accepted`);
  }
  return 0;
}

module.exports = { demo };
