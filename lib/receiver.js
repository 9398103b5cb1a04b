'use strict';
// The receiver of the rhea-shaped API: turns each batch of messages from the connection into
// rhea's 'message' events, each with its Delivery, and settles what the handler leaves (autoaccept
// after the handler returns; a handler that throws gets its message released). A receiver opened
// with `{batch: true}` emits one 'batch' event per batch instead (lib/batch.js), with the same
// rules for the deliveries of the batch.

const { EventEmitter } = require('node:events');
const util = require('node:util');

const { adopt, idString } = require('./message.js');
const { Delivery } = require('./delivery.js');
const { Batch } = require('./batch.js');
const { dispatch, reportError } = require('./events.js');
const diagnostics = require('./diagnostics.js');

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
    /** Transfers the server sent beyond the credit granted, taken all the same (RabbitMQ 3.10 does it). */
    this.over_credit = 0;
    this._native = opts.native;
    this._open = false;
    this._closed = false;
    this._paused = false;
    /** Most deliveries per 'batch' event (Infinity: as they come); 0: 'message' events. */
    this._batchMax = opts.batch;
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

  /** A batch of deliveries of receiver attachment `attach` (of connection attempt `epoch`), from the native layer. */
  _onMessages(deliveries, attach, epoch) {
    if (!Array.isArray(deliveries)) {
      this._onBatch(deliveries, attach, epoch);
      return;
    }
    const connection = this.connection;
    const container = connection.container;
    const session = this.session;
    const observed = diagnostics.message.hasSubscribers;
    for (const raw of deliveries) {
      const message = adopt(raw.message, raw.section);
      const delivery = new Delivery(this, raw, attach);
      if (observed) {
        const { topic, id } = diagnostics.messageFields(message);
        diagnostics.publishMessage(connection, epoch, attach, raw.id, topic, id);
      }
      let failed = false;
      try {
        dispatch(this, 'message', { container, connection, session, receiver: this, delivery, message });
      } catch (err) {
        failed = true;
        // A handler that throws loses nothing: its message goes back to be delivered again.
        if (!delivery.settled) delivery.release();
        if (diagnostics.error.hasSubscribers) {
          const { id } = diagnostics.messageFields(message);
          diagnostics.publishError(connection, epoch, 'handler', err, { attach, deliveryId: raw.id, messageId: idString(id) });
        }
        reportError(this, err);
      }
      if (!failed && this.autoaccept && !delivery.settled) delivery.accept();
    }
  }

  /** A packed batch (the receiver was opened with `{batch: true}`): 'batch' events of at most `_batchMax` deliveries. */
  _onBatch(packed, attach, epoch) {
    const connection = this.connection;
    const container = connection.container;
    const session = this.session;
    const max = this._batchMax || Infinity;
    for (let start = 0; start < packed.length; start += max) {
      const batch = new Batch(this, packed, attach, start, Math.min(max, packed.length - start));
      if (diagnostics.message.hasSubscribers) {
        for (let i = 0; i < batch.length; i++) diagnostics.publishMessage(connection, epoch, attach, batch.id(i), batch.topic(i), batch.messageId(i));
      }
      let failed = false;
      try {
        dispatch(this, 'batch', { container, connection, session, receiver: this, batch });
      } catch (err) {
        failed = true;
        // As with 'message': what the handler left unsettled goes back to be delivered again.
        batch.release();
        if (diagnostics.error.hasSubscribers) diagnostics.publishError(connection, epoch, 'handler', err, { attach, deliveryId: batch.id(0), messageId: batch.messageId(0) });
        reportError(this, err);
      }
      if (!failed && this.autoaccept) batch.accept();
    }
  }

  [util.inspect.custom]() {
    return `Receiver { name: ${JSON.stringify(this.name)}, source: ${JSON.stringify(this.source)}, open: ${this._open}${this._batchMax ? ', batch: true' : ''} }`;
  }
}

module.exports = { Receiver };
