'use strict';
// Child process for the lifecycle tests: connects to the emulator given in the environment,
// prints each message, and closes after the first message when LIFECYCLE_CLOSE is set.
const amqp = require(process.env.PACKAGE_ROOT);
const c = amqp.connect({
  host: 'localhost', port: Number(process.env.AMQP_PORT), transport: 'tls', ca: process.env.AMQP_CA,
  username: process.env.AMQP_USERNAME, password: process.env.AMQP_PASSWORD,
});
c.open_receiver();
amqp.on('message', (ctx) => {
  console.log('message', ctx.message.application_properties.messageId);
  if (process.env.LIFECYCLE_CLOSE) c.close();
});
amqp.on('connection_close', () => console.log('connection_close'));
process.on('exit', (code) => console.log('exit', code));
