'use strict';
// The two handler patterns of issue 10 against RabbitMQ 3.10's AMQP 1.0 plugin, which sends
// transfers beyond the credit our last flow granted: the client must take them, not close the
// connection. Seen on the wire (DEBUG=aliyun-iot-amqp:frames, RabbitMQ 3.10.8):
// - with one flow of ours at a time, one transfer past delivery-count + link-credit of that flow
//   right after it (as if it had counted its own deliveries one short when it took the flow);
// - after two or more flows of ours in a row with the same delivery-count (as a client sends them
//   when settlements come one by one), the sum of their link-credits: it answers each flow with a
//   flow of its own, then sends e.g. 36 + 99 = 135 transfers for our flows of credit 36 and 99
//   (52 + 99 = 151, 74 + 99 = 173, 53 + 79 = 132): the earlier credits come on top, beyond the
//   credit. Against a window of 100 that is over 100 transfers beyond at once. The client now
//   sends a flow that raises the credit only once the sender used some of the last one (no two
//   at the same delivery-count), judges the limit on transfers beyond the credit (four times the
//   window) by what is really held (settlements gathered in the client go first), and so takes
//   what RabbitMQ over-sends without closing.
//
// - autoaccept: false, each delivery accepted 0–20 ms later (an async handler);
// - one delivery held unsettled while every other one is accepted at once.
//
// Each consumes 5 000 messages on one connection: no disconnect, every message once, the queue
// empty at the end, and reports how many transfers RabbitMQ sent beyond the credit
// (`receiver.over_credit`; with the default window it may be none in a run). A last case provokes
// them for certain: credit_window 10 and every delivery accepted at once, in rounds of 2 000
// messages released to the receiver at once (pause, publish, resume) until RabbitMQ has over-sent.
// (Helpers and the broker check: ../support/rabbitmq.js.)

const assert = require('node:assert/strict');
const test = require('node:test');

const { withBroker } = require('../support/rabbitmq');
const { prng } = require('../support/hostile-cases');

const TOTAL = 5000;

withBroker((b) => {
  const { declare, deleteQueue, waitFor, settledDepth, send, dataSection, consume } = b;

  /** A small platform-shaped message (5 000 of them must not weigh much). */
  function smallMessage(i) {
    const messageId = `late-${i}`;
    return {
      message_id: messageId,
      application_properties: { topic: `/a1ProductKey/device${i % 10}/thing/event/property/post`, messageId, generateTime: b.rhea.types.wrap_long(b.GENERATE_TIME + i) },
      body: dataSection(JSON.stringify({ seq: i })),
    };
  }

  async function fill(label) {
    const q = await declare(label);
    const msgs = [];
    for (let i = 0; i < TOTAL; i++) msgs.push(smallMessage(i));
    await send(`/amq/queue/${q}`, msgs);
    await waitFor(async () => (await b.depth(q)).ready === TOTAL, `${TOTAL} messages in ${q}`);
    return q;
  }

  /** One connection from start to end: one connection_open, one receiver_open, nothing else. */
  function assertOneConnection(c) {
    assert.deepEqual(c.errors.map((e) => `${e.condition}: ${e.message}`), [], 'no error');
    assert.deepEqual(c.events, ['connection_open', 'receiver_open'], 'no disconnect, no re-attach');
    assert.equal(c.connection.is_open(), true);
  }

  // The default window, and a smaller one with which RabbitMQ over-sends within a few hundred
  // messages (it over-sends right after a flow of ours, and a smaller window means more flows;
  // with the default window it happens in about half the runs of 5 000).
  for (const creditWindow of [undefined, 100]) {
    const label = creditWindow ? `credit_window ${creditWindow}` : 'the default credit_window';
    test(`autoaccept: false and every delivery accepted 0–20 ms later (${label}): all ${TOTAL} on one connection`, async (t) => {
      const q = await fill('async-handler');
      const random = prng(20261201);
      const results = [];
      let pending = 0;
      const c = consume(`/queue/${q}`, {
        autoaccept: false,
        ...(creditWindow ? { credit_window: creditWindow } : {}),
        onMessage: (ctx) => {
          pending += 1;
          setTimeout(() => {
            pending -= 1;
            results.push(ctx.delivery.accept());
          }, Math.floor(random() * 21));
        },
      });
      try {
        await waitFor(() => c.received.length >= TOTAL || c.events.some((e) => e.startsWith('disconnected')), `${TOTAL} messages`, 60000);
        assertOneConnection(c);
        await waitFor(() => pending === 0, 'the last acceptances');
        assert.equal(c.received.length, TOTAL, 'no message twice');
        assert.equal(new Set(c.received.map((ctx) => ctx.message.message_id)).size, TOTAL);
        assert.equal(results.length, TOTAL);
        assert.ok(results.every((r) => r === true), 'every accept() went out on the live connection');
        await new Promise((r) => setTimeout(r, 200));
        assertOneConnection(c);
        t.diagnostic(`transfers beyond the credit, taken: ${c.receiver.over_credit}`);
      } finally {
        await c.close();
      }
      assert.equal(await settledDepth(q), 0, 'nothing came back when we closed');
      await deleteQueue(q);
    });
  }

  test(`one delivery held unsettled while the others are accepted at once (credit_window 100): all ${TOTAL}, then the held one`, async (t) => {
    const q = await fill('held-one');
    let held = null;
    const c = consume(`/queue/${q}`, {
      autoaccept: false,
      credit_window: 100,
      onMessage: (ctx) => {
        if (!held) held = ctx;
        else assert.equal(ctx.delivery.accept(), true);
      },
    });
    try {
      await waitFor(() => c.received.length >= TOTAL || c.events.some((e) => e.startsWith('disconnected')), `the ${TOTAL - 1} others`, 60000);
      assertOneConnection(c);
      assert.equal(c.received.length, TOTAL, 'every message once');
      assert.equal(new Set(c.received.map((ctx) => ctx.message.message_id)).size, TOTAL);
      assert.equal(held.delivery.settled, false, 'the held one is still ours to settle');
      assert.equal((await b.depth(q)).ready, 0, 'nothing left waiting in the queue');
      assert.equal(held.delivery.accept(), true);
      // Accepted on the live connection: it does not come back when we close.
      await new Promise((r) => setTimeout(r, 200));
      assertOneConnection(c);
      t.diagnostic(`transfers beyond the credit, taken: ${c.receiver.over_credit}`);
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0, 'the held one was accepted, not requeued');
    await deleteQueue(q);
  });

  test('credit_window 10, each delivery accepted at once: RabbitMQ sends beyond the credit, every transfer is taken, nothing lost, one connection', async (t) => {
    const q = await declare('over-credit');
    const ROUND = 2000;
    const c = consume(`/queue/${q}`, { autoaccept: false, credit_window: 10, onMessage: (ctx) => assert.equal(ctx.delivery.accept(), true) });
    let total = 0;
    let rounds = 0;
    try {
      await waitFor(() => c.events.includes('receiver_open'), 'the receiver attached');
      while (c.receiver.over_credit === 0 && rounds < 8) {
        // Paused while the round is published: on resume RabbitMQ has the whole round to send.
        c.receiver.pause();
        const msgs = [];
        for (let i = 0; i < ROUND; i++) msgs.push(smallMessage(total + i));
        await send(`/amq/queue/${q}`, msgs);
        await waitFor(async () => (await b.depth(q)).ready === ROUND, `${ROUND} messages in ${q}`);
        c.receiver.resume();
        total += ROUND;
        rounds += 1;
        await waitFor(() => c.received.length >= total || c.events.some((e) => e.startsWith('disconnected')), `round ${rounds}`, 60000);
        assertOneConnection(c);
      }
      t.diagnostic(`${c.receiver.over_credit} transfers beyond the credit taken in ${rounds} round(s) of ${ROUND}`);
      assert.ok(c.receiver.over_credit > 0, `RabbitMQ sent nothing beyond the credit in ${rounds} rounds`);
      await new Promise((r) => setTimeout(r, 200));
      assertOneConnection(c);
      assert.equal(c.received.length, total, 'no message twice');
      assert.equal(new Set(c.received.map((ctx) => ctx.message.message_id)).size, total, 'every message');
    } finally {
      await c.close();
    }
    assert.equal(await settledDepth(q), 0, 'every message accepted: nothing came back when we closed');
    await deleteQueue(q);
  });
});
