'use strict';
// index.d.ts against its users and against index.js:
// 1. __test__/types/usage/ (rhea.ts, consumer.ts), which use every export, option, event and
//    listener argument the declarations offer (and check with @ts-expect-error that wrong uses are
//    refused), compile with `tsc --noEmit --strict`; index.d.ts and types/ are type-checked on the
//    way. So does the
//    consumer API as a user would write it. (tsc runs as a child process, several seconds each.)
// 2. The members the declarations give each object exist on the real objects (a message received
//    from the emulator, its delivery and context, the receiver, session, connection, container;
//    the consumer, its messages and stats; the emulator), and those objects carry no public member
//    the declarations leave out.
// (That they use every declared member: unit/types.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { ROOT, TSC, USAGE, moduleLevel, membersOf, publicMembers, compare } = require('../support/declarations');

test('the usage files compile with tsc --noEmit --strict against index.d.ts', { timeout: 120000 }, () => {
  const args = [TSC, '--noEmit', '--strict', '--pretty', 'false',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node',
    '--noUnusedLocals', '--noImplicitReturns', ...USAGE];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

test('the generated native.d.ts type-checks (every type it names is declared)', { timeout: 120000 }, () => {
  const args = [TSC, '--noEmit', '--strict', '--pretty', 'false', '--types', 'node', path.join(ROOT, 'native.d.ts')];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, `tsc failed on native.d.ts:\n${r.stdout}${r.stderr}`);
});

test('the native layer defines the settle codes and error conditions the JS layer uses', () => {
  const native = require('../../native.js');
  assert.deepEqual({ accept: native.SettleCode.Accept, release: native.SettleCode.Release }, { accept: 0, release: 1 });
  for (const name of ['CONDITION_UNAUTHORIZED_ACCESS', 'CONDITION_INTERNAL_ERROR', 'CONDITION_TLS', 'CONDITION_IO', 'CONDITION_TIMEOUT', 'CONDITION_CONFIG', 'CONDITION_INTERNAL']) {
    assert.equal(typeof native[name], 'string', name);
    assert.match(native[name], /^(amqp|aliyun-iot-amqp):/, name);
  }
  assert.equal(native.CONDITION_UNAUTHORIZED_ACCESS, 'amqp:unauthorized-access');
  assert.equal(native.CONDITION_TLS, 'aliyun-iot-amqp:tls');
});

test('every member index.d.ts declares is on the real objects, and nothing public is left undeclared', { timeout: 60000 }, async () => {
  const amqp = require('../../index.js');
  const { startEmulator } = require('../support/emulator');
  const { optionsFor } = require('../support/client');

  // The module itself.
  for (const k of moduleLevel) assert.ok(k in amqp, `index.d.ts declares module export ${k}, index.js has none`);
  const moduleExtra = publicMembers(amqp).filter((k) => !moduleLevel.includes(k) && !membersOf('Container').has(k));
  assert.deepEqual(moduleExtra, [], 'module exports index.d.ts does not declare');

  const emu = await startEmulator({ tls: false, sourceReply: 'echo' });
  const seen = {};
  const container = amqp.create_container({ id: 'types-test' });
  let connection;
  try {
    emu.publishRaw({
      message_id: 'm-1', user_id: Buffer.from('u'), to: 'to', subject: 'subject', reply_to: 'reply', correlation_id: 'c-1',
      content_type: 'application/json', content_encoding: 'utf-8', absolute_expiry_time: new Date(4102444800000),
      creation_time: new Date(1700000000000), group_id: 'g', group_sequence: 3, reply_to_group_id: 'rg',
      durable: true, priority: 5, ttl: 60000, first_acquirer: true, delivery_count: 0,
      delivery_annotations: { da: 1 }, message_annotations: { ma: 'x' }, application_properties: { topic: '/t' },
      footer: { f: 'y' }, body: require('rhea').message.data_section(Buffer.from('{}')),
    });
    connection = container.connect(optionsFor(emu, { reconnect: false }));
    const receiver = connection.open_receiver({ source: 'q', autoaccept: false });
    container.on('connection_open', (ctx) => { seen.connectionOpen = ctx; });
    container.on('receiver_open', (ctx) => { seen.receiverOpen = ctx; });
    container.on('message', (ctx) => {
      seen.message = ctx;
      seen.fresh = publicMembers(ctx.delivery);
      ctx.delivery.accept();
    });
    await emu.waitFor(() => seen.message && seen.receiverOpen && seen.connectionOpen, 10000, 'message, receiver_open and connection_open');

    const problems = [];
    const check = (label, name, obj, opts) => {
      const { missing, extra } = compare(name, obj, opts);
      if (missing.length) problems.push(`${label} lacks ${missing.join(', ')} (declared by ${name})`);
      if (extra.length) problems.push(`${label} has ${extra.join(', ')}, not declared by ${name}`);
    };
    check('the message context', 'MessageContext', seen.message);
    check('the receiver_open context', 'ReceiverContext', seen.receiverOpen);
    check('the connection_open context', 'EventContext', seen.connectionOpen);
    check('a message', 'Message', seen.message.message);
    check('a delivery', 'Delivery', seen.message.delivery);
    check('a receiver', 'Receiver', receiver);
    check('a session', 'Session', receiver.session);
    check('a connection', 'Connection', connection);
    check('a container', 'Container', container);
    check('a ConnectionError', 'ConnectionError', new amqp.ConnectionError('d', 'c', connection), { ignoreExtra: ['stack', 'message'] });
    check('a Section', 'Section', seen.message.message.body);

    // Values of the shapes the declarations give.
    const { delivery, message } = seen.message;
    assert.equal(typeof delivery.id, 'number');
    assert.ok(Buffer.isBuffer(delivery.tag));
    assert.equal(typeof delivery.format, 'number');
    assert.equal(delivery.state, 'accepted');
    assert.equal(delivery.link, receiver);
    assert.ok(message.creation_time instanceof Date && message.absolute_expiry_time instanceof Date);
    assert.ok(Buffer.isBuffer(message.user_id));
    assert.equal(message.body.typecode, 0x75);
    assert.deepEqual(receiver.source, { address: 'q' });
    assert.deepEqual(receiver.remote.attach.source, { address: 'q' });
    const open = connection.remote.open;
    assert.equal(typeof open.container_id, 'string');
    assert.ok(open.hostname === null || typeof open.hostname === 'string');
    assert.ok(open.idle_time_out === null || typeof open.idle_time_out === 'number');
    assert.equal(typeof open.max_frame_size, 'number');

    assert.deepEqual(problems, []);
  } finally {
    if (connection) {
      connection.close();
      await emu.waitFor(() => connection.is_closed(), 10000, 'connection closed');
    }
    await emu.close();
  }
});

test('the consumer API and the emulator match their declarations too', { timeout: 60000 }, async () => {
  const amqp = require('../../index.js');
  const emu = await amqp.startEmulator({ tls: false });
  let consumer;
  const problems = [];
  const check = (label, name, obj, opts) => {
    const { missing, extra } = compare(name, obj, opts);
    if (missing.length) problems.push(`${label} lacks ${missing.join(', ')} (declared by ${name})`);
    if (extra.length) problems.push(`${label} has ${extra.join(', ')}, not declared by ${name}`);
  };
  try {
    emu.publish({ topic: '/a1ProductKey/device1/thing/event/property/post' });
    const { accessKeyId, accessKeySecret } = emu.credentials();
    consumer = amqp.createConsumer({ host: emu.host, port: emu.port, transport: 'tcp', accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', reconnect: false });
    const seen = {};
    consumer.on('connected', (event) => { seen.connected = event; });
    consumer.on('message', (m) => { seen.message = m; });
    await emu.waitFor(() => seen.message && seen.connected && emu.acceptedOnce.size === 1, 10000, 'a message, accepted');

    check('the emulator', 'Emulator', emu);
    check('a consumer', 'Consumer', consumer);
    check('a consumer message', 'ConsumerMessage', seen.message);
    check('consumer.stats()', 'ConsumerStats', consumer.stats());
    check('message.topicInfo', 'TopicInfo', seen.message.topicInfo);
    check('emulator.authAttempts[0]', 'EmulatorAuthAttempt', emu.authAttempts[0]);
    check('consumer.health()', 'ConsumerHealth', consumer.health());
    check('consumer.health().connections[0]', 'ConnectionHealth', consumer.health().connections[0]);
    check('amqp.channels', 'Channels', amqp.channels);
    const server = await amqp.serveMetrics(consumer, { host: '127.0.0.1' });
    check('serveMetrics()', 'MetricsServer', server);
    await server.close();

    // A batch of consumer.batches() (its index keys and Array's methods aside), and of a rhea-shaped batch receiver.
    await consumer.close({ timeout: 1000 });
    const other = amqp.createConsumer({ host: emu.host, port: emu.port, transport: 'tcp', accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', reconnect: false });
    emu.publish({});
    const it = other.batches({ maxWaitMs: 0 });
    const { value: consumerBatch } = await it.next();
    check('a consumer batch', 'ConsumerBatch', consumerBatch, { ignoreExtra: [...Object.keys(consumerBatch), ...Object.getOwnPropertyNames(Array.prototype)] });
    assert.ok(consumerBatch.length === 1 && consumerBatch[0] instanceof amqp.ConsumerMessage);
    await it.return();
    const container = amqp.create_container();
    const connection = container.connect({ host: emu.host, port: emu.port, ...amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'g', clientId: 'c' }), reconnect: false });
    let rheaBatch = null;
    connection.open_receiver({ batch: true }).on('batch', (ctx) => {
      rheaBatch = ctx.batch;
      check('a batch context', 'BatchContext', ctx);
    });
    emu.publish({});
    await emu.waitFor(() => rheaBatch !== null, 10000, 'a batch');
    check('a batch', 'Batch', rheaBatch);
    connection.close();
    await emu.waitFor(() => connection.is_closed(), 10000, 'closed');
    assert.equal(typeof consumer[Symbol.asyncIterator], 'function');
    assert.deepEqual(Object.keys(seen.connected).sort(), ['clientId', 'reconnect']);
    assert.equal(seen.message.state, 'accepted');
    assert.deepEqual(Object.keys(seen.message.toJSON()).sort(), ['content', 'generateTime', 'messageId', 'topic', 'topicInfo']);
    assert.deepEqual(problems, []);
  } finally {
    if (consumer) await consumer.close({ timeout: 5000 });
    await emu.close();
  }
});

test('index.d.ts: the consumer API type-checks with tsc --strict as a user would write it', { timeout: 120000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-types-'));
  const file = path.join(dir, 'consumer-usage.ts');
  fs.writeFileSync(file, `
import amqp = require(${JSON.stringify(path.join(ROOT, 'index.js'))});

async function main(): Promise<void> {
  const consumer: amqp.Consumer = amqp.createConsumer({
    host: 'iot-cn-x.amqp.iothub.aliyuncs.com', consumerGroupId: 'DEFAULT_GROUP', iotInstanceId: 'iot-cn-x',
    connections: 4, credit: 50, concurrency: 8, dedupe: { size: 1000 }, signMethod: 'hmacsha1', reconnect: true, idle_time_out: 60000,
  });
  const viaFn = amqp.createConsumer({
    endpoint: 'amqps://localhost:5671', consumerGroupId: 'g', clientId: 'c', ca: Buffer.from(''), rejectUnauthorized: true,
    credentials: async () => ({ accessKeyId: 'id', accessKeySecret: 's', securityToken: 't' }),
  });
  // @ts-expect-error consumerGroupId is required
  amqp.createConsumer({ host: 'h' });
  // @ts-expect-error unknown options are refused
  amqp.createConsumer({ host: 'h', consumerGroupId: 'g', consumerGroup: 'g' });
  const ids: string[] = consumer.clientIds;
  for await (const msg of consumer) {
    const topic: string | undefined = msg.topic;
    const id: string | undefined = msg.messageId;
    const when: number | undefined = msg.generateTime;
    const bytes: Buffer = msg.content;
    const text: string = msg.text();
    const body = msg.json<{ items: Record<string, { value: number }> }>();
    const info: amqp.TopicInfo = msg.topicInfo;
    const kind: amqp.TopicKind = info.kind;
    const raw: amqp.Message = msg.raw;
    const ok: boolean = msg.accept() || msg.release() || msg.reject('bad') || msg.reject({ condition: 'amqp:decode-error' });
    void [topic, id, when, bytes, text, body.items, kind, raw, ok, ids, info.productKey, info.deviceName, info.identifier];
    break;
  }
  viaFn.on('message', async (msg) => {
    if (msg.topicInfo.kind === 'status') msg.accept();
  });
  viaFn.on('error', (err: Error, msg?: amqp.ConsumerMessage) => void [err.message, msg && msg.messageId]);
  viaFn.on('connected', ({ clientId, reconnect }) => void [clientId, reconnect]);
  viaFn.on('disconnected', ({ clientId, error, reconnecting }) => void [clientId, error && error.condition, reconnecting]);
  viaFn.on('duplicate', (msg) => void msg.messageId);
  // @ts-expect-error no such event
  viaFn.on('mesage', () => {});
  viaFn.pause();
  viaFn.resume();
  const paused: boolean = viaFn.isPaused();
  const s: amqp.ConsumerStats = viaFn.stats();
  const counts: number[] = [s.received, s.accepted, s.released, s.rejected, s.duplicates, s.reconnects, s.inFlight, s.buffered, s.connections];
  const last: string | null = s.lastError;
  await viaFn.close({ timeout: 1000 });
  await consumer.close();
  void [paused, counts, last];

  const info: amqp.TopicInfo = amqp.parseTopic('/as/mqtt/status/pk/dn');
  const match: (t: string | undefined) => boolean = amqp.topicMatcher('/pk/+/thing/#');
  const emu: amqp.Emulator = await amqp.startEmulator({ port: 0, certDir: '/tmp/x' });
  const id: string = emu.publish({ topic: '/pk/dn/user/x', body: { a: 1 } });
  const many: string[] = emu.publishMany(3, (i) => ({ messageId: 'm' + i }));
  const attempt: amqp.EmulatorAuthAttempt | undefined = emu.authAttempts[0];
  await emu.waitForAccepted(1);
  const n: number = emu.accepted.get(id) || 0;
  await emu.close();
  void [info, match, many, attempt, n, emu.caFile, emu.port, emu.hostname];
}
void main;
`);
  const r = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--pretty', 'false', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), file],
  { cwd: ROOT, encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
