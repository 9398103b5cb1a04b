'use strict';
// Without a reachable broker, the RabbitMQ tests are skipped outside CI with a message giving the
// one command that starts one, and fail under CI (CI=true or CI=1, support/ci.js) (rabbitmq.test.js,
// run here against a port where nothing listens).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { closedPort } = require('../support/ports');

const FILE = path.join(__dirname, 'rabbitmq.test.js');

function runWithout(env) {
  const clean = { ...process.env, ...env };
  delete clean.NODE_TEST_CONTEXT;
  delete clean.ALIYUN_IOT_AMQP_SKIP_BROKER;
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete clean[k];
  return spawnSync(process.execPath, ['--test', '--test-reporter=tap', FILE], { encoding: 'utf8', env: clean, timeout: 60000 });
}

test('no broker outside CI: the RabbitMQ tests are skipped, naming `npm run broker`', { timeout: 60000 }, async () => {
  const r = runWithout({ CI: undefined, ALIYUN_IOT_AMQP_BROKER_PORT: String(await closedPort()) });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /# SKIP .*no AMQP 1\.0 broker on 127\.0\.0\.1:\d+.*start one with `npm run broker`/);
  assert.match(r.stdout, /^# skipped 1$/m);
  assert.match(r.stdout, /^# fail 0$/m);
});

for (const ci of ['true', '1']) {
  test(`no broker under CI=${ci}: the RabbitMQ tests fail`, { timeout: 60000 }, async () => {
    const r = runWithout({ CI: ci, ALIYUN_IOT_AMQP_BROKER_PORT: String(await closedPort()) });
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stdout, /no AMQP 1\.0 broker on 127\.0\.0\.1:\d+/);
    assert.match(r.stdout, /^# fail 1$/m);
  });
}
