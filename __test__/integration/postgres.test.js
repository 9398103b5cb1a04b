'use strict';
// The README's PostgreSQL recipe is examples/postgres.js, and this test runs it as it is: in a child
// process, against the emulator (TLS, the signature check, at-least-once redelivery) and a real
// PostgreSQL (a database made for the run, dropped after it), while the emulator drops every
// connection again and again and the consumer process is killed (SIGKILL) once in mid-stream and
// started again. The table must end with every published message exactly once.
//
// PostgreSQL: 127.0.0.1:5432 as user postgres (PGHOST, PGPORT, PGUSER, PGPASSWORD override), as
// CI's .ci/run starts it. Without one the test fails saying so, unless ALIYUN_IOT_AMQP_SKIP_POSTGRES=1.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Client } = require('pg');

const { startEmulator } = require('../support/emulator');
const { PACKAGE_ROOT } = require('../support/client');
const { cleanEnv } = require('../support/cli');

const EXAMPLE = path.join(PACKAGE_ROOT, 'examples', 'postgres.js');
const PG = {
  host: process.env.PGHOST || '127.0.0.1',
  port: Number(process.env.PGPORT || 5432),
  user: process.env.PGUSER || 'postgres',
  password: process.env.PGPASSWORD,
};

const MESSAGES = 3000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function admin() {
  const c = new Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 5000 });
  await c.connect();
  return c;
}

async function probe() {
  try {
    const c = await admin();
    await c.end();
    return null;
  } catch (err) {
    return `no PostgreSQL at ${PG.host}:${PG.port} as ${PG.user} (${err.message}): start it (CI's .ci/run does), or set ALIYUN_IOT_AMQP_SKIP_POSTGRES=1 to skip this test`;
  }
}

/** A directory whose `aliyun-iot-amqp` is this checkout, for NODE_PATH: the example requires the package by name. */
function packagePath(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-example-'));
  fs.symlinkSync(PACKAGE_ROOT, path.join(dir, 'aliyun-iot-amqp'), 'dir');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

if (process.env.ALIYUN_IOT_AMQP_SKIP_POSTGRES === '1') {
  test('examples/postgres.js against PostgreSQL', { skip: 'ALIYUN_IOT_AMQP_SKIP_POSTGRES=1' }, () => {});
} else {
  test('examples/postgres.js: every message exactly once in the table, through repeated drops and a kill -9', { timeout: 180000 }, async (t) => {
    const missing = await probe();
    assert.equal(missing, null, missing);

    const database = `aliyun_iot_amqp_test_${process.pid}_${Date.now()}`;
    const a = await admin();
    await a.query(`CREATE DATABASE ${database}`);
    await a.end();
    const db = new Client({ ...PG, database });
    db.on('error', () => {}); // the DROP below ends what is still connected
    await db.connect();
    t.after(async () => {
      await db.end().catch(() => {});
      const c = await admin();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    });

    const emu = await startEmulator();
    t.after(() => emu.close());
    const { accessKeyId, accessKeySecret } = emu.credentials();
    const env = cleanEnv({
      NODE_PATH: packagePath(t),
      PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: PG.user, PGDATABASE: database,
      ...(PG.password !== undefined ? { PGPASSWORD: PG.password } : {}),
      ALIYUN_IOT_AMQP_HOST: emu.hostname, ALIYUN_IOT_AMQP_PORT: String(emu.port), ALIYUN_IOT_AMQP_CONSUMER_GROUP: 'DEFAULT_GROUP',
      ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret,
      NODE_EXTRA_CA_CERTS: emu.caFile,
    });

    const children = [];
    const start = () => {
      const child = spawn(process.execPath, [EXAMPLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const run = { child, stderr: '', exited: null };
      child.stderr.on('data', (d) => { run.stderr += d; });
      child.stdout.resume();
      run.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
      children.push(run);
      return run;
    };
    t.after(async () => {
      for (const run of children) {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
        await run.exited;
      }
    });
    const rows = async () => {
      try {
        return Number((await db.query('SELECT count(*) AS n FROM iot_messages')).rows[0].n);
      } catch (err) {
        if (err.code === '42P01') return 0; // the example has not created its table yet
        throw err;
      }
    };

    // Publish 3000 messages over ~1.5 s while the emulator drops every connection every 200 ms.
    const ids = [];
    let drops = 0;
    const publisher = (async () => {
      for (let sent = 0; sent < MESSAGES; sent += 100) {
        ids.push(...emu.publishMany(100, (i) => ({ topic: `/a1Pk/dev${(sent + i) % 7}/thing/event/property/post`, body: { seq: sent + i } })));
        await sleep(50);
      }
    })();
    const dropper = setInterval(() => {
      if (drops < 8 && emu.dropConnections() > 0) drops += 1;
    }, 200);
    t.after(() => clearInterval(dropper));

    const first = start();
    // Killed in mid-stream: some rows are in, many are not.
    await emu.waitFor(async () => (await rows()) >= MESSAGES * 0.3, 60000, 'a third of the rows inserted');
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const atKill = await rows();
    assert.ok(atKill < MESSAGES, `killed in mid-stream (${atKill} rows)`);

    const second = start();
    await publisher;
    await emu.waitFor(async () => (await rows()) >= MESSAGES && emu.acceptedOnce.size === MESSAGES, 90000, 'every row inserted and every message accepted');
    clearInterval(dropper);
    second.child.kill('SIGTERM');
    const done = await second.exited;
    assert.equal(done.code, 0, second.stderr);

    const { rows: [count] } = await db.query('SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS ids FROM iot_messages');
    assert.deepEqual(count, { n: MESSAGES, ids: MESSAGES }, 'one row per message');
    const stored = (await db.query('SELECT message_id FROM iot_messages')).rows.map((r) => r.message_id).sort();
    assert.deepEqual(stored, [...ids].sort(), 'exactly the published messages');
    const sample = (await db.query("SELECT topic, payload, generate_time FROM iot_messages WHERE message_id = $1", [ids[42]])).rows[0];
    assert.equal(sample.topic, '/a1Pk/dev0/thing/event/property/post');
    assert.deepEqual(JSON.parse(sample.payload.toString()), { seq: 42 });
    assert.ok(sample.generate_time instanceof Date);

    assert.ok(drops >= 5, `the emulator dropped the connections ${drops} times`);
    assert.ok(emu.deliveries.length > MESSAGES, `redeliveries happened (${emu.deliveries.length} deliveries of ${MESSAGES} messages)`);
    t.diagnostic(`${MESSAGES} messages, ${drops} drops, a kill -9 at ${atKill} rows and a restart, ${emu.deliveries.length} deliveries, ${count.n} rows`);
  });
}
