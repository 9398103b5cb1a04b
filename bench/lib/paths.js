'use strict';
// Where the benchmark's parts are: the builds it runs, the certificates and results it writes.

const path = require('node:path');

const BENCH = path.resolve(__dirname, '..');
const ROOT = path.resolve(BENCH, '..');
const TARGET = path.join(BENCH, 'target');
const BUILD = path.join(BENCH, 'build');
const CERTS = path.join(BENCH, 'certs');
const RESULTS = path.join(BENCH, 'results');
const ADDON = path.join(BUILD, 'aliyun-iot-amqp.linux-x64-gnu.node');
const LOADGEN = path.join(TARGET, 'release', 'loadgen');
const FLOOR = path.join(TARGET, 'release', 'floor');
const JS_CONSUMER = path.join(BENCH, 'consumers', 'js-consumer.js');

module.exports = { BENCH, ROOT, TARGET, BUILD, CERTS, RESULTS, ADDON, LOADGEN, FLOOR, JS_CONSUMER };
