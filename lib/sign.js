'use strict';
// sign(): the platform's SASL PLAIN credentials, checked here (lib/options.js) and computed in
// Rust (lib/native.js).

const native = require('./native.js');
const { signOptions } = require('./options.js');

/**
 * Signs the platform's SASL PLAIN credentials (in Rust):
 * `sign({accessKeyId, accessKeySecret, consumerGroupId, clientId, iotInstanceId, authMode, signMethod, securityToken, timestamp})`
 * → `{username, password}`.
 */
function sign(options) {
  const params = signOptions(options);
  try {
    const out = native.sign(params);
    return { username: out.username, password: out.password };
  } catch (err) {
    throw new TypeError(`aliyun-iot-amqp: ${err.message}`, { cause: err });
  }
}

module.exports = { sign };
