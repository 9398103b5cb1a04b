'use strict';
// The emulator's fault controls: what the platform's endpoint may do to a consumer at any time,
// for tests (the consumer must lose nothing by any of it): drop the connections, close them with
// an error, detach the receivers.

/** How long closeConnections() waits for a client's Close before destroying its socket. */
const CLOSE_GRACE_MS = 2000;

/**
 * Destroys every connection abruptly (no AMQP Close, no TLS close_notify), like a network failure
 * or a server crash. Their unsettled deliveries are queued again at once.
 *
 * @returns {number} The number of TCP connections dropped.
 */
function dropConnections(emu) {
  const dropped = emu._rawSockets.size;
  for (const conn of [...emu._conns]) {
    conn.socket.destroy();
    emu._onSocketClosed(conn);
  }
  for (const raw of [...emu._rawSockets]) {
    raw.destroy();
    emu._rawSockets.delete(raw); // its 'close' event comes later
  }
  return dropped;
}

/**
 * Closes every connection with an AMQP Close (carrying `error` if given, e.g.
 * `{condition: 'amqp:connection:forced', description: '...'}`). Connections that have not opened
 * AMQP yet, and those whose client does not answer within a grace period, are destroyed.
 *
 * @returns {number} The number of connections closed.
 */
function closeConnections(emu, error) {
  let closed = 0;
  for (const conn of [...emu._conns]) {
    closed += 1;
    if (!conn.amqpOpen) {
      conn.socket.destroy();
      emu._onSocketClosed(conn);
      continue;
    }
    conn.connection.close(error);
    emu._later(CLOSE_GRACE_MS, () => {
      if (!conn.closed) {
        conn.socket.destroy();
        emu._onSocketClosed(conn);
      }
    });
  }
  return closed;
}

/**
 * Detaches every receiver's link (the emulator's sending end), with `error` if given (e.g.
 * `{condition: 'amqp:resource-deleted', description: '...'}`), as a server does when it takes a
 * subscription away or rebalances. The connections stay open; the links' unsettled deliveries
 * are queued again at once.
 *
 * @returns {number} The number of links detached.
 */
function detachReceivers(emu, error) {
  let detached = 0;
  for (const link of [...emu._links]) {
    detached += 1;
    link.sender.close(error);
    emu._onLinkGone(link.sender);
  }
  return detached;
}

module.exports = { dropConnections, closeConnections, detachReceivers };
