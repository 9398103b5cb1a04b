'use strict';
// Every option of the package, checked the way a user needs: a wrong type or value throws a
// TypeError that names the option. Secrets never appear in these messages (only their type).
// One table of defaults (DEFAULTS) and one set of validators serve connect() and open_receiver()
// (here), sign() and the `credentials` option (here), and createConsumer() (lib/consumer/options.js).

const native = require('./native.js');
const nodeTls = require('node:tls');

const { SECRET_OPTIONS, describe, fail } = require('./invalid.js');
const { rejectUnauthorizedDefault, securityLevel } = require('./tls.js');
const { caList, nodeDefaultTrust } = require('./trust.js');

/** The core's defaults (src/config.rs `defaults`, src/sign.rs), read once: each is written there only. */
const CORE = native.coreDefaults();
/** The default sign method, everywhere (sign(), the `credentials` option, createConsumer()). */
const SIGN_METHOD = CORE.signMethod;
/**
 * Option objects whose options createConsumer() has checked already (lib/consumer/options.js):
 * the options it hands to connect(), and what its credentials function returns. Each maps to the
 * names of those options, which connectionOptions() and signOptions() then take as they are:
 * every option is checked once.
 */
const CHECKED = new WeakMap();
const NONE_CHECKED = new Set();

/** Marks the options `names` of `options` as checked; returns `options`. */
function checked(options, names) {
  CHECKED.set(options, names);
  return options;
}

/** The AMQP ports, by whether the transport is TLS. */
const PORTS = Object.freeze({ tcp: 5672, tls: 5671 });

const DEFAULTS = Object.freeze({
  /** connect() and create_container() (rhea's options), and open_receiver(). */
  // Those of this package's JavaScript (host, transport, credit_window, autoaccept), then the
  // core's, as src/config.rs explains them.
  connect: Object.freeze({
    host: 'localhost',
    transport: 'tcp',
    credit_window: 1000,
    autoaccept: true,
    idle_time_out: CORE.idleTimeOut,
    reconnect: CORE.reconnect,
    initial_reconnect_delay: CORE.initialReconnectDelay,
    max_reconnect_delay: CORE.maxReconnectDelay,
    rejectUnauthorized: CORE.rejectUnauthorized,
    max_frame_size: CORE.maxFrameSize,
    max_message_size: CORE.maxMessageSize,
    connect_timeout: CORE.connectTimeout,
    close_timeout: CORE.closeTimeout,
    reconnect_on_auth_failure: CORE.reconnectOnAuthFailure,
    // 0 turns either off.
    ack_delay: CORE.ackDelay,
    read_delay: CORE.readDelay,
    reconnect_on_certificate_failure: CORE.reconnectOnCertificateFailure,
  }),
  /** sign() and the `credentials` option of connect(). */
  sign: Object.freeze({
    signMethod: SIGN_METHOD,
  }),
  /** createConsumer() (the options it hands on to its connections default as connect()'s). */
  consumer: Object.freeze({
    port: PORTS.tls,
    transport: 'tls',
    signMethod: SIGN_METHOD,
    connections: 1,
    credit: 300,
    concurrency: 10,
    dedupeSize: 10000,
    closeTimeout: 30000,
    /** consumer.batches(): most messages per batch, and how long the first one waits for more (ms). */
    batchMax: 100,
    batchMaxWaitMs: 50,
    // A certificate that fails verification ends the consumer, as a refused login does.
    reconnect_on_certificate_failure: false,
  }),
  ports: PORTS,
});

/** The environment variables the platform's guide reads the AccessKey pair from. */
const KEY_ENV = Object.freeze({ accessKeyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID', accessKeySecret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET' });

/** The platform's limit on a client id, in characters (Unicode code points, as Rust's `chars()`). */
const MAX_CLIENT_ID = native.MAX_CLIENT_ID_LENGTH;
// The values of the native layer's string enums (src/node/sign.rs, src/node/options.rs).
const SIGN_METHODS = Object.freeze(Object.values(native.SignMethod));
const AUTH_MODES = Object.freeze(Object.values(native.AuthMode));
const TRANSPORTS = Object.freeze(Object.values(native.Transport));

// Options of rhea's connect() and Node's tls.connect() that this package cannot honour, each with
// the reason: refusing them beats ignoring them. (The TLS options it honours are read by
// tlsOptions() below; the server-side ones, honorCipherOrder, dhparam, sessionIdContext, ticketKeys
// and sessionTimeout, do nothing on a client in Node either.)
const CLIENT_CERT = 'left unset (client certificates are not supported by aliyun-iot-amqp)';
const UNSUPPORTED = Object.freeze({
  cert: CLIENT_CERT,
  key: CLIENT_CERT,
  pfx: CLIENT_CERT,
  passphrase: CLIENT_CERT,
  privateKeyEngine: CLIENT_CERT,
  privateKeyIdentifier: CLIENT_CERT,
  clientCertEngine: CLIENT_CERT,
  sasl_mechanisms: 'left unset (not supported by aliyun-iot-amqp)',
  crl: 'left unset (certificate revocation lists are not checked by aliyun-iot-amqp: Node would refuse a revoked certificate, this package cannot)',
  secureContext: 'left unset (a SecureContext cannot be read by aliyun-iot-amqp: give its ca, minVersion, ciphers ... as options instead)',
  sigalgs: 'left unset (signature algorithms cannot be restricted by aliyun-iot-amqp)',
  session: 'left unset (TLS session resumption is not supported by aliyun-iot-amqp)',
  requestOCSP: 'left unset (OCSP stapling is not supported by aliyun-iot-amqp)',
  pskCallback: 'left unset (TLS-PSK is not supported by aliyun-iot-amqp)',
  secureOptions: 'left unset (OpenSSL option bits do not apply to aliyun-iot-amqp\'s TLS)',
  enableTrace: 'left unset (OpenSSL tracing is not available: DEBUG=aliyun-iot-amqp* shows what happens)',
  allowPartialTrustChain: 'left unset (a trusted intermediate is an anchor only as a TRUSTED CERTIFICATE trusted for serverAuth)',
});

// TLS versions by Node's names: the minor number the native layer takes (rustls speaks 1.2 and 1.3).
const TLS_VERSIONS = Object.freeze({ 'TLSv1.2': 2, 'TLSv1.3': 3 });
// secureProtocol methods and the versions they allow.
const SECURE_PROTOCOLS = Object.freeze({
  TLS_method: [2, 3], TLS_client_method: [2, 3], SSLv23_method: [2, 3], SSLv23_client_method: [2, 3],
  TLSv1_2_method: [2, 2], TLSv1_2_client_method: [2, 2],
});
// ecdhCurve names (OpenSSL's and NIST's) → the key exchange groups of the native layer.
const CURVES = Object.freeze({
  X25519: 'x25519', x25519: 'x25519', 'P-256': 'secp256r1', prime256v1: 'secp256r1', secp256r1: 'secp256r1',
  'P-384': 'secp384r1', secp384r1: 'secp384r1',
});

function string(name, v, { empty = false, expected } = {}) {
  if (typeof v !== 'string' || (!empty && v.length === 0)) throw fail(name, expected || (empty ? 'a string' : 'a non-empty string'), v);
  return v;
}

function bool(name, v) {
  if (typeof v !== 'boolean') throw fail(name, 'a boolean', v);
  return v;
}

function number(name, v, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = false } = {}) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    const what = integer ? 'an integer' : 'a number';
    throw fail(name, `${what} from ${min} to ${max}`, v);
  }
  return v;
}

/** One of `values`, e.g. "'aksign' or 'ststoken'". */
function oneOf(name, v, values) {
  if (!values.includes(v)) {
    const quoted = values.map((x) => `'${x}'`);
    throw fail(name, `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`, v);
  }
  return v;
}

/** The length of a string in Unicode code points (the characters Rust's `chars()` counts). */
function charLength(s) {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}

/** A string of at most `max` characters (code points); `note` explains the limit. */
function maxChars(name, v, max, note = '') {
  if (charLength(v) > max) throw fail(name, `at most ${max} characters${note}`, v);
  return v;
}

function port(v) {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return number('port', n, { min: 1, max: 65535, integer: true });
}

/**
 * Checks signing parameters (for `sign()` and the `credentials` connection option); returns the
 * native layer's shape. `prefix` names the option path in errors (e.g. 'credentials.').
 */
function signOptions(options, prefix = '', env = process.env) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw fail(prefix ? prefix.slice(0, -1) : 'options', 'an object', options);
  const done = CHECKED.get(options) || NONE_CHECKED;
  let o = options;
  // Neither key given (e.g. both from unset process.env variables): the platform's variables.
  if (o.accessKeyId === undefined && o.accessKeySecret === undefined) {
    o = { ...o, accessKeyId: env[KEY_ENV.accessKeyId], accessKeySecret: env[KEY_ENV.accessKeySecret] };
  }
  for (const name of ['accessKeyId', 'accessKeySecret']) {
    if (done.has(name)) continue;
    const orEnv = options[name] === undefined && options[name === 'accessKeyId' ? 'accessKeySecret' : 'accessKeyId'] === undefined;
    string(prefix + name, o[name], { expected: orEnv ? `a non-empty string (or set ${KEY_ENV[name]})` : undefined });
  }
  for (const name of ['consumerGroupId', 'clientId']) if (!done.has(name)) string(prefix + name, o[name]);
  for (const name of ['iotInstanceId', 'securityToken']) {
    if (o[name] !== undefined && !done.has(name)) string(prefix + name, o[name], { empty: true });
  }
  if (!done.has('clientId')) maxChars(prefix + 'clientId', o.clientId, MAX_CLIENT_ID);
  if (o.authMode !== undefined && !done.has('authMode')) oneOf(prefix + 'authMode', o.authMode, AUTH_MODES);
  const signMethod = o.signMethod === undefined ? DEFAULTS.sign.signMethod : done.has('signMethod') ? o.signMethod : oneOf(prefix + 'signMethod', o.signMethod, SIGN_METHODS);
  if (o.authMode === 'ststoken' && !o.securityToken && !(done.has('authMode') && done.has('securityToken'))) {
    throw fail(prefix + 'securityToken', "a non-empty string when authMode is 'ststoken'", o.securityToken);
  }
  if (o.timestamp !== undefined && !(Number.isSafeInteger(o.timestamp) && o.timestamp >= 0)) {
    throw fail(prefix + 'timestamp', 'a non-negative integer (ms since the epoch)', o.timestamp);
  }
  return {
    accessKeyId: o.accessKeyId,
    accessKeySecret: o.accessKeySecret,
    consumerGroupId: o.consumerGroupId,
    clientId: o.clientId,
    iotInstanceId: o.iotInstanceId,
    authMode: o.authMode,
    // Always explicit, so that the native side never picks a default of its own.
    signMethod,
    securityToken: o.securityToken,
    timestamp: o.timestamp,
  };
}

/**
 * Resolves connection options (the connection's, then the container's, then defaults) into the
 * native layer's shape. Throws a TypeError naming the first bad option.
 */
function connectionOptions(own, inherited, defaults) {
  const has = (name) => own[name] !== undefined || inherited[name] !== undefined;
  const get = (name, def) => (own[name] !== undefined ? own[name] : inherited[name] !== undefined ? inherited[name] : def);
  const done = CHECKED.get(own) || NONE_CHECKED;

  for (const [name, why] of Object.entries(UNSUPPORTED)) {
    if (has(name)) throw fail(name, why, get(name));
  }

  const transport = oneOf('transport', get('transport', DEFAULTS.connect.transport), TRANSPORTS);
  const tls = transport !== 'tcp';

  const out = {
    host: done.has('host') ? own.host : string('host', get('host', DEFAULTS.connect.host)),
    port: done.has('port') ? own.port : port(get('port', tls ? DEFAULTS.ports.tls : DEFAULTS.ports.tcp)),
    transport,
    containerId: done.has('container_id') ? own.container_id : string('container_id', get('container_id', defaults.container_id)),
    reconnectOnAuthFailure: bool('reconnect_on_auth_failure', get('reconnect_on_auth_failure', DEFAULTS.connect.reconnect_on_auth_failure)),
    reconnectOnCertificateFailure: bool('reconnect_on_certificate_failure',
      get('reconnect_on_certificate_failure', DEFAULTS.connect.reconnect_on_certificate_failure)),
    // As tls.connect(): NODE_TLS_REJECT_UNAUTHORIZED=0 changes the default (and warns, once).
    rejectUnauthorized: bool('rejectUnauthorized', get('rejectUnauthorized', tls ? rejectUnauthorizedDefault() : DEFAULTS.connect.rejectUnauthorized)),
    maxFrameSize: number('max_frame_size', get('max_frame_size', DEFAULTS.connect.max_frame_size), { min: native.MIN_MAX_FRAME_SIZE, max: 4294967295, integer: true }),
    maxMessageSize: number('max_message_size', get('max_message_size', DEFAULTS.connect.max_message_size), { min: 1, integer: true }),
    connectTimeout: number('connect_timeout', get('connect_timeout', DEFAULTS.connect.connect_timeout), { min: 1, max: 1e9 }),
    closeTimeout: number('close_timeout', get('close_timeout', DEFAULTS.connect.close_timeout), { min: 0, max: 1e9 }),
    ackDelay: number('ack_delay', get('ack_delay', DEFAULTS.connect.ack_delay), { min: 0, max: 10000 }),
    readDelay: number('read_delay', get('read_delay', DEFAULTS.connect.read_delay), { min: 0, max: 1000 }),
  };

  const username = get('username');
  const password = get('password');
  if (has('credentials')) {
    if (username !== undefined || password !== undefined) {
      throw fail('credentials', 'given instead of username/password, not with them', get('credentials'));
    }
    if (typeof get('credentials') === 'function') {
      // Called before every attempt (e.g. to fetch a fresh STS token); its result is signed then.
      out.externalCredentials = true;
      Object.defineProperty(out, 'credentialsProvider', { value: get('credentials'), enumerable: false });
      return finish(out, get, has, tls);
    }
    const creds = signOptions(get('credentials'), 'credentials.');
    if (creds.timestamp !== undefined) throw fail('credentials.timestamp', 'left unset (each attempt signs with the current time)', creds.timestamp);
    out.sign = creds;
  } else if (username !== undefined || password !== undefined) {
    out.username = string('username', username);
    out.password = string('password', password, { empty: true });
  }

  return finish(out, get, has, tls);
}

function finish(out, get, has, tls) {
  const idle = get('idle_time_out', DEFAULTS.connect.idle_time_out);
  if (idle !== null) out.idleTimeOut = number('idle_time_out', idle, { max: 4294967295 });

  for (const [name, key] of [['hostname', 'hostname'], ['servername', 'servername'], ['sasl_init_hostname', 'saslInitHostname']]) {
    if (has(name)) out[key] = string(name, get(name));
  }

  const reconnect = get('reconnect', DEFAULTS.connect.reconnect);
  const initial = number('initial_reconnect_delay', get('initial_reconnect_delay', DEFAULTS.connect.initial_reconnect_delay), { max: 1e9 });
  const max = number('max_reconnect_delay', get('max_reconnect_delay', DEFAULTS.connect.max_reconnect_delay), { max: 1e9 });
  if (typeof reconnect === 'boolean') {
    out.reconnect = reconnect;
    out.initialReconnectDelay = initial;
    out.maxReconnectDelay = Math.max(initial, max);
  } else if (typeof reconnect === 'number') {
    // rhea: a number is a fixed delay between attempts.
    number('reconnect', reconnect, { max: 1e9 });
    out.reconnect = true;
    out.initialReconnectDelay = reconnect;
    out.maxReconnectDelay = reconnect;
  } else {
    throw fail('reconnect', 'a boolean or a delay in milliseconds', reconnect);
  }
  if (has('reconnect_limit')) {
    // As rhea: n reconnect attempts after a failure before giving up (the first attempt and n
    // more, n + 1 in all; counted afresh once a connection opens), and 0 means no limit.
    const limit = number('reconnect_limit', get('reconnect_limit'), { max: 4294967295, integer: true });
    if (limit > 0) out.reconnectLimit = limit;
  }

  if (has('checkServerIdentity')) {
    const check = get('checkServerIdentity');
    if (typeof check !== 'function') throw fail('checkServerIdentity', 'a function (hostname, cert) returning an Error to refuse', check);
    // Called after the handshake, before any credential is sent (lib/connection.js).
    out.externalIdentityCheck = true;
    Object.defineProperty(out, 'checkServerIdentity', { value: check, enumerable: false });
  }
  // Node's trust store: a `ca` alone when given, else Node's default CA certificates.
  if (has('ca')) out.ca = caList(get('ca'));
  else if (tls) Object.assign(out, nodeDefaultTrust());
  // Key sizes and digests are held to what the running Node accepts.
  if (tls) Object.assign(out, { securityLevel: securityLevel() }, tlsOptions(get, has));
  return out;
}

/** A TLS version name (minVersion, maxVersion) as its minor number. */
function tlsVersion(name, v) {
  if (TLS_VERSIONS[v] !== undefined) return TLS_VERSIONS[v];
  if (['TLSv1', 'TLSv1.1', 'SSLv3'].includes(v)) throw fail(name, "'TLSv1.2' or 'TLSv1.3' (aliyun-iot-amqp speaks TLS 1.2 and 1.3 only)", v);
  throw fail(name, "'TLSv1.2' or 'TLSv1.3'", v);
}

/**
 * The TLS options of tls.connect() honoured as Node honours them: minVersion / maxVersion /
 * secureProtocol (and tls.DEFAULT_MIN_VERSION / DEFAULT_MAX_VERSION), ciphers (Node's cipher
 * list, whose security level counts: 'DEFAULT:@SECLEVEL=0'), ecdhCurve, ALPNProtocols, minDHSize.
 */
function tlsOptions(get, has) {
  const out = {};
  let min = tlsVersion('tls.DEFAULT_MIN_VERSION', nodeTls.DEFAULT_MIN_VERSION);
  let max = tlsVersion('tls.DEFAULT_MAX_VERSION', nodeTls.DEFAULT_MAX_VERSION);
  if (has('secureProtocol')) {
    if (has('minVersion') || has('maxVersion')) throw fail('secureProtocol', 'left unset with minVersion or maxVersion (as in Node)', get('secureProtocol'));
    const range = SECURE_PROTOCOLS[get('secureProtocol')];
    if (!range) throw fail('secureProtocol', `one of ${Object.keys(SECURE_PROTOCOLS).join(', ')} (aliyun-iot-amqp speaks TLS 1.2 and 1.3 only)`, get('secureProtocol'));
    [min, max] = range;
  }
  if (has('minVersion')) min = tlsVersion('minVersion', get('minVersion'));
  if (has('maxVersion')) max = tlsVersion('maxVersion', get('maxVersion'));
  if (min > max) throw fail('minVersion', 'at most maxVersion', get('minVersion'));
  out.tlsMinVersion = min;
  out.tlsMaxVersion = max;
  if (has('ciphers')) {
    const v = get('ciphers');
    const parts = typeof v === 'string' ? v.split(/[:, ]+|(?=@)/).filter(Boolean) : null;
    let level;
    const ok = parts && parts.length > 0 && parts.every((p) => {
      const m = /^@SECLEVEL=([0-5])$/.exec(p);
      if (m) level = Number(m[1]);
      return m || p === 'DEFAULT' || v === nodeTls.DEFAULT_CIPHERS;
    });
    if (!ok) throw fail('ciphers', "'DEFAULT' with an optional @SECLEVEL=N (aliyun-iot-amqp's cipher suites are rustls's: AES-GCM and ChaCha20-Poly1305 with ECDHE; only the security level of a cipher list can be honoured)", v);
    if (level !== undefined) out.securityLevel = level;
  }
  if (has('ecdhCurve') && get('ecdhCurve') !== 'auto') {
    const v = get('ecdhCurve');
    const names = typeof v === 'string' ? v.split(':') : [];
    if (names.length === 0 || !names.every((n) => CURVES[n])) {
      throw fail('ecdhCurve', "'auto' or a list of X25519, P-256 (prime256v1) and P-384 (secp384r1), separated by ':'", v);
    }
    out.kxGroups = [...new Set(names.map((n) => CURVES[n]))];
  }
  if (has('ALPNProtocols')) {
    const v = get('ALPNProtocols');
    const list = Array.isArray(v) ? v : null;
    if (!list || !list.every((p) => (typeof p === 'string' && p.length > 0 && p.length < 256) || (p instanceof Uint8Array && p.length > 0 && p.length < 256))) {
      throw fail('ALPNProtocols', 'an array of protocol names (strings or Buffers)', v);
    }
    out.alpnProtocols = list.map((p) => Buffer.from(p));
  }
  if (has('minDHSize')) {
    // Never used: rustls negotiates no finite-field Diffie-Hellman. Checked as Node checks it.
    number('minDHSize', get('minDHSize'), { min: 1 });
  }
  return out;
}

/** Most deliveries a 'batch' event may carry. */
const MAX_BATCH = 1000000;

/** The `batch` receiver option: false/undefined (0: 'message' events), true (Infinity: as they come) or `{max}`. */
function batchOption(v) {
  if (v === undefined || v === false) return 0;
  if (v === true) return Infinity;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw fail('batch', 'a boolean or {max}', v);
  for (const k of Object.keys(v)) if (k !== 'max' && v[k] !== undefined) throw fail(`batch.${k}`, 'left unset (batch takes {max})', v[k]);
  return v.max === undefined ? Infinity : number('batch.max', v.max, { min: 1, max: MAX_BATCH, integer: true });
}

/** Receiver options: nothing, an address string, or `{source, name, credit_window, autoaccept, batch}`. */
function receiverOptions(arg, connGet, makeName) {
  let opts;
  if (arg === undefined || arg === null) opts = {};
  else if (typeof arg === 'string') opts = { source: arg };
  else if (typeof arg === 'object' && !Array.isArray(arg)) opts = arg;
  else throw fail('open_receiver', 'nothing, an address string or an options object', arg);

  let source = opts.source;
  if (source !== undefined && source !== null) {
    if (typeof source === 'object' && !Array.isArray(source)) source = source.address;
    if (source !== undefined && source !== null) string('source', source, { empty: true });
  }
  const name = opts.name === undefined ? makeName() : string('name', opts.name);
  const cw = opts.credit_window !== undefined ? opts.credit_window : connGet('credit_window', DEFAULTS.connect.credit_window);
  const creditWindow = number('credit_window', cw, { min: 1, max: 2147483647, integer: true });
  const aa = opts.autoaccept !== undefined ? opts.autoaccept : connGet('autoaccept', DEFAULTS.connect.autoaccept);
  const batch = batchOption(opts.batch);
  return {
    native: { name, source: source === null ? undefined : source, creditWindow, batch: batch > 0 },
    autoaccept: bool('autoaccept', aa),
    batch,
    source: source === undefined ? null : source,
    name,
  };
}

/** Masks the secrets of an options object (in place; nested `credentials` in a copy); returns it. */
function redact(options) {
  for (const k of SECRET_OPTIONS) if (options[k] !== undefined) options[k] = '[redacted]';
  if (options.credentials && typeof options.credentials === 'object') options.credentials = redact(Object.assign({}, options.credentials));
  return options;
}

module.exports = {
  DEFAULTS,
  MAX_CLIENT_ID,
  SIGN_METHODS,
  AUTH_MODES,
  SECRET_OPTIONS,
  connectionOptions,
  receiverOptions,
  signOptions,
  checked,
  redact,
  // The validators, shared with lib/consumer/options.js.
  fail,
  describe,
  string,
  bool,
  number,
  port,
  oneOf,
  maxChars,
};
