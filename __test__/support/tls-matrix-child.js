'use strict';
// One environment of the TLS verdict matrix (NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED,
// --use-openssl-ca and NODE_USE_SYSTEM_CA are read by Node at startup, hence a process each): for
// every job given on stdin, connect with node:tls and with this package, the same options for
// both, and print both verdicts as one JSON line each. The package connects when its AMQP
// connection opens (the test servers speak AMQP); an `aliyun-iot-amqp:tls` error is a refusal;
// anything else (a time-out, an I/O or a configuration failure) is neither, and fails the case.

const tls = require('node:tls');
const path = require('node:path');

const amqp = require(path.resolve(__dirname, '..', '..', 'index.js'));

const CONCURRENCY = 12;
const TIMEOUT_MS = 15000;

/** A checkServerIdentity that refuses, counting its calls (job.csiRefuses). */
function refusing(counter) {
  return () => {
    counter.calls += 1;
    return Object.assign(new Error('refused by the test'), { code: 'ERR_TEST_REFUSED' });
  };
}

function nodeVerdict(opts, job) {
  const counter = { calls: 0 };
  if (job.csiRefuses) opts = { ...opts, checkServerIdentity: refusing(counter) };
  return new Promise((resolve) => {
    const socket = tls.connect(opts, () => {
      socket.destroy();
      resolve({ ok: true, calls: counter.calls });
    });
    socket.setTimeout(TIMEOUT_MS, () => {
      socket.destroy();
      resolve({ ok: false, code: 'TIMEOUT', message: 'no verdict', calls: counter.calls });
    });
    socket.on('error', (err) => resolve({ ok: false, code: err.code || null, message: err.message, calls: counter.calls }));
  });
}

function packageVerdict(opts, job) {
  const counter = { calls: 0 };
  if (job.csiRefuses) opts = { ...opts, checkServerIdentity: refusing(counter) };
  return new Promise((resolve) => {
    let c;
    try {
      c = amqp.create_container().connect({ ...opts, transport: 'tls', username: 'u', password: 'p', reconnect: false, connect_timeout: TIMEOUT_MS });
    } catch (err) {
      resolve({ ok: 'other', code: err.code || 'THROWN', message: err.message, calls: counter.calls });
      return;
    }
    let settled = false;
    const done = (v) => {
      if (settled) return;
      settled = true;
      c.close();
      resolve({ ...v, calls: counter.calls });
    };
    c.on('connection_open', () => done({ ok: true }));
    c.on('disconnected', ({ error }) => {
      if (error && error.condition === 'aliyun-iot-amqp:tls') done({ ok: false, code: error.code || null, message: error.message });
      else done({ ok: 'other', code: error ? error.code || error.condition : null, message: error ? error.message : 'disconnected without an error' });
    });
    c.on('error', (err) => done({ ok: 'other', code: err.code || 'ERROR', message: err.message }));
  });
}

async function run(job) {
  // Variables set after the package loaded (Node reads them at startup only).
  for (const [k, v] of Object.entries(job.setEnv || {})) {
    if (v === null) delete process.env[k];
    else process.env[k] = v;
  }
  const opts = { host: job.host, port: job.port, ...job.options };
  if (job.ca !== undefined) opts.ca = job.ca;
  const [node, ours] = await Promise.all([nodeVerdict(opts, job), packageVerdict(opts, job)]);
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
