'use strict';
// Health and metrics over HTTP: consumer.health(), serveMetrics() (/metrics in Prometheus' text
// format, /healthz 200 while every connection is up, 503 otherwise) read with node:http, through
// connections that are up, one of two lost (degraded), all lost (down) and back; and the command
// line's `consume --metrics-port 0`.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawn } = require('node:child_process');

const { startEmulator } = require('../support/emulator');
const { startProxy } = require('../support/fault-proxy');
const { amqp } = require('../support/client');
const { BIN, cleanEnv } = require('../support/cli');

/** GET `url`: {status, headers, body}. */
function get(url, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Parses Prometheus' text format strictly enough to catch mistakes: every family has # HELP and
 * # TYPE before its samples, names and labels are well formed, values are numbers. Returns
 * {types: name -> type, samples: [{name, labels, value}]}.
 */
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const types = new Map();
  const helps = new Set();
  const samples = [];
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line);
    if (m) {
      helps.add(m[1]);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.ok(helps.has(m[1]), `HELP before TYPE for ${m[1]}`);
      types.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const [, name, rawLabels = '', value] = m;
    const family = [...types.keys()].find((f) => name === f || (types.get(f) === 'histogram' && /^(_bucket|_sum|_count)$/.test(name.slice(f.length)) && name.startsWith(f)));
    assert.ok(family, `a TYPE line before ${name}`);
    if (types.get(family) === 'counter') assert.match(name, /_total$/, 'counters end in _total');
    const labels = Object.fromEntries([...rawLabels.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    assert.ok(value === '+Inf' || value === 'NaN' || Number.isFinite(Number(value)), `a number: ${value}`);
    samples.push({ name, labels, value: Number(value === '+Inf' ? Infinity : value) });
  }
  return { types, samples };
}

const sum = (samples, name) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

test('serveMetrics: /healthz and /metrics through up, degraded (one of two lost), down (all lost) and up again', async (t) => {
  const emu = await startEmulator({ tls: false });
  const proxy = await startProxy({ target: { host: emu.host, port: emu.port } });
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = amqp.createConsumer({
    host: '127.0.0.1', port: proxy.port, transport: 'tcp', accessKeyId, accessKeySecret, consumerGroupId: 'G',
    clientId: 'metrics "q"\\', connections: 2, initial_reconnect_delay: 1500, max_reconnect_delay: 1500,
  });
  const server = await amqp.serveMetrics(consumer, { port: 0, host: '127.0.0.1' });
  t.after(async () => {
    await consumer.close({ timeout: 1000 });
    await server.close();
    await proxy.close();
    await emu.close();
  });
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  const before = consumer.health();
  assert.equal(before.status, 'down');
  assert.deepEqual(before.connections.map((c) => c.state), ['connecting', 'connecting']);

  await emu.waitFor(() => consumer.health().status === 'up', 10000, 'both up');
  let health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  assert.match(health.headers['content-type'], /^application\/json/);
  const up = JSON.parse(health.body);
  assert.equal(up.status, 'up');
  assert.equal(up.lastError, null);
  assert.deepEqual(up.connections.map((c) => [c.clientId, c.state, c.lastMessageAt, c.reconnects]),
    [['metrics "q"\\-0', 'open', null, 0], ['metrics "q"\\-1', 'open', null, 0]]);
  for (const c of up.connections) assert.ok(c.since > Date.now() - 60000 && c.since <= Date.now());

  let handled = 0;
  // 3 ms each: a timer can fire up to about 1 ms early by the clock the handler is timed with
  // (libuv schedules from the loop's cached time), so each handler takes 2 ms or more.
  consumer.on('message', async () => {
    await new Promise((r) => setTimeout(r, 3));
    handled += 1;
  });
  emu.publishMany(40);
  await emu.waitFor(() => handled === 40 && emu.acceptedOnce.size === 40, 10000, '40 handled');

  const metrics = await get(`${server.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const { types, samples } = parseExposition(metrics.body);
  for (const [name, type] of [['aliyun_iot_amqp_messages_received_total', 'counter'], ['aliyun_iot_amqp_messages_accepted_total', 'counter'],
    ['aliyun_iot_amqp_messages_released_total', 'counter'], ['aliyun_iot_amqp_messages_rejected_total', 'counter'],
    ['aliyun_iot_amqp_messages_duplicates_total', 'counter'], ['aliyun_iot_amqp_reconnects_total', 'counter'],
    ['aliyun_iot_amqp_messages_unreadable_total', 'counter'], ['aliyun_iot_amqp_transfers_over_credit_total', 'counter'],
    ['aliyun_iot_amqp_messages_in_flight', 'gauge'], ['aliyun_iot_amqp_messages_buffered', 'gauge'],
    ['aliyun_iot_amqp_connection_up', 'gauge'], ['aliyun_iot_amqp_last_message_timestamp_seconds', 'gauge'],
    ['aliyun_iot_amqp_handler_duration_seconds', 'histogram']]) {
    assert.equal(types.get(name), type, name);
  }
  const received = samples.filter((s) => s.name === 'aliyun_iot_amqp_messages_received_total');
  assert.deepEqual(received.map((s) => s.labels.client_id), ['metrics \\"q\\"\\\\-0', 'metrics \\"q\\"\\\\-1'], 'label values escaped');
  assert.equal(sum(samples, 'aliyun_iot_amqp_messages_received_total'), 40);
  assert.equal(sum(samples, 'aliyun_iot_amqp_messages_accepted_total'), 40);
  assert.equal(sum(samples, 'aliyun_iot_amqp_connection_up'), 2);
  assert.equal(sum(samples, 'aliyun_iot_amqp_messages_in_flight'), 0);
  const buckets = samples.filter((s) => s.name === 'aliyun_iot_amqp_handler_duration_seconds_bucket');
  assert.equal(buckets.at(-1).labels.le, '+Inf');
  assert.equal(buckets.at(-1).value, 40);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative buckets');
  assert.equal(buckets.find((b) => b.labels.le === '0.001').value, 0, 'every handler took 2 ms or more');
  assert.equal(sum(samples, 'aliyun_iot_amqp_handler_duration_seconds_count'), 40);
  assert.ok(sum(samples, 'aliyun_iot_amqp_handler_duration_seconds_sum') >= 0.08);
  for (const s of samples.filter((x) => x.name === 'aliyun_iot_amqp_last_message_timestamp_seconds')) {
    assert.ok(s.value === 0 || Math.abs(s.value - Date.now() / 1000) < 60);
  }
  assert.equal(metrics.body, consumer.metrics(), 'the same text as consumer.metrics()');

  // One connection of two lost: degraded, 503.
  const [first] = proxy.pairs.keys();
  proxy.reset({ id: first });
  await emu.waitFor(() => consumer.health().status === 'degraded', 5000, 'degraded');
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 503);
  const degraded = JSON.parse(health.body);
  assert.deepEqual(degraded.connections.map((c) => c.state).sort(), ['open', 'reconnecting']);
  assert.ok(degraded.connections.some((c) => typeof c.lastMessageAt === 'number'));
  await emu.waitFor(() => consumer.health().status === 'up', 10000, 'up again');

  // Every connection lost: down, 503; then up again, one reconnect each.
  proxy.reset();
  await emu.waitFor(() => consumer.health().status === 'down', 5000, 'down');
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 503);
  assert.equal(JSON.parse(health.body).status, 'down');
  await emu.waitFor(() => consumer.health().status === 'up', 10000, 'up again');
  health = await get(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  const after = parseExposition((await get(`${server.url}/metrics`)).body).samples;
  const reconnects = after.filter((s) => s.name === 'aliyun_iot_amqp_reconnects_total').map((s) => s.value).sort();
  assert.deepEqual(reconnects, [1, 2]);
  assert.deepEqual(consumer.health().connections.map((c) => c.reconnects).sort(), [1, 2]);

  // Other paths and methods.
  assert.equal((await get(`${server.url}/other`)).status, 404);
  assert.equal((await get(`${server.url}/metrics`, 'POST')).status, 405);
  const head = await get(`${server.url}/healthz`, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  await consumer.close({ timeout: 1000 });
  const closed = consumer.health();
  assert.equal(closed.status, 'down');
  assert.deepEqual(closed.connections.map((c) => c.state), ['closed', 'closed']);
  assert.equal((await get(`${server.url}/healthz`)).status, 503);
});

test('health(): a detached receiver makes its connection reconnecting (down with one connection) until it is attached again', async (t) => {
  const emu = await startEmulator({ tls: false });
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = amqp.createConsumer({ host: emu.host, port: emu.port, transport: 'tcp', accessKeyId, accessKeySecret, consumerGroupId: 'G' });
  t.after(async () => {
    await consumer.close({ timeout: 1000 });
    await emu.close();
  });
  await emu.waitFor(() => consumer.health().status === 'up', 10000, 'up');
  const before = consumer.health().connections[0];
  const states = [];
  consumer._container.on('receiver_close', () => states.push(consumer.health().connections[0].state));
  await new Promise((r) => setTimeout(r, 5));
  emu.detachReceivers({ condition: 'amqp:link:detach-forced', description: 'rebalancing' });
  await emu.waitFor(() => states.length === 1 && consumer.health().status === 'up', 10000, 'detached, then up');
  assert.deepEqual(states, ['reconnecting'], 'not up while detached');
  const after = consumer.health().connections[0];
  assert.ok(after.since > before.since, 'attached again since');
  assert.equal(after.reconnects, 0, 'the connection itself stayed');
});

test('health(): a consumer whose credentials are refused is down, with the error (no secret) as lastError', async (t) => {
  const emu = await startEmulator({ tls: false });
  t.after(() => emu.close());
  const consumer = amqp.createConsumer({
    host: emu.host, port: emu.port, transport: 'tcp', accessKeyId: 'LTAIwrong', accessKeySecret: 'a-wrong-secret', consumerGroupId: 'G',
  });
  consumer.on('error', () => {});
  await new Promise((resolve) => consumer.once('close', resolve));
  const h = consumer.health();
  assert.equal(h.status, 'down');
  assert.deepEqual(h.connections.map((c) => c.state), ['closed']);
  assert.match(h.lastError, /authentication failed/);
  assert.ok(!JSON.stringify(h).includes('a-wrong-secret'));
});

test('consume --metrics-port 0 serves /metrics and /healthz while it consumes', async (t) => {
  const emu = await startEmulator();
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const child = spawn(process.execPath, [BIN, 'consume', '--json', '--metrics-port', '127.0.0.1:0', '--client-id', 'cli-metrics'], {
    env: cleanEnv({
      ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret, NODE_EXTRA_CA_CERTS: emu.caFile,
      ALIYUN_IOT_AMQP_HOST: emu.hostname, ALIYUN_IOT_AMQP_PORT: String(emu.port), ALIYUN_IOT_AMQP_CONSUMER_GROUP: 'DEFAULT_GROUP',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    await emu.close();
  });
  const url = await emu.waitFor(() => (/metrics: (http:\/\/[^\s/]+)\/metrics, health: \S+\/healthz/.exec(stderr) || [])[1], 10000, 'the metrics address on stderr');
  emu.publishMany(3);
  await emu.waitFor(() => emu.acceptedOnce.size === 3, 10000, '3 accepted');
  await emu.waitFor(async () => (await get(`${url}/healthz`)).status === 200, 10000, '/healthz 200');
  const health = JSON.parse((await get(`${url}/healthz`)).body);
  assert.equal(health.status, 'up');
  assert.equal(health.connections[0].clientId, 'cli-metrics');
  const { samples } = parseExposition((await get(`${url}/metrics`)).body);
  assert.equal(sum(samples, 'aliyun_iot_amqp_messages_received_total'), 3);
  assert.equal(sum(samples, 'aliyun_iot_amqp_handler_duration_seconds_count'), 3);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.equal(stdout.trim().split('\n').length, 3);
  await assert.rejects(get(`${url}/healthz`), /ECONNREFUSED/, 'the server is closed with the consumer');
});

test('--metrics-port is checked', async () => {
  const { run } = require('../support/cli');
  const r = await run(['consume', '--host', 'h', '--consumer-group', 'g', '--metrics-port', '99999']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--metrics-port must be a port/);
});
