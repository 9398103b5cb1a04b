'use strict';
// The README's PostgreSQL recipe is examples/postgres.js, the file integration/postgres.test.js runs
// under faults: the README shows its code (all of it after the header comment) verbatim.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

test('the README shows examples/postgres.js as it is', () => {
  const example = fs.readFileSync(path.join(ROOT, 'examples', 'postgres.js'), 'utf8');
  const code = example.slice(example.indexOf("const { createConsumer, serveMetrics } = require('aliyun-iot-amqp');"));
  assert.ok(code.length > 1000);
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('```js\n' + code + '```\n'), 'README.md: the recipe differs from examples/postgres.js; paste the file (from its first require) into the README');
});
