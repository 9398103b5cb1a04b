'use strict';
// A consumer group's server-side subscription into PostgreSQL, one row per message, under
// disconnects, redeliveries, crashes, database restarts and messages the table refuses:
//
// - each batch is inserted in one transaction, with ON CONFLICT (message_id) DO NOTHING: a message
//   the platform delivers again (it delivers at least once) finds its row there and changes nothing;
// - the batch is accepted only after COMMIT: if the process dies, or the connection drops, before
//   the acknowledgement went out, the platform delivers the batch again, and the insert above makes
//   that harmless;
// - a failure of the database (a restart, a failover, a lost connection) releases the batch: it
//   comes again after a pause. The pool's and the clients' 'error' events are heard, so a dropped
//   connection never takes the process down;
// - a batch the table refuses for its data (SQLSTATE class 22 or 23: a topic with a NUL, a value
//   out of range, ...) is inserted again message by message: each that goes in is accepted after
//   its commit, each the table refuses is logged and rejected (the platform drops it). Retrying it
//   could never succeed, and would hold up every message behind it.
//
// Run it with the settings in the environment:
//   ALIYUN_IOT_AMQP_HOST             the instance's AMQP endpoint (iot-cn-xxxx.amqp.iothub.aliyuncs.com)
//   ALIYUN_IOT_AMQP_PORT             default 5671
//   ALIYUN_IOT_AMQP_CONSUMER_GROUP   default DEFAULT_GROUP
//   ALIYUN_IOT_AMQP_IOT_INSTANCE_ID  the instance id, if it has one
//   ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET   (read by createConsumer())
//   PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE                 (read by pg)
//   IOT_TABLE                        default iot_messages (created if missing)
//   METRICS_PORT                     serve /metrics and /healthz on this port, if set
//
//   npm install aliyun-iot-amqp pg && node postgres.js
// (Against the local emulator: `npx aliyun-iot-amqp emulator --rate 100` prints the variables to
// export, NODE_EXTRA_CA_CERTS included.)

const { createConsumer, serveMetrics } = require('aliyun-iot-amqp');
const { Pool } = require('pg');

const env = process.env;
const table = env.IOT_TABLE || 'iot_messages';
if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`IOT_TABLE must be a plain identifier, got ${table}`);
const pool = new Pool({ max: 2, connectionTimeoutMillis: 10000 }); // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
// An idle connection the server ends (a restart, a failover, an administrator) is an 'error' of the
// pool: unheard, it would end the process. The pool drops that connection and opens another.
pool.on('error', (/** @type {Error} */ err) => console.error(`PostgreSQL: an idle connection failed (${err.message}); the pool opens another`));

// One statement per batch: an array parameter per column. A message already stored is skipped.
const INSERT = `INSERT INTO ${table} (message_id, topic, generate_time, payload)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[])
  ON CONFLICT (message_id) DO NOTHING`;

/**
 * Inserts messages in one transaction; resolves once it is committed.
 * @param {import('aliyun-iot-amqp').ConsumerMessage[]} messages
 */
async function insert(messages) {
  const client = await pool.connect();
  // A connection lost while checked out fails the query in flight, and also emits 'error': heard.
  const lost = (/** @type {Error} */ err) => console.error(`PostgreSQL: connection lost (${err.message})`);
  client.on('error', lost);
  try {
    await client.query('BEGIN');
    await client.query(INSERT, [
      messages.map((msg) => msg.messageId), // the platform sets one on every message
      messages.map((msg) => msg.topic),
      messages.map((msg) => (msg.generateTime === undefined ? null : new Date(msg.generateTime))),
      messages.map((msg) => msg.content),
    ]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.off('error', lost);
    client.release(); // a broken connection is dropped by the pool, not reused
  }
}

/** Whether PostgreSQL refused the data itself (SQLSTATE class 22 data exception, 23 integrity constraint): trying again cannot help. */
function refusesData(/** @type {any} */ err) {
  return typeof err.code === 'string' && (err.code.startsWith('22') || err.code.startsWith('23'));
}

/**
 * The batch holds a message the table refuses: one transaction per message, each accepted after its
 * commit; those refused are logged and rejected. Another failure is thrown (what is left is released).
 * @param {import('aliyun-iot-amqp').ConsumerBatch} batch
 */
async function insertEach(batch) {
  for (const msg of batch) {
    try {
      await insert([msg]);
    } catch (err) {
      if (!refusesData(err)) throw err;
      const why = err instanceof Error ? err.message : String(err);
      console.error(`rejected message ${msg.messageId} (topic ${JSON.stringify(msg.topic)}): ${why}`);
      msg.reject(`refused by the table: ${why}`);
      continue;
    }
    msg.accept(); // after COMMIT, never before
  }
}

async function main() {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
    message_id text PRIMARY KEY, topic text NOT NULL, generate_time timestamptz,
    payload bytea NOT NULL, inserted_at timestamptz NOT NULL DEFAULT now())`);
  const consumer = createConsumer({
    host: env.ALIYUN_IOT_AMQP_HOST,
    port: Number(env.ALIYUN_IOT_AMQP_PORT || 5671),
    consumerGroupId: env.ALIYUN_IOT_AMQP_CONSUMER_GROUP || 'DEFAULT_GROUP',
    iotInstanceId: env.ALIYUN_IOT_AMQP_IOT_INSTANCE_ID || undefined,
    credit: 500, // as many unacknowledged messages as a full batch
    // accessKeyId / accessKeySecret: from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
  });
  const metrics = env.METRICS_PORT ? await serveMetrics(consumer, { port: Number(env.METRICS_PORT) }) : null;
  // On a stop signal the batch in hand is finished (committed, then accepted), the rest released.
  for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => consumer.close());

  for await (const batch of consumer.batches({ max: 500, maxWaitMs: 50 })) {
    try {
      try {
        await insert(batch);
      } catch (err) {
        if (!refusesData(err)) throw err;
        await insertEach(batch); // one message the table refuses must not hold up the rest
      }
    } catch (err) {
      // The database is down, restarting or failing over: the batch (what is left of it) comes again.
      console.error(`insert failed, the batch comes again: ${err instanceof Error ? err.message : err}`);
      batch.release();
      consumer.pause();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      consumer.resume();
      continue;
    }
    batch.accept(); // after COMMIT, never before (insertEach settled each message already)
  }

  if (metrics) await metrics.close();
  await pool.end();
  const s = consumer.stats();
  console.error(`closed: received ${s.received}, accepted ${s.accepted}, released ${s.released}, reconnects ${s.reconnects}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
