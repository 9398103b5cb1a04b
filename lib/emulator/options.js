'use strict';
// The emulator's options (documented at startEmulator() in ./index.js) and their defaults.

const DEFAULT_OPTIONS = Object.freeze({
  tls: true,
  host: '127.0.0.1',
  hostname: 'localhost',
  port: 0,
  accessKeyId: 'LTAItestAccessKeyId',
  accessKeySecret: 'testAccessKeySecret',
  securityToken: 'testSecurityToken',
  iotInstanceId: undefined,
  sourceReply: 'null',
  credentialsCheck: true,
  requireFreshTimestamp: false,
  timestampToleranceMs: 15 * 60 * 1000,
  maxReceiversPerConnection: 1,
  idleTimeOut: 30000,
  checkIdleTimeout: false,
  containerId: 'aliyun-iot-amqp-emulator',
  certDir: undefined,
});

/** The options given, completed with the defaults (an option given as undefined takes its default); frozen. */
function emulatorOptions(opts = {}) {
  const options = { ...DEFAULT_OPTIONS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) options[k] = v;
  if (!['null', 'echo', 'own'].includes(options.sourceReply)) {
    throw new TypeError(`sourceReply must be 'null', 'echo' or 'own', got ${options.sourceReply}`);
  }
  return Object.freeze(options);
}

module.exports = { DEFAULT_OPTIONS, emulatorOptions };
