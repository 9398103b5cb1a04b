'use strict';
// A delivery of the rhea-shaped API (`context.delivery`): settles its message once, through the
// connection it came on (acknowledgements in a row are batched there, see lib/connection.js).

const util = require('node:util');

const diagnostics = require('./diagnostics.js');
const { ACCEPT, RELEASE, OUTCOMES, rejectedOutcome, modifiedOutcome, isModifiedRelease } = require('./outcomes.js');

class Delivery {
  constructor(receiver, raw, attach) {
    this.id = raw.id;
    this.tag = raw.tag;
    this.format = raw.format;
    this.remote_settled = raw.settled;
    this.settled = raw.settled;
    this.state = undefined;
    this.link = receiver;
    /** The receiver attachment it came on: settled through that one only. */
    this._attach = attach;
  }

  /**
   * Accepts the message. Returns true when the acknowledgement goes to the live connection; false
   * when it cannot be sent (already settled, or the connection it came on is gone: the platform
   * then delivers the message again).
   */
  accept() {
    return this._settle(ACCEPT, OUTCOMES.Accepted);
  }

  /** Releases the message (it is delivered again); with `{delivery_failed, undeliverable_here}` it is `modified`. */
  release(params) {
    if (isModifiedRelease(params)) return this.modified(params);
    return this._settle(RELEASE, OUTCOMES.Released);
  }

  /** Rejects the message (the server drops or dead-letters it). `error` may be `{condition, description}`. */
  reject(error) {
    return this._settleWith(rejectedOutcome(error), OUTCOMES.Rejected);
  }

  /** Settles as `modified` with `{delivery_failed, undeliverable_here, message_annotations}`. */
  modified(params) {
    return this._settleWith(modifiedOutcome(params), OUTCOMES.Modified);
  }

  _claim(state) {
    if (this.settled) return false;
    this.settled = true;
    this.state = state;
    const connection = this.link.connection;
    if (connection._isLive(this._attach)) return true;
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(connection, this._attach, this.id, state, false);
    return false;
  }

  _settle(code, state) {
    if (!this._claim(state)) return false;
    this.link.connection._queueSettle(this._attach, this.id, code);
    return true;
  }

  _settleWith(outcome, state) {
    if (!this._claim(state)) return false;
    // Keep the order of the calls: acknowledgements queued before this one go out first.
    const connection = this.link.connection;
    connection._flushSettles();
    const sent = connection._native.settleWith(this._attach, this.id, outcome);
    if (diagnostics.settle.hasSubscribers) diagnostics.publishSettle(connection, this._attach, this.id, state, sent);
    return sent;
  }

  [util.inspect.custom]() {
    return `Delivery { id: ${this.id}, settled: ${this.settled}, state: ${this.state} }`;
  }
}

module.exports = { Delivery };
