'use strict';
// An open connection keeps Node running, as a socket does; after close() Node exits by itself,
// cleanly.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const { startEmulator } = require('../support/emulator');
const { PACKAGE_ROOT, credentialsFor } = require('../support/client');

function runChild(emu, env) {
  const creds = credentialsFor(emu);
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'support', 'lifecycle-child.js')], {
    env: {
      ...process.env, PACKAGE_ROOT, AMQP_PORT: String(emu.port), AMQP_CA: emu.ca,
      AMQP_USERNAME: creds.username, AMQP_PASSWORD: creds.password, ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => stdout, err: () => stderr };
}

test('after close() the process exits by itself, with code 0', async () => {
  const emu = await startEmulator({});
  try {
    const id = emu.publish({ body: { hello: 1 } });
    const run = runChild(emu, { LIFECYCLE_CLOSE: '1' });
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 15000);
    const { code, signal } = await run.exited;
    clearTimeout(timer);
    assert.equal(signal, null, `killed: the process did not exit by itself. stdout: ${run.out()}`);
    assert.equal(code, 0, run.err());
    assert.match(run.out(), new RegExp(`message ${id}`));
    assert.match(run.out(), /connection_close/);
    assert.equal(run.err(), '');
    await emu.waitFor(() => emu.acceptedOnce.has(id));
  } finally {
    await emu.close();
  }
});

test('an open connection keeps the process running', async () => {
  const emu = await startEmulator({});
  try {
    emu.publish({ body: { hello: 1 } });
    const run = runChild(emu, {});
    let exited = false;
    run.exited.then(() => { exited = true; });
    await emu.waitFor(() => run.out().includes('message'), 10000, 'first message');
    // Idle now: nothing but the connection could keep the event loop alive.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(exited, false, 'the process exited although its connection was open');
    const second = emu.publish({ body: { hello: 2 } });
    await emu.waitFor(() => run.out().includes(`message ${second}`), 10000, 'message after idling');
    run.child.kill('SIGTERM');
    await run.exited;
  } finally {
    await emu.close();
  }
});
