'use strict';

/**
 * An emulator of the Alibaba Cloud IoT Platform's AMQP endpoint for server-side subscriptions,
 * built on rhea (a real AMQP 1.0 stack) acting as the server. One implementation serves the test
 * suite, `aliyun-iot-amqp emulator` / `demo` on the command line, and users' own tests
 * (`require('aliyun-iot-amqp').startEmulator()`). It is the only part of the package that loads
 * rhea, and it is loaded only on demand: the consumer never needs it.
 *
 * What it emulates (see the platform notes in the README / reference docs):
 *
 * - TLS on an ephemeral port (or plain TCP), then SASL PLAIN with the platform's signed username and
 *   password, then AMQP Open/Begin and receiver links (the emulator is the sending end).
 * - At-least-once delivery: published messages wait in a queue and go to attached receivers as
 *   their link credit allows. A delivery is done when the client accepts it; released and
 *   modified (unless undeliverable-here) deliveries are queued again, rejected ones are dropped,
 *   and deliveries still unsettled when their link, session or connection goes away are queued
 *   again and redelivered on a later connection.
 * - Messages shaped like the platform's: one data section holding the payload, `message_id` in the
 *   properties, and `topic`, `messageId` and `generateTime` (a long) in the application properties.
 *
 * Everything the client does is recorded (`authAttempts`, `attaches`, `deliveries`,
 * `dispositions`, ...) so tests can assert on it; `waitFor()` turns those records into
 * deterministic waits, so tests never need to sleep.
 *
 * The emulator is also an EventEmitter: 'auth', 'connection', 'attach', 'delivery', 'disposition'
 * and 'disconnect' are emitted with the record that was just added.
 */

const { Emulator } = require('./server.js');
const { signPassword, stringToSign, SIGN_METHODS } = require('./auth.js');
const { generateCerts } = require('./certs.js');
const { sampleMessage } = require('./samples.js');

/**
 * Starts an emulator of the platform's AMQP endpoint.
 *
 * @param {object} [opts]
 * @param {boolean} [opts.tls=true] TLS with a leaf certificate for localhost signed by a throwaway
 *   CA (`emu.ca`, `emu.caFile`); false for plain TCP.
 * @param {string} [opts.host='127.0.0.1'] Address to listen on.
 * @param {number} [opts.port=0] Port to listen on (0: ephemeral; see `emu.port`).
 * @param {string} [opts.accessKeyId='LTAItestAccessKeyId']
 * @param {string} [opts.accessKeySecret='testAccessKeySecret']
 * @param {string} [opts.securityToken='testSecurityToken'] The STS token ststoken mode must carry.
 * @param {string} [opts.iotInstanceId] If set, the iotInstanceId the username must carry.
 * @param {'null'|'echo'|'own'} [opts.sourceReply='null'] The source of the attach reply: none (as a
 *   rhea server replies), the client's source, or `{address: 'emulator-queue'}`.
 * @param {boolean} [opts.credentialsCheck=true] false accepts any credentials (still recorded).
 * @param {boolean} [opts.requireFreshTimestamp=false] Refuse timestamps further than
 *   `opts.timestampToleranceMs` (default 15 min) from now.
 * @param {number} [opts.maxReceiversPerConnection=1] Further attaches are refused with a detach error.
 * @param {number} [opts.idleTimeOut=30000] The idle-time-out the emulator advertises in its Open.
 * @param {boolean} [opts.checkIdleTimeout=false] Close connections whose Open idle-time-out is not
 *   within 30000..300000 ms.
 * @param {string} [opts.certDir] Where to write (and reuse) the CA and server certificate; default a
 *   temporary directory removed at a normal exit (not when killed by a signal the process does not handle).
 * @returns {Promise<Emulator>}
 */
async function startEmulator(opts) {
  const emu = new Emulator(opts);
  await emu.start();
  return emu;
}

module.exports = { startEmulator, Emulator, signPassword, stringToSign, SIGN_METHODS, generateCerts, sampleMessage };
