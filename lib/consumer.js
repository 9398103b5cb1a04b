'use strict';
// The platform-native API: createConsumer(options) → a Consumer of one consumer group over one or
// more connections, with messages as the platform describes them (topic, messageId, generateTime,
// content) and an explicit, documented settlement discipline. Built on the rhea-shaped container
// of lib/container.js (each connection signs its credentials afresh at every attempt, in Rust); it
// never loads rhea.

const { EventEmitter } = require('node:events');
const os = require('node:os');
const util = require('node:util');

const { Container } = require('./container.js');
const { fail } = require('./options.js');
const { parseTopic } = require('./topic.js');

const DEFAULTS = Object.freeze({
  port: 5671,
  transport: 'tls',
  signMethod: 'hmacsha256',
  connections: 1,
  credit: 100,
  concurrency: 10,
  dedupeSize: 10000,
  closeTimeout: 30000,
});

const MAX_CONNECTIONS = 128;

/** Options handed as they are to every connection (checked there, by lib/options.js). */
const PASS_THROUGH = Object.freeze(['transport', 'ca', 'rejectUnauthorized', 'servername', 'hostname',
  'sasl_init_hostname', 'idle_time_out', 'reconnect', 'initial_reconnect_delay', 'max_reconnect_delay',
  'reconnect_limit', 'reconnect_on_auth_failure', 'connect_timeout', 'close_timeout', 'max_frame_size',
  'max_message_size']);

const OWN = Object.freeze(['host', 'endpoint', 'port', 'accessKeyId', 'accessKeySecret', 'securityToken',
  'credentials', 'consumerGroupId', 'iotInstanceId', 'clientId', 'signMethod', 'authMode', 'connections',
  'credit', 'concurrency', 'dedupe']);

const KNOWN = new Set([...OWN, ...PASS_THROUGH]);

const ENV = Object.freeze({
  accessKeyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
  accessKeySecret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  securityToken: 'ALIBABA_CLOUD_SECURITY_TOKEN',
});

function unknownOption(name) {
  const err = new TypeError(`aliyun-iot-amqp: unknown option '${name}' for createConsumer()`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  err.option = name;
  return err;
}

function nonEmptyString(name, v) {
  if (typeof v !== 'string' || v === '') throw fail(name, 'a non-empty string', v);
  return v;
}

function integer(name, v, min, max) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw fail(name, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

/** The default client id: the host name and the process id (unique per process on a machine). */
function defaultClientId(room) {
  const suffix = `-${process.pid}`;
  const host = (os.hostname() || 'node').replace(/[^A-Za-z0-9._:-]/g, '-');
  return host.slice(0, Math.max(1, room - suffix.length)) + suffix;
}

/** Where to connect: `host`/`port`, or `endpoint` as a host name, `host:port` or an amqps:// URL. */
function address(o) {
  if (o.host !== undefined && o.endpoint !== undefined) {
    throw fail('endpoint', 'left unset when host is given', o.endpoint);
  }
  let host = o.host;
  let port;
  let transport;
  if (o.endpoint !== undefined) {
    nonEmptyString('endpoint', o.endpoint);
    if (o.endpoint.includes('://')) {
      let url;
      try {
        url = new URL(o.endpoint);
      } catch {
        throw fail('endpoint', 'a host name or an amqps:// URL', o.endpoint);
      }
      if (url.protocol !== 'amqps:' && url.protocol !== 'amqp:') throw fail('endpoint', 'a host name or an amqps:// URL', o.endpoint);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (url.port) port = Number(url.port);
      transport = url.protocol === 'amqps:' ? 'tls' : 'tcp';
    } else {
      const m = /^([^:/]+)(?::(\d+))?$/.exec(o.endpoint);
      if (!m) throw fail('endpoint', 'a host name or an amqps:// URL', o.endpoint);
      host = m[1];
      if (m[2]) port = Number(m[2]);
    }
  }
  if (host === undefined) throw fail('host', 'a non-empty string (the AMQP endpoint), or give endpoint', host);
  nonEmptyString('host', host);
  if (o.transport !== undefined) transport = o.transport;
  if (transport === undefined) transport = DEFAULTS.transport;
  if (o.port !== undefined) port = o.port;
  if (port === undefined) port = transport === 'tcp' ? 5672 : DEFAULTS.port;
  if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port);
  integer('port', port, 1, 65535);
  return { host, port, transport };
}

/**
 * Checks and completes createConsumer() options. Throws a TypeError naming the first bad option.
 * Secrets stay in the returned object only; the Consumer keeps them in a closure.
 */
function consumerOptions(options, env = process.env) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw fail('options', 'an object', options);
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name) && options[name] !== undefined) throw unknownOption(name);
  }
  const o = options;
  const where = address(o);

  const connections = o.connections === undefined ? DEFAULTS.connections : integer('connections', o.connections, 1, MAX_CONNECTIONS);
  // With several connections, client ids are clientId-0 ... clientId-(n-1); with one, clientId itself.
  const suffixLength = connections > 1 ? 1 + String(connections - 1).length : 0;
  const room = 64 - suffixLength;
  let clientId = o.clientId;
  if (clientId === undefined) clientId = defaultClientId(room);
  nonEmptyString('clientId', clientId);
  if (clientId.includes('|')) throw fail('clientId', "free of '|' (it delimits the platform's username)", clientId);
  if (clientId.length > room) {
    throw fail('clientId', `at most ${room} characters${suffixLength ? ` (64 less the '-N' suffix of ${connections} connections)` : ''}`, clientId);
  }
  const clientIds = connections === 1 ? [clientId] : Array.from({ length: connections }, (_, i) => `${clientId}-${i}`);

  const consumerGroupId = nonEmptyString('consumerGroupId', o.consumerGroupId);
  if (o.iotInstanceId !== undefined && typeof o.iotInstanceId !== 'string') throw fail('iotInstanceId', 'a string', o.iotInstanceId);
  const signMethod = o.signMethod === undefined ? DEFAULTS.signMethod : o.signMethod;
  if (!['hmacmd5', 'hmacsha1', 'hmacsha256'].includes(signMethod)) throw fail('signMethod', "'hmacmd5', 'hmacsha1' or 'hmacsha256'", signMethod);
  if (o.authMode !== undefined && !['aksign', 'ststoken'].includes(o.authMode)) throw fail('authMode', "'aksign' or 'ststoken'", o.authMode);

  // Credentials: a function, the options, or the environment (as the platform's guide reads them).
  let credentials;
  let keys;
  if (o.credentials !== undefined) {
    if (typeof o.credentials !== 'function') throw fail('credentials', 'a function returning (a promise of) {accessKeyId, accessKeySecret, securityToken?}', o.credentials);
    for (const name of ['accessKeyId', 'accessKeySecret', 'securityToken']) {
      if (o[name] !== undefined) throw fail(name, 'left unset when credentials is a function', o[name]);
    }
    credentials = o.credentials;
  } else {
    const fromEnv = o.accessKeyId === undefined && o.accessKeySecret === undefined;
    const source = fromEnv
      ? { accessKeyId: env[ENV.accessKeyId], accessKeySecret: env[ENV.accessKeySecret], securityToken: o.securityToken !== undefined ? o.securityToken : env[ENV.securityToken] || undefined }
      : { accessKeyId: o.accessKeyId, accessKeySecret: o.accessKeySecret, securityToken: o.securityToken };
    for (const name of ['accessKeyId', 'accessKeySecret']) {
      if (typeof source[name] !== 'string' || source[name] === '') {
        throw fail(name, `a non-empty string (or set ${ENV[name]}, or give credentials)`, source[name]);
      }
    }
    if (source.securityToken !== undefined && (typeof source.securityToken !== 'string' || source.securityToken === '')) {
      throw fail('securityToken', 'a non-empty string', source.securityToken);
    }
    const authMode = o.authMode !== undefined ? o.authMode : source.securityToken ? 'ststoken' : 'aksign';
    if (authMode === 'ststoken' && !source.securityToken) {
      throw fail('securityToken', `a non-empty string when authMode is 'ststoken' (or set ${ENV.securityToken})`, source.securityToken);
    }
    keys = { ...source, authMode, securityToken: authMode === 'ststoken' ? source.securityToken : undefined };
  }

  const credit = o.credit === undefined ? DEFAULTS.credit : integer('credit', o.credit, 1, 1000000);
  const concurrency = o.concurrency === undefined ? DEFAULTS.concurrency : integer('concurrency', o.concurrency, 1, 1000000);
  let dedupe = 0;
  if (o.dedupe === true) dedupe = DEFAULTS.dedupeSize;
  else if (o.dedupe !== undefined && o.dedupe !== false) {
    if (o.dedupe === null || typeof o.dedupe !== 'object' || Array.isArray(o.dedupe)) throw fail('dedupe', 'a boolean or {size}', o.dedupe);
    dedupe = o.dedupe.size === undefined ? DEFAULTS.dedupeSize : integer('dedupe.size', o.dedupe.size, 1, 100000000);
  }

  const transportOptions = {};
  for (const name of PASS_THROUGH) if (o[name] !== undefined) transportOptions[name] = o[name];
  transportOptions.transport = where.transport;

  return {
    host: where.host,
    port: where.port,
    transportOptions,
    clientId,
    clientIds,
    consumerGroupId,
    iotInstanceId: o.iotInstanceId,
    signMethod,
    authMode: o.authMode,
    credentials,
    keys,
    credit,
    concurrency,
    dedupe,
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** messageId as a decimal string: the platform sends a string or a long. */
function idString(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v)) return v.length === 8 ? v.readBigInt64BE(0).toString() : v.toString('hex');
  return String(v);
}

/** generateTime as ms since the epoch (a long on the wire). */
function timeNumber(v) {
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v) && v.length === 8) return Number(v.readBigInt64BE(0));
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

/** The payload as bytes: the data section(s), or an amqp-value body as its text / JSON. */
function contentOf(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'object' && body.typecode === 0x75) {
    if (body.multiple) return Buffer.concat(body.content);
    return Buffer.isBuffer(body.content) ? body.content : Buffer.from(body.content);
  }
  if (typeof body === 'object' && body.typecode === 0x76) return Buffer.from(JSON.stringify(body.content));
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** One message of the subscription. Settle it once: accept(), release() or reject(). */
class ConsumerMessage {
  #consumer;
  #delivery;
  #link;
  #topicInfo;

  constructor(consumer, context, link) {
    const raw = context.message;
    const props = raw.application_properties || {};
    this.#consumer = consumer;
    this.#delivery = context.delivery;
    this.#link = link;
    /** The topic the device published on (application property `topic`). */
    this.topic = typeof props.topic === 'string' ? props.topic : undefined;
    /** The platform's message id as a decimal string (application property `messageId`, else `message_id`). */
    this.messageId = idString(props.messageId !== undefined ? props.messageId : raw.message_id);
    /** When the platform made the message, ms since the epoch (not an ordering key). */
    this.generateTime = timeNumber(props.generateTime);
    /** The payload bytes. */
    this.content = contentOf(raw.body);
    /** The client id of the connection it came on. */
    this.clientId = link.clientId;
    /** The rhea-shaped message, as the drop-in API gives it. */
    this.raw = raw;
    /** Whether it was settled (here): `state` tells how. */
    this.settled = false;
    /** 'accepted' | 'released' | 'rejected' once settled. */
    this.state = undefined;
    this._duplicate = false;
    this._iterated = false;
  }

  /** `{productKey, deviceName, kind, identifier}` parsed from the topic (see lib/topic.js). */
  get topicInfo() {
    if (this.#topicInfo === undefined) this.#topicInfo = parseTopic(this.topic);
    return this.#topicInfo;
  }

  /** The payload as UTF-8 text. */
  text() {
    return this.content.toString('utf8');
  }

  /** The payload parsed as JSON (throws a SyntaxError when it is not JSON). */
  json() {
    return JSON.parse(this.content.toString('utf8'));
  }

  /**
   * Accepts the message: the platform is done with it. Returns true when the acknowledgement goes
   * out on the live connection, false when it cannot (already settled, or the connection it came
   * on is gone: the platform then delivers it again).
   */
  accept() {
    return this._settle('accepted');
  }

  /** Releases the message: the platform delivers it again (here or to another consumer). */
  release() {
    return this._settle('released');
  }

  /** Rejects the message: the platform drops it. `error`: a string, an Error or `{condition, description}`. */
  reject(error) {
    return this._settle('rejected', error);
  }

  _settle(state, error) {
    if (this.settled) return false;
    this.settled = true;
    this.state = state;
    const d = this.#delivery;
    const sent = state === 'accepted' ? d.accept() : state === 'released' ? d.release() : d.reject(error);
    this.#consumer._onSettled(this, state, sent);
    return sent;
  }

  get _link() {
    return this.#link;
  }

  [util.inspect.custom](depth, options) {
    const shown = { topic: this.topic, messageId: this.messageId, generateTime: this.generateTime, content: `<${this.content.length} bytes>`, clientId: this.clientId, settled: this.settled, state: this.state };
    return `ConsumerMessage ${util.inspect(shown, options)}`;
  }

  toJSON() {
    return { topic: this.topic, messageId: this.messageId, generateTime: this.generateTime, topicInfo: this.topicInfo, content: this.text() };
  }
}

// ---------------------------------------------------------------------------------------------
// Iteration

/**
 * The for-await iterator. The message a loop iteration receives is accepted when the loop asks
 * for the next one (its body finished normally) unless the body settled it; if the loop is left
 * another way (break, return, throw) it is released, and the consumer is closed.
 */
class MessageIterator {
  constructor(consumer) {
    this._consumer = consumer;
    this._held = null;
    this._waiter = null;
    this._done = false;
  }

  next() {
    const c = this._consumer;
    if (this._held) {
      // The loop asks for the next message: it is done with the one it held.
      const msg = this._held;
      this._held = null;
      if (!msg.settled) msg.accept();
      c._finished(msg);
    }
    if (this._done) return Promise.resolve({ value: undefined, done: true });
    if (c._failure) {
      this._done = true;
      return Promise.reject(c._failure);
    }
    if (c._closing) {
      this._done = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this._waiter = { resolve, reject };
      c._drain();
    });
  }

  return() {
    const c = this._consumer;
    if (this._held) {
      // Left early (break, return or throw): the message was not finished, it comes again.
      const msg = this._held;
      this._held = null;
      if (!msg.settled) msg.release();
      c._finished(msg);
    }
    this._end();
    return c.close().then(() => ({ value: undefined, done: true }));
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  get _waiting() {
    return this._waiter !== null;
  }

  _hand(msg) {
    const w = this._waiter;
    this._waiter = null;
    this._held = msg;
    w.resolve({ value: msg, done: false });
  }

  _end() {
    this._done = true;
    const w = this._waiter;
    this._waiter = null;
    if (w) w.resolve({ value: undefined, done: true });
  }

  _fail(err) {
    const w = this._waiter;
    this._waiter = null;
    if (w) {
      this._done = true;
      w.reject(err);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The consumer

function rethrowLater(err) {
  process.nextTick(() => {
    throw err;
  });
}

function asError(err) {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : `handler failed: ${util.inspect(err)}`);
}

/**
 * A consumer of one consumer group's server-side subscription over `connections` connections,
 * their messages merged into one stream. Events: 'message' (see below), 'error', 'connected'
 * ({clientId, reconnect}), 'disconnected' ({clientId, error, reconnecting}), 'duplicate' (msg),
 * 'close'.
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
      _dedupeSize: { value: cfg.dedupe },
      _window: { value: cfg.dedupe ? new Map() : null },
      _links: { value: [] },
      _byConnection: { value: new Map() },
      _buffer: { value: [], writable: true },
      _handed: { value: new Set() },
      _idleWaiters: { value: [], writable: true },
      _stats: {
        value: { received: 0, accepted: 0, released: 0, rejected: 0, duplicates: 0, reconnects: 0, lastError: null },
      },
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
        return () => ({ ...keys, consumerGroupId, clientId, iotInstanceId, signMethod });
      }
      return () => Promise.resolve()
        .then(() => fetch())
        .then((c) => {
          if (c === null || typeof c !== 'object') {
            throw new TypeError('aliyun-iot-amqp: credentials() must return (a promise of) {accessKeyId, accessKeySecret, securityToken?}');
          }
          const mode = authMode !== undefined ? authMode : c.securityToken ? 'ststoken' : 'aksign';
          return {
            accessKeyId: c.accessKeyId,
            accessKeySecret: c.accessKeySecret,
            securityToken: mode === 'ststoken' ? c.securityToken : undefined,
            authMode: mode,
            consumerGroupId,
            clientId,
            iotInstanceId,
            signMethod,
          };
        });
    };

    const container = new Container({ id: cfg.clientId });
    this._container = container;
    try {
      for (const [index, clientId] of cfg.clientIds.entries()) {
        const connection = container.connect({
          ...cfg.transportOptions,
          host: cfg.host,
          port: cfg.port,
          container_id: clientId,
          credentials: credentialsFor(clientId),
        });
        const link = { index, clientId, connection, receiver: null, opens: 0, open: false, stopped: false };
        link.receiver = connection.open_receiver({ credit_window: cfg.credit, autoaccept: false });
        this._links.push(link);
        this._byConnection.set(connection, link);
      }
    } catch (err) {
      for (const link of this._links) link.connection.close();
      throw err;
    }

    container.on('message', (ctx) => this._onDelivery(ctx));
    container.on('connection_open', (ctx) => this._onOpen(ctx));
    container.on('disconnected', (ctx) => this._onDisconnected(ctx));
    container.on('connection_error', (ctx) => this._noteError(ctx.error));
    container.on('receiver_error', (ctx) => this._noteError(ctx.error));
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
    if (this._iterator) throw new Error('aliyun-iot-amqp: the consumer is already being iterated; one for-await loop at a time');
    if (this.listenerCount('message') > 0) {
      throw new Error("aliyun-iot-amqp: the consumer has 'message' listeners; use either a for-await loop or 'message' listeners");
    }
    this._iterator = new MessageIterator(this);
    return this._iterator;
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
      inFlight: this._handed.size,
      buffered: this._buffer.length,
      connections: this._links.filter((l) => l.open).length,
      lastError: s.lastError,
    };
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
    let timeout = DEFAULTS.closeTimeout;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw fail('close options', 'an object', options);
      if (options.timeout !== undefined) {
        if (typeof options.timeout !== 'number' || !(options.timeout >= 0)) throw fail('timeout', 'a number of ms, 0 or more', options.timeout);
        timeout = options.timeout;
      }
    }
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
    for (const link of this._links) link.open = false;
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

  _onOpen(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    link.opens += 1;
    link.open = true;
    if (link.opens > 1) this._stats.reconnects += 1;
    this.emit('connected', { clientId: link.clientId, reconnect: link.opens > 1 });
  }

  _onDisconnected(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    link.open = false;
    if (ctx.error) this._noteError(ctx.error);
    // What that connection delivered and is not handed out yet cannot be settled any more: the
    // platform delivers it again.
    if (this._buffer.some((m) => m._link === link)) this._buffer = this._buffer.filter((m) => m._link !== link);
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

  _onDelivery(ctx) {
    const link = this._byConnection.get(ctx.connection);
    if (!link) return;
    this._stats.received += 1;
    const msg = new ConsumerMessage(this, ctx, link);
    if (this._closing) {
      msg.release();
      return;
    }
    if (this._isDuplicate(msg)) return;
    this._buffer.push(msg);
    this._drain();
  }

  /** A redelivery of a message accepted before: accepted again at once, not handed out. */
  _isDuplicate(msg) {
    const w = this._window;
    if (!w || msg.messageId === undefined || !w.has(msg.messageId)) return false;
    msg._duplicate = true;
    this._stats.duplicates += 1;
    msg.accept();
    if (this.listenerCount('duplicate') > 0) this.emit('duplicate', msg);
    return true;
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
    if (sent) this._stats[state] += 1;
    if (msg._iterated) this._checkIdle();
  }

  /** Hands buffered messages to the loop or the handlers, as far as they take them. */
  _drain() {
    if (this._draining) return;
    this._draining = true;
    try {
      while (this._buffer.length > 0 && !this._paused && !this._closing) {
        const it = this._iterator;
        if (it) {
          if (!it._waiting) break;
          const msg = this._buffer.shift();
          if (this._isDuplicate(msg)) continue;
          msg._iterated = true;
          this._handed.add(msg);
          it._hand(msg);
          continue;
        }
        if (this.listenerCount('message') === 0 || this._handed.size >= this._concurrency) break;
        const msg = this._buffer.shift();
        if (this._isDuplicate(msg)) continue;
        this._runHandlers(msg);
      }
    } finally {
      this._draining = false;
    }
  }

  _runHandlers(msg) {
    this._handed.add(msg);
    let result;
    try {
      const listeners = this.rawListeners('message');
      result = listeners.length === 1 ? listeners[0].call(this, msg) : Promise.all(listeners.map((l) => l.call(this, msg)));
    } catch (err) {
      this._handlerDone(msg, err, true);
      return;
    }
    if (result && typeof result.then === 'function') {
      result.then(() => this._handlerDone(msg, undefined, false), (err) => this._handlerDone(msg, err, true));
    } else {
      this._handlerDone(msg, undefined, false);
    }
  }

  /** A handler finished: resolved → accept, rejected/threw → release and 'error' (unless it settled). */
  _handlerDone(msg, err, failed) {
    if (failed) {
      if (!msg.settled) msg.release();
      const error = asError(err);
      this._noteError(error);
      if (this.listenerCount('error') > 0) this.emit('error', error, msg);
      else rethrowLater(error);
    } else if (!msg.settled) {
      msg.accept();
    }
    this._finished(msg);
  }

  /** The app is done with a message it was handed. */
  _finished(msg) {
    this._handed.delete(msg);
    this._checkIdle();
    this._drain();
  }

  [util.inspect.custom]() {
    return `Consumer { host: ${JSON.stringify(this.host)}, port: ${this.port}, consumerGroupId: ${JSON.stringify(this.consumerGroupId)}, clientIds: ${JSON.stringify(this.clientIds)}, stats: ${util.inspect(this.stats(), { breakLength: Infinity })} }`;
  }
}

/**
 * Creates a consumer and starts connecting at once (messages wait, within `credit`, until a
 * 'message' listener or a for-await loop takes them). See index.d.ts and the README.
 */
function createConsumer(options) {
  return new Consumer(options);
}

module.exports = { createConsumer, Consumer, ConsumerMessage, consumerOptions, DEFAULTS };
