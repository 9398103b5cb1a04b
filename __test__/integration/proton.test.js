'use strict';
// Against Apache Qpid Proton standing in for the platform (support/proton/server.py): a second
// AMQP 1.0 implementation nobody here wrote, beside the rhea emulator and RabbitMQ. TLS, SASL
// PLAIN checked by Cyrus against the platform's signed login, and one at-least-once queue: what
// the client does not accept comes again. Each scenario ends with every published message
// accepted exactly once as Proton saw it (redeliveries allowed), and counts the connections Proton
// accepted where the behaviour says there must be no reconnect.
//
// Proton comes from .ci/install-proton (a venv in .venv-proton, built against Cyrus SASL). When it
// is missing the tests are skipped with the command that installs it, except under CI (CI=true or CI=1), where
// that is a failure. ALIYUN_IOT_AMQP_SKIP_PROTON=1 skips them anywhere (GitHub Actions sets it
// where Proton cannot be installed: Alpine's musl containers, macOS, Windows).

const test = require('node:test');
const assert = require('node:assert/strict');

const { amqp, closed } = require('../support/client');
const { findProton, startProton, protonOptions, platformLogin } = require('../support/proton');
const { underCI } = require('../support/ci');

const skipped = process.env.ALIYUN_IOT_AMQP_SKIP_PROTON === '1';
const found = skipped ? { problem: 'ALIYUN_IOT_AMQP_SKIP_PROTON=1' } : findProton();
if (found.problem && (!underCI() || skipped)) {
  test('Qpid Proton scenarios', { skip: found.problem }, () => {});
} else if (found.problem) {
  test('Qpid Proton (python-qpid-proton with Cyrus SASL) is installed', () => assert.fail(found.problem));
} else {
  declareTests(found.python);
}

// -------------------------------------------------------------------------------------------------

/** Our consumer on `server`: every event in order, and each message with its delivery. */
function consume(server, { connect = {}, receiver = {}, onMessage } = {}) {
  const container = amqp.create_container();
  const connection = container.connect(protonOptions(server, { initial_reconnect_delay: 20, max_reconnect_delay: 200, ...connect }));
  const rcv = connection.open_receiver(receiver);
  const state = { container, connection, receiver: rcv, events: [], messages: [], errors: [] };
  for (const name of ['connection_open', 'connection_close', 'connection_error', 'receiver_open', 'receiver_close', 'receiver_error', 'disconnected']) {
    container.on(name, (ctx) => {
      const e = { name };
      if (ctx.error) e.condition = ctx.error.condition;
      if (ctx.error) e.message = ctx.error.message;
      if (name === 'disconnected') e.reconnecting = ctx.reconnecting;
      state.events.push(e);
    });
  }
  container.on('error', (err) => state.errors.push(err));
  container.on('message', (ctx) => {
    const m = { id: ctx.message.message_id, message: ctx.message, delivery: ctx.delivery };
    state.messages.push(m);
    if (onMessage) onMessage(ctx, m, state);
  });
  state.named = (name) => state.events.filter((e) => e.name === name);
  return state;
}

/** Every id Proton published was accepted exactly once (as Proton counted outcomes). */
function assertAcceptedOnce(server, ids) {
  const counts = server.acceptedCounts();
  for (const id of ids) assert.equal(counts.get(id), 1, `${id} accepted ${counts.get(id) || 0} times (Proton's count)`);
  assert.deepEqual([...counts.keys()].filter((id) => !ids.includes(id)), [], 'nothing accepted that was not published');
  assert.deepEqual(server.all('outcome', (o) => o.late), [], 'no settlement after the link was gone');
}

function ids(prefix, n) {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

function allAccepted(server, list) {
  return () => {
    const counts = server.acceptedCounts();
    return list.every((id) => counts.get(id) >= 1);
  };
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function declareTests(python) {
  test('TLS and the platform signature checked by Cyrus: the signed login consumes everything, a wrong signature is refused', async () => {
    const server = await startProton(python, { publish: [{ at: 0, count: 20 }] });
    const good = consume(server);
    try {
      const want = ids('m-', 20);
      await server.waitFor(allAccepted(server, want), 'all 20 accepted');
      const [login] = server.all('login');
      assert.equal(login.ok, true, 'the username has the platform\'s shape');
      assert.match(login.user, /^proton-test-client\|authMode=aksign,signMethod=hmacsha1,timestamp=1700000000000,authId=LTAI5tProtonTestKey,iotInstanceId=iot-proton-test,consumerGroupId=DEFAULT_GROUP\|$/);
      const m = good.messages[0].message;
      assert.equal(m.application_properties.topic, '/a1ProductKey/device0/thing/event/property/post');
      assert.equal(m.application_properties.messageId, 'm-0');
      assert.equal(m.application_properties.generateTime, 1700000000000);
      assert.equal(m.body.typecode, 0x75, 'one data section');
      assert.equal(JSON.parse(Buffer.from(m.body.content).toString()).id, 'm-0');
      assert.equal(good.receiver.remote.attach.source.address, 'DEFAULT_GROUP');
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 1);
    } finally {
      await closed(good.connection);
    }

    // The same username signed with another secret: Cyrus refuses it, and the client does not retry.
    const wrong = platformLogin({ accessKeySecret: 'not-the-secret' });
    assert.equal(wrong.username, server.login.username);
    assert.notEqual(wrong.password, server.login.password);
    const before = server.all('connection').length;
    const bad = consume(server, { connect: { password: wrong.password, reconnect: true } });
    try {
      await server.waitFor(() => bad.named('connection_error').length > 0 || bad.errors.length > 0, 'the refusal');
      const refusal = bad.named('connection_error')[0];
      assert.equal(refusal.condition, 'amqp:unauthorized-access', JSON.stringify(refusal));
      await server.waitFor(() => bad.connection.is_closed(), 'the refused client to stop');
      await delay(300);
      assert.equal(server.all('connection').length - before, 1, 'an authentication failure is not retried');
      assert.equal(bad.messages.length, 0);
    } finally {
      await closed(bad.connection);
      await server.close();
    }
  });

  test('transfers split into many frames (max-frame-size 4 KiB): every message whole, accepted once', async () => {
    const sizes = [3000, 10000, 70000, 250000, 5, 40000];
    const server = await startProton(python, {
      max_frame_size: 4096,
      publish: [{ at: 0, sizes }],
    }, { trace: true });
    // Proton cuts a delivery to the receiver's max-frame-size: ours is 4 KiB too, as the .NET sample's 8 KiB would be.
    const c = consume(server, { connect: { max_frame_size: 4096 } });
    try {
      const want = ids('m-', sizes.length);
      await server.waitFor(allAccepted(server, want), 'every large message accepted', 30000);
      for (const [i, size] of sizes.entries()) {
        const m = c.messages.find((x) => x.id === want[i]);
        const body = JSON.parse(Buffer.from(m.message.body.content).toString());
        assert.equal(body.fill.length, size, `${want[i]}: body whole`);
        assert.equal(body.fill, 'x'.repeat(size));
      }
      const transfers = server.framesOut('transfer');
      const continued = transfers.filter((l) => l.includes('more=true')).length;
      assert.ok(continued > 80, `Proton sent the deliveries in many frames (${transfers.length} transfer frames, ${continued} with more=true)`);
      assert.ok(transfers.every((l) => Number(/\] \((\d+)\)/.exec(l)[1]) < 4096), 'no frame over 4 KiB');
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 1);
      assert.deepEqual(c.named('disconnected'), []);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });

  test('a connection dropped in the middle of a multi-frame delivery: the partial delivery is dropped and comes again whole', async () => {
    const server = await startProton(python, {
      max_frame_size: 4096,
      publish: [{ at: 0, count: 6, size: 60000 }],
      drop_mid_delivery: { after: 2 },
    });
    const c = consume(server, { connect: { max_frame_size: 4096 } });
    try {
      const want = ids('m-', 6);
      await server.waitFor(allAccepted(server, want), 'all 6 accepted after the reconnect', 30000);
      const [partial] = server.all('partial');
      assert.equal(partial.id, 'm-2');
      assert.ok(partial.bytes > 4 * 4096, 'the cut came after several frames of the delivery');
      for (const m of c.messages) {
        assert.equal(JSON.parse(Buffer.from(m.message.body.content).toString()).fill.length, 60000, `${m.id} whole`);
      }
      assert.equal(c.messages.filter((m) => m.id === 'm-2').length, 1, 'the half delivery never reached the handler');
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 2, 'one reconnect');
      const dis = c.named('disconnected');
      assert.equal(dis.length, 1);
      assert.equal(dis[0].reconnecting, true);
      assert.equal(c.errors.length, 0);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });

  /**
   * Proton detaches our receiver after 6 deliveries; half of them are held unsettled until after the
   * detach. Expected: the receiver comes back on the same connection, the held ones cannot be
   * settled any more and come again.
   */
  async function detachScenario(error) {
    const server = await startProton(python, {
      publish: [{ at: 0, count: 12 }],
      detach: { after: 6, ...(error ? { error } : {}) },
    });
    const held = [];
    const late = [];
    const c = consume(server, {
      receiver: { autoaccept: false },
      onMessage: (ctx, m, state) => {
        // The first three of the first link at once, the next three held until it was detached.
        const first = state.named('receiver_open').length === 1 && state.named('receiver_close').length === 0;
        if (first && state.messages.length > 3) held.push(m);
        else m.delivery.accept();
      },
    });
    c.container.on('receiver_close', () => {
      for (const m of held.splice(0)) late.push([m.id, m.delivery.accept()]);
    });
    try {
      const want = ids('m-', 12);
      await server.waitFor(allAccepted(server, want), 'all 12 accepted', 20000);
      assert.deepEqual(late, [['m-3', false], ['m-4', false], ['m-5', false]], 'deliveries of the detached link cannot be settled');
      for (const id of ['m-3', 'm-4', 'm-5']) assert.equal(c.messages.filter((m) => m.id === id).length, 2, `${id} delivered again`);
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 1, 'no reconnect: the same connection');
      assert.equal(server.all('attach').length, 2, 're-attached once');
      assert.deepEqual(c.named('disconnected'), [], 'no disconnected event');
      const names = c.events.map((e) => e.name);
      const expected = ['connection_open', 'receiver_open', ...(error ? ['receiver_error'] : []), 'receiver_close', 'receiver_open'];
      assert.deepEqual(names, expected);
      if (error) {
        const e = c.named('receiver_error')[0];
        assert.equal(e.condition, error.condition);
        assert.match(e.message, new RegExp(error.description));
      }
      assert.equal(c.receiver.is_open(), true);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  }

  test('Proton detaches the receiver without an error: re-attached on the same connection, nothing lost', () => detachScenario(null));

  test('Proton detaches the receiver with an error: receiver_error, then re-attached on the same connection, nothing lost', () =>
    detachScenario({ condition: 'amqp:link:detach-forced', description: 'consumer group rebalanced' }));

  test('a close with amqp:connection:forced: reconnect, nothing lost', async () => {
    const server = await startProton(python, { publish: [{ at: 0, count: 10 }], force_close: { after: 4 } });
    const c = consume(server, { receiver: { autoaccept: false }, onMessage: (ctx) => setTimeout(() => ctx.delivery.accept(), 5) });
    try {
      const want = ids('m-', 10);
      await server.waitFor(allAccepted(server, want), 'all 10 accepted');
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 2, 'one reconnect');
      const dis = c.named('disconnected');
      assert.equal(dis.length, 1);
      assert.equal(dis[0].reconnecting, true);
      assert.equal(dis[0].condition, 'amqp:connection:forced');
      assert.equal(c.errors.length, 0, 'no error event');
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });

  test('a null source in the attach reply attaches', async () => {
    const server = await startProton(python, { publish: [{ at: 0, count: 5 }], null_source: true }, { trace: true });
    const c = consume(server, { receiver: { source: 'DEFAULT_GROUP' } });
    try {
      const want = ids('m-', 5);
      await server.waitFor(allAccepted(server, want), 'all 5 accepted');
      const reply = server.framesOut('attach');
      assert.equal(reply.length, 1);
      assert.ok(!reply[0].includes('@source'), `Proton replied with no source: ${reply[0]}`);
      assert.equal(server.all('attach')[0].source, 'DEFAULT_GROUP', 'we asked for a source');
      assert.equal(c.receiver.remote.attach.source, null);
      assert.deepEqual(c.events.map((e) => e.name), ['connection_open', 'receiver_open']);
      assertAcceptedOnce(server, want);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });

  test('pre-settled transfers mixed in: delivered as remote_settled, accept() returns false and sends nothing', async () => {
    const server = await startProton(python, { publish: [{ at: 0, count: 30 }], presettle_every: 3 }, { trace: true });
    const results = [];
    const c = consume(server, {
      receiver: { autoaccept: false },
      onMessage: (ctx, m) => results.push([m.id, ctx.delivery.remote_settled, ctx.delivery.accept()]),
    });
    try {
      await server.waitFor(() => c.messages.length >= 30, 'all 30 delivered');
      const sent = server.all('sent');
      const presettled = sent.filter((s) => s.settled).map((s) => s.id);
      const unsettled = sent.filter((s) => !s.settled).map((s) => s.id);
      await server.waitFor(allAccepted(server, unsettled), 'the unsettled ones accepted');
      assert.equal(presettled.length, 10);
      for (const [id, remoteSettled, accepted] of results) {
        const pre = presettled.includes(id);
        assert.equal(remoteSettled, pre, `${id}: remote_settled`);
        assert.equal(accepted, !pre, `${id}: accept() returns ${!pre}`);
      }
      // No disposition of ours names a pre-settled delivery id.
      const preIds = new Set(server.framesOut('transfer').filter((l) => l.includes('settled=true')).map((l) => parseInt(/delivery-id=(0x[0-9a-f]+)/.exec(l)[1], 16)));
      assert.equal(preIds.size, 10);
      // (Proton's frame log on stderr may trail its reports on stdout.)
      await server.waitFor(() => server.stderr.includes('<- @disposition'), 'our dispositions in Proton\'s frame log');
      await delay(200);
      for (const line of server.stderr.split('\n').filter((l) => l.includes('<- @disposition'))) {
        const first = parseInt(/first=(0x[0-9a-f]+)/.exec(line)[1], 16);
        const lastMatch = /last=(0x[0-9a-f]+)/.exec(line);
        const last = lastMatch ? parseInt(lastMatch[1], 16) : first;
        for (const id of preIds) assert.ok(id < first || id > last, `disposition ${first}..${last} names pre-settled delivery ${id}`);
      }
      assertAcceptedOnce(server, unsettled);
      assert.equal(server.all('connection').length, 1);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });

  test('a server idle time-out of 2 s: our heartbeats keep the connection up across 10 s of silence', async () => {
    // Proton closes a connection that is silent for its idle_timeout and advertises half of it.
    const server = await startProton(python, { idle_timeout: 2, publish: [{ at: 0, count: 5 }, { at: 11, count: 5, prefix: 'later-' }] }, { trace: true });
    const c = consume(server);
    try {
      const want = [...ids('m-', 5), ...Array.from({ length: 5 }, (_, i) => `later-${i + 5}`)];
      await server.waitFor(allAccepted(server, want), 'the messages before and after the silence', 25000);
      assertAcceptedOnce(server, want);
      assert.equal(server.all('connection').length, 1, 'no reconnect');
      assert.deepEqual(c.named('disconnected'), []);
      assert.deepEqual(server.all('transport_error'), [], 'Proton never timed us out');
      assert.match(server.framesOut('open')[0], /idle-time-out=0x3e8/, 'Proton advertises 1 s, half its 2 s');
      const heartbeats = server.stderr.split('\n').filter((l) => l.includes('<- (EMPTY FRAME)')).length;
      assert.ok(heartbeats >= 10, `we sent ${heartbeats} heartbeats in 10 s`);
    } finally {
      await closed(c.connection);
      await server.close();
    }
  });
}
