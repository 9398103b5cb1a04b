'use strict';
// ES modules: `import { createConsumer } from 'aliyun-iot-amqp'` (and the default import) in Node,
// resolved through package.json's `exports` map from a project's node_modules; the named exports
// are the very objects require() gives. TypeScript's ESM view (index.d.mts, moduleResolution
// nodenext) compiles as a user would write it. The names themselves: unit/esm.test.js.
// (The installed tarball is imported on Node 18–24 by scripts/pack-test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** A project whose node_modules/aliyun-iot-amqp is this repository. */
function project(type) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-esm-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'aliyun-iot-amqp'), 'junction');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'esm-user', private: true, type }));
  return dir;
}

// The ESM probe: named and default imports, compared with require() of the same package.
const PROBE = `
import { createRequire } from 'node:module';
import amqp, { createConsumer, connect, create_container, sign, parseTopic, topicMatcher, startEmulator, Container, ConnectionError } from 'aliyun-iot-amqp';
import * as ns from 'aliyun-iot-amqp';
const cjs = createRequire(import.meta.url)('aliyun-iot-amqp');
const same = {};
for (const [k, v] of Object.entries(ns)) same[k] = k === 'default' ? v === cjs : v === cjs[k];
const c = create_container({ id: 'esm' });
console.log(JSON.stringify({
  same,
  names: Object.keys(ns).sort(),
  createConsumer: typeof createConsumer,
  defaultIsContainer: amqp === cjs && amqp instanceof Container,
  signed: typeof sign({ accessKeyId: 'i', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c', timestamp: 1 }).password,
  topic: parseTopic('/pk/dn/thing/event/property/post').kind,
  match: topicMatcher('/pk/#')('/pk/x'),
  connect: typeof connect, startEmulator: typeof startEmulator, error: typeof ConnectionError,
  containerId: c.id,
}));
// A bare connect() (no receiver, closed at once) works as a plain function, as the default container's.
const conn = connect({ host: '127.0.0.1', port: 1, reconnect: false });
conn.on('disconnected', () => {});
conn.close();
`;

test('import { createConsumer } from "aliyun-iot-amqp" works in Node, and each named export is the CommonJS one', { timeout: 60000 }, () => {
  const dir = project('module');
  try {
    fs.writeFileSync(path.join(dir, 'probe.js'), PROBE);
    const r = spawnSync(process.execPath, ['probe.js'], { cwd: dir, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `import failed:\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.ok(out.names.includes('createConsumer') && out.names.includes('default'), out.names.join(', '));
    assert.deepEqual(Object.entries(out.same).filter(([, v]) => !v).map(([k]) => k), [], 'named exports that are not the CommonJS objects');
    assert.equal(out.createConsumer, 'function');
    assert.equal(out.defaultIsContainer, true);
    assert.equal(out.signed, 'string');
    assert.equal(out.topic, 'property');
    assert.equal(out.match, true);
    assert.equal(out.containerId, 'esm');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('require("aliyun-iot-amqp") still gives the CommonJS container through the exports map', { timeout: 60000 }, () => {
  const dir = project('commonjs');
  try {
    const script = `const amqp = require('aliyun-iot-amqp'); const { createConsumer, connect } = amqp;
console.log(JSON.stringify({ path: require.resolve('aliyun-iot-amqp'), fn: typeof createConsumer, connect: typeof connect,
  pkg: require('aliyun-iot-amqp/package.json').name }));`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(fs.realpathSync(out.path), path.join(ROOT, 'index.js'));
    assert.deepEqual([out.fn, out.connect, out.pkg], ['function', 'function', 'aliyun-iot-amqp']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TypeScript, moduleResolution nodenext: ESM named and default imports and CommonJS require type-check', { timeout: 120000 }, () => {
  const dir = project('module');
  try {
    fs.writeFileSync(path.join(dir, 'esm.mts'), `
import amqp, { createConsumer, connect, sign, parseTopic, Container, type Consumer, type ConsumerOptions, type ConsumerMessage, type Message, type TopicKind } from 'aliyun-iot-amqp';
const options: ConsumerOptions = { host: 'h', consumerGroupId: 'g', accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID };
const consumer: Consumer = createConsumer(options);
consumer.on('message', async (msg: ConsumerMessage) => { const kind: TopicKind = msg.topicInfo.kind; void kind; });
const connection = connect({ host: 'h', transport: 'tls' });
connection.open_receiver();
amqp.on('message', (ctx) => { const m: Message = ctx.message; console.log(m.application_properties.topic); });
const c: Container = amqp.create_container();
const signed: string = sign({ consumerGroupId: 'g', clientId: 'c' }).password;
void [c, signed, parseTopic('/a/b/thing/lifecycle').kind];
// @ts-expect-error consumerGroupId is required
createConsumer({ host: 'h' });
`);
    fs.writeFileSync(path.join(dir, 'cjs.cts'), `
import amqp = require('aliyun-iot-amqp');
const consumer: amqp.Consumer = amqp.createConsumer({ host: 'h', consumerGroupId: 'g' });
void consumer;
`);
    const r = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--pretty', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'esm.mts', 'cjs.cts'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
