'use strict';
// An emulator started in a worker_threads Worker that is then terminated (no 'exit' event runs
// there) leaves no temporary certificate directory behind, private key included.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const ROOT = path.resolve(__dirname, '..', '..');

test('a terminated Worker\'s emulator leaves no certificate directory behind', { timeout: 60000 }, async (t) => {
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const path = require('node:path');
    require(${JSON.stringify(ROOT)}).startEmulator({ port: 0 }).then((emu) => {
      const dir = path.dirname(emu.caFile);
      parentPort.postMessage({ dir, files: fs.readdirSync(dir).sort() });
    });
  `, { eval: true });
  t.after(() => worker.terminate());
  const { dir, files } = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  assert.match(path.basename(dir), /^aliyun-iot-amqp-certs-/);
  await worker.terminate();
  const deadline = Date.now() + 5000;
  while (fs.existsSync(dir) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(fs.existsSync(dir), false, `${dir} is still there after the Worker was terminated`);
  assert.deepEqual(files, ['ca.pem', 'server.key', 'server.pem'], 'what the directory held');
});

test('a Worker that ends by itself removes its certificate directory too', { timeout: 60000 }, async () => {
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const path = require('node:path');
    require(${JSON.stringify(ROOT)}).startEmulator({ port: 0 }).then(async (emu) => {
      parentPort.postMessage(path.dirname(emu.caFile));
      await emu.close();
    });
  `, { eval: true });
  const dir = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await new Promise((resolve) => worker.once('exit', resolve));
  const deadline = Date.now() + 5000;
  while (fs.existsSync(dir) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(fs.existsSync(dir), false, `${dir} is still there after the Worker exited`);
});
