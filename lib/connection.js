'use strict';
// The connection of the rhea-shaped API: checks its options (lib/options.js), starts the native
// connection (lib/native.js) and turns its events into rhea's, carrying the one receiver the
// platform allows per connection; batches the acknowledgements of its deliveries into ranged
// settle calls; signs the credentials of a `credentials` function before every attempt.

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const util = require('node:util');

const native = require('./native.js');
const { connectionOptions, receiverOptions, signOptions, fail, redact } = require('./options.js');
const debug = require('./debug.js');
const { ConnectionError, toError, AUTH_CONDITION } = require('./errors.js');
const { dispatch, rethrowLater, reportError } = require('./events.js');
const { Session } = require('./session.js');
const { Receiver } = require('./receiver.js');
const diagnostics = require('./diagnostics.js');
const { peerCertificate } = require('./tls.js');

// Options on their way to the native layer, kept out of the objects users can inspect (they hold
// the password); dropped once the native connection has them.
const pendingOptions = new WeakMap();

/** Numbers the connections of this process (`connectionId` in diagnostics_channel payloads). */
let nextConnectionId = 0;

/** The server's open in rhea's shape (`connection.remote.open`). */
function remoteOpen(r) {
  return { container_id: r.containerId, hostname: r.hostname ?? null, idle_time_out: r.idleTimeOut ?? null, max_frame_size: r.maxFrameSize };
}

class Connection extends EventEmitter {
  /** `inherited`: the container's options as given (lib/container.js keeps them out of reach). */
  constructor(container, options, inherited = {}) {
    super();
    if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
      throw fail('options', 'an object', options);
    }
    const own = options || {};
    this.container = container;
    this._parent = container;
    this._id = ++nextConnectionId;
    this._opens = 0;
    this._errorEpoch = 0;
    const resolved = connectionOptions(own, inherited, { container_id: container.id });
    resolved.debugFrames = debug.enabled(`${debug.PREFIX}:frames`);
    this._logEvents = debug.logger('events');
    // Frame lines come from the native core as 'log' events (only while frames debugging is on).
    this._logFrames = resolved.debugFrames ? debug.logger('frames') : null;
    this._logReconnect = debug.logger('reconnect');
    this._credentialsProvider = resolved.credentialsProvider;
    this._checkServerIdentity = resolved.checkServerIdentity;
    // Under rejectUnauthorized: false, Node calls checkServerIdentity (on a verified chain) and
    // goes on whatever it returns.
    this._rejectUnauthorized = resolved.rejectUnauthorized;
    // Node's checkServerIdentity is called with `servername || host`.
    this._tlsHostname = resolved.servername || resolved.host;
    // The certificates trusted (for issuerCertificate at the top of getPeerCertificate()).
    this._trusted = resolved.ca || resolved.defaultCa || [];
    // The server's certificate chain of the current connection (DER, leaf first).
    this._peerChain = [];
    this._peerCert = undefined;
    // The checkServerIdentity error of each refused attempt, as the cause of its disconnect.
    this._identityErrors = new Map();
    pendingOptions.set(this, resolved);
    this._address = { host: resolved.host, port: resolved.port, transport: resolved.transport, container_id: resolved.containerId };
    // Kept for users who read connection.options; secrets are masked.
    this.options = redact(Object.assign({}, inherited, own));
    this.remote = {};
    this.error = undefined;
    this._session = new Session(this);
    this._receiver = undefined;
    this._native = undefined;
    this._epoch = 0;
    // The receiver attachment whose deliveries can be settled now (0: none).
    this._liveAttach = 0;
    this._open = false;
    this._closeRequested = false;
    this._closeSent = false;
    this._closed = false;
    this._settleAttach = 0;
    // The settlements of this turn, in arrays kept from turn to turn (grown as needed).
    this._settleIds = new Uint32Array(64);
    this._settleCodes = new Uint8Array(64);
    this._settleCount = 0;
    this._settleScheduled = false;
    /** A batch of messages is being dispatched: its settlements go out when it ends, in one call. */
    this._dispatching = false;
    this._flushSettles = this._flushSettles.bind(this);
    // Start on the next tick, so that open_receiver() called right after connect() is part of the
    // first attempt (the doc's script does exactly that).
    process.nextTick(() => this._start());
  }

  _start() {
    if (this._closeRequested || this._native) {
      pendingOptions.delete(this);
      return;
    }
    const receiver = this._receiver && !this._receiver._closed ? this._receiver._native : undefined;
    const options = pendingOptions.get(this);
    pendingOptions.delete(this);
    try {
      this._native = native.NativeConnection.connect(options, receiver, (err, ev) => this._onEvent(err, ev));
    } catch (err) {
      this._closed = true;
      reportError(this, new ConnectionError(err.message, native.CONDITION_CONFIG, this));
    }
  }

  /** Opens the one receiver this connection carries (the platform allows one per connection). */
  open_receiver(options) {
    if (this._receiver && !this._receiver._closed) {
      throw new Error('aliyun-iot-amqp: a connection carries one receiver (the platform allows one per connection); open another connection for another receiver');
    }
    if (this._closeRequested) throw new Error('aliyun-iot-amqp: the connection is closed');
    const opts = receiverOptions(options, (name, def) => (this.options[name] === undefined ? def : this.options[name]),
      () => `receiver-${crypto.randomUUID()}`);
    const receiver = new Receiver(this, opts);
    this._receiver = receiver;
    if (this._native) this._native.openReceiver(opts.native);
    return receiver;
  }

  /** Closes the connection: flushes acknowledgements, says goodbye (bounded), stops reconnecting. */
  close() {
    if (this._closeRequested) return;
    this._closeRequested = true;
    // Deliveries settled in the same tick (a handler that closes, then returns to autoaccept) still
    // go out before the goodbye.
    process.nextTick(() => {
      this._flushSettles();
      this._closeSent = true;
      if (this._native) this._native.close();
      else this._closed = true;
    });
  }

  is_open() {
    return this._open;
  }

  /**
   * The server's certificate on the current connection, in the shape of Node's
   * `tlsSocket.getPeerCertificate(true)` (issuerCertificate chained); `{}` when not connected over
   * TLS, as Node returns for a socket without a peer certificate.
   */
  getPeerCertificate() {
    if (this._peerCert === undefined) this._peerCert = peerCertificate(this._peerChain, this._trusted);
    return this._peerCert;
  }

  is_closed() {
    return this._closed;
  }

  _context(extra) {
    return Object.assign({ connection: this, container: this.container }, extra);
  }

  /** Whether deliveries of attachment `attach` can still be settled. */
  _isLive(attach) {
    return !this._closeSent && attach === this._liveAttach;
  }

  /**
   * Queues a settlement; those made together go to the native side in one call: those made while
   * a batch of messages is dispatched, when the dispatch ends; the others once the callback that
   * made them and its microtasks are done (process.nextTick: queued from a microtask, it runs when
   * the microtask queue is empty, so the messages of a batch a for-await loop or async handlers
   * settle, each in a microtask of its own, go in one call; a call per message cost more than the
   * message). Not setImmediate: that costs the event loop a check-phase turn per batch.
   */
  _queueSettle(attach, id, code) {
    if (attach !== this._settleAttach && this._settleCount) this._flushSettles();
    this._settleAttach = attach;
    let n = this._settleCount;
    if (n === this._settleIds.length) {
      const ids = new Uint32Array(n * 2);
      ids.set(this._settleIds);
      this._settleIds = ids;
      const codes = new Uint8Array(n * 2);
      codes.set(this._settleCodes);
      this._settleCodes = codes;
    }
    this._settleIds[n] = id;
    this._settleCodes[n] = code;
    this._settleCount = n + 1;
    if (!this._settleScheduled && !this._dispatching) {
      this._settleScheduled = true;
      process.nextTick(this._flushSettles);
    }
  }

  _flushSettles() {
    this._settleScheduled = false;
    const n = this._settleCount;
    if (!n || !this._native) return;
    this._settleCount = 0;
    const ids = this._settleIds.subarray(0, n);
    const codes = this._settleCodes.subarray(0, n);
    const sent = this._native.settle(this._settleAttach, ids, codes);
    // Copies: a subscriber may settle more while they are published, which reuses the arrays.
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettles(this, this._settleAttach, ids.slice(), codes.slice(), sent);
  }

  /** Dispatches a batch of messages; what they settled meanwhile goes out in one call at the end. */
  _dispatchBatch(receiver, deliveries, attach, epoch) {
    this._dispatching = true;
    try {
      receiver._onMessages(deliveries, attach, epoch);
    } finally {
      this._dispatching = false;
      if (this._settleCount && !this._settleScheduled) this._flushSettles();
    }
  }

  /** Settles many deliveries of attachment `attach` with one code at once (a batch), after those queued before. */
  _settleMany(attach, ids, code) {
    this._flushSettles();
    const codes = new Uint8Array(ids.length);
    if (code !== 0) codes.fill(code);
    const sent = this._native.settle(attach, ids, codes);
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettles(this, attach, ids, codes, sent);
  }

  _onEvent(err, ev) {
    try {
      // Only an event the native layer could not convert comes as an error (a bug of ours).
      if (err) reportError(this, new ConnectionError(err.message, native.CONDITION_INTERNAL, this));
      else this._handle(ev);
    } catch (err) {
      rethrowLater(err);
    }
  }

  _handle(ev) {
    if (ev.type === 'log') {
      if (this._logFrames) this._logFrames(ev.line);
      return;
    }
    const receiver = this._receiver;
    if (this._logEvents) {
      const extra = ev.type === 'messages' ? ` (${ev.deliveries.length} deliveries)` : ev.error ? ` ${ev.error.condition}: ${ev.error.description}` : '';
      this._logEvents(`[${this._address.container_id}] ${ev.type} epoch=${ev.epoch}${extra}`);
    }
    if (this._logReconnect && (ev.type === 'disconnected' || ev.type === 'connection_open')) {
      this._logReconnect(ev.type === 'disconnected'
        ? `[${this._address.container_id}] disconnected (${ev.error ? ev.error.description : 'no error'}); ${ev.reconnecting ? `reconnecting in ${ev.delay} ms` : 'not reconnecting'}`
        : `[${this._address.container_id}] connected to ${this._address.host}:${this._address.port} (attempt ${ev.epoch})`);
    }
    switch (ev.type) {
      case 'connection_open':
        this._epoch = ev.epoch;
        this._peerChain = ev.peerCertificates || [];
        this._peerCert = undefined;
        this._open = true;
        this._opens += 1;
        this.error = undefined;
        this.remote = { open: remoteOpen(ev.remote) };
        if (diagnostics.connect.hasSubscribers) diagnostics.publishConnect(this, ev.epoch, this._opens > 1);
        dispatch(this, 'connection_open', this._context());
        break;
      case 'receiver_open':
        if (!receiver) break;
        this._liveAttach = ev.attach;
        receiver._open = true;
        receiver.remote = { attach: { source: ev.remoteSource === undefined ? null : { address: ev.remoteSource } } };
        dispatch(receiver, 'receiver_open', receiver._context());
        break;
      case 'messages':
        if (receiver) this._dispatchBatch(receiver, ev.deliveries, ev.attach, ev.epoch);
        break;
      case 'receiver_close': {
        // Its deliveries can no longer be settled: the server delivers them again.
        if (this._liveAttach === ev.attach) this._liveAttach = 0;
        if (!receiver) break;
        receiver._open = false;
        // Refused with amqp:unauthorized-access: closed for good, as rhea leaves it.
        if (ev.gone) receiver._closed = true;
        const error = toError(ev.error, this, 'link');
        receiver.error = error;
        if (error && diagnostics.error.hasSubscribers) diagnostics.publishError(this, ev.epoch, 'receiver', error);
        if (error) dispatch(receiver, 'receiver_error', receiver._context({ error }));
        dispatch(receiver, 'receiver_close', receiver._context(error ? { error } : undefined));
        if (receiver._closed) this._receiver = undefined;
        break;
      }
      case 'session_open': {
        const session = this._session;
        session.error = undefined;
        dispatch(session, 'session_open', session._context());
        break;
      }
      case 'session_close': {
        // As rhea: session_error (when the server gave an error), then session_close; the
        // session is begun again on this connection (session_open, receiver_open follow).
        const session = this._session;
        const error = toError(ev.error, this);
        session.error = error;
        if (error && diagnostics.error.hasSubscribers) diagnostics.publishError(this, ev.epoch, 'session', error);
        if (error) dispatch(session, 'session_error', session._context({ error }));
        dispatch(session, 'session_close', session._context(error ? { error } : undefined));
        break;
      }
      case 'unreadable': {
        // A delivery that cannot be read (not decodable, over max_message_size): never
        // delivered, held unsettled and released later. rhea's protocol_error; unheard, a line
        // on stderr, as rhea writes one.
        const error = toError(ev.error, this);
        if (diagnostics.error.hasSubscribers) diagnostics.publishError(this, ev.epoch, 'protocol', error, { attach: ev.attach, deliveryId: ev.id });
        if (!dispatch(receiver || this._session, 'protocol_error', error)) {
          console.warn(`[${this._address.container_id}] protocol error: ${error.message}`);
        }
        break;
      }
      case 'over_credit':
        if (receiver) receiver.over_credit += ev.count;
        break;
      case 'connection_error': {
        const error = toError(ev.error, this);
        this.error = error;
        this._errorEpoch = ev.epoch;
        if (diagnostics.error.hasSubscribers) diagnostics.publishError(this, ev.epoch, 'connection', error);
        let handled = dispatch(this, 'connection_error', this._context({ error }));
        handled = dispatch(this, 'connection_close', this._context({ error })) || handled;
        // A refused login is fatal (no reconnect storm); unheard, it surfaces as 'error' (rhea).
        if (!handled && error.condition === AUTH_CONDITION) dispatch(this, 'error', error);
        break;
      }
      case 'connection_close':
        this._open = false;
        dispatch(this, 'connection_close', this._context());
        break;
      case 'disconnected': {
        this._open = false;
        this._liveAttach = 0;
        if (receiver) receiver._open = false;
        const error = toError(ev.error, this);
        if (error) this.error = error;
        const refusal = this._identityErrors.get(ev.epoch);
        if (refusal) {
          this._identityErrors.delete(ev.epoch);
          if (error) error.cause = refusal;
        }
        // (The server's close with an error was published as it came, as a 'connection' error.)
        if (error && this._errorEpoch !== ev.epoch && diagnostics.error.hasSubscribers) diagnostics.publishError(this, ev.epoch, 'transport', error);
        if (diagnostics.disconnect.hasSubscribers) diagnostics.publishDisconnect(this, ev.epoch, error, ev.reconnecting, ev.delay);
        const ctx = this._context({ reconnecting: ev.reconnecting });
        if (error) ctx.error = error;
        if (!dispatch(this, 'disconnected', ctx)) {
          // rhea's habit: an unheard disconnect is still worth a line on stderr.
          console.warn(`[${this._address.container_id}] disconnected${error ? ' ' + error.message : ''}`);
        }
        break;
      }
      case 'credentials_needed':
        this._provideCredentials(ev.epoch);
        break;
      case 'peer_certificate':
        this._checkIdentity(ev.epoch, ev.chain);
        break;
      case 'closed':
        this._open = false;
        this._closed = true;
        this._liveAttach = 0;
        break;
      default:
        break;
    }
  }

  _provideCredentials(epoch) {
    Promise.resolve()
      .then(() => this._credentialsProvider())
      .then((creds) => {
        const signed = native.sign(signOptions(creds, 'credentials().'));
        if (this._native) this._native.provideCredentials(epoch, signed.username, signed.password, null);
      })
      .catch((err) => {
        const why = err instanceof Error ? err.message : String(err);
        if (this._native) this._native.provideCredentials(epoch, null, null, why);
      });
  }

  /** The user's checkServerIdentity(hostname, cert), as Node calls it: an Error returned (or thrown) refuses. */
  _checkIdentity(epoch, chain) {
    let verdict;
    try {
      this._peerChain = chain;
      this._peerCert = undefined;
      verdict = this._checkServerIdentity(this._tlsHostname, this.getPeerCertificate());
    } catch (err) {
      verdict = err instanceof Error ? err : new Error(String(err));
    }
    if (!this._native) return;
    if (!verdict || !this._rejectUnauthorized) {
      this._native.provideIdentityVerdict(epoch, null, null);
      return;
    }
    // Node refuses on any truthy value; an Error's code and message are reported.
    const message = verdict instanceof Error || typeof verdict.message === 'string' ? verdict.message : String(verdict);
    const code = typeof verdict.code === 'string' ? verdict.code : null;
    if (verdict instanceof Error) this._identityErrors.set(epoch, verdict);
    this._native.provideIdentityVerdict(epoch, message || 'refused by checkServerIdentity', code);
  }

  [util.inspect.custom]() {
    const a = this._address;
    return `Connection { host: ${JSON.stringify(a.host)}, port: ${a.port}, transport: ${JSON.stringify(a.transport)}, container_id: ${JSON.stringify(a.container_id)}, open: ${this._open}, closed: ${this._closed} }`;
  }
}

module.exports = { Connection };
