'use strict';
// index.d.ts against its users and against index.js:
// 1. __test__/types/usage.ts, which uses every export, option, event and listener argument the
//    declarations offer (and checks with @ts-expect-error that wrong uses are refused), compiles
//    with `tsc --noEmit --strict`; index.d.ts itself is type-checked on the way.
// 2. The members the declarations give each object exist on the real objects (a message received
//    from the emulator, its delivery and context, the receiver, session, connection, container),
//    and those objects carry no public member the declarations leave out.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
const USAGE = path.join(__dirname, 'types', 'usage.ts');

test('usage.ts compiles with tsc --noEmit --strict against index.d.ts', { timeout: 120000 }, () => {
  const args = [TSC, '--noEmit', '--strict', '--pretty', 'false',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node',
    '--noUnusedLocals', '--noImplicitReturns', USAGE];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

// ---------------------------------------------------------------------------------------------
// Declared members, read from index.d.ts with the TypeScript compiler API

const ts = require(require.resolve('typescript', { paths: [ROOT] }));

/** {interfaceName: {members: Map<name, optional>, extends: [names]}} of the aliyunIotAmqp namespace. */
function declaredInterfaces() {
  const file = path.join(ROOT, 'index.d.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out = {};
  let moduleLevel = null;
  const visit = (node) => {
    if (ts.isInterfaceDeclaration(node)) {
      const members = new Map();
      // Computed names ([Symbol.asyncIterator]) are checked by hand below.
      for (const m of node.members) if (m.name && !ts.isComputedPropertyName(m.name)) members.set(m.name.getText(sf), Boolean(m.questionToken));
      const ext = [];
      for (const clause of node.heritageClauses || []) for (const t of clause.types) ext.push(t.expression.getText(sf));
      out[node.name.text] = { members, extends: ext };
    }
    if (ts.isVariableDeclaration(node) && node.name.getText(sf) === 'aliyunIotAmqp' && node.type && ts.isIntersectionTypeNode(node.type)) {
      const literal = node.type.types.find(ts.isTypeLiteralNode);
      moduleLevel = literal ? literal.members.map((m) => m.name.getText(sf)) : [];
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { interfaces: out, moduleLevel };
}

const { interfaces, moduleLevel } = declaredInterfaces();

// Public runtime members index.d.ts does not declare, known and reported; drop an entry once
// index.d.ts declares the member (or index.js hides it).
const KNOWN_UNDECLARED = {
  Emulator: ['options'],
};

/** Every member of an interface, with those it inherits from interfaces in the same file. */
function membersOf(name) {
  const decl = interfaces[name];
  assert.ok(decl, `index.d.ts declares interface ${name}`);
  const all = new Map();
  for (const parent of decl.extends) if (interfaces[parent]) for (const [k, v] of membersOf(parent)) all.set(k, v);
  for (const [k, v] of decl.members) all.set(k, v);
  return all;
}

const EMITTER_MEMBERS = new Set([
  ...Object.getOwnPropertyNames(EventEmitter.prototype),
  ...Object.keys(new EventEmitter()),
]);

/** Public members the object has: own enumerable keys and its classes' methods (not those of Object, EventEmitter or Error), not `_`-prefixed. */
function publicMembers(obj) {
  const names = new Set(Object.keys(obj));
  const builtIn = [Object.prototype, EventEmitter.prototype, Error.prototype];
  for (let p = Object.getPrototypeOf(obj); p && !builtIn.includes(p); p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor') names.add(k);
  }
  return [...names].filter((k) => !k.startsWith('_') && !EMITTER_MEMBERS.has(k)).sort();
}

/** Declared-but-missing and present-but-undeclared members of obj against interface `name`. */
function compare(name, obj, { ignoreExtra = [] } = {}) {
  const declared = membersOf(name);
  const missing = [...declared].filter(([k, optional]) => !optional && !(k in obj)).map(([k]) => k);
  const known = KNOWN_UNDECLARED[name] || [];
  const extra = publicMembers(obj).filter((k) => !declared.has(k) && !ignoreExtra.includes(k) && !known.includes(k));
  return { missing, extra };
}

test('usage.ts uses every member of every interface index.d.ts declares', () => {
  const sf = ts.createSourceFile(USAGE, fs.readFileSync(USAGE, 'utf8'), ts.ScriptTarget.Latest, true);
  const used = new Set();
  const visit = (node) => {
    if (ts.isIdentifier(node) || ts.isStringLiteral(node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const unused = [];
  for (const [name, decl] of Object.entries(interfaces)) {
    if (!used.has(name)) unused.push(name);
    for (const member of decl.members.keys()) if (!used.has(member.replace(/^['"]|['"]$/g, ''))) unused.push(`${name}.${member}`);
  }
  for (const k of moduleLevel) if (!used.has(k)) unused.push(`module export ${k}`);
  assert.deepEqual(unused, [], 'declared in index.d.ts but not used in __test__/types/usage.ts: add a use there');
});

test('every member index.d.ts declares is on the real objects, and nothing public is left undeclared', { timeout: 60000 }, async () => {
  const amqp = require('../index.js');
  const { startEmulator } = require('./support/emulator');
  const { optionsFor } = require('./support/client');

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
  const amqp = require('../index.js');
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
