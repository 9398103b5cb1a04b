'use strict';
// The TypeError a wrong option gets: it names the option and describes the value given, quoting
// it only where that is safe (never a secret). Used by every module that checks options
// (options.js, tls.js for `ca`); requires nothing of the package.

/** Option names whose values are secrets (a signed username carries the STS token): never quoted in errors, masked wherever options are shown. */
const SECRET_OPTIONS = new Set(['username', 'password', 'accessKeySecret', 'securityToken', 'key', 'pfx', 'passphrase']);

// Options whose string values are safe to quote in an error; anything else (a password, a secret,
// a whole options argument that turned out to be a string) is described by its type alone.
const QUOTABLE = new Set(['host', 'port', 'transport', 'hostname', 'servername', 'sasl_init_hostname', 'container_id',
  'source', 'name', 'idle_time_out', 'reconnect', 'credit_window', 'autoaccept', 'batch', 'batch.max', 'rejectUnauthorized',
  'authMode', 'signMethod', 'minVersion', 'maxVersion', 'secureProtocol', 'ciphers', 'ecdhCurve', 'credentials.authMode', 'credentials.signMethod', 'credentials().authMode',
  'credentials().signMethod']);

function describe(value, name) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  const t = typeof value;
  if (t === 'string' && !QUOTABLE.has(name)) return 'a string';
  if (SECRET_OPTIONS.has(name) || t === 'object' || t === 'function' || t === 'symbol') return `a value of type ${t}`;
  if (t === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${t} ${String(value)}`;
}

function fail(name, expected, value) {
  const err = new TypeError(`aliyun-iot-amqp: option '${name}' must be ${expected}, got ${describe(value, name)}`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  err.option = name;
  return err;
}


module.exports = { SECRET_OPTIONS, describe, fail };
