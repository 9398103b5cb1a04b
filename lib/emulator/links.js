'use strict';
// The emulator's view of its connections and their sending links (the clients' receivers): the
// deliveries each connection has in flight, the credit each link leaves, attach records, and the
// termini of attach frames as rhea decodes them.

/**
 * A terminus (source/target) of a received attach as rhea decoded it, or null when there is none.
 * rhea exposes an absent terminus as null or as a typed AMQP null; a present one is a composite
 * whose fields are in `value`.
 */
function presentTerminus(terminus) {
  return terminus && Array.isArray(terminus.value) ? terminus : null;
}

/** The address of a decoded terminus, or null when there is no terminus or no address. */
function terminusAddress(terminus) {
  if (!presentTerminus(terminus)) return null;
  const address = terminus.address;
  return address === undefined || address === null ? null : address;
}

/** A plain object with the fields of a decoded terminus that are set (for echoing it back). */
function terminusFields(terminus) {
  const fields = {};
  for (const name of ['address', 'durable', 'expiry_policy', 'timeout', 'dynamic', 'dynamic_node_properties',
    'distribution_mode', 'filter', 'default_outcome', 'outcomes', 'capabilities']) {
    const value = terminus[name];
    if (value !== undefined && value !== null) fields[name] = value;
  }
  return fields;
}

/** The emulator's view of one accepted TCP connection that got as far as AMQP. */
class ConnectionState {
  constructor(id, socket, connection) {
    this.id = id;
    this.socket = socket;
    this.connection = connection;
    this.clientId = null;
    this.username = null;
    /** True once the client's AMQP Open arrived. */
    this.amqpOpen = false;
    /** True once rhea itself saw the connection go away (it does not when we destroy the socket). */
    this.rheaDisconnected = false;
    this.closed = false;
    /** The sending links (client receivers) of this connection. */
    this.links = new Set();
    /** Unsettled deliveries: rhea delivery -> {entry, link}. Insertion order is delivery order. */
    this.inFlight = new Map();
  }

  /** Takes the unsettled deliveries (of `link`, or all), in delivery order: their queue entries. */
  takeInFlight(link) {
    const entries = [];
    for (const [delivery, flight] of this.inFlight) {
      if (link === undefined || flight.link === link) {
        entries.push(flight.entry);
        this.inFlight.delete(delivery);
      }
    }
    return entries;
  }

  /** The record of an attach frame received on this connection (`role`: the client's link role). */
  attachRecord(role, remote) {
    const open = this.connection.remote.open || {};
    return {
      role,
      name: remote.name,
      source: terminusAddress(remote.source),
      hasSource: Boolean(presentTerminus(remote.source)),
      target: terminusAddress(remote.target),
      connectionId: this.id,
      clientId: this.clientId,
      hostname: open.hostname === undefined ? null : open.hostname,
      idle_time_out: open.idle_time_out === undefined ? null : open.idle_time_out,
      container_id: open.container_id === undefined ? null : open.container_id,
      refused: null,
    };
  }
}

/** The emulator's view of one sending link (a client's receiver). */
class LinkState {
  constructor(sender, conn) {
    this.sender = sender;
    this.conn = conn;
    /** Set once the attach reply has been written; nothing is sent before that. */
    this.ready = false;
    /** Messages handed to rhea on this link (transferred or still buffered by rhea). */
    this.sent = 0;
  }

  /** How many more messages the client's credit allows, counting those rhea still buffers. */
  capacity() {
    const { sender } = this;
    if (!this.ready || this.conn.closed || !sender.is_open() || !sender.sendable()) return 0;
    // rhea decrements `credit` and increments `delivery_count` only when a transfer is written;
    // messages handed to send() but not written yet must be subtracted here.
    const buffered = this.sent - sender.delivery_count;
    return Math.max(0, sender.credit - buffered);
  }
}

module.exports = { ConnectionState, LinkState, presentTerminus, terminusFields };
