'use strict';
// Helpers for connecting this package's client to the test emulator.

const path = require('node:path');
const amqp = require('../../index.js');

/** The package root, for child processes that require('aliyun-iot-amqp') by path. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** SASL credentials signed for the emulator, as the doc's script would build them. */
function credentialsFor(emu, extra = {}) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  return amqp.sign({
    accessKeyId,
    accessKeySecret,
    consumerGroupId: 'DEFAULT_GROUP',
    clientId: 'test-client',
    signMethod: 'hmacsha1',
    ...extra,
  });
}

/** Options to connect to `emu` with this package (TLS trusting the emulator's CA). */
function optionsFor(emu, extra = {}) {
  return {
    host: emu.hostname,
    port: emu.port,
    transport: emu.tls ? 'tls' : 'tcp',
    ca: emu.tls ? emu.ca : undefined,
    ...credentialsFor(emu),
    ...extra,
  };
}

/** Resolves with the first emission of `event` on `emitter` (its first argument). */
function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Resolves when the connection has fully closed (its native side finished). */
async function closed(connection) {
  connection.close();
  const deadline = Date.now() + 10000;
  while (!connection.is_closed()) {
    if (Date.now() > deadline) throw new Error('connection did not close within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

module.exports = { amqp, PACKAGE_ROOT, credentialsFor, optionsFor, once, closed };
