'use strict';
// A consumer's metrics and health over HTTP, with no dependency: consumer.metrics() renders the
// counters and gauges of stats() per connection (label client_id) and a histogram of handler
// durations in Prometheus' text exposition format (version 0.0.4); serveMetrics() serves it on
// /metrics, with /healthz answering 200 while every connection is up and 503 otherwise (a small
// JSON body: consumer.health()). Used by `aliyun-iot-amqp consume --metrics-port N`.

/** Upper bounds of the handler-duration buckets, in seconds (Prometheus' defaults, and 1 ms). */
const BUCKETS = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

const PREFIX = 'aliyun_iot_amqp';

/** Observations counted into fixed buckets (cumulative when rendered). */
class Histogram {
  constructor(bounds = BUCKETS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
    this.sum = 0;
    this.count = 0;
  }

  observe(v) {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i += 1;
    this.counts[i] += 1;
    this.sum += v;
    this.count += 1;
  }
}

/** A label value, escaped as the text format wants (backslash, double quote, newline). */
function label(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function number(v) {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/**
 * The per-connection series: [name, type, help, value of a link]. Counters end in _total.
 * `link` is a consumer's connection record (lib/consumer/consumer.js).
 */
const SERIES = [
  ['messages_received_total', 'counter', 'Deliveries received (duplicates included).', (l) => l.counts.received],
  ['messages_accepted_total', 'counter', 'Accepted outcomes sent.', (l) => l.counts.accepted],
  ['messages_released_total', 'counter', 'Released outcomes sent (the platform delivers those messages again).', (l) => l.counts.released],
  ['messages_rejected_total', 'counter', 'Rejected outcomes sent.', (l) => l.counts.rejected],
  ['messages_duplicates_total', 'counter', 'Redeliveries of accepted messages, accepted at once (dedupe).', (l) => l.counts.duplicates],
  ['messages_unreadable_total', 'counter', 'Deliveries that could not be read (protocol_error): held, then released to come again.', (l) => l.counts.unreadable],
  ['transfers_over_credit_total', 'counter', 'Transfers the server sent beyond the credit granted, taken (a peer\'s slip).', (l) => l.receiver.over_credit],
  ['reconnects_total', 'counter', 'Times the connection was re-established after a loss.', (l) => l.reconnects],
  ['messages_in_flight', 'gauge', 'Messages handed to handlers or a loop and not finished.', (l, c) => countOf(c._handed, l)],
  ['messages_buffered', 'gauge', 'Messages received and waiting for a handler or a loop.', (l, c) => countOf(c._buffer, l)],
  ['connection_up', 'gauge', '1 when the connection is open with its receiver attached, else 0.', (l) => (l.state === 'open' ? 1 : 0)],
  ['last_message_timestamp_seconds', 'gauge', 'When the last message arrived, seconds since the epoch (0: none yet).', (l) => (l.lastMessageAt === null ? 0 : l.lastMessageAt / 1000)],
];

function countOf(messages, link) {
  let n = 0;
  for (const m of messages) if (m._link === link) n += 1;
  return n;
}

/** The consumer's metrics in Prometheus' text format. */
function render(consumer) {
  const lines = [];
  const links = consumer._links;
  for (const [name, type, help, value] of SERIES) {
    lines.push(`# HELP ${PREFIX}_${name} ${help}`, `# TYPE ${PREFIX}_${name} ${type}`);
    for (const link of links) lines.push(`${PREFIX}_${name}{client_id="${label(link.clientId)}"} ${number(value(link, consumer))}`);
  }
  const h = consumer._durations;
  const name = `${PREFIX}_handler_duration_seconds`;
  lines.push(`# HELP ${name} Time handling a message: a 'message' handler call, a for-await loop iteration, or a batch's loop iteration.`, `# TYPE ${name} histogram`);
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i];
    lines.push(`${name}_bucket{le="${number(h.bounds[i])}"} ${cumulative}`);
  }
  lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${number(h.sum)}`, `${name}_count ${h.count}`);
  return `${lines.join('\n')}\n`;
}

/** The content type of the text format. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Serves `/metrics` and `/healthz` for `consumer` on `port` (0: any free port) of `host` (default:
 * every interface, as exporters do). Resolves with `{port, host, url, server, close()}` once
 * listening; `close()` resolves when the server is closed.
 */
function serveMetrics(consumer, { port = 0, host } = {}) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`aliyun-iot-amqp: option 'port' must be a port number from 0 to 65535, got ${port}`);
  // Required here: a consumer that never serves its metrics does not load node:http.
  const server = require('node:http').createServer((req, res) => {
    const path = (req.url || '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const body = consumer.metrics();
      res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (path === '/healthz') {
      const health = consumer.health();
      const body = `${JSON.stringify(health)}\n`;
      res.writeHead(health.status === 'up' ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /healthz\n');
    }
  });
  // A scrape must never keep the process from exiting once the consumer is closed.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const shown = host === undefined ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        port: address.port,
        host: address.address,
        url: `http://${shown}:${address.port}`,
        server,
        close: () => new Promise((done) => {
          server.close(() => done());
          if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
        }),
      });
    });
  });
}

module.exports = { Histogram, render, serveMetrics, BUCKETS, CONTENT_TYPE };
