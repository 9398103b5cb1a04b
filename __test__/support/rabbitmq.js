'use strict';
// RabbitMQ with its rabbitmq_amqp1_0 plugin on 127.0.0.1:5672 (guest/guest, SASL PLAIN), for the
// rabbitmq*.test.js files: whether it is there, and the helpers they share. Messages go in through
// rhea as an AMQP 1.0 sender (so every property reaches the broker as the platform would send it);
// queues are declared, inspected and deleted through amqplib (AMQP 0-9-1), which is how queue
// arguments such as x-dead-letter-exchange are set.
//
// The broker: `npm run broker` starts one (scripts/start-broker.sh). If 127.0.0.1:5672 does not
// answer AMQP 1.0, the tests are skipped with the reason and that command, except under CI
// (CI=true or CI=1; CI's .ci/run starts the broker), where they fail. ALIYUN_IOT_AMQP_SKIP_BROKER=1 skips them
// anywhere (CI runners with no containers).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { underCI } = require('./ci');

const HOST = process.env.ALIYUN_IOT_AMQP_BROKER_HOST || '127.0.0.1';
const PORT = Number(process.env.ALIYUN_IOT_AMQP_BROKER_PORT || 5672);
const USER = 'guest';
const PASS = 'guest';

// ---------------------------------------------------------------------------------------------
// Is the broker there, speaking AMQP 1.0? (Checked before any test is declared, in a child
// process, so the verdict can decide between running the tests and one failing test.)

const PROBE = `
const net = require('node:net');
const s = net.connect(${PORT}, ${JSON.stringify(HOST)});
const done = (code, msg) => { process.stdout.write(msg); s.destroy(); process.exit(code); };
s.setTimeout(4000, () => done(2, 'no answer within 4 s'));
s.on('connect', () => s.write(Buffer.from('AMQP\\x03\\x01\\x00\\x00', 'latin1')));
s.on('error', (e) => done(1, e.code || e.message));
let got = Buffer.alloc(0);
s.on('data', (d) => {
  got = Buffer.concat([got, d]);
  if (got.length < 8) return;
  const head = got.subarray(0, 8);
  if (head.toString('latin1') === 'AMQP\\x03\\x01\\x00\\x00') done(0, 'ok');
  else done(3, JSON.stringify(head.toString('latin1')));
});
s.on('end', () => done(3, 'closed without a protocol header'));
`;

function brokerProblem() {
  const r = spawnSync(process.execPath, ['-e', PROBE], { encoding: 'utf8', timeout: 10000 });
  if (r.status === 0) return null;
  const where = `${HOST}:${PORT}`;
  if (r.status === 3) {
    return `RabbitMQ answers on ${where} but not with AMQP 1.0 SASL (reply ${r.stdout}): enable the plugin with \`rabbitmq-plugins enable rabbitmq_amqp1_0\` (or run \`npm run broker\`)`;
  }
  return `no AMQP 1.0 broker on ${where} (${r.stdout || r.stderr || `probe exit ${r.status}`}): start one with \`npm run broker\` (RabbitMQ with its AMQP 1.0 plugin)`;
}

/**
 * Declares the tests of `declareTests(broker)` when the broker is there; otherwise one skipped test
 * saying why and how to start one, or under CI (CI=true or CI=1, support/ci.js) one failing test (skipped anywhere with
 * ALIYUN_IOT_AMQP_SKIP_BROKER=1).
 */
function withBroker(declareTests) {
  const skip = process.env.ALIYUN_IOT_AMQP_SKIP_BROKER === '1';
  const problem = skip ? null : brokerProblem();
  if (skip) {
    test('RabbitMQ tests', { skip: 'ALIYUN_IOT_AMQP_SKIP_BROKER=1' }, () => {});
  } else if (problem && underCI()) {
    test('RabbitMQ with the AMQP 1.0 plugin is reachable (under CI: required)', () => {
      assert.fail(problem);
    });
  } else if (problem) {
    test('RabbitMQ tests', { skip: `${problem}; these tests are skipped outside CI` }, () => {});
  } else {
    declareTests(broker());
  }
}

// ---------------------------------------------------------------------------------------------

/** The helpers, with before/after hooks for the admin connection and the queues made. */
function broker() {
  const amqplib = require('amqplib');
  const rhea = require('rhea');
  const amqp = require('../../index.js');

  const b = { HOST, PORT, USER, PASS, amqp, rhea };
  let admin; // amqplib connection
  const created = new Set();
  let seq = 0;

  test.before(async () => {
    admin = await amqplib.connect(`amqp://${USER}:${PASS}@${HOST}:${PORT}`);
    admin.on('error', () => {});
    b.channel = await admin.createChannel();
  });

  test.after(async () => {
    if (!admin) return;
    const ch = await admin.createChannel();
    for (const q of created) {
      try {
        await ch.deleteQueue(q);
      } catch {
        // already gone
      }
    }
    await admin.close();
  });

  /** A fresh queue name, remembered for deletion. */
  b.queueName = (label) => {
    const name = `aliyun-iot-amqp-test-${label}-${process.pid}-${Date.now()}-${++seq}`;
    created.add(name);
    return name;
  };

  b.declare = async (label, args) => {
    const name = b.queueName(label);
    await b.channel.assertQueue(name, { durable: false, arguments: args });
    return name;
  };

  b.deleteQueue = async (name) => {
    await b.channel.deleteQueue(name);
    created.delete(name);
  };

  b.depth = async (name) => {
    const { messageCount, consumerCount } = await b.channel.checkQueue(name);
    return { ready: messageCount, consumers: consumerCount };
  };

  b.waitFor = async (predicate, what, timeoutMs = 10000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await predicate();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Waits until the broker has no consumer on the queue (unsettled messages are back) and returns its depth. */
  b.settledDepth = async (name) => {
    await b.waitFor(async () => (await b.depth(name)).consumers === 0, `no consumer on ${name}`);
    return (await b.depth(name)).ready;
  };

  /** Sends messages through rhea (AMQP 1.0) and resolves once the broker accepted every one. */
  b.send = (address, messages) => new Promise((resolve, reject) => {
    const container = rhea.create_container();
    const conn = container.connect({ host: HOST, port: PORT, username: USER, password: PASS, reconnect: false });
    const sender = conn.open_sender(address);
    const queue = messages.slice();
    let accepted = 0;
    const fail = (err) => {
      conn.close();
      reject(err instanceof Error ? err : new Error(String(err && (err.description || err.condition || err))));
    };
    sender.on('sendable', () => {
      while (queue.length && sender.sendable()) sender.send(queue.shift());
    });
    sender.on('accepted', () => {
      if (++accepted === messages.length) {
        conn.close();
        resolve();
      }
    });
    sender.on('rejected', (ctx) => fail(new Error(`broker rejected a message: ${JSON.stringify(ctx.delivery.remote_state)}`)));
    sender.on('sender_error', (ctx) => fail(ctx.sender.error));
    conn.on('connection_error', (ctx) => fail(ctx.connection.error));
    conn.on('disconnected', (ctx) => { if (accepted < messages.length) fail(ctx.error || new Error('sender disconnected')); });
    container.on('error', fail);
  });

  b.dataSection = (text) => rhea.message.data_section(Buffer.from(text, 'utf8'));

  /** Our consumer on `source`; records messages, connection events and errors. */
  b.consume = (source, opts = {}) => {
    const { onMessage, connectOptions = {}, ...receiverOptions } = opts;
    const container = amqp.create_container();
    const connection = container.connect({ host: HOST, port: PORT, transport: 'tcp', username: USER, password: PASS, reconnect: false, ...connectOptions });
    const receiver = connection.open_receiver({ source, ...receiverOptions });
    const state = { container, connection, receiver, received: [], events: [], errors: [] };
    container.on('message', (ctx) => {
      state.received.push(ctx);
      if (onMessage) onMessage(ctx, state);
    });
    for (const name of ['connection_open', 'receiver_open', 'receiver_close', 'connection_close']) {
      container.on(name, (ctx) => state.events.push(ctx.error ? `${name}: ${ctx.error.message}` : name));
    }
    for (const name of ['connection_error', 'session_error', 'receiver_error', 'disconnected']) {
      container.on(name, (ctx) => {
        state.events.push(ctx.error ? `${name}: ${ctx.error.message}` : name);
        if (ctx.error) state.errors.push(ctx.error);
      });
    }
    container.on('error', (err) => state.errors.push(err));
    state.close = async () => {
      connection.close();
      await b.waitFor(() => connection.is_closed(), 'our connection to close');
    };
    return state;
  };

  b.GENERATE_TIME = 1700000000123;

  /** A platform-shaped message with the given properties. */
  b.platformMessage = (i, extra = {}) => {
    const messageId = String(1800000000000000000n + BigInt(i));
    return {
      message_id: messageId,
      application_properties: { topic: `/a1ProductKey/device${i}/thing/event/property/post`, messageId, generateTime: rhea.types.wrap_long(b.GENERATE_TIME + i) },
      body: b.dataSection(JSON.stringify({ seq: i, text: i % 3 === 0 ? '中文内容 ✓' : 'x'.repeat(i * 50) })),
      ...extra,
    };
  };

  return b;
}

module.exports = { withBroker, HOST, PORT, USER, PASS };
