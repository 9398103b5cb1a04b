#!/usr/bin/env node
'use strict';
// Event-loop time per message: the batch API (open_receiver({batch: {max: 100}}), 'batch' events
// of 100 deliveries, the doc script's reads through batch.topic(i), batch.messageId(i),
// batch.content(i), one batch.accept()) against 'message' events (the doc script's handler); and
// createConsumer()'s consumer.batches({max: 100}) loop (the same reads through msg.topic,
// msg.messageId, msg.content of each message) against its for-await loop over messages. Same work,
// same load, alternated, median of RUNS each.
//
//   node bench/batch-loop.js [--runs 5] [--count 200000] [--sizes 256,4096] [--max 100] [--libs ours,ours-batch,consumer,consumer-batches] [--addon FILE]
//
// Each run is bench/consumers/js-consumer.js against a fresh loadgen (bench/loadgen, built with
// cargo into bench/target if missing) sending as fast as credit allows. Reported per message:
// event-loop busy time (performance.eventLoopUtilization's `active`), Node main-thread CPU
// (/proc/thread-self/schedstat), CPU of the whole process (all threads), and the rate; for the
// batch runs the mean number of messages per 'batch' event. The addon is the working tree's
// (npm run build) unless --addon names another build.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BENCH = __dirname;
const LOADGEN = path.join(BENCH, 'target', 'release', 'loadgen');
const CONSUMER = path.join(BENCH, 'consumers', 'js-consumer.js');
/** What is compared: each batch API against the one-message API it replaces. */
const LIBS = ['ours', 'ours-batch', 'consumer', 'consumer-batches'];
const PAIRS = [['ours', 'ours-batch'], ['consumer', 'consumer-batches']];
const BATCHED = new Set(['ours-batch', 'consumer-batches']);

function parseArgs(argv) {
  const o = { runs: 5, count: 200000, sizes: [256, 4096], max: 100, libs: LIBS, addon: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--runs') o.runs = Number(val());
    else if (a === '--count') o.count = Number(val());
    else if (a === '--sizes') o.sizes = val().split(',').map(Number);
    else if (a === '--max') o.max = Number(val());
    else if (a === '--libs') o.libs = val().split(',');
    else if (a === '--addon') o.addon = path.resolve(val());
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 18).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const lib of o.libs) if (!LIBS.includes(lib)) throw new Error(`--libs: unknown ${lib} (of ${LIBS.join(', ')})`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));

function childEnv() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.DEBUG;
  if (opts.addon) env.NAPI_RS_NATIVE_LIBRARY_PATH = opts.addon;
  return env;
}

/** One run: a loadgen, one consumer; resolves with the consumer's JSON line. */
function once(lib, size) {
  return new Promise((resolve, reject) => {
    const lg = spawn(LOADGEN, ['--count', String(opts.count), '--size', String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lgOut = '';
    let started = false;
    lg.stdout.on('data', (d) => {
      lgOut += d;
      const m = /^listening (\d+)/m.exec(lgOut);
      if (!m || started) return;
      started = true;
      const args = [CONSUMER, '--lib', lib, '--port', m[1], '--count', String(opts.count), '--batch-max', String(opts.max)];
      const c = spawn(process.execPath, args, { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (x) => { out += x; });
      c.on('close', (code) => {
        lg.kill();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (code !== 0 || !line) reject(new Error(`${lib} exited ${code}: ${out}`));
        else resolve(JSON.parse(line));
      });
    });
    lg.on('error', reject);
  });
}

const median = (xs) => {
  const v = xs.slice().sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function main() {
  if (!fs.existsSync(LOADGEN)) {
    const r = spawnSync('cargo', ['build', '--release', '-p', 'loadgen'], { cwd: BENCH, stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: path.join(BENCH, 'target') } });
    if (r.status !== 0) throw new Error('cargo build of the loadgen failed');
  }
  const load = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stderr.write(`load average ${load()}; ${opts.runs} runs of ${opts.count} messages per cell\n`);
  const rows = [];
  for (const size of opts.sizes) {
    const cells = Object.fromEntries(opts.libs.map((lib) => [lib, []]));
    for (let r = 0; r < opts.runs; r++) {
      // Alternated, the order reversed every round.
      const order = r % 2 ? opts.libs.slice().reverse() : opts.libs;
      for (const lib of order) {
        const x = await once(lib, size);
        const n = x.received;
        cells[lib].push({
          loop: (x.elu_active_ms * 1000) / n,
          main: x.main_thread_cpu_us / n,
          cpu: (x.cpu_user_us + x.cpu_sys_us) / n,
          rate: x.rate,
          perBatch: x.batches ? n / x.batches : null,
        });
        process.stderr.write(`${size} B ${lib} run ${r + 1}: loop ${cells[lib].at(-1).loop.toFixed(2)} µs/msg\n`);
      }
    }
    for (const lib of opts.libs) {
      const c = cells[lib];
      rows.push({
        size,
        lib,
        loop: median(c.map((x) => x.loop)),
        main: median(c.map((x) => x.main)),
        cpu: median(c.map((x) => x.cpu)),
        rate: median(c.map((x) => x.rate)),
        perBatch: BATCHED.has(lib) ? median(c.map((x) => x.perBatch)) : null,
      });
    }
  }
  const label = {
    ours: "'message' events (the doc script's handler)",
    'ours-batch': `'batch' events of ${opts.max} (batch.topic/messageId/content, batch.accept())`,
    consumer: 'createConsumer(), for await (const msg of consumer)',
    'consumer-batches': `createConsumer(), for await (const batch of consumer.batches({max: ${opts.max}}))`,
  };
  const lines = [
    '| payload | API | event-loop busy µs/msg | main-thread CPU µs/msg | CPU µs/msg (all threads) | msg/s | messages per event |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.size === 4096 ? '4 KiB' : `${r.size} B`} | ${label[r.lib]} | ${r.loop.toFixed(2)} | ${r.main.toFixed(2)} | ${r.cpu.toFixed(2)} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.perBatch === null ? 1 : r.perBatch.toFixed(1)} |`);
  }
  for (const size of opts.sizes) {
    for (const [one, many] of PAIRS) {
      const [m, b] = [one, many].map((lib) => rows.find((r) => r.size === size && r.lib === lib));
      if (!m || !b) continue;
      lines.push('', `${size} B: ${many} (batches of ${opts.max}) spends ${(b.loop / m.loop).toFixed(2)}× the event-loop time per message of ${one} (${b.loop.toFixed(2)} vs ${m.loop.toFixed(2)} µs), ${(b.main / m.main).toFixed(2)}× the main-thread CPU.`);
    }
  }
  process.stderr.write(`load average ${load()}\n`);
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
