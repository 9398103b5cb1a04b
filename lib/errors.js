'use strict';
// The error the rhea-shaped API reports for the connection or the server (an AMQP error condition
// and its description), as rhea's users meet it in `context.error`.

const native = require('./native.js');

const AUTH_CONDITION = native.CONDITION_UNAUTHORIZED_ACCESS;

/** An error reported by the connection or the server: `condition` is the AMQP error condition. */
class ConnectionError extends Error {
  constructor(description, condition, connection) {
    let message = description || condition;
    if (condition === AUTH_CONDITION && !/authenticat/i.test(message)) message = `authentication failed: ${message}`;
    super(message);
    this.name = 'ConnectionError';
    this.condition = condition;
    this.description = description || condition;
    Object.defineProperty(this, 'connection', { value: connection, enumerable: false });
  }

  toJSON() {
    return { type: this.name, code: this.condition, message: this.description };
  }
}

/** The ConnectionError for a native `{condition, description}`, or undefined when there is none. */
function toError(info, connection) {
  return info ? new ConnectionError(info.description, info.condition, connection) : undefined;
}

module.exports = { ConnectionError, toError, AUTH_CONDITION };
