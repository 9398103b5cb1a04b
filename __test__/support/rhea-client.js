'use strict';
// rhea as a known-good AMQP 1.0 client of the emulator, for the tests that prove the emulator
// (integration/emulator-*.test.js): the platform's credentials built independently of the emulator
// (with node:crypto, the way the platform's documentation describes), clients whose events are
// all recorded, and a shutdown that leaves nothing keeping the process alive.

const crypto = require('node:crypto');
const rhea = require('rhea');

const { startEmulator } = require('./emulator');

const HMAC = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

/** The platform's username and password, built the way its documentation describes. */
function platformCredentials({
  clientId = 'test-client',
  authMode = 'aksign',
  signMethod = 'hmacsha1',
  timestamp = Date.now(),
  accessKeyId,
  accessKeySecret,
  securityToken,
  iotInstanceId = 'iot-test',
  consumerGroupId = 'DEFAULT_GROUP',
  reorder = false,
}) {
  const params = [
    ['authMode', authMode],
    ['signMethod', signMethod],
    ['timestamp', timestamp],
    ['authId', accessKeyId],
    ['iotInstanceId', iotInstanceId],
    ['consumerGroupId', consumerGroupId],
  ];
  if (authMode === 'ststoken') params.push(['securityToken', securityToken]);
  if (reorder) params.reverse();
  const username = `${clientId}|${params.map(([k, v]) => `${k}=${v}`).join(',')}|`;
  const data = authMode === 'ststoken'
    ? `authId=${accessKeyId}&securityToken=${securityToken}&timestamp=${timestamp}`
    : `authId=${accessKeyId}&timestamp=${timestamp}`;
  const algorithm = HMAC[signMethod] || signMethod.replace(/^hmac/, ''); // e.g. an unsupported hmacsha512
  const password = crypto.createHmac(algorithm, accessKeySecret).update(data).digest('base64');
  return { username, password };
}

const CLIENT_EVENTS = ['connection_open', 'connection_error', 'connection_close', 'disconnected',
  'receiver_open', 'receiver_error', 'receiver_close', 'message', 'error', 'protocol_error'];

/**
 * A rhea client connected to the emulator, with its own container whose events are all recorded
 * (`events.message` is the list of message contexts, and so on).
 */
function connectClient(emu, {
  credentials = {},
  username,
  password,
  reconnect = false,
  idle_time_out = 60000,
  ...options
} = {}) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const creds = username !== undefined
    ? { username, password }
    : platformCredentials({ accessKeyId, accessKeySecret, ...credentials });
  const container = rhea.create_container();
  const events = {};
  for (const name of CLIENT_EVENTS) {
    events[name] = [];
    container.on(name, (ctx) => events[name].push(ctx));
  }
  const connection = container.connect({
    host: emu.tls ? emu.hostname : emu.host,
    port: emu.port,
    transport: emu.tls ? 'tls' : 'tcp',
    ca: emu.ca || undefined,
    reconnect,
    initial_reconnect_delay: 20,
    idle_time_out,
    ...creds,
    ...options,
  });
  return { container, connection, events };
}

/**
 * Closes rhea clients and the emulator, so that nothing keeps the process alive. The clients stop
 * reconnecting and send their Close; the emulator then destroys whatever is left, which rhea sees
 * as the end of its sockets (that also clears its heartbeat timers).
 */
async function shutdown(emu, ...clients) {
  const sockets = [];
  for (const { connection } of clients) {
    connection.set_reconnect(false);
    if (connection.scheduled_reconnect) {
      clearTimeout(connection.scheduled_reconnect);
      connection.scheduled_reconnect = undefined;
    }
    const { socket } = connection;
    if (socket && !socket.destroyed) sockets.push(new Promise((resolve) => socket.once('close', resolve)));
    if (connection.is_open()) connection.close();
  }
  await emu.close();
  await Promise.all(sockets);
}

/** Starts an emulator whose shutdown (with the given clients') is registered on the test. */
async function emulatorFor(t, opts) {
  const emu = await startEmulator(opts);
  const clients = [];
  t.after(() => shutdown(emu, ...clients));
  return { emu, track: (client) => { clients.push(client); return client; } };
}

const bodyText = (ctx) => Buffer.from(ctx.message.body.content).toString();
const outcomesOf = (emu, key) => emu.dispositions.filter((d) => d.key === key).map((d) => d.outcome);
const attemptsOf = (emu, key) => emu.deliveries.filter((d) => d.key === key);

module.exports = { platformCredentials, connectClient, shutdown, emulatorFor, bodyText, outcomesOf, attemptsOf };
