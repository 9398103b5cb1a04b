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

const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const net = require('node:net');
const tls = require('node:tls');
const rhea = require('rhea');

const { generateCerts } = require('./certs.js');
const { sampleMessage } = require('./samples.js');

/** HMAC algorithms by the platform's `signMethod` names. */
const SIGN_METHODS = Object.freeze({ hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' });
const AUTH_MODES = Object.freeze(['aksign', 'ststoken']);
/** The terminal delivery outcomes of AMQP 1.0. */
const OUTCOMES = Object.freeze(['accepted', 'released', 'rejected', 'modified']);

const DEFAULT_TOPIC = '/a1ProductKey/device1/thing/event/property/post';
/** First numeric message id: 19 digits like the platform's (beyond 2^53, but sent as a string). */
const MESSAGE_ID_BASE = 1700000000000000000n;
/** The platform accepts an Open idle-time-out in this range (ms). */
const IDLE_TIME_OUT_RANGE = Object.freeze([30000, 300000]);
/** How long closeConnections() waits for a client's Close before destroying its socket. */
const CLOSE_GRACE_MS = 2000;

const DEFAULT_OPTIONS = Object.freeze({
  tls: true,
  host: '127.0.0.1',
  hostname: 'localhost',
  port: 0,
  accessKeyId: 'LTAItestAccessKeyId',
  accessKeySecret: 'testAccessKeySecret',
  securityToken: 'testSecurityToken',
  iotInstanceId: undefined,
  sourceReply: 'null',
  credentialsCheck: true,
  requireFreshTimestamp: false,
  timestampToleranceMs: 15 * 60 * 1000,
  maxReceiversPerConnection: 1,
  idleTimeOut: 30000,
  checkIdleTimeout: false,
  containerId: 'aliyun-iot-amqp-emulator',
  certDir: undefined,
});

/** base64(HMAC_method(key, data)): the platform's password scheme. */
function signPassword(signMethod, key, data) {
  return crypto.createHmac(SIGN_METHODS[signMethod], key).update(data).digest('base64');
}

/** The string the platform signs: the keys in alphabetical order, joined with '&'. */
function stringToSign(authMode, authId, timestamp, securityToken) {
  return authMode === 'ststoken'
    ? `authId=${authId}&securityToken=${securityToken}&timestamp=${timestamp}`
    : `authId=${authId}&timestamp=${timestamp}`;
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * A terminus (source/target) of a received attach as rhea decoded it, or null when there is none.
 * rhea exposes an absent terminus as null or as a typed AMQP null; a present one is a composite
 * whose fields are in `value`.
 */
function presentTerminus(terminus) {
  return terminus && Array.isArray(terminus.value) ? terminus : null;
}

/** The address of a decoded terminus, or null when there is no terminus or no address. */
function terminusAddress(terminus) {
  if (!presentTerminus(terminus)) return null;
  const address = terminus.address;
  return address === undefined || address === null ? null : address;
}

/** A plain object with the fields of a decoded terminus that are set (for echoing it back). */
function terminusFields(terminus) {
  const fields = {};
  for (const name of ['address', 'durable', 'expiry_policy', 'timeout', 'dynamic', 'dynamic_node_properties',
    'distribution_mode', 'filter', 'default_outcome', 'outcomes', 'capabilities']) {
    const value = terminus[name];
    if (value !== undefined && value !== null) fields[name] = value;
  }
  return fields;
}

/** The default payload: a property-post message in the platform's data format. */
function defaultBody(topic, seq, generateTime) {
  const [, productKey = 'a1ProductKey', deviceName = 'device1'] = topic.split('/');
  return {
    deviceType: 'CustomCategory',
    iotId: `emulated${productKey}${deviceName}`,
    requestId: String(seq),
    productKey,
    gmtCreate: generateTime,
    deviceName,
    items: { seq: { value: seq, time: generateTime } },
  };
}

/** A payload as the bytes of a data section: Buffers and strings as they are, anything else as JSON. */
function bodyBytes(body) {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** The emulator's view of one accepted TCP connection that got as far as AMQP. */
class ConnectionState {
  constructor(id, socket, connection) {
    this.id = id;
    this.socket = socket;
    this.connection = connection;
    this.clientId = null;
    this.username = null;
    /** True once the client's AMQP Open arrived. */
    this.amqpOpen = false;
    /** True once rhea itself saw the connection go away (it does not when we destroy the socket). */
    this.rheaDisconnected = false;
    this.closed = false;
    /** The sending links (client receivers) of this connection. */
    this.links = new Set();
    /** Unsettled deliveries: rhea delivery -> {entry, link}. Insertion order is delivery order. */
    this.inFlight = new Map();
  }
}

/** The emulator's view of one sending link (a client's receiver). */
class LinkState {
  constructor(sender, conn) {
    this.sender = sender;
    this.conn = conn;
    /** Set once the attach reply has been written; nothing is sent before that. */
    this.ready = false;
    /** Messages handed to rhea on this link (transferred or still buffered by rhea). */
    this.sent = 0;
  }

  /** How many more messages the client's credit allows, counting those rhea still buffers. */
  capacity() {
    const { sender } = this;
    if (!this.ready || this.conn.closed || !sender.is_open() || !sender.sendable()) return 0;
    // rhea decrements `credit` and increments `delivery_count` only when a transfer is written;
    // messages handed to send() but not written yet must be subtracted here.
    const buffered = this.sent - sender.delivery_count;
    return Math.max(0, sender.credit - buffered);
  }
}

class Emulator extends EventEmitter {
  /**
   * @param {object} [opts] See startEmulator().
   */
  constructor(opts = {}) {
    super();
    const options = { ...DEFAULT_OPTIONS };
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) options[k] = v;
    if (!['null', 'echo', 'own'].includes(options.sourceReply)) {
      throw new TypeError(`sourceReply must be 'null', 'echo' or 'own', got ${options.sourceReply}`);
    }
    this.options = Object.freeze(options);

    this.host = options.host;
    this.hostname = options.hostname;
    this.port = undefined;
    this.tls = Boolean(options.tls);
    const certs = this.tls ? generateCerts(options.certDir) : null;
    this.ca = certs ? certs.ca : null;
    this.caFile = certs ? certs.caFile : null;
    this._certs = certs;

    // Records, for assertions. Plain arrays/Maps/Sets, appended to as things happen.
    /** SASL PLAIN attempts: {ok, username, clientId, authMode, signMethod, timestamp, reason, ...}. */
    this.authAttempts = [];
    /** Attach frames from clients: {role, name, source, hasSource, connectionId, clientId, ...}. */
    this.attaches = [];
    /** Every transfer: {key, messageId, connectionId, clientId, attempt, deliveryId, message}. */
    this.deliveries = [];
    /** Every outcome a client gave: {key, messageId, outcome, state, settled, connectionId, clientId}. */
    this.dispositions = [];
    /** key -> number of times it was accepted (more than 1 after redeliveries of accepted messages). */
    this.accepted = new Map();
    /** Keys accepted at least once. */
    this.acceptedOnce = new Set();
    /** key -> the rejected outcome (with its error): rejected messages are dropped. */
    this.rejected = new Map();
    /** key -> the modified outcome: messages modified with undeliverable-here are dropped. */
    this.undeliverable = new Map();
    /** Connections and links the emulator refused: {kind, connectionId, clientId, reason}. */
    this.refusals = [];
    /** TLS handshake failures (e.g. the client did not trust the certificate). */
    this.tlsErrors = [];
    /** AMQP protocol errors and other errors rhea reported on the server side. */
    this.errors = [];

    this._queue = [];
    this._links = new Set();
    this._conns = new Set();
    /** rhea Connection -> ConnectionState. */
    this._byConnection = new Map();
    /** rhea Sender -> LinkState. */
    this._byLink = new Map();
    this._rawSockets = new Set();
    this._timers = new Set();
    this._connectionCount = 0;
    this._nextConnectionId = 1;
    this._seq = 0;
    this._pumping = false;
    this._server = null;
    this._closing = null;

    this._container = this._createContainer();
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Starts listening; resolves once the port is known. */
  async start() {
    if (this._server) throw new Error('emulator already started');
    const server = this.tls
      ? tls.createServer({ key: this._certs.key, cert: this._certs.cert })
      : net.createServer();
    this._server = server;

    server.on('connection', (raw) => {
      this._connectionCount += 1;
      this._rawSockets.add(raw);
      raw.once('close', () => this._rawSockets.delete(raw));
      // Errors on a raw socket surface on the TLS socket / rhea; this only avoids an unhandled 'error'.
      raw.on('error', () => {});
      if (!this.tls) this._accept(raw);
    });
    if (this.tls) {
      server.on('secureConnection', (socket) => this._accept(socket));
      server.on('tlsClientError', (err) => {
        this.tlsErrors.push({ code: err.code || null, message: err.message });
      });
    }

    await new Promise((resolve, reject) => {
      const onError = (err) => reject(err);
      server.once('error', onError);
      server.listen({ host: this.host, port: this.options.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.errors.push({ kind: 'server', message: err.message }));
    this.port = server.address().port;
    return this;
  }

  /** Stops listening and destroys every connection; resolves when the listener is closed. */
  close() {
    if (this._closing) return this._closing;
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    const server = this._server;
    this._closing = new Promise((resolve) => {
      if (!server || !server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });
    this.dropConnections();
    return this._closing;
  }

  /** The URL of the endpoint: `amqps://localhost:PORT` with TLS, `amqp://127.0.0.1:PORT` without. */
  url() {
    return this.tls ? `amqps://${this.hostname}:${this.port}` : `amqp://${this.host}:${this.port}`;
  }

  /** The key pair (and STS token) clients must sign with. */
  credentials() {
    const { accessKeyId, accessKeySecret, securityToken } = this.options;
    return { accessKeyId, accessKeySecret, securityToken };
  }

  // ---------------------------------------------------------------------------------------------
  // Publishing

  /**
   * Queues a platform-shaped message.
   *
   * @param {object} [m]
   * @param {string} [m.topic] Default '/a1ProductKey/device1/thing/event/property/post'.
   * @param {string} [m.messageId] Default: the next of an increasing series of 19-digit numeric strings.
   * @param {number} [m.generateTime] ms since the epoch, sent as an AMQP long. Default Date.now().
   * @param {*} [m.body] Buffer/Uint8Array/string: sent as those bytes; anything else: as JSON text.
   *   Default: a property-post payload in the platform's format.
   * @returns {string} The messageId (also the message's key in the records).
   */
  publish(m = {}) {
    const seq = ++this._seq;
    const topic = m.topic !== undefined ? m.topic : DEFAULT_TOPIC;
    const messageId = m.messageId !== undefined ? String(m.messageId) : String(MESSAGE_ID_BASE + BigInt(seq));
    const generateTime = m.generateTime !== undefined ? m.generateTime : Date.now();
    const body = m.body !== undefined ? m.body : defaultBody(topic, seq, generateTime);
    const message = {
      message_id: messageId,
      application_properties: {
        topic,
        messageId,
        generateTime: rhea.types.wrap_long(generateTime),
      },
      body: rhea.message.data_section(bodyBytes(body)),
    };
    this._enqueue({ key: messageId, messageId, message, attempts: 0 });
    return messageId;
  }

  /**
   * Queues an arbitrary rhea message object, sent as it is (for message-shape tests).
   *
   * @param {object} message A message as rhea's sender.send() takes it.
   * @param {{key?: string}} [opts] key identifies the message in the records
   *   (default: its message_id as a string, else 'raw-N').
   * @returns {string} The key.
   */
  publishRaw(message, { key } = {}) {
    const seq = ++this._seq;
    // Encode once now, so a message rhea cannot encode fails here rather than inside a later send.
    rhea.message.encode(message);
    let k = key;
    if (k === undefined) {
      const id = message && message.message_id;
      k = id !== undefined && id !== null && (typeof id === 'string' || typeof id === 'number') ? String(id) : `raw-${seq}`;
    }
    this._enqueue({ key: k, messageId: k, message, attempts: 0 });
    return k;
  }

  /**
   * Queues n platform-shaped messages.
   *
   * @param {number} n
   * @param {(i: number) => object} [fn] Returns the publish() fields for message i (0-based).
   * @returns {string[]} Their messageIds.
   */
  publishMany(n, fn) {
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(this.publish(fn ? fn(i) || {} : {}));
    return ids;
  }

  // ---------------------------------------------------------------------------------------------
  // Observation

  /** Live TCP connections. */
  get connections() {
    return this._rawSockets.size;
  }

  /** TCP connections accepted since start. */
  get connectionCount() {
    return this._connectionCount;
  }

  /** Messages not done yet: queued plus in flight. */
  pending() {
    return this._queue.length + this.inFlight();
  }

  /** Deliveries sent and not settled yet, over all connections. */
  inFlight() {
    let n = 0;
    for (const conn of this._conns) n += conn.inFlight.size;
    return n;
  }

  /** Messages waiting for credit. */
  queued() {
    return this._queue.length;
  }

  /** A summary of the emulator's state (used in waitFor() timeout messages). */
  stats() {
    return {
      connections: this.connections,
      connectionCount: this.connectionCount,
      receivers: this._links.size,
      queued: this._queue.length,
      inFlight: this.inFlight(),
      deliveries: this.deliveries.length,
      dispositions: this.dispositions.length,
      acceptedOnce: this.acceptedOnce.size,
      rejected: this.rejected.size,
      authAttempts: this.authAttempts.map((a) => (a.ok ? 'ok' : a.reason)),
      refusals: this.refusals.map((r) => r.reason),
      tlsErrors: this.tlsErrors.map((e) => e.message),
      errors: this.errors.map((e) => e.message),
    };
  }

  /**
   * Polls `predicate` until it returns a truthy value (which is then resolved).
   *
   * @param {() => any} predicate May return a promise.
   * @param {number} [timeoutMs] Default 10000.
   * @param {string} [description] What is waited for, for the timeout message.
   */
  async waitFor(predicate, timeoutMs = 10000, description) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await predicate();
      if (value) return value;
      if (Date.now() >= deadline) {
        const what = description || predicate.toString();
        throw new Error(`emulator.waitFor timed out after ${timeoutMs} ms waiting for: ${what}\n` +
          `emulator state: ${JSON.stringify(this.stats())}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Waits until n distinct messages were accepted. */
  waitForAccepted(n, timeoutMs = 10000) {
    return this.waitFor(() => this.acceptedOnce.size >= n, timeoutMs, `${n} accepted messages`);
  }

  // ---------------------------------------------------------------------------------------------
  // Control

  /**
   * Destroys every connection abruptly (no AMQP Close, no TLS close_notify), like a network failure
   * or a server crash. Their unsettled deliveries are queued again at once.
   *
   * @returns {number} The number of TCP connections dropped.
   */
  dropConnections() {
    const dropped = this._rawSockets.size;
    for (const conn of [...this._conns]) {
      conn.socket.destroy();
      this._onSocketClosed(conn);
    }
    for (const raw of [...this._rawSockets]) {
      raw.destroy();
      this._rawSockets.delete(raw); // its 'close' event comes later
    }
    return dropped;
  }

  /**
   * Closes every connection with an AMQP Close (carrying `error` if given, e.g.
   * `{condition: 'amqp:connection:forced', description: '...'}`). Connections that have not opened
   * AMQP yet, and those whose client does not answer within a grace period, are destroyed.
   *
   * @returns {number} The number of connections closed.
   */
  closeConnections(error) {
    let closed = 0;
    for (const conn of [...this._conns]) {
      closed += 1;
      if (!conn.amqpOpen) {
        conn.socket.destroy();
        this._onSocketClosed(conn);
        continue;
      }
      conn.connection.close(error);
      this._later(CLOSE_GRACE_MS, () => {
        if (!conn.closed) {
          conn.socket.destroy();
          this._onSocketClosed(conn);
        }
      });
    }
    return closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: rhea wiring

  _createContainer() {
    const container = rhea.create_container({ id: this.options.containerId });
    container.sasl_server_mechanisms.enable_plain((username, password) => this._authenticate(username, password));

    container.on('connection_open', (ctx) => this._onConnectionOpen(ctx));
    container.on('sender_open', (ctx) => this._onSenderOpen(ctx));
    container.on('receiver_open', (ctx) => this._onReceiverOpen(ctx));
    container.on('sendable', () => this._pump());
    container.on('sender_draining', (ctx) => this._onDraining(ctx));
    for (const event of [...OUTCOMES, 'settled']) {
      container.on(event, (ctx) => this._onDeliveryUpdate(ctx));
    }
    container.on('sender_close', (ctx) => this._onLinkGone(ctx.sender));
    container.on('session_close', (ctx) => {
      for (const link of [...this._links]) if (link.sender.session === ctx.session) this._onLinkGone(link.sender);
    });
    container.on('disconnected', (ctx) => {
      const conn = this._byConnection.get(ctx.connection);
      if (conn) conn.rheaDisconnected = true;
    });
    container.on('protocol_error', (err) => this.errors.push({ kind: 'protocol', message: String(err && err.message) }));
    container.on('error', (err) => this.errors.push({ kind: 'error', message: String(err && err.message) }));
    // Handled so that rhea does not escalate them to 'error'; the outcome is visible in the records.
    for (const event of ['connection_error', 'connection_close', 'session_error', 'sender_error', 'receiver_error', 'receiver_close']) {
      container.on(event, () => {});
    }
    return container;
  }

  /** Hands an accepted socket (after the TLS handshake, if any) to rhea. */
  _accept(socket) {
    if (this._closing) {
      socket.destroy();
      return;
    }
    const id = this._nextConnectionId++;
    const connection = this._container.create_connection({
      id: `emulator-connection-${id}`,
      container_id: this.options.containerId,
      idle_time_out: this.options.idleTimeOut,
      tcp_no_delay: true,
      reconnect: false,
      // Report a 'modified' outcome as such, not also as 'released'.
      treat_modified_as_released: false,
    });
    const conn = new ConnectionState(id, socket, connection);
    this._conns.add(conn);
    this._byConnection.set(connection, conn);
    socket.once('close', () => this._onSocketClosed(conn));
    connection.accept(socket);
  }

  /** The SASL PLAIN check; records the attempt. Returns whether the credentials are good. */
  _authenticate(username, password) {
    const attempt = {
      ok: false,
      username: username === null || username === undefined ? '' : username,
      clientId: null,
      authMode: null,
      signMethod: null,
      timestamp: null,
      authId: null,
      iotInstanceId: null,
      consumerGroupId: null,
      reason: null,
    };
    const reason = this._checkCredentials(attempt, password === null || password === undefined ? '' : password);
    if (!this.options.credentialsCheck) {
      attempt.ok = true;
    } else {
      attempt.ok = reason === null;
      attempt.reason = reason;
    }
    this.authAttempts.push(attempt);
    this.emit('auth', attempt);
    return attempt.ok;
  }

  /** Parses the username into `attempt` and verifies the password; returns why it is wrong, or null. */
  _checkCredentials(attempt, password) {
    const match = /^([^|]*)\|([^|]*)\|$/.exec(attempt.username);
    if (!match) return 'malformed username: expected "clientId|key=value,...|"';
    const [, clientId, paramText] = match;
    attempt.clientId = clientId;

    const params = Object.create(null);
    for (const part of paramText.split(',')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq <= 0) return `malformed username parameter "${part}"`;
      const key = part.slice(0, eq);
      if (key in params) return `duplicate username parameter "${key}"`;
      params[key] = part.slice(eq + 1);
    }
    const { authMode, signMethod, timestamp, authId, iotInstanceId, consumerGroupId, securityToken } = params;
    Object.assign(attempt, {
      authMode: authMode === undefined ? null : authMode,
      signMethod: signMethod === undefined ? null : signMethod,
      timestamp: timestamp === undefined ? null : timestamp,
      authId: authId === undefined ? null : authId,
      iotInstanceId: iotInstanceId === undefined ? null : iotInstanceId,
      consumerGroupId: consumerGroupId === undefined ? null : consumerGroupId,
    });

    const o = this.options;
    if (clientId === '') return 'empty clientId';
    if ([...clientId].length > 64) return 'clientId longer than 64 characters';
    if (!AUTH_MODES.includes(authMode)) return `unknown authMode "${authMode}"`;
    if (!Object.hasOwn(SIGN_METHODS, signMethod)) return `unknown signMethod "${signMethod}"`;
    if (!/^\d+$/.test(timestamp || '')) return `bad timestamp "${timestamp}"`;
    if (o.requireFreshTimestamp && Math.abs(Date.now() - Number(timestamp)) > o.timestampToleranceMs) {
      return 'stale timestamp';
    }
    if (!consumerGroupId) return 'missing consumerGroupId';
    if (o.iotInstanceId !== undefined && iotInstanceId !== o.iotInstanceId) return `unknown iotInstanceId "${iotInstanceId}"`;
    if (authId !== o.accessKeyId) return `unknown authId "${authId}"`;
    if (authMode === 'ststoken') {
      if (securityToken === undefined) return 'missing securityToken';
      if (securityToken !== o.securityToken) return 'invalid securityToken';
    } else if (securityToken !== undefined) {
      return 'securityToken given with authMode aksign';
    }
    const expected = signPassword(signMethod, o.accessKeySecret, stringToSign(authMode, authId, timestamp, securityToken));
    if (!safeEqual(password, expected)) return 'signature mismatch';
    return null;
  }

  _onConnectionOpen(ctx) {
    const conn = this._byConnection.get(ctx.connection);
    if (!conn) return;
    conn.amqpOpen = true;
    // rhea keeps the authenticated username on the SASL layer; the PLAIN callback has no connection.
    const sasl = ctx.connection.sasl_transport;
    conn.username = sasl && sasl.username ? sasl.username : null;
    conn.clientId = conn.username ? conn.username.split('|')[0] : null;
    this.emit('connection', { connectionId: conn.id, clientId: conn.clientId });

    if (this.options.checkIdleTimeout) {
      const idle = ctx.connection.remote.open.idle_time_out;
      const [min, max] = IDLE_TIME_OUT_RANGE;
      if (typeof idle !== 'number' || idle < min || idle > max) {
        const reason = `idle-time-out must be ${min}..${max} ms, got ${idle === undefined ? 'none' : idle}`;
        this.refusals.push({ kind: 'connection', connectionId: conn.id, clientId: conn.clientId, reason });
        ctx.connection.close({ condition: 'amqp:invalid-field', description: reason });
      }
    }
  }

  /** A client attached a receiver: the emulator is its sender. */
  _onSenderOpen(ctx) {
    const { sender, connection } = ctx;
    const conn = this._byConnection.get(connection);
    if (!conn) return;
    const remote = sender.remote.attach;
    const record = this._attachRecord('receiver', remote, conn);

    if (conn.links.size >= this.options.maxReceiversPerConnection) {
      record.refused = `at most ${this.options.maxReceiversPerConnection} receiver link(s) per connection`;
      this.refusals.push({ kind: 'link', connectionId: conn.id, clientId: conn.clientId, reason: record.refused });
      this._recordAttach(record);
      // rhea writes the attach reply, then this detach.
      sender.close({ condition: 'amqp:resource-limit-exceeded', description: record.refused });
      return;
    }

    // What the attach reply carries as its source. rhea's natural reply has none (null), which
    // strict clients (fe2o3-amqp) refuse; the real platform's choice is unknown.
    if (this.options.sourceReply === 'echo' && presentTerminus(remote.source)) {
      sender.set_source(terminusFields(remote.source));
    } else if (this.options.sourceReply === 'own') {
      sender.set_source({ address: 'emulator-queue' });
    }

    const link = new LinkState(sender, conn);
    conn.links.add(link);
    this._links.add(link);
    this._byLink.set(sender, link);
    this._recordAttach(record);

    // rhea writes the attach reply on the next tick; a message sent now would be written before it
    // (a strict client then fails with "no such handle"). Start sending once the reply is out.
    setImmediate(() => {
      link.ready = true;
      this._pump();
    });
  }

  /** A client attached a sender: the platform offers no such thing. */
  _onReceiverOpen(ctx) {
    const conn = this._byConnection.get(ctx.connection);
    if (!conn) return;
    const record = this._attachRecord('sender', ctx.receiver.remote.attach, conn);
    record.refused = 'sender links are not supported';
    this.refusals.push({ kind: 'link', connectionId: conn.id, clientId: conn.clientId, reason: record.refused });
    this._recordAttach(record);
    ctx.receiver.close({ condition: 'amqp:not-allowed', description: record.refused });
  }

  _attachRecord(role, remote, conn) {
    const open = conn.connection.remote.open || {};
    return {
      role,
      name: remote.name,
      source: terminusAddress(remote.source),
      hasSource: Boolean(presentTerminus(remote.source)),
      target: terminusAddress(remote.target),
      connectionId: conn.id,
      clientId: conn.clientId,
      hostname: open.hostname === undefined ? null : open.hostname,
      idle_time_out: open.idle_time_out === undefined ? null : open.idle_time_out,
      container_id: open.container_id === undefined ? null : open.container_id,
      refused: null,
    };
  }

  _recordAttach(record) {
    this.attaches.push(record);
    this.emit('attach', record);
  }

  /** A drain request: send what can be sent, then give up the rest of the credit if nothing is left. */
  _onDraining(ctx) {
    this._pump();
    if (this._queue.length === 0) ctx.sender.set_drained(true);
  }

  /** A client's disposition for one of our deliveries (any of the outcome events or 'settled'). */
  _onDeliveryUpdate(ctx) {
    const { delivery } = ctx;
    const conn = this._byConnection.get(ctx.connection);
    const flight = conn && conn.inFlight.get(delivery);
    if (!flight) return; // Resolved already (rhea emits the outcome, then 'settled'), or not ours.

    const state = delivery.remote_state;
    const kind = state && state.constructor && state.constructor.composite_type;
    let outcome;
    if (OUTCOMES.includes(kind)) {
      outcome = kind;
    } else if (delivery.remote_settled) {
      // Settled with no terminal outcome: treated as released (the message is not done).
      outcome = 'released';
    } else {
      return; // A non-terminal state ('received'): still in flight.
    }

    conn.inFlight.delete(delivery);
    if (!delivery.remote_settled) delivery.update(true); // The client waits for us to settle (rcv-settle-mode second).

    const { entry } = flight;
    const record = {
      key: entry.key,
      messageId: entry.messageId,
      outcome,
      state: state === undefined ? null : state,
      settled: Boolean(delivery.remote_settled),
      connectionId: conn.id,
      clientId: conn.clientId,
    };
    this.dispositions.push(record);

    switch (outcome) {
      case 'accepted':
        this.accepted.set(entry.key, (this.accepted.get(entry.key) || 0) + 1);
        this.acceptedOnce.add(entry.key);
        break;
      case 'rejected':
        this.rejected.set(entry.key, state);
        break;
      case 'modified':
        if (state.undeliverable_here) this.undeliverable.set(entry.key, state);
        else this._requeue([entry]);
        break;
      default: // released
        this._requeue([entry]);
    }
    this.emit('disposition', record);
    this._pump();
  }

  /** A link was detached or its session ended: its unsettled deliveries go back to the queue. */
  _onLinkGone(sender) {
    const link = this._byLink.get(sender);
    if (!link) return;
    this._byLink.delete(sender);
    this._links.delete(link);
    link.conn.links.delete(link);
    const entries = [];
    for (const [delivery, flight] of link.conn.inFlight) {
      if (flight.link === link) {
        entries.push(flight.entry);
        link.conn.inFlight.delete(delivery);
      }
    }
    this._requeue(entries);
    this._pump();
  }

  /** The connection's socket closed, for whatever reason. Idempotent. */
  _onSocketClosed(conn) {
    if (conn.closed) return;
    conn.closed = true;
    this._conns.delete(conn);
    this._byConnection.delete(conn.connection);
    for (const link of conn.links) {
      this._links.delete(link);
      this._byLink.delete(link.sender);
    }
    conn.links.clear();

    // rhea hears of a socket closing only through 'end'/'error', which a socket destroyed on this
    // side never emits: let it clean up (heartbeat and idle timers) as it would have.
    if (!conn.rheaDisconnected) {
      conn.rheaDisconnected = true;
      try {
        conn.connection._disconnected();
      } catch (err) {
        this.errors.push({ kind: 'cleanup', message: String(err && err.message) });
      }
    }

    const entries = [...conn.inFlight.values()].map((flight) => flight.entry);
    conn.inFlight.clear();
    this._requeue(entries);
    this.emit('disconnect', { connectionId: conn.id, clientId: conn.clientId, requeued: entries.length });
    this._pump();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: the queue

  _enqueue(entry) {
    this._queue.push(entry);
    this._pump();
  }

  /** Puts entries back at the head of the queue, in their original order. */
  _requeue(entries) {
    if (entries.length) this._queue.unshift(...entries);
  }

  /** Sends queued messages to ready links, one per link in turn, as far as credit allows. */
  _pump() {
    if (this._pumping) return;
    this._pumping = true;
    try {
      let progressed = true;
      while (progressed && this._queue.length) {
        progressed = false;
        for (const link of this._links) {
          if (!this._queue.length) break;
          if (link.capacity() > 0) {
            this._send(link, this._queue.shift());
            progressed = true;
          }
        }
      }
    } finally {
      this._pumping = false;
    }
  }

  _send(link, entry) {
    entry.attempts += 1;
    link.sent += 1;
    const delivery = link.sender.send(entry.message);
    link.conn.inFlight.set(delivery, { entry, link });
    const record = {
      key: entry.key,
      messageId: entry.messageId,
      connectionId: link.conn.id,
      clientId: link.conn.clientId,
      attempt: entry.attempts,
      deliveryId: delivery.id,
      message: entry.message,
    };
    this.deliveries.push(record);
    this.emit('delivery', record);
  }

  /** A timer that close() cancels and that does not keep the process alive. */
  _later(ms, fn) {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this._timers.add(timer);
  }
}

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
 *   temporary directory removed at exit.
 * @returns {Promise<Emulator>}
 */
async function startEmulator(opts) {
  const emu = new Emulator(opts);
  await emu.start();
  return emu;
}

module.exports = { startEmulator, Emulator, signPassword, stringToSign, SIGN_METHODS, generateCerts, sampleMessage };
