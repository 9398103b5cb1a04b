'use strict';
// A panic in the native core becomes an error event the app can handle; it never aborts Node.
// The core panics on purpose when ALIYUN_IOT_AMQP_INJECT_PANIC is set (a fault-injection hook).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');

const { PACKAGE_ROOT } = require('../support/client');

const CHILD = `
const amqp = require(${JSON.stringify(PACKAGE_ROOT)});
const c = amqp.connect({ host: '127.0.0.1', port: 1, transport: 'tcp' });
c.open_receiver();
c.on('disconnected', (ctx) => {
  console.log(JSON.stringify({ condition: ctx.error && ctx.error.condition, message: ctx.error && ctx.error.message, reconnecting: ctx.reconnecting }));
});
process.on('exit', (code) => console.log('exit ' + code));
`;

test('a panic in the connection task is a disconnected event with the panic as its error, and Node exits normally', () => {
  const r = spawnSync(process.execPath, ['-e', CHILD], {
    env: { ...process.env, ALIYUN_IOT_AMQP_INJECT_PANIC: '1', RUST_BACKTRACE: '0' },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(r.signal, null, `the process was killed (${r.signal}); stderr: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const event = JSON.parse(lines[0]);
  assert.equal(event.condition, 'aliyun-iot-amqp:internal');
  assert.match(event.message, /internal error \(panic\): injected panic/);
  assert.equal(event.reconnecting, false);
  assert.equal(lines.at(-1), 'exit 0');
});
