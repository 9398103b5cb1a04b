'use strict';
// DEBUG=aliyun-iot-amqp* logs frames, events and reconnects to stderr, secrets redacted; silent
// otherwise (the DEBUG patterns themselves: unit/debug.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { runDocScript } = require('../support/doc-script');
const { PACKAGE_ROOT } = require('../support/client');

async function docRun(env) {
  const emu = await startEmulator({});
  try {
    const ids = emu.publishMany(3);
    const result = await runDocScript({
      moduleName: PACKAGE_ROOT, emu, env, untilLines: 3,
      beforeKill: () => emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id))),
    });
    return { result, secret: emu.credentials().accessKeySecret };
  } finally {
    await emu.close();
  }
}

test('with DEBUG set, frames, events and reconnects go to stderr without secrets', async () => {
  const { result, secret } = await docRun({ DEBUG: 'aliyun-iot-amqp*' });
  assert.equal(result.lines.length, 3);
  for (const category of ['frames', 'events', 'reconnect']) {
    assert.match(result.stderr, new RegExp(`aliyun-iot-amqp:${category} `), category);
  }
  assert.match(result.stderr, /sasl-init PLAIN \(credentials \[redacted\]\)/);
  assert.ok(!result.stderr.includes(secret));
  // The password is a base64 HMAC; make sure no SASL response or password-looking field shows.
  assert.ok(!/password/i.test(result.stderr));
});

test('without DEBUG nothing is logged', async () => {
  const { result } = await docRun({ DEBUG: undefined });
  assert.equal(result.lines.length, 3);
  assert.equal(result.stderr, '');
});

test('every debug line, frames included, is one whole line with a timestamp, from one writer', async () => {
  const { result } = await docRun({ DEBUG: 'aliyun-iot-amqp*' });
  const lines = result.stderr.split('\n').filter(Boolean);
  const bad = lines.filter((l) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z aliyun-iot-amqp:(frames|events|reconnect) \S/.test(l));
  assert.deepEqual(bad, [], 'lines without a timestamp and category, or spliced');
  const frames = lines.filter((l) => / aliyun-iot-amqp:frames /.test(l));
  assert.ok(frames.some((l) => /\] -> Open \{/.test(l)) && frames.some((l) => /\] <- Open\(Open \{/.test(l)), frames.join('\n'));
  // One line each: a frame line holds one frame, once.
  for (const l of frames) assert.equal(l.match(/aliyun-iot-amqp:/g).length, 1, l);
  // Timestamps never go backwards: the lines come out in the order they were written.
  const times = lines.map((l) => Date.parse(l.slice(0, 24)));
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
});

test('DEBUG=aliyun-iot-amqp:frames alone: frame lines only, through the same writer', async () => {
  const { result } = await docRun({ DEBUG: 'aliyun-iot-amqp:frames' });
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.ok(lines.length > 5, result.stderr);
  for (const l of lines) assert.match(l, /^\S+Z aliyun-iot-amqp:frames \[/);
});
