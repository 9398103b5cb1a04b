'use strict';
// Preloaded into a child process: makes this package's connect() use plain TCP whatever the script
// asks for, so that the unchanged doc script can run against a plain-TCP emulator.
const path = require('node:path');
const amqp = require(path.resolve(__dirname, '..', '..', 'index.js'));
const connect = amqp.connect.bind(amqp);
amqp.connect = (options) => connect(Object.assign({}, options, { transport: 'tcp' }));
