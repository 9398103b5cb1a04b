'use strict';
// The receiver of the rhea-shaped API: turns each batch of messages from the connection into
// rhea's 'message' events, each with its Delivery, and settles what the handler leaves (autoaccept
// after the handler returns; a handler that throws gets its message released).

const { EventEmitter } = require('node:events');
const util = require('node:util');

const { adopt } = require('./message.js');
const { Delivery } = require('./delivery.js');
const { dispatch, reportError } = require('./events.js');

class Receiver extends EventEmitter {
  constructor(connection, opts) {
    super();
    this.connection = connection;
    this.session = connection._session;
    this._parent = this.session;
    this.name = opts.name;
    this.source = opts.source === null ? undefined : { address: opts.source };
    this.credit_window = opts.native.creditWindow;
    this.autoaccept = opts.autoaccept;
    this.remote = {};
    this._native = opts.native;
    this._open = false;
    this._closed = false;
    this._paused = false;
  }

  is_open() {
    return this._open;
  }

  is_closed() {
    return this._closed;
  }

  /** Stops the flow of messages: no credit is granted until resume(). Deliveries in flight still arrive. */
  pause() {
    this._paused = true;
    this._native.creditWindow = 0;
    if (this.connection._native) this.connection._native.setCreditWindow(0);
  }

  /** Restarts the flow of messages after pause(). */
  resume() {
    this._paused = false;
    this._native.creditWindow = this.credit_window;
    if (this.connection._native) this.connection._native.setCreditWindow(this.credit_window);
  }

  is_paused() {
    return this._paused;
  }

  /** Detaches the receiver; it is not re-attached after a reconnect. */
  close() {
    if (this._closed) return;
    this._closed = true;
    // Acknowledgements made before the close go out before the detach.
    this.connection._flushSettles();
    if (this.connection._native) this.connection._native.closeReceiver();
  }

  _context(extra) {
    return Object.assign({ receiver: this, session: this.session }, this.connection._context(), extra);
  }

  /** A batch of deliveries of receiver attachment `attach`, from the native layer. */
  _onMessages(deliveries, attach) {
    const connection = this.connection;
    const container = connection.container;
    const session = this.session;
    for (const raw of deliveries) {
      const message = adopt(raw.message, raw.section);
      const delivery = new Delivery(this, raw, attach);
      let failed = false;
      try {
        dispatch(this, 'message', { container, connection, session, receiver: this, delivery, message });
      } catch (err) {
        failed = true;
        // A handler that throws loses nothing: its message goes back to be delivered again.
        if (!delivery.settled) delivery.release();
        reportError(this, err);
      }
      if (!failed && this.autoaccept && !delivery.settled) delivery.accept();
    }
  }

  [util.inspect.custom]() {
    return `Receiver { name: ${JSON.stringify(this.name)}, source: ${JSON.stringify(this.source)}, open: ${this._open} }`;
  }
}

module.exports = { Receiver };
