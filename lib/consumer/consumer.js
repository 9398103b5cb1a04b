'use strict';
// The Consumer: one consumer group's server-side subscription over one or more connections of a
// rhea-shaped container (lib/container.js; each connection signs its credentials afresh at every
// attempt, in Rust), their messages merged into one stream handed to a for-await loop
// (./iterator.js), a for-await loop over batches (./batches.js) or to 'message' handlers, within
// `concurrency` (each call traced on the 'aliyun-iot-amqp:handler' tracing channel); settlement as
// the handler's outcome says, dedupe, pause/resume, stats, health, metrics (./metrics.js renders
// them) and a bounded close(). It never loads rhea.

const { EventEmitter } = require('node:events');
const util = require('node:util');

const { Container } = require('../container.js');
const { rethrowLater } = require('../events.js');
const { AUTH_CONDITION } = require('../errors.js');
const diagnostics = require('../diagnostics.js');
const { consumerOptions, closeOptions, batchOptions, CHECKED } = require('./options.js');
const { checked } = require('../options.js');
const { ConsumerMessage } = require('./message.js');
const { MessageIterator } = require('./iterator.js');
const { BatchIterator } = require('./batches.js');
const { Histogram, render } = require('./metrics.js');

function asError(err) {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : `handler failed: ${util.inspect(err)}`);
}

/**
 * A consumer of one consumer group's server-side subscription over `connections` connections,
 * their messages merged into one stream. Events: 'message' (see below), 'error', 'connected'
 * ({clientId, reconnect}), 'disconnected' ({clientId, error, reconnecting}), 'duplicate' (msg),
 * 'protocol_error' (err: a delivery that cannot be read), 'close'.
 */
class Consumer extends EventEmitter {
  constructor(options) {
    super();
    const cfg = consumerOptions(options);

    this.host = cfg.host;
    this.port = cfg.port;
    this.consumerGroupId = cfg.consumerGroupId;
    /** The client id of each connection. */
    this.clientIds = cfg.clientIds;
    Object.defineProperties(this, {
      _concurrency: { value: cfg.concurrency, writable: true },
      _credit: { value: cfg.credit },
      _dedupeSize: { value: cfg.dedupe },
      _window: { value: cfg.dedupe ? new Map() : null },
      _links: { value: [] },
      _byConnection: { value: new Map() },
      _buffer: { value: [], writable: true },
      _handed: { value: new Set() },
      _idleWaiters: { value: [], writable: true },
      _stats: {
        value: { received: 0, accepted: 0, released: 0, rejected: 0, duplicates: 0, reconnects: 0, unreadable: 0, lastError: null },
      },
      /** Handler durations in seconds (a handler call, a loop iteration, a batch's loop iteration). */
      _durations: { value: new Histogram() },
    });
    this._iterator = null;
    this._paused = false;
    this._closing = false;
    this._closed = false;
    this._closePromise = null;
    this._failure = null;
    this._draining = false;

    // Secrets live in this closure only, never on the consumer.
    const { keys, credentials: fetch, consumerGroupId, iotInstanceId, signMethod, authMode } = cfg;
    const credentialsFor = (clientId) => {
      if (keys) {
        return () => checked({ ...keys, consumerGroupId, clientId, iotInstanceId, signMethod }, CHECKED.keys);
      }
      return () => Promise.resolve()
        .then(() => fetch())
        .then((c) => {
          if (c === null || typeof c !== 'object') {
            throw new TypeError('aliyun-iot-amqp: credentials() must return (a promise of) {accessKeyId, accessKeySecret, securityToken?}');
          }
          const mode = authMode !== undefined ? authMode : c.securityToken ? 'ststoken' : 'aksign';
          return checked({
            accessKeyId: c.accessKeyId,
            accessKeySecret: c.accessKeySecret,
            securityToken: mode === 'ststoken' ? c.securityToken : undefined,
            authMode: mode,
            consumerGroupId,
            clientId,
            iotInstanceId,
            signMethod,
          }, CHECKED.identity);
        });
    };

    const container = new Container({ id: cfg.clientId });
    this._container = container;
    try {
      for (const [index, clientId] of cfg.clientIds.entries()) {
        const connection = container.connect(checked({
          ...cfg.transportOptions,
          host: cfg.host,
          port: cfg.port,
          container_id: clientId,
          credentials: credentialsFor(clientId),
        }, CHECKED.connect));
        const link = {
          index, clientId, connection, receiver: null, opens: 0, open: false, stopped: false,
          // health(): 'connecting' | 'open' (connection open, receiver attached) | 'reconnecting' | 'closed'
          state: 'connecting', since: Date.now(), lastMessageAt: null, reconnects: 0,
          counts: { received: 0, accepted: 0, released: 0, rejected: 0, duplicates: 0, unreadable: 0 },
        };
        // Packed batches (lib/batch.js): each message reads the platform's fields from the batch's
        // index; the rhea-shaped message is built only when `msg.raw` is read.
        link.receiver = connection.open_receiver({ credit_window: cfg.credit, autoaccept: false, batch: true });
        this._links.push(link);
        this._byConnection.set(connection, link);
      }
    } catch (err) {
      for (const link of this._links) link.connection.close();
      throw err;
    }

    container.on('batch', (ctx) => this._onBatch(ctx));
    container.on('connection_open', (ctx) => this._onOpen(ctx));
    container.on('receiver_open', (ctx) => this._onAttached(ctx));
    container.on('disconnected', (ctx) => this._onDisconnected(ctx));
    container.on('receiver_close', (ctx) => this._onReceiverClose(ctx));
    container.on('connection_error', (ctx) => this._noteError(ctx.error));
    container.on('receiver_error', (ctx) => this._noteError(ctx.error));
    container.on('session_error', (ctx) => this._noteError(ctx.error));
    container.on('protocol_error', (err) => this._onProtocolError(err));
    container.on('error', (err) => this._noteError(err));

    // A 'message' listener added later starts the flow of what is already buffered.
    this.on('newListener', (name) => {
      if (name !== 'message') return;
      if (this._iterator) {
        throw new Error("aliyun-iot-amqp: the consumer is being iterated (for await); use either a for-await loop or 'message' listeners");
      }
      queueMicrotask(() => this._drain());
    });
  }

  /** Messages for a for-await loop (see the class comment of MessageIterator). One loop at a time. */
  [Symbol.asyncIterator]() {
    this._checkLoop();
    this._iterator = new MessageIterator(this);
    return this._iterator;
  }

  /**
   * Batches for a for-await loop (see ./batches.js): arrays of at most `max` messages (default 100),
   * yielded when `max` are buffered or `maxWaitMs` (default 50) after the first one arrived. One loop
   * at a time, loops and 'message' listeners exclude each other; `concurrency` does not apply.
   */
  batches(options) {
    const { max, maxWaitMs } = batchOptions(options);
    this._checkLoop();
    this._iterator = new BatchIterator(this, max, maxWaitMs);
    return this._iterator;
  }

  _checkLoop() {
    if (this._iterator) throw new Error('aliyun-iot-amqp: the consumer is already being iterated; one for-await loop at a time');
    if (this.listenerCount('message') > 0) {
      throw new Error("aliyun-iot-amqp: the consumer has 'message' listeners; use either a for-await loop or 'message' listeners");
    }
  }

  /** Stops handing out messages and stops the flow from the server (no credit); resume() restarts. */
  pause() {
    if (this._paused || this._closing) return;
    this._paused = true;
    for (const link of this._links) link.receiver.pause();
  }

  /** Restarts after pause(). */
  resume() {
    if (!this._paused || this._closing) return;
    this._paused = false;
    for (const link of this._links) link.receiver.resume();
    this._drain();
  }

  isPaused() {
    return this._paused;
  }

  /** Counters since the consumer was created. */
  stats() {
    const s = this._stats;
    return {
      received: s.received,
      accepted: s.accepted,
      released: s.released,
      rejected: s.rejected,
      duplicates: s.duplicates,
      reconnects: s.reconnects,
      unreadable: s.unreadable,
      overCredit: this._links.reduce((n, l) => n + l.receiver.over_credit, 0),
      inFlight: this._handed.size,
      buffered: this._buffer.length,
      connections: this._links.filter((l) => l.open).length,
      lastError: s.lastError,
    };
  }

  /**
   * `{status, connections, lastError}`: 'up' when every connection is open with its receiver
   * attached, 'degraded' when some are, 'down' when none is or the consumer is closing, closed or
   * failed; per connection its state, since when (ms since the epoch), when its last message came
   * and how often it reconnected.
   */
  health() {
    const connections = this._links.map((l) => ({
      clientId: l.clientId, state: l.state, since: l.since, lastMessageAt: l.lastMessageAt, reconnects: l.reconnects,
    }));
    const open = connections.filter((c) => c.state === 'open').length;
    let status = 'degraded';
    if (open === 0 || this._closing || this._failure) status = 'down';
    else if (open === connections.length) status = 'up';
    return { status, connections, lastError: this._stats.lastError };
  }

  /** The counters and gauges of stats() per connection, and the handler durations, in Prometheus' text format (see ./metrics.js). */
  metrics() {
    return render(this);
  }

  /**
   * Closes the consumer: no more messages are handed out; those not handed out yet are released;
   * then it waits for the 'message' handlers in flight (and the message a for-await loop holds) to
   * finish, at most `timeout` ms (default 30000), settling each as its handler's outcome says;
   * whatever is still unsettled then is released; then every connection is closed. Resolves when
   * they are. Do not await it inside a handler or a loop body: it waits for them.
   */
  close(options) {
    if (this._closePromise) return this._closePromise;
    const timeout = closeOptions(options);
    this._closing = true;
    for (const link of this._links) link.receiver.pause();
    const buffered = this._buffer;
    this._buffer = [];
    for (const msg of buffered) msg.release();
    if (this._iterator && !this._iterator._held) this._iterator._end();
    this._closePromise = this._finishClose(timeout);
    return this._closePromise;
  }

  async _finishClose(timeout) {
    await this._whenIdle(timeout);
    for (const msg of this._handed) if (!msg.settled) msg.release();
    for (const link of this._links) link.connection.close();
    const closeTimeout = this._links.length ? this._links[0].connection.options.close_timeout : undefined;
    const deadline = Date.now() + (typeof closeTimeout === 'number' ? closeTimeout : 5000) + 5000;
    while (this._links.some((l) => !l.connection.is_closed()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const link of this._links) {
      link.open = false;
      this._setState(link, 'closed');
    }
    this._closed = true;
    if (this._iterator) this._iterator._end();
    this.emit('close');
  }

  /** Resolves once no handler runs and no loop holds an unsettled message (or after `timeout`). */
  _whenIdle(timeout) {
    if (this._isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = timeout === Infinity ? null : setTimeout(resolve, timeout);
      this._idleWaiters.push(() => {
        if (timer) clearTimeout(timer);
        resolve();
      });
    });
  }

  _isIdle() {
    for (const msg of this._handed) if (!(msg._iterated && msg.settled)) return false;
    return true;
  }

  _checkIdle() {
    if (!this._idleWaiters.length || !this._isIdle()) return;
    const waiters = this._idleWaiters;
    this._idleWaiters = [];
    for (const w of waiters) w();
  }

  // -------------------------------------------------------------------------------------------
  // Connection events

  _setState(link, state) {
    if (link.state === state) return;
    link.state = state;
    link.since = Date.now();
  }

  _onOpen(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    link.opens += 1;
    link.open = true;
    if (link.opens > 1) {
      this._stats.reconnects += 1;
      link.reconnects += 1;
    }
    this.emit('connected', { clientId: link.clientId, reconnect: link.opens > 1 });
  }

  /** Its receiver is attached: the connection is up. */
  _onAttached(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (link && !this._closing) this._setState(link, 'open');
  }

  /** What a link delivered and is not handed out yet: it cannot be settled any more (the platform delivers it again): abandoned. */
  _dropBuffered(link) {
    if (!this._buffer.some((m) => m._link === link)) return;
    const kept = [];
    for (const msg of this._buffer) {
      if (msg._link === link) msg._abandon();
      else kept.push(msg);
    }
    this._buffer = kept;
  }

  /**
   * The receiver was detached (by the server: it is attached again on the same connection): not up
   * until it is. Refused with amqp:unauthorized-access (the user may not subscribe to the group),
   * it is closed for good: that connection stops, as after a refused login (retrying cannot help,
   * and every attempt counts against the group's connection budget).
   */
  _onReceiverClose(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    this._dropBuffered(link);
    if (ctx.receiver.is_closed() && ctx.error && ctx.error.condition === AUTH_CONDITION && !this._closing && !link.stopped) {
      link.open = false;
      link.stopped = true;
      this._setState(link, 'closed');
      this._noteError(ctx.error);
      link.connection.close();
      this.emit('disconnected', { clientId: link.clientId, error: ctx.error, reconnecting: false });
      if (this._links.every((l) => l.stopped)) this._fail(ctx.error);
      return;
    }
    if (link.state === 'open' && !this._closing) this._setState(link, 'reconnecting');
  }

  /** A delivery that cannot be read: counted, and told to a 'protocol_error' listener (else a line on stderr). */
  _onProtocolError(err) {
    const link = this._byConnection.get(err.connection);
    this._stats.unreadable += 1;
    this._noteError(err);
    if (link) {
      link.counts.unreadable += 1;
      err.clientId = link.clientId;
    }
    if (this.listenerCount('protocol_error') > 0) this.emit('protocol_error', err);
    else console.warn(`[${link ? link.clientId : 'aliyun-iot-amqp'}] protocol error: ${err.message}`);
  }

  _onDisconnected(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    link.open = false;
    if (!this._closing) this._setState(link, ctx.reconnecting ? 'reconnecting' : 'closed');
    if (ctx.error) this._noteError(ctx.error);
    this._dropBuffered(link);
    this.emit('disconnected', { clientId: link.clientId, error: ctx.error, reconnecting: ctx.reconnecting });
    if (!ctx.reconnecting && !this._closing) {
      link.stopped = true;
      if (this._links.every((l) => l.stopped)) {
        const err = ctx.error || new Error('aliyun-iot-amqp: every connection stopped');
        this._fail(err);
      }
    }
  }

  _noteError(err) {
    if (err) this._stats.lastError = err.message || String(err);
  }

  /** Every connection stopped for good (e.g. the credentials were refused): the consumer ends. */
  _fail(err) {
    if (this._failure) return;
    this._failure = err;
    this._noteError(err);
    if (this._iterator) this._iterator._fail(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    // Unheard, it is thrown where handlers run (as an EventEmitter's 'error' is); with no sink
    // yet it waits for a loop: its first next() rejects with it.
    else if (!this._iterator && this.listenerCount('message') > 0) rethrowLater(err);
    this.close().catch(() => {});
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  /**
   * What one read of a connection brought (a lib/batch.js Batch): its messages buffered, then
   * handed out as far as the loop or the handlers take them. The app's code called from here
   * (handlers, 'duplicate' and 'error' listeners) throws nothing back into it (see _tell): the
   * receiver would release the batch's deliveries, those buffered here included.
   */
  _onBatch(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    const batch = ctx.batch;
    const n = batch.length;
    this._stats.received += n;
    link.counts.received += n;
    link.lastMessageAt = Date.now();
    const arrivedAt = performance.now();
    for (let i = 0; i < n; i++) this._onDelivery(new ConsumerMessage(this, batch, i, link, arrivedAt));
    this._drain();
  }

  _onDelivery(msg) {
    if (this._closing) {
      msg.release();
      return;
    }
    if (this._isDuplicate(msg)) return;
    this._buffer.push(msg);
  }

  /** A redelivery of a message accepted before: accepted again at once, not handed out. */
  _isDuplicate(msg) {
    const w = this._window;
    if (!w || msg.messageId === undefined || !w.has(msg.messageId)) return false;
    this._acceptDuplicate(msg);
    return true;
  }

  /** A copy of a message accepted before, or (batches) of one in the same batch: accepted at once, counted, not handed out. */
  _acceptDuplicate(msg) {
    msg._duplicate = true;
    this._stats.duplicates += 1;
    msg._link.counts.duplicates += 1;
    msg.accept();
    if (this.listenerCount('duplicate') === 0) return;
    try {
      this.emit('duplicate', msg);
    } catch (err) {
      // Told as a handler's error is (the message is accepted already).
      const error = asError(err);
      this._noteError(error);
      this._tell(error, msg);
    }
  }

  /** Whether no more messages can arrive until some are settled: what is buffered uses up every open connection's credit. */
  _creditUsedUp() {
    let open = 0;
    for (const link of this._links) if (link.open) open += 1;
    return this._buffer.length >= open * this._credit;
  }

  _remember(id) {
    const w = this._window;
    if (w.has(id)) w.delete(id);
    w.set(id, true);
    if (w.size > this._dedupeSize) w.delete(w.keys().next().value);
  }

  _onSettled(msg, state, sent) {
    if (msg._duplicate) return;
    if (state === 'accepted' && this._window && msg.messageId !== undefined) this._remember(msg.messageId);
    if (sent) {
      this._stats[state] += 1;
      msg._link.counts[state] += 1;
    }
    if (msg._iterated) this._checkIdle();
  }

  /** Hands buffered messages to the loop or the handlers, as far as they take them. */
  _drain() {
    if (this._draining) return;
    this._draining = true;
    try {
      if (this._iterator) {
        if (!this._paused && !this._closing) this._iterator._pull();
        return;
      }
      while (this._buffer.length > 0 && !this._paused && !this._closing) {
        if (this.listenerCount('message') === 0 || this._handed.size >= this._concurrency) break;
        const msg = this._buffer.shift();
        if (this._isDuplicate(msg)) continue;
        this._runHandlers(msg);
      }
    } finally {
      this._draining = false;
    }
  }

  /** The 'message' listeners, called with `msg`: a result, or a promise of all their results. */
  _invoke(msg) {
    const listeners = this.rawListeners('message');
    return listeners.length === 1 ? listeners[0].call(this, msg) : Promise.all(listeners.map((l) => l.call(this, msg)));
  }

  _runHandlers(msg) {
    this._handed.add(msg);
    msg._handedAt = performance.now();
    // Traced (when subscribed) as tracePromise() would for a promise, as traceSync() for a plain
    // return: start/end around the call, asyncStart/asyncEnd around the settlement that follows.
    const tracing = diagnostics.handlerTracing();
    const ctx = tracing === null ? null : { message: msg, clientId: msg.clientId, topic: msg.topic, messageId: msg.messageId };
    let result;
    try {
      result = tracing === null ? this._invoke(msg) : tracing.traceSync(this._invoke, ctx, this, msg);
    } catch (err) {
      this._handlerDone(msg, err, true);
      return;
    }
    if (result && typeof result.then === 'function') {
      if (tracing === null) {
        result.then(() => this._handlerDone(msg, undefined, false), (err) => this._handlerDone(msg, err, true));
        return;
      }
      result.then((value) => {
        ctx.result = value;
        tracing.asyncStart.publish(ctx);
        try {
          this._handlerDone(msg, undefined, false);
        } finally {
          tracing.asyncEnd.publish(ctx);
        }
      }, (err) => {
        ctx.error = err;
        tracing.error.publish(ctx);
        tracing.asyncStart.publish(ctx);
        try {
          this._handlerDone(msg, err, true);
        } finally {
          tracing.asyncEnd.publish(ctx);
        }
      });
    } else {
      this._handlerDone(msg, undefined, false);
    }
  }

  /** A handler finished: resolved → accept, rejected/threw → release and 'error' (unless it settled). */
  _handlerDone(msg, err, failed) {
    this._observeHandling(msg._handedAt);
    if (failed) {
      if (!msg.settled) msg.release();
      const error = asError(err);
      this._noteError(error);
      if (diagnostics.error.hasSubscribers) {
        const connection = msg._link.connection;
        diagnostics.publishError(connection, connection._epoch, 'handler', error, { attach: msg._attach, deliveryId: msg._deliveryId, messageId: msg.messageId });
      }
      this._tell(error, msg);
    } else if (!msg.settled) {
      msg.accept();
    }
    this._finished(msg);
  }

  /**
   * An error of the app's code (a handler, a 'duplicate' listener): to 'error' listeners, else
   * thrown outside the callback (as an EventEmitter's unheard 'error'). What an 'error' listener
   * throws is thrown outside too, never back into the read being handed out.
   */
  _tell(error, msg) {
    try {
      if (this.listenerCount('error') > 0) this.emit('error', error, msg);
      else rethrowLater(error);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }

  /** The app is done with a message it was handed. */
  _finished(msg) {
    this._handed.delete(msg);
    this._checkIdle();
    this._drain();
  }

  /** The app is done with a batch it was handed. */
  _finishedAll(msgs) {
    for (const msg of msgs) this._handed.delete(msg);
    this._checkIdle();
    this._drain();
  }

  /** A handler call, loop iteration or batch that began at `since` (performance.now()) ended now. */
  _observeHandling(since) {
    if (since > 0) this._durations.observe((performance.now() - since) / 1000);
  }

  [util.inspect.custom]() {
    return `Consumer { host: ${JSON.stringify(this.host)}, port: ${this.port}, consumerGroupId: ${JSON.stringify(this.consumerGroupId)}, clientIds: ${JSON.stringify(this.clientIds)}, stats: ${util.inspect(this.stats(), { breakLength: Infinity })} }`;
  }
}

module.exports = { Consumer };
