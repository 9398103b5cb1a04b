'use strict';
// The container of the rhea-shaped API, as `require('rhea')` is one: makes connections, which
// inherit its options, and hears every event its connections' endpoints do not (lib/events.js).

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const util = require('node:util');

const { fail, redact } = require('./options.js');
const { Connection } = require('./connection.js');

// Each container's options as given (they may hold secrets), handed to its connections only.
const containerOptions = new WeakMap();

class Container extends EventEmitter {
  constructor(options) {
    super();
    if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
      throw fail('options', 'an object', options);
    }
    const own = Object.assign({}, options);
    // The real options (they may hold a password) stay out of reach; `options` is a masked copy.
    containerOptions.set(this, own);
    Object.defineProperty(this, 'options', { value: redact(Object.assign({}, own)), enumerable: false, writable: true });
    this.id = own.id !== undefined ? String(own.id) : own.container_id !== undefined ? String(own.container_id) : crypto.randomUUID();
    this._isContainer = true;
  }

  /** Opens a connection (and keeps it open, reconnecting as configured). */
  connect(options) {
    return new Connection(this, options, containerOptions.get(this));
  }

  /** A new, independent container (as rhea's). */
  create_container(options) {
    return new Container(options);
  }

  generate_uuid() {
    return crypto.randomUUID();
  }

  [util.inspect.custom]() {
    return `Container { id: ${JSON.stringify(this.id)} }`;
  }
}

module.exports = { Container };
