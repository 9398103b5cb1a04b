'use strict';
// The Prometheus text a consumer's metrics() renders, from its records alone (nothing connects):
// families with HELP and TYPE, counters per connection labelled client_id (escaped), gauges
// counted from the buffer and the messages in flight, a cumulative histogram. (Over HTTP, with a
// real consumer: integration/metrics.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');

const { Histogram, render, BUCKETS } = require('../../lib/consumer/metrics.js');

function link(clientId, extra = {}) {
  return {
    clientId, state: 'open', lastMessageAt: null, reconnects: 0, receiver: { over_credit: 0 },
    counts: { received: 0, accepted: 0, released: 0, rejected: 0, duplicates: 0, unreadable: 0 }, ...extra,
  };
}

test('a histogram counts each observation in the first bucket it fits, and renders cumulatively', () => {
  const h = new Histogram();
  assert.deepEqual(h.bounds, BUCKETS);
  for (const v of [0.0005, 0.001, 0.002, 0.3, 20]) h.observe(v);
  assert.equal(h.count, 5);
  assert.ok(Math.abs(h.sum - 20.3035) < 1e-9);
  const a = link('a');
  const text = render({ _links: [a], _handed: new Set(), _buffer: [], _durations: h });
  const bucket = (le) => Number(new RegExp(`^aliyun_iot_amqp_handler_duration_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\S+)$`, 'm').exec(text)[1]);
  assert.equal(bucket('0.001'), 2, 'le is inclusive');
  assert.equal(bucket('0.005'), 3);
  assert.equal(bucket('0.25'), 3);
  assert.equal(bucket('0.5'), 4);
  assert.equal(bucket('10'), 4);
  assert.equal(bucket('+Inf'), 5);
  assert.match(text, /^aliyun_iot_amqp_handler_duration_seconds_count 5$/m);
  assert.match(text, /^# TYPE aliyun_iot_amqp_handler_duration_seconds histogram$/m);
});

test('per-connection series: counters, gauges from the buffer and in-flight messages, escaped labels', () => {
  const a = link('plain', { counts: { received: 7, accepted: 5, released: 1, rejected: 0, duplicates: 1, unreadable: 3 }, receiver: { over_credit: 4 }, reconnects: 2, lastMessageAt: 1700000000500 });
  const b = link('we"ird\\id\nx', { state: 'reconnecting' });
  const text = render({
    _links: [a, b],
    _handed: new Set([{ _link: a }, { _link: a }]),
    _buffer: [{ _link: b }],
    _durations: new Histogram(),
  });
  assert.ok(text.endsWith('\n'));
  const line = (name, label) => new RegExp(`^aliyun_iot_amqp_${name}\\{client_id="${label}"\\} (\\S+)$`, 'm').exec(text)[1];
  assert.equal(line('messages_received_total', 'plain'), '7');
  assert.equal(line('messages_accepted_total', 'plain'), '5');
  assert.equal(line('messages_released_total', 'plain'), '1');
  assert.equal(line('messages_duplicates_total', 'plain'), '1');
  assert.equal(line('reconnects_total', 'plain'), '2');
  assert.equal(line('messages_unreadable_total', 'plain'), '3');
  assert.equal(line('transfers_over_credit_total', 'plain'), '4');
  assert.equal(line('messages_in_flight', 'plain'), '2');
  assert.equal(line('connection_up', 'plain'), '1');
  assert.equal(line('last_message_timestamp_seconds', 'plain'), '1700000000.5');
  const escaped = 'we\\\\"ird\\\\\\\\id\\\\nx';
  assert.equal(line('messages_buffered', escaped), '1');
  assert.equal(line('connection_up', escaped), '0');
  assert.equal(line('last_message_timestamp_seconds', escaped), '0');
  // Every family: HELP, then TYPE, then its samples; counters end in _total.
  const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
  assert.equal(families.length, 13);
  for (const [name, type] of families) {
    assert.match(text, new RegExp(`^# HELP ${name} .+\\n# TYPE ${name} ${type}$`, 'm'));
    if (type === 'counter') assert.match(name, /_total$/);
  }
});
