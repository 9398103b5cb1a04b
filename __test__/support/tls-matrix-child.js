'use strict';
// One environment of the TLS verdict matrix (NODE_EXTRA_CA_CERTS and NODE_TLS_REJECT_UNAUTHORIZED
// are read by Node at startup, hence a process each): for every job given on stdin, connect with
// node:tls and with this package, the same options for both, and print both verdicts as one JSON
// line each. A TLS-level accept by the package is any outcome but an `aliyun-iot-amqp:tls` error
// (the test servers close right after the handshake).

const tls = require('node:tls');
const path = require('node:path');

const amqp = require(path.resolve(__dirname, '..', '..', 'index.js'));

const CONCURRENCY = 12;
const TIMEOUT_MS = 15000;

function nodeVerdict(opts) {
  return new Promise((resolve) => {
    const socket = tls.connect(opts, () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.setTimeout(TIMEOUT_MS, () => {
      socket.destroy();
      resolve({ ok: false, code: 'TIMEOUT', message: 'no verdict' });
    });
    socket.on('error', (err) => resolve({ ok: false, code: err.code || null, message: err.message }));
  });
}

function packageVerdict(opts) {
  return new Promise((resolve) => {
    const c = amqp.create_container().connect({ ...opts, transport: 'tls', reconnect: false, connect_timeout: TIMEOUT_MS });
    const done = (v) => {
      c.close();
      resolve(v);
    };
    c.on('disconnected', ({ error }) => {
      if (error && error.condition === 'aliyun-iot-amqp:tls') done({ ok: false, code: error.code || null, message: error.message });
      else done({ ok: true, after: error ? error.message : null });
    });
    c.on('connection_open', () => done({ ok: true }));
    c.on('error', (err) => done({ ok: false, code: err.code || 'ERROR', message: err.message }));
  });
}

async function run(job) {
  const opts = { host: job.host, port: job.port, ...job.options };
  if (job.ca !== undefined) opts.ca = job.ca;
  const [node, ours] = await Promise.all([nodeVerdict(opts), packageVerdict(opts)]);
  process.stdout.write(`${JSON.stringify({ id: job.id, node, ours })}\n`);
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const jobs = JSON.parse(input);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next];
      next += 1;
      await run(job);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
});
