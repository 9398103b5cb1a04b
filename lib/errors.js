'use strict';
// The error the rhea-shaped API reports for the connection or the server (an AMQP error condition
// and its description), as rhea's users meet it in `context.error`.

const native = require('./native.js');
const { alertNaming } = require('./tls.js');

const AUTH_CONDITION = native.CONDITION_UNAUTHORIZED_ACCESS;

/**
 * An error reported by the connection or the server: `condition` is the AMQP error condition;
 * `code` is Node's `err.code` where there is one (a refused certificate: `DEPTH_ZERO_SELF_SIGNED_CERT`,
 * `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, ..., under the condition `aliyun-iot-amqp:tls`).
 */
class ConnectionError extends Error {
  /** `scope` 'link': the error of a receiver's link (an unauthorized-access there is no failed login). */
  constructor(description, condition, connection, code, scope) {
    let message = description || condition;
    if (condition === AUTH_CONDITION && scope === 'link') {
      if (!/authoriz/i.test(message)) message = `not authorized to receive: ${message}`;
    } else if (condition === AUTH_CONDITION && !/authenticat/i.test(message)) {
      message = `authentication failed: ${message}`;
    }
    super(message);
    this.name = 'ConnectionError';
    this.condition = condition;
    this.description = description || condition;
    if (code) this.code = code;
    Object.defineProperty(this, 'connection', { value: connection, enumerable: false });
  }

  toJSON() {
    return { type: this.name, code: this.condition, message: this.description };
  }
}

/** The ConnectionError for a native `{condition, description, code}`, or undefined when there is none. */
function toError(info, connection, scope) {
  if (!info) return undefined;
  let { description, code } = info;
  // A TLS alert's code and words as the running Node's OpenSSL names them.
  if (code && code.startsWith('ERR_SSL_SSLV3_ALERT_') && alertNaming() !== 'SSLV3') {
    code = code.replace('SSLV3_ALERT', 'SSL/TLS_ALERT');
    description = description.replace('sslv3 alert', 'ssl/tls alert');
  }
  return new ConnectionError(description, info.condition, connection, code ?? undefined, scope);
}

module.exports = { ConnectionError, toError, AUTH_CONDITION };
