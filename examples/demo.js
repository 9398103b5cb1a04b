'use strict';
// Demo: starts the local platform emulator (TLS, signature check, redelivery), publishes device
// messages shaped like the platform's, and consumes them with this package through the same API
// as the platform's amqp.js. Run from a clone: `npm ci && npm run build && npm run demo`.

const { startEmulator } = require('../lib/emulator');
const amqp = require('../index.js');

const COUNT = Number(process.env.DEMO_MESSAGES || 10);

async function main() {
  const emu = await startEmulator({});
  const { accessKeyId, accessKeySecret } = emu.credentials();
  console.log(`emulator: amqps://${emu.hostname}:${emu.port} (CA ${emu.caFile})`);

  const connection = amqp.connect({
    host: emu.hostname,
    port: emu.port,
    transport: 'tls',
    ca: emu.ca,
    reconnect: true,
    idle_time_out: 60000,
    // Signed afresh at every connection attempt, in Rust.
    credentials: { accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'demo-client', signMethod: 'hmacsha256' },
  });
  connection.open_receiver();

  let received = 0;
  amqp.on('connection_open', () => console.log('connected'));
  amqp.on('message', (context) => {
    const msg = context.message;
    const topic = msg.application_properties.topic;
    const content = Buffer.from(msg.body.content).toString();
    console.log(`${msg.message_id} ${topic} ${content}`);
    context.delivery.accept();
    if (++received === COUNT) connection.close();
  });
  amqp.on('connection_close', async () => {
    console.log(`done: ${received} messages received, ${emu.acceptedOnce.size} accepted at the server`);
    await emu.close();
  });

  const devices = ['thermostat-1', 'thermostat-2', 'door-sensor'];
  let n = 0;
  const timer = setInterval(() => {
    const device = devices[n % devices.length];
    emu.publish({
      topic: `/a1DemoProduct/${device}/thing/event/property/post`,
      body: { deviceName: device, items: { temperature: { value: 20 + (n % 7), time: Date.now() } } },
    });
    if (++n === COUNT) clearInterval(timer);
  }, 100);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
