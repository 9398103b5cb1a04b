'use strict';
// The doc-script fixture (support/doc-script.js): the platform's documented amqp.js, with only the
// require and the connection details changed.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const { docScriptSource } = require('../support/doc-script');

test('the fixture is the doc script with only the require, host and port changed', () => {
  const src = docScriptSource('aliyun-iot-amqp');
  assert.match(src, /^const container = require\('aliyun-iot-amqp'\);/);
  assert.match(src, /container\.on\('message', function \(context\)/);
  assert.match(src, /context\.delivery\.accept\(\);/);
});

test('doc script: the fixture is the documented amqp.js with only the connection details filled in', () => {
  const source = docScriptSource('rhea');
  assert.ok(source.startsWith("const container = require('rhea');\n"));
  assert.ok(source.includes("'host': process.env.AMQP_HOST,"));
  assert.ok(source.includes("'port': Number(process.env.AMQP_PORT),"));
  assert.ok(source.includes("'username':'test-client|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=' + accessKey + ',iotInstanceId=iot-test,consumerGroupId=DEFAULT_GROUP|', \n"));
  assert.ok(!source.includes('${'));
  assert.ok(docScriptSource('/abs/path/index.js').startsWith("const container = require('/abs/path/index.js');\n"));

  // Where the documentation page is at hand, compare with its code block byte for byte.
  const docPage = '/work/shared/reference/doc-nodejs-amqp-example.zh.md';
  if (fs.existsSync(docPage)) {
    const block = /\n {3}```javascript\n([\s\S]*?)\n {3}```\n/.exec(fs.readFileSync(docPage, 'utf8'))[1];
    const documented = block.split('\n').map((line) => line.replace(/^ {3}/, '')).join('\n') + '\n';
    const expected = documented
      .replace("'${YourHost}'", 'process.env.AMQP_HOST')
      .replace("'port': 5671", "'port': Number(process.env.AMQP_PORT)")
      .replace('${YourClientId}', 'test-client')
      .replace('${YourIotInstanceId}', 'iot-test')
      .replace('${YourConsumerGroupId}', 'DEFAULT_GROUP');
    assert.equal(source, expected);
  }
});
