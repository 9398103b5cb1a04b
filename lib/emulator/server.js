'use strict';
// The emulator's server (see ./index.js for what it emulates): a TCP or TLS listener whose
// connections rhea serves as the platform's endpoint (their state in ./links.js), credit-driven
// sending from the queue (./queue.js), the SASL check (./auth.js), the records tests assert on;
// the controls that drop or close connections and detach links are in ./faults.js.

const { EventEmitter } = require('node:events');
const net = require('node:net');
const tls = require('node:tls');
const rhea = require('rhea');

const { emulatorOptions } = require('./options.js');
const { checkLogin } = require('./auth.js');
const { MessageQueue, OUTCOMES } = require('./queue.js');
const { ConnectionState, LinkState, presentTerminus, terminusFields } = require('./links.js');
const { generateCerts } = require('./certs.js');
const faults = require('./faults.js');

/** The platform accepts an Open idle-time-out in this range (ms). */
const IDLE_TIME_OUT_RANGE = Object.freeze([30000, 300000]);

class Emulator extends EventEmitter {
  /**
   * @param {object} [opts] See startEmulator().
   */
  constructor(opts = {}) {
    super();
    const options = emulatorOptions(opts);
    this.options = options;

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
    /** The messages and their outcomes (./queue.js). */
    this._queue = new MessageQueue();
    /** key -> number of times it was accepted (more than 1 after redeliveries of accepted messages). */
    this.accepted = this._queue.accepted;
    /** Keys accepted at least once. */
    this.acceptedOnce = this._queue.acceptedOnce;
    /** key -> the rejected outcome (with its error): rejected messages are dropped. */
    this.rejected = this._queue.rejected;
    /** key -> the modified outcome: messages modified with undeliverable-here are dropped. */
    this.undeliverable = this._queue.undeliverable;
    /** Connections and links the emulator refused: {kind, connectionId, clientId, reason}. */
    this.refusals = [];
    /** TLS handshake failures (e.g. the client did not trust the certificate). */
    this.tlsErrors = [];
    /** AMQP protocol errors and other errors rhea reported on the server side. */
    this.errors = [];

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
    const messageId = this._queue.publish(m);
    this._pump();
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
    const k = this._queue.publishRaw(message, { key });
    this._pump();
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

  /** Destroys every connection abruptly (see ./faults.js). @returns {number} */
  dropConnections() {
    return faults.dropConnections(this);
  }

  /** Closes every connection with an AMQP Close carrying `error` (see ./faults.js). @returns {number} */
  closeConnections(error) {
    return faults.closeConnections(this, error);
  }

  /** Detaches every receiver's link, with `error` if given (see ./faults.js). @returns {number} */
  detachReceivers(error) {
    return faults.detachReceivers(this, error);
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

  /** The SASL PLAIN check (./auth.js); records the attempt. Returns whether the credentials are good. */
  _authenticate(username, password) {
    const attempt = checkLogin(username, password, this.options);
    this.authAttempts.push(attempt);
    this.emit('auth', attempt);
    return attempt.ok;
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
    const record = conn.attachRecord('receiver', remote);

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
    const record = conn.attachRecord('sender', ctx.receiver.remote.attach);
    record.refused = 'sender links are not supported';
    this.refusals.push({ kind: 'link', connectionId: conn.id, clientId: conn.clientId, reason: record.refused });
    this._recordAttach(record);
    ctx.receiver.close({ condition: 'amqp:not-allowed', description: record.refused });
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

    this._queue.settle(entry, outcome, state);
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
    this._queue.requeue(link.conn.takeInFlight(link));
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

    const entries = conn.takeInFlight();
    this._queue.requeue(entries);
    this.emit('disconnect', { connectionId: conn.id, clientId: conn.clientId, requeued: entries.length });
    this._pump();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: sending what the queue holds

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

module.exports = { Emulator };
