#!/usr/bin/env node
'use strict';

/**
 * Bounded memory with a slow handler: a backlog of 100 000 messages at the emulator (in a child
 * process, so the RSS measured is the client's alone) and a handler that takes 10 ms (async)
 * before accepting. Credit bounds what the client holds; RSS must stay flat.
 *
 *   node scripts/backlog.js [--messages 100000] [--handler-ms 10] [--credit 1000]
 *
 * Prints RSS at each quarter of the backlog and the most unsettled deliveries seen at once.
 */

const path = require('node:path');
const { startRemoteEmulator } = require('./soak.js');
const amqp = require(path.resolve(__dirname, '..', 'index.js'));

const args = process.argv.slice(2);
const num = (name, def) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : def);
const total = num('--messages', 100000);
const handlerMs = num('--handler-ms', 10);
const credit = num('--credit', 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (n) => (n / 1048576).toFixed(1);

async function main() {
  const emu = await startRemoteEmulator({ tls: false });
  const { accessKeyId, accessKeySecret } = emu.credentials;
  const creds = amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'backlog' });
  const container = amqp.create_container();
  const c = container.connect({ host: '127.0.0.1', port: emu.port, transport: 'tcp', ...creds });
  c.on('disconnected', () => {});
  c.open_receiver({ autoaccept: false, credit_window: credit });
  let held = 0;
  let maxHeld = 0;
  container.on('message', async (ctx) => {
    held += 1;
    maxHeld = Math.max(maxHeld, held);
    await sleep(handlerMs); // the slow part of a real handler (a database write, say)
    ctx.delivery.accept();
    held -= 1;
  });
  await emu.publish(total);
  const started = Date.now();
  const marks = [];
  let peak = 0;
  let s;
  for (let q = 1; ;) {
    await sleep(50);
    s = await emu.stats();
    peak = Math.max(peak, process.memoryUsage().rss);
    while (q <= 4 && s.acceptedOnce >= (total * q) / 4) {
      // What is retained, not garbage not yet collected (the script runs with --expose-gc).
      if (typeof global.gc === 'function') global.gc();
      marks.push(`${q * 25} %: ${mb(process.memoryUsage().rss)} MB`);
      q += 1;
    }
    if (s.acceptedOnce >= total && s.pending === 0) break;
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`backlog: ${total} messages, ${handlerMs} ms handler, credit ${credit}: ${seconds.toFixed(1)} s; RSS ${marks.join(', ')}; peak ${mb(peak)} MB; most unsettled at once: ${maxHeld}; lost: ${total - s.acceptedOnce}`);
  c.close();
  await emu.close();
  process.exitCode = maxHeld <= credit && s.acceptedOnce === total ? 0 : 1;
}

if (typeof global.gc !== 'function') {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, ...args], { stdio: 'inherit' });
  process.exitCode = r.status === null ? 1 : r.status;
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
