'use strict';
// Against a real AMQP 1.0 broker: RabbitMQ with its rabbitmq_amqp1_0 plugin on 127.0.0.1:5672
// (guest/guest, SASL PLAIN); the helpers (rhea to send, amqplib to declare and inspect queues) and
// the check that the broker is there are in ../support/rabbitmq.js. The handler patterns of
// issue 10 (late settlement, one delivery held) are in rabbitmq-handlers.test.js.
//
// RabbitMQ 3.x facts these tests rely on (checked on 3.10.8):
// - `/queue/<name>` declares the queue (non-durable, no arguments) if it is missing and consumes
//   from it; `/amq/queue/<name>` consumes from (or sends to) an existing queue as it was declared.
// - `released` requeues the message; it comes again with first_acquirer false (delivery_count is
//   not set by 3.x; if a broker sets it, it must have grown).
// - `rejected` drops the message, or dead-letters it when the queue has x-dead-letter-exchange.
// - `modified` is not an outcome 3.x accepts: it closes the connection; the message stays queued.
//
// Without a broker the tests are skipped (`npm run broker` starts one), and fail under CI (CI=true
// or CI=1): ../support/rabbitmq.js.

const assert = require('node:assert/strict');
const test = require('node:test');

const { withBroker } = require('../support/rabbitmq');

withBroker((b) => {
  const { declare, deleteQueue, depth, waitFor, settledDepth, send, dataSection, consume, platformMessage, GENERATE_TIME, rhea } = b;

  test('every message arrives with its properties and body; accepting them all empties the queue', async () => {
    const q = await declare('props');
    const sent = [];
    for (let i = 0; i < 25; i++) sent.push(platformMessage(i));
    sent.push({
      message_id: 'all-properties',
      correlation_id: 'corr-1',
      subject: 'subject-1',
      reply_to: 'reply-1',
      to: 'to-1',
      content_type: 'application/json',
      content_encoding: 'utf-8',
      creation_time: new Date(1700000000000),
      absolute_expiry_time: new Date(4102444800000),
      group_id: 'group-1',
      group_sequence: 7,
      reply_to_group_id: 'reply-group-1',
      priority: 6,
      application_properties: { topic: '/custom/topic', count: 3, ok: true, ratio: 0.5 },
      body: dataSection('{"all":true}'),
    });
    sent.push({ message_id: 'binary', application_properties: { topic: '/bin' }, body: rhea.message.data_section(Buffer.from([0, 1, 2, 254, 255])) });
    await send(`/amq/queue/${q}`, sent);
    assert.equal((await depth(q)).ready, sent.length);

    const c = consume(`/queue/${q}`, { onMessage: (ctx) => ctx.delivery.accept(), autoaccept: false });
    try {
      await waitFor(() => c.received.length >= sent.length, `${sent.length} messages`);
      assert.deepEqual(c.errors, []);
      // The broker echoes the source in its attach reply.
      assert.deepEqual(c.receiver.remote.attach.source, { address: `/queue/${q}` });

      const byId = new Map(c.received.map((ctx) => [ctx.message.message_id, ctx]));
      assert.equal(byId.size, sent.length, 'every message once');
      for (const m of sent) {
        const got = byId.get(m.message_id);
        assert.ok(got, `message ${m.message_id} arrived`);
        const msg = got.message;
        for (const key of ['correlation_id', 'subject', 'reply_to', 'to', 'content_type', 'content_encoding', 'group_id', 'group_sequence', 'reply_to_group_id', 'priority']) {
          if (m[key] !== undefined) assert.equal(msg[key], m[key], `${m.message_id}: ${key}`);
        }
        for (const key of ['creation_time', 'absolute_expiry_time']) {
          if (m[key] !== undefined) {
            assert.ok(msg[key] instanceof Date, `${m.message_id}: ${key} is a Date`);
            assert.equal(msg[key].getTime(), m[key].getTime(), `${m.message_id}: ${key}`);
          }
        }
        const expectedProps = {};
        for (const [k, v] of Object.entries(m.application_properties)) expectedProps[k] = k === 'generateTime' ? GENERATE_TIME + Number(m.message_id.slice(-2)) : v;
        assert.deepEqual({ ...msg.application_properties }, expectedProps, `${m.message_id}: application_properties`);
        assert.equal(msg.body.typecode, 0x75, `${m.message_id}: one data section`);
        assert.ok(Buffer.isBuffer(msg.body.content));
        assert.deepEqual(msg.body.content, m.body.content, `${m.message_id}: body`);
        assert.equal(msg.first_acquirer, true);
        // The doc script's reads work on it.
        assert.equal(typeof msg.application_properties.topic, 'string');
        assert.equal(Buffer.from(msg.body.content).toString(), m.body.content.toString());
        assert.equal(got.delivery.state, 'accepted');
      }
    } finally {
      await c.close();
    }
    // Accepted means gone: the queue is empty, and another consumer gets nothing.
    assert.equal(await settledDepth(q), 0);
    assert.equal(await b.channel.get(q, { noAck: false }), false);
    await deleteQueue(q);
  });

  test('release puts the message back: it is redelivered (first_acquirer false) and gone once accepted', async () => {
    const q = await declare('release');
    await send(`/amq/queue/${q}`, [platformMessage(1)]);
    const outcomes = [];
    const c = consume(`/queue/${q}`, {
      autoaccept: false,
      onMessage: (ctx, state) => {
        if (state.received.length <= 2) outcomes.push(['released', ctx.delivery.release()]);
        else outcomes.push(['accepted', ctx.delivery.accept()]);
      },
    });
    try {
      await waitFor(() => c.received.length >= 3, 'the message three times (released twice)');
      assert.deepEqual(outcomes, [['released', true], ['released', true], ['accepted', true]]);
      const [first, second, third] = c.received.map((ctx) => ctx.message);
      assert.equal(second.message_id, first.message_id);
      assert.equal(third.message_id, first.message_id);
      assert.deepEqual(third.body.content, first.body.content);
      assert.equal(first.first_acquirer, true);
      assert.equal(second.first_acquirer, false, 'a redelivery is not the first acquirer');
      assert.equal(third.first_acquirer, false);
      // RabbitMQ 3.x does not set delivery_count; a broker that does must count the redeliveries.
      if (third.delivery_count !== undefined) assert.ok(third.delivery_count > (first.delivery_count || 0), 'delivery_count grew');
      assert.deepEqual(c.errors, []);
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0);
    await deleteQueue(q);
  });

  test('reject drops the message when the queue has no dead-letter exchange', async () => {
    const q = await declare('reject-drop');
    await send(`/amq/queue/${q}`, [platformMessage(1), platformMessage(2)]);
    const c = consume(`/queue/${q}`, { autoaccept: false, onMessage: (ctx) => ctx.delivery.reject({ condition: 'amqp:internal-error', description: 'cannot handle it' }) });
    try {
      await waitFor(() => c.received.length >= 2, 'two messages');
      assert.deepEqual(c.received.map((ctx) => ctx.delivery.state), ['rejected', 'rejected']);
      assert.deepEqual(c.errors, []);
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0);
    assert.equal(await b.channel.get(q, { noAck: false }), false);
    await deleteQueue(q);
  });

  test('reject dead-letters the message when the queue has x-dead-letter-exchange', async () => {
    const dlq = await declare('dead-letters');
    const q = await declare('reject-dlx', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq });
    const original = platformMessage(5, { subject: 'to-be-rejected' });
    await send(`/amq/queue/${q}`, [original]);
    // The queue has arguments: consume it as declared (/amq/queue/), as /queue/ would redeclare it without them.
    const c = consume(`/amq/queue/${q}`, { autoaccept: false, onMessage: (ctx) => ctx.delivery.reject(new Error('poison message')) });
    try {
      await waitFor(() => c.received.length >= 1, 'the message');
      assert.equal(c.received[0].delivery.state, 'rejected');
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0);
    await waitFor(async () => (await depth(dlq)).ready === 1, 'the message in the dead-letter queue');

    // The broker says why it is there...
    const peek = await b.channel.get(dlq, { noAck: false });
    assert.ok(peek, 'a dead-lettered message');
    assert.equal(peek.properties.headers['x-first-death-reason'], 'rejected');
    assert.equal(peek.properties.headers['x-first-death-queue'], q);
    b.channel.nack(peek, false, true);
    await waitFor(async () => (await depth(dlq)).ready === 1, 'the peeked message back in the dead-letter queue');

    // ...and our consumer reads it from there intact.
    const d = consume(`/amq/queue/${dlq}`, { autoaccept: true });
    try {
      await waitFor(() => d.received.length >= 1, 'the dead-lettered message');
      const msg = d.received[0].message;
      assert.equal(msg.message_id, original.message_id);
      assert.equal(msg.subject, 'to-be-rejected');
      assert.equal(msg.application_properties.topic, original.application_properties.topic);
      assert.deepEqual(msg.body.content, original.body.content);
    } finally {
      await d.close();
    }
    assert.equal(await settledDepth(dlq), 0);
    await deleteQueue(q);
    await deleteQueue(dlq);
  });

  test('deliveries left unsettled when the connection closes go back to the queue', async () => {
    const q = await declare('unsettled');
    await send(`/amq/queue/${q}`, [platformMessage(1), platformMessage(2), platformMessage(3)]);
    const first = consume(`/queue/${q}`, { autoaccept: false });
    try {
      await waitFor(() => first.received.length >= 3, 'three messages');
    } finally {
      await first.close();
    }
    assert.equal(await settledDepth(q), 3, 'nothing lost, nothing acknowledged');
    const second = consume(`/queue/${q}`);
    try {
      await waitFor(() => second.received.length >= 3, 'the three messages again');
      assert.deepEqual(second.received.map((ctx) => ctx.message.message_id).sort(), first.received.map((ctx) => ctx.message.message_id).sort());
      assert.ok(second.received.every((ctx) => ctx.message.first_acquirer === false));
    } finally {
      await second.close();
    }
    assert.equal(await settledDepth(q), 0, 'autoaccept accepted them');
    await deleteQueue(q);
  });

  test('credit_window bounds the unsettled deliveries; pause() stops the flow and resume() restarts it', async () => {
    const q = await declare('credit');
    const total = 30;
    const msgs = [];
    for (let i = 0; i < total; i++) msgs.push(platformMessage(i));
    await send(`/amq/queue/${q}`, msgs);
    const c = consume(`/queue/${q}`, { autoaccept: false, credit_window: 5 });
    try {
      await waitFor(() => c.received.length >= 5, 'five messages');
      // The broker holds the rest back: 25 ready, 5 out with us.
      await waitFor(async () => (await depth(q)).ready === total - 5, `${total - 5} ready`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(c.received.length, 5, 'no delivery beyond the credit window');

      c.receiver.pause();
      assert.equal(c.receiver.is_paused(), true);
      for (const ctx of c.received) ctx.delivery.accept();
      await waitFor(async () => (await depth(q)).ready === total - 5, 'the broker to take the acceptances');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(c.received.length, 5, 'paused: settling grants no new credit');
      assert.equal((await depth(q)).ready, total - 5);

      c.receiver.resume();
      const settle = setInterval(() => {
        for (const ctx of c.received) if (!ctx.delivery.settled) ctx.delivery.accept();
      }, 5);
      try {
        await waitFor(() => c.received.length >= total, `all ${total} messages`);
      } finally {
        clearInterval(settle);
      }
      for (const ctx of c.received) if (!ctx.delivery.settled) ctx.delivery.accept();
      assert.equal(new Set(c.received.map((ctx) => ctx.message.message_id)).size, total);
      assert.deepEqual(c.errors, []);
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0);
    await deleteQueue(q);
  });

  test('modified: the broker settles or refuses it, and the message is not lost either way', async () => {
    const q = await declare('modified');
    await send(`/amq/queue/${q}`, [platformMessage(1)]);
    const c = consume(`/queue/${q}`, {
      autoaccept: false,
      connectOptions: { reconnect: true, initial_reconnect_delay: 10 },
      onMessage: (ctx, state) => {
        if (state.received.length === 1) ctx.delivery.modified({ delivery_failed: true });
        else ctx.delivery.accept();
      },
    });
    try {
      // RabbitMQ 4 requeues a modified message (delivered again). 3.x refuses the outcome by ending
      // the session with an error: that reaches the user as session_error (as in rhea), the session
      // is begun again and the receiver attached again on the same connection, and the message
      // comes again.
      await waitFor(() => c.received.length >= 2, 'the message delivered again');
      if (c.errors.length > 0) assert.match(c.errors.map((e) => e.message).join('\n'), /modified|Unrecognised state/i);
      assert.ok(!c.events.some((e) => e.startsWith('disconnected')), `the connection was lost: ${c.events.join(', ')}`);
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0, 'the message was accepted in the end');
    await deleteQueue(q);
  });

  test('modified with reconnect: false: the refused receiver stays closed, the connection stays open, the message stays queued', async () => {
    const q = await declare('modified-noreconnect');
    await send(`/amq/queue/${q}`, [platformMessage(1)]);
    const c = consume(`/queue/${q}`, {
      autoaccept: false,
      onMessage: (ctx) => ctx.delivery.modified({ delivery_failed: true }),
    });
    try {
      await waitFor(() => c.received.length >= 1, 'the first delivery');
      // 3.x: the session ends with an error; 4.x: the message is requeued and delivered again.
      await waitFor(() => c.errors.length > 0 || c.received.length >= 2, 'a refusal or a redelivery');
      if (c.received.length < 2) {
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(c.received.length, 1, 'no re-attach with reconnect: false');
        assert.equal(c.connection.is_open(), true, 'the connection stays open');
        assert.ok(!c.events.some((e) => e.startsWith('disconnected')));
      }
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 1, 'the message is still queued');
    await deleteQueue(q);
  });

  test('a wrong password is refused as an authentication error and not retried', async () => {
    const q = await declare('auth');
    const c = consume(`/queue/${q}`, { connectOptions: { password: 'not-the-password', reconnect: true } });
    try {
      await waitFor(() => c.errors.length > 0, 'the authentication error');
      const err = c.errors[0];
      assert.equal(err.condition, 'amqp:unauthorized-access', `condition of ${err.message}`);
      assert.match(err.message, /authenticat/i);
      await waitFor(() => c.connection.is_closed(), 'the connection to stop (no reconnect after an auth failure)');
      assert.equal(c.received.length, 0);
    } finally {
      await c.close();
    }
    await deleteQueue(q);
  });
});
