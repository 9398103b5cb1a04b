'use strict';
// DEBUG patterns (lib/debug.js) select categories as the debug package does.

const test = require('node:test');
const assert = require('node:assert/strict');

const debug = require('../../lib/debug.js');

test('DEBUG patterns select categories as the debug package does', () => {
  assert.equal(debug.enabled('aliyun-iot-amqp:frames', 'aliyun-iot-amqp*'), true);
  assert.equal(debug.enabled('aliyun-iot-amqp:frames', 'aliyun-iot-amqp:reconnect'), false);
  assert.equal(debug.enabled('aliyun-iot-amqp:frames', '*,-aliyun-iot-amqp:frames'), false);
  assert.equal(debug.enabled('aliyun-iot-amqp:events', 'express:*, aliyun-iot-amqp:*'), true);
  assert.equal(debug.enabled('aliyun-iot-amqp:events', ''), false);
  assert.equal(debug.enabled('aliyun-iot-amqp:events', undefined), false);
});
