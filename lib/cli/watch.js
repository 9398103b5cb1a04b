'use strict';
// A consumer on the command line, for consume and demo: its messages printed and settled, its
// connection events on stderr (with a hint for a wrong host, port or transport), its summary.

const { topicFilter } = require('./args.js');
const { log, formatMessage, printLine } = require('./output.js');

/**
 * Prints the consumer's messages until `count` were printed (if given), it is closed, it fails,
 * or stdout is closed. A message is accepted once its line was written (or released with noAck);
 * one whose line could not be written is released. Returns {shown, stdoutError}.
 */
async function printMessages(consumer, { json, topics, noAck, count, format = formatMessage }) {
  const matchers = (topics || []).map((t) => topicFilter(t));
  let shown = 0;
  for await (const msg of consumer) {
    const show = matchers.length === 0 || matchers.some((m) => m(msg.topic));
    if (show) {
      const err = await printLine(format(msg, json));
      if (err) {
        msg.release();
        return { shown, stdoutError: err }; // leaving the loop closes the consumer
      }
      shown += 1;
    }
    if (noAck) msg.release();
    if (count !== undefined && shown >= count) {
      msg.accept(); // no-op after release()
      break; // leaving the loop closes the consumer
    }
    // Otherwise the message is accepted when the loop asks for the next one.
  }
  return { shown, stdoutError: null };
}

/**
 * A one-line hint for a connection error that a wrong host, port or transport explains, or null.
 * None when the error's message already gives one (it names the option or the transport).
 */
function connectionHint(error, { host, port, transport }, { connected = false } = {}) {
  const text = `${error && error.message}`;
  if (/\bhint\b|--host|--port|--transport|transport/i.test(text)) return null;
  if (/ENOTFOUND|EAI_AGAIN|failed to lookup|lookup address|name or service not known|nodename nor servname|no such host|dns/i.test(text)) {
    return `hint: the host name ${host} does not resolve: check --host (the instance's AMQP endpoint)`;
  }
  if (/ECONNREFUSED|connection refused|os error 111|actively refused/i.test(text)) {
    return `hint: nothing accepts connections on ${host}:${port}: check --host and --port`;
  }
  if (transport === 'tls' && /InvalidContentType|corrupt message|wrong version number|packet length too long|invalid TLS|not a TLS|tls handshake eof|unexpected eof/i.test(text)) {
    return `hint: ${host}:${port} did not answer TLS; a plain AMQP port (5672)? check --port (the platform's is 5671), or --transport tcp for a plain server`;
  }
  // A TLS server closes (or alerts) on a plain AMQP header before any AMQP is spoken.
  if (transport === 'tcp' && !connected && /protocol header|\b0x15\b|\b0x16\b|unexpected (bytes|header)|header mismatch|connection reset|closed by the server|closed before|eof/i.test(text)) {
    return `hint: ${host}:${port} did not answer plain AMQP; a TLS port? check --port, or --transport tls (the platform's port 5671 is TLS)`;
  }
  return null;
}

/**
 * Whether a connection error is one that retrying will not fix, as long as no connection ever
 * opened: a host name that does not exist (not a temporary failure to resolve it), TLS against a
 * plain port, plain AMQP against a TLS port. A refused port is not one: the server may be starting.
 */
function lastingError(error, { transport }) {
  const text = `${error && error.message}`;
  if (/temporary failure|EAI_AGAIN|try again/i.test(text)) return false;
  if (/ENOTFOUND|EAI_NONAME|failed to lookup address|name or service not known|nodename nor servname|no such host|no address associated/i.test(text)) return true;
  if (transport === 'tls' && /did not answer in TLS|InvalidContentType|corrupt message|wrong version number|packet length too long|not a TLS/i.test(text)) return true;
  return transport === 'tcp' && /without an answer to the AMQP protocol header|a TLS port\?/i.test(text);
}

/**
 * Closes the consumer when none of its connections ever opened and one failed `attempts` times in
 * a row with a lasting error (see lastingError). Returns {error, attempts}: `error` is set once it
 * closed it. After a connection opened, nothing is stopped: the platform drops connections as a
 * matter of course, and they are opened again.
 */
function stopOnLastingErrors(consumer, where, attempts = 3) {
  const state = { error: null, attempts };
  let opened = false;
  const inARow = new Map(); // clientId -> lasting failures in a row
  consumer.on('connected', () => { opened = true; });
  consumer.on('disconnected', ({ clientId, error }) => {
    if (opened || state.error) return;
    if (!error || !lastingError(error, where)) {
      inARow.delete(clientId);
      return;
    }
    const n = (inARow.get(clientId) || 0) + 1;
    inARow.set(clientId, n);
    if (n >= attempts) {
      state.error = error;
      consumer.close().catch(() => {});
    }
  });
  return state;
}

/** A core message's own hint in the command line's words: `transport: 'tcp'` is `--transport tcp` here. */
function flagWords(text) {
  return String(text).replace(/`transport: '(tls|tcp)'`/g, '`--transport $1`');
}

/**
 * Connection events on stderr. An error is printed when it first happens (with a hint where one
 * helps); the same error again in a row is counted and summed up at 2, 4, 8, ... repeats, so
 * that retrying for long stays readable.
 */
function watchConsumer(consumer, label, where) {
  const last = new Map(); // clientId -> {text, count}
  const connected = new Set(); // clientIds that were connected once
  consumer.on('connected', ({ clientId, reconnect }) => {
    connected.add(clientId);
    const prev = last.get(clientId);
    if (prev && prev.count > 1) log(`  (${prev.count} failed attempts in all before this)`);
    last.delete(clientId);
    log(`${reconnect ? 'reconnected' : 'connected'}: ${clientId} → ${label}`);
  });
  consumer.on('disconnected', ({ clientId, error, reconnecting }) => {
    const text = error ? error.message : '';
    const prev = last.get(clientId);
    if (error && prev && prev.text === text) {
      prev.count += 1;
      if ((prev.count & (prev.count - 1)) === 0 || !reconnecting) {
        log(`disconnected: ${clientId}: the same error ${prev.count} times in a row${reconnecting ? ', still reconnecting' : ''}`);
      }
      return;
    }
    last.set(clientId, { text, count: 1 });
    log(`disconnected: ${clientId}${error ? ` (${flagWords(text)})` : ''}${reconnecting ? ', reconnecting' : ''}`);
    const hint = error && where ? connectionHint(error, where, { connected: connected.has(clientId) }) : null;
    if (hint) log(`  ${hint}`);
  });
}

/**
 * The counts of a consumer's stats() after it closed; `short` leaves out those at 0 but received
 * and accepted (the demo's). Every message received is accounted for: accepted, released,
 * rejected, a duplicate, or left unsettled when the connection closed (one that arrived while the
 * consumer was closing: its release could not be sent). The server delivers those again.
 */
function summary(stats, { short = false } = {}) {
  const counts = ['received', 'accepted', 'released', 'rejected', 'duplicates', 'reconnects'];
  const line = counts.filter((k) => !short || k === 'received' || k === 'accepted' || stats[k] !== 0).map((k) => `${k} ${stats[k]}`).join(', ');
  const unsettled = stats.received - stats.accepted - stats.released - stats.rejected - stats.duplicates;
  return unsettled > 0 ? `${line}; ${unsettled} left unsettled at close (the server delivers them again)` : line;
}

module.exports = { printMessages, connectionHint, lastingError, stopOnLastingErrors, flagWords, watchConsumer, summary };
