'use strict';
// createConsumer() options, checked the way a user needs (a TypeError naming the first bad option)
// and completed: where to connect, the client ids of the connections, the credentials (given, from
// a function, or from the environment), credit, concurrency and dedupe. The transport options are
// handed on to every connection, which checks them (lib/options.js).

const os = require('node:os');

const {
  DEFAULTS: TABLE, MAX_CLIENT_ID, SIGN_METHODS, AUTH_MODES, fail, string, number, port: portNumber, oneOf, maxChars,
} = require('../options.js');

/** createConsumer()'s defaults: its part of the one table in lib/options.js. */
const DEFAULTS = TABLE.consumer;

const MAX_CONNECTIONS = 128;

/** Options handed as they are to every connection (checked there, by lib/options.js). */
const PASS_THROUGH = Object.freeze(['transport', 'ca', 'rejectUnauthorized', 'servername', 'hostname',
  'sasl_init_hostname', 'idle_time_out', 'reconnect', 'initial_reconnect_delay', 'max_reconnect_delay',
  'reconnect_limit', 'reconnect_on_auth_failure', 'reconnect_on_certificate_failure', 'checkServerIdentity',
  'connect_timeout', 'close_timeout', 'ack_delay', 'read_delay', 'max_frame_size', 'max_message_size',
  // Node's TLS options: honoured, or refused with the reason by lib/options.js.
  'minVersion', 'maxVersion', 'secureProtocol', 'ciphers', 'ecdhCurve', 'ALPNProtocols', 'minDHSize',
  'cert', 'key', 'pfx', 'passphrase', 'crl', 'secureContext', 'sigalgs', 'session', 'requestOCSP', 'pskCallback',
  'privateKeyEngine', 'privateKeyIdentifier', 'clientCertEngine', 'secureOptions', 'enableTrace', 'allowPartialTrustChain']);

const OWN = Object.freeze(['host', 'endpoint', 'port', 'accessKeyId', 'accessKeySecret', 'securityToken',
  'credentials', 'consumerGroupId', 'iotInstanceId', 'clientId', 'signMethod', 'authMode', 'connections',
  'credit', 'concurrency', 'dedupe']);

const KNOWN = new Set([...OWN, ...PASS_THROUGH]);

/**
 * The options consumerOptions() checks that a connection would check again: where to connect, and
 * the signing parameters (all of them when the keys are given or come from the environment; all
 * but the keys with a credentials function). The consumer marks them checked (lib/options.js).
 */
const IDENTITY = ['consumerGroupId', 'clientId', 'iotInstanceId', 'authMode', 'signMethod'];
const CHECKED = Object.freeze({
  connect: new Set(['host', 'port', 'container_id']),
  identity: new Set(IDENTITY),
  keys: new Set([...IDENTITY, 'accessKeyId', 'accessKeySecret', 'securityToken']),
});

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

/** An integer from `min` to `max`. */
function integer(name, v, min, max) {
  return number(name, v, { min, max, integer: true });
}

/** The default client id: the host name and the process id (unique per process on a machine). */
function defaultClientId(room) {
  const suffix = `-${process.pid}`;
  const host = (os.hostname() || 'node').replace(/[^A-Za-z0-9._:-]/g, '-');
  return host.slice(0, Math.max(1, room - suffix.length)) + suffix;
}

/**
 * A wrong `endpoint`: the value quoted (an endpoint is no secret) and what is wrong with it, e.g.
 * `option 'endpoint' "amqps://h:99999": the port must be from 1 to 65535, not 99999`.
 */
function badEndpoint(e, what) {
  const err = new TypeError(`aliyun-iot-amqp: option 'endpoint' ${JSON.stringify(e.length > 100 ? `${e.slice(0, 100)}…` : e)}: ${what}`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  err.option = 'endpoint';
  return err;
}

const ENDPOINT_FORMS = 'a host name, host:port or amqps://host[:port]';

/** Where to connect: `host`/`port`, or `endpoint` as a host name, `host:port` or an amqps:// URL. */
function address(o) {
  if (o.host !== undefined && o.endpoint !== undefined) {
    throw fail('endpoint', 'left unset when host is given', o.endpoint);
  }
  let host = o.host;
  let port;
  let transport;
  if (o.endpoint !== undefined) {
    if (typeof o.endpoint !== 'string') throw fail('endpoint', `a string (${ENDPOINT_FORMS})`, o.endpoint);
    const e = o.endpoint;
    if (e === '') throw badEndpoint(e, `empty: give ${ENDPOINT_FORMS}`);
    // The port is checked on its own, so that a wrong one is not blamed on the rest of the endpoint.
    const portOf = (text) => {
      const n = /^\d+$/.test(text) ? Number(text) : NaN;
      if (!(n >= 1 && n <= 65535)) throw badEndpoint(e, `the port must be a number from 1 to 65535, not ${JSON.stringify(text)}`);
      return n;
    };
    if (e.includes('://')) {
      const scheme = e.slice(0, e.indexOf('://'));
      if (!/^amqps?$/i.test(scheme)) throw badEndpoint(e, `not an amqps:// URL (the scheme must be amqps://, or amqp:// for plain TCP), not ${scheme}://`);
      const m = /^[A-Za-z]+:\/\/(\[[^\]]*\]|[^/:?#@]*)(?::([^/?#]*))?(\/?)$/.exec(e);
      if (!m) throw badEndpoint(e, 'an amqps:// URL has a host and a port only (amqps://host[:port]): no user, path, query or fragment');
      if (m[2] !== undefined) port = portOf(m[2]);
      let url;
      try {
        url = new URL(`${scheme}://${m[1]}`);
      } catch {
        throw badEndpoint(e, `not a host name: ${JSON.stringify(m[1])}`);
      }
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (!host) throw badEndpoint(e, 'no host name (amqps://host[:port])');
      transport = scheme.toLowerCase() === 'amqps' ? 'tls' : 'tcp';
    } else {
      if (/^[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$/.test(e)) throw badEndpoint(e, 'an IPv6 address goes in brackets: [address] or [address]:port');
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/?#@[\]\s]+))(?::(.*))?$/.exec(e);
      if (!m) throw badEndpoint(e, `not ${ENDPOINT_FORMS}`);
      host = m[1] !== undefined ? m[1] : m[2];
      if (m[3] !== undefined) port = portOf(m[3]);
    }
  }
  if (host === undefined) throw fail('host', 'a non-empty string (the AMQP endpoint), or give endpoint', host);
  string('host', host);
  if (o.transport !== undefined) transport = o.transport;
  if (transport === undefined) transport = DEFAULTS.transport;
  if (o.port !== undefined) port = o.port;
  if (port === undefined) port = transport === 'tcp' ? TABLE.ports.tcp : DEFAULTS.port;
  return { host, port: portNumber(port), transport };
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
  const room = MAX_CLIENT_ID - suffixLength;
  let clientId = o.clientId;
  if (clientId === undefined) clientId = defaultClientId(room);
  string('clientId', clientId);
  if (clientId.includes('|')) throw fail('clientId', "free of '|' (it delimits the platform's username)", clientId);
  maxChars('clientId', clientId, room, suffixLength ? ` (${MAX_CLIENT_ID} less the '-N' suffix of ${connections} connections)` : '');
  const clientIds = connections === 1 ? [clientId] : Array.from({ length: connections }, (_, i) => `${clientId}-${i}`);

  const consumerGroupId = string('consumerGroupId', o.consumerGroupId);
  if (o.iotInstanceId !== undefined) string('iotInstanceId', o.iotInstanceId, { empty: true });
  const signMethod = oneOf('signMethod', o.signMethod === undefined ? DEFAULTS.signMethod : o.signMethod, SIGN_METHODS);
  if (o.authMode !== undefined) oneOf('authMode', o.authMode, AUTH_MODES);

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
    if (source.securityToken !== undefined) string('securityToken', source.securityToken);
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
  if (transportOptions.reconnect_on_certificate_failure === undefined) {
    transportOptions.reconnect_on_certificate_failure = DEFAULTS.reconnect_on_certificate_failure;
  }

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

/** Consumer.close() options: `{timeout}` in ms (0 or more, Infinity allowed). Returns the timeout. */
function closeOptions(o) {
  if (o === undefined) return DEFAULTS.closeTimeout;
  if (o === null || typeof o !== 'object') throw fail('close options', 'an object', o);
  if (o.timeout === undefined) return DEFAULTS.closeTimeout;
  if (typeof o.timeout !== 'number' || !(o.timeout >= 0)) throw fail('timeout', 'a number of ms, 0 or more', o.timeout);
  return o.timeout;
}

/** consumer.batches() options: `{max, maxWaitMs}`. Returns both, defaulted. */
function batchOptions(o) {
  if (o === undefined) return { max: DEFAULTS.batchMax, maxWaitMs: DEFAULTS.batchMaxWaitMs };
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw fail('batches options', 'an object', o);
  for (const name of Object.keys(o)) {
    if (name !== 'max' && name !== 'maxWaitMs' && o[name] !== undefined) {
      const err = new TypeError(`aliyun-iot-amqp: unknown option '${name}' for batches() (it takes max and maxWaitMs)`);
      err.code = 'ERR_INVALID_ARG_VALUE';
      err.option = name;
      throw err;
    }
  }
  return {
    max: o.max === undefined ? DEFAULTS.batchMax : integer('max', o.max, 1, 1000000),
    maxWaitMs: o.maxWaitMs === undefined ? DEFAULTS.batchMaxWaitMs : number('maxWaitMs', o.maxWaitMs, { min: 0, max: 1e9 }),
  };
}

module.exports = { consumerOptions, closeOptions, batchOptions, DEFAULTS, CHECKED };
