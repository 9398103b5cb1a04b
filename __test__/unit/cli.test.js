'use strict';
// The command line's usage errors, --help and --version (child processes that connect nowhere; the
// commands that consume are in integration/cli.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');

const { run } = require('../support/cli');

test('usage errors exit with code 2; --help and --version', async () => {
  let r = await run(['consume', '--consumer-group', 'g']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--host is required/);
  r = await run(['consume', '--host', 'localhost', '--consumer-group', 'g']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /option 'accessKeyId'.*ALIBABA_CLOUD_ACCESS_KEY_ID/);
  r = await run(['consume', '--bogus']);
  assert.equal(r.code, 2);
  r = await run(['nonsense']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "nonsense"/);
  r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: aliyun-iot-amqp <command>/);
  r = await run(['--version']);
  assert.equal(r.stdout.trim(), require('../../package.json').version);
});
