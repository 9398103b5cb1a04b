'use strict';
// A consumer group's server-side subscription into PostgreSQL, one row per message, under
// disconnects, redeliveries and crashes:
//
// - each batch is inserted in one transaction, with ON CONFLICT (message_id) DO NOTHING: a message
//   the platform delivers again (it delivers at least once) finds its row there and changes nothing;
// - the batch is accepted only after COMMIT: if the process dies, or the connection drops, before
//   the acknowledgement went out, the platform delivers the batch again, and the insert above makes
//   that harmless. A failed insert releases the batch (it comes again) and backs off.
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
const pool = new Pool({ max: 2 }); // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE

// One statement per batch: an array parameter per column. A message already stored is skipped.
const INSERT = `INSERT INTO ${table} (message_id, topic, generate_time, payload)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[])
  ON CONFLICT (message_id) DO NOTHING`;

/**
 * Inserts a batch in one transaction; resolves once it is committed.
 * @param {import('aliyun-iot-amqp').ConsumerBatch} batch
 */
async function insert(batch) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(INSERT, [
      batch.map((msg) => msg.messageId), // the platform sets one on every message
      batch.map((msg) => msg.topic),
      batch.map((msg) => (msg.generateTime === undefined ? null : new Date(msg.generateTime))),
      batch.map((msg) => msg.content),
    ]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
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
      await insert(batch);
    } catch (err) {
      console.error(`insert failed, the batch comes again: ${err instanceof Error ? err.message : err}`);
      batch.release();
      consumer.pause();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      consumer.resume();
      continue;
    }
    batch.accept(); // after COMMIT, never before
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
