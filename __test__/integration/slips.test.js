'use strict';
// A peer's small slip never costs a connection (issue 10): a test peer (support/slip-server.js)
// that is correct but for one slip, committed on purpose, and our client in a child process
// (support/slip-client.js) with DEBUG=aliyun-iot-amqp:frames so that its stderr shows what it
// noted. For each harmless slip: one TCP connection on the server's side, every message accepted
// exactly once, and the frames line that names the slip. Where going on would lose data (a flood
// of transfers far beyond the credit) the connection is closed, with the condition that says why,
// and nothing is lost either. A detach or end of our link or session is answered and the receiver
// attached again on the same connection.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

const { startSlipServer } = require('../support/slip-server');
const { cleanEnv } = require('../support/cli');

const CLIENT = path.join(__dirname, '..', 'support', 'slip-client.js');

function startClient(cfg) {
  const child = spawn(process.execPath, [CLIENT], {
    env: cleanEnv({ SLIP_CLIENT: JSON.stringify(cfg), DEBUG: 'aliyun-iot-amqp:frames' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const c = { child, events: [], stderr: '', exited: null };
  child.stderr.on('data', (d) => { c.stderr += d; });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      c.events.push({ at: Date.now(), ...JSON.parse(line) });
    } catch {
      c.events.push({ ev: 'stdout', line });
    }
  });
  child.on('exit', (code, signal) => { c.exited = signal || `code ${code}`; });
  c.send = (cmd) => child.stdin.write(`${JSON.stringify({ cmd })}\n`);
  c.named = (name) => c.events.filter((e) => e.ev === name);
  c.close = async () => {
    if (c.exited) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    c.send('close');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  return c;
}

async function waitFor(predicate, what, c, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = predicate();
    if (v) return v;
    if (Date.now() > deadline || (c && c.exited)) {
      throw new Error(`${c && c.exited ? `the client exited (${c.exited})` : `timed out after ${timeoutMs} ms`} waiting for ${what}\nclient events: ${c ? c.events.map((e) => JSON.stringify(e)).slice(-15).join('\n') : ''}\nstderr tail: ${c ? c.stderr.slice(-3000) : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Runs one slip: `publish` messages, the client with `client` options, until `until()` (by default,
 * every message accepted). Returns {server, client, ids}; both are closed.
 */
async function runSlip({ slip, publish = 20, client = {}, until, settleMs = 150 }) {
  const server = await startSlipServer({ slip });
  const ids = server.publish(publish);
  const c = startClient({ port: server.port, ...client });
  try {
    await waitFor(() => (until ? until(server, c) : server.allAccepted(ids)), `the outcome of ${slip && slip.kind}`, c);
    // A moment more, so that a late consequence of the slip (a close, a reconnect) shows.
    await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    await c.close();
    await server.close();
  }
  return { server, client: c, ids };
}

/** The slip cost nothing: one connection, no disconnect, every message accepted exactly once. */
function assertNothingLost({ server, client, ids }, { connections = 1 } = {}) {
  assert.equal(server.connections, connections, `${connections} TCP connection(s) on the server's side; log: ${server.log.join('; ')}`);
  for (const id of ids) assert.equal(server.accepted.get(id), 1, `${id} accepted ${server.accepted.get(id) || 0} times`);
  assert.doesNotMatch(client.stderr, /panick/);
  assert.deepEqual(client.named('error'), []);
  if (connections === 1) {
    assert.deepEqual(client.named('disconnected'), [], 'no disconnected event');
    assert.deepEqual(server.closes.map((c) => c.condition), [null], 'the only close is ours, at the end, without an error');
  }
}

/** Lines of the frames log that the client wrote. */
function frameLines(client) {
  return client.stderr.split('\n').filter((l) => l.includes('aliyun-iot-amqp:frames'));
}

function assertNoted(client, pattern) {
  const lines = frameLines(client);
  assert.ok(lines.length > 0, 'the frames log is on');
  assert.ok(lines.some((l) => pattern.test(l)), `a frames line matching ${pattern}; the client's notes:\n${lines.filter((l) => !/<- (Transfer|Flow)|-> (Flow|Disposition)/.test(l)).slice(-20).join('\n')}`);
}

// -------------------------------------------------------------------------------------------------
// Over-sending

test('a transfer beyond the credit is taken and delivered, noted, and the connection stays', async () => {
  // The client holds what it gets until the over-sent transfer is in: settling earlier would grant
  // more credit, and a flow that crossed the extra transfer on the wire would make it one within
  // the credit (a race the test would lose now and then). Then it accepts as messages come.
  const r = await runSlip({
    slip: { kind: 'over-send', extra: 1, at: 3 },
    client: { receiver: { credit_window: 5 }, hold: 'all' },
    until: (server, c) => {
      if (c.named('message').length >= 6) c.send('accept-held');
      return server.allAccepted();
    },
  });
  assert.equal(r.server.struck, 1, 'the server over-sent');
  assertNothingLost(r);
  assertNoted(r.client, /beyond the credit/);
  assert.equal(r.client.named('message').length, 20, 'each message delivered once');
});

test('transfers past four times the credit window while all are held: closed with amqp:link:transfer-limit-exceeded, nothing lost', async () => {
  const r = await runSlip({
    slip: { kind: 'over-send-flood', at: 3 },
    publish: 40,
    client: { receiver: { credit_window: 5 }, hold: 'first-connection' },
  });
  const [first] = r.server.closes;
  assert.equal(first.index, 0);
  assert.equal(first.condition, 'amqp:link:transfer-limit-exceeded', `the client's close: ${JSON.stringify(first)}`);
  const dis = r.client.named('disconnected');
  assert.equal(dis.length, 1);
  assert.equal(dis[0].reconnecting, true);
  assert.equal(dis[0].condition, 'amqp:link:transfer-limit-exceeded');
  // Held, within four times the window, before the close; everything comes again on the next connection.
  const firstConnection = r.client.named('message').filter((m) => m.connection === 1);
  assert.ok(firstConnection.length >= 20 && firstConnection.length <= 21, `${firstConnection.length} delivered on the first connection (four times the window of 5)`);
  assertNoted(r.client, /beyond the credit/);
  assertNothingLost(r, { connections: 2 });
});

test('after its close with an error, the client waits for the server\'s close at most 2 s: a server that never answers still ends in disconnected, nothing lost', async () => {
  const r = await runSlip({
    slip: { kind: 'over-send-flood', at: 3, silentClose: true },
    publish: 40,
    client: { receiver: { credit_window: 5 }, hold: 'first-connection' },
  });
  const [first] = r.server.closes;
  assert.equal(first.index, 0);
  assert.equal(first.condition, 'amqp:link:transfer-limit-exceeded');
  const [dis] = r.client.named('disconnected');
  assert.ok(dis, 'a disconnected event');
  assert.equal(dis.condition, 'amqp:link:transfer-limit-exceeded');
  const waited = dis.at - first.at;
  assert.ok(waited >= 1500 && waited < 4000, `disconnected ${waited} ms after the client's close (the bound is 2 s)`);
  assertNothingLost(r, { connections: 2 });
});

// -------------------------------------------------------------------------------------------------
// Frames to ignore

test('a flow repeated: taken, the connection stays', async () => {
  const r = await runSlip({ slip: { kind: 'repeat-flow' } });
  assertNothingLost(r);
  const flows = frameLines(r.client).filter((l) => /<- Flow/.test(l)).map((l) => l.replace(/^.*<- /, ''));
  assert.ok(flows.some((f, i) => i > 0 && f === flows[i - 1]), 'the same flow twice in the frames log');
});

test('a flow whose delivery-count runs past all the credit granted: noted, the connection stays', async () => {
  const r = await runSlip({ slip: { kind: 'flow-count-ahead', ahead: 5 } });
  assertNothingLost(r);
  assertNoted(r.client, /delivery-count[^\n]*(past|ahead)[^\n]*(ignored|taken)/);
});

test('a disposition for a delivery id we do not know: ignored and noted', async () => {
  const r = await runSlip({ slip: { kind: 'unknown-disposition' } });
  assertNothingLost(r);
  assertNoted(r.client, /disposition[^\n]*ignored/i);
});

for (const what of ['flow', 'transfer', 'detach']) {
  test(`a ${what} for a handle that is not ours: ignored and noted`, async () => {
    const r = await runSlip({ slip: { kind: `unknown-handle-${what}` } });
    assertNothingLost(r);
    assertNoted(r.client, new RegExp(`${what} for [^\\n]*handle 7[^\\n]*ignored`, 'i'));
    if (what === 'transfer') assert.equal(r.client.named('message').filter((m) => m.id === 'stray').length, 0, 'the stray delivery is not ours to deliver');
    if (what === 'detach') assert.deepEqual(r.client.named('receiver_close'), [], 'our receiver stays attached');
  });
}

test('frames on a channel where no session of ours is: ignored and noted', async () => {
  const r = await runSlip({ slip: { kind: 'idle-channel' } });
  assertNothingLost(r);
  assertNoted(r.client, /channel 5[^\n]*ignored/);
});

test('a second open: ignored and noted', async () => {
  const r = await runSlip({ slip: { kind: 'second-open' } });
  assertNothingLost(r);
  assertNoted(r.client, /second open[^\n]*ignored/i);
  assert.equal(r.client.named('connection_open').length, 1);
});

test('a second begin: ignored and noted', async () => {
  const r = await runSlip({ slip: { kind: 'second-begin' } });
  assertNothingLost(r);
  assertNoted(r.client, /second begin[^\n]*ignored/i);
});

test('an attach for a link name we did not open: ignored and noted', async () => {
  const r = await runSlip({ slip: { kind: 'unknown-attach' } });
  assertNothingLost(r);
  assertNoted(r.client, /attach for [^\n]*"stranger"[^\n]*ignored/i);
  assert.equal(r.client.named('receiver_open').length, 1);
});

test('an empty frame (a heartbeat) before the server\'s open: ignored, as rhea ignores empty frames anywhere', async () => {
  const r = await runSlip({ slip: { kind: 'empty-before-open' } });
  assert.equal(r.server.struck, 1);
  assertNothingLost(r);
});

test('SASL outcome, AMQP header and open in one write: read as three', async () => {
  const r = await runSlip({ slip: { kind: 'pipelined' } });
  assert.equal(r.server.struck, 1);
  assertNothingLost(r);
  assert.equal(frameLines(r.client).filter((l) => /<- Open/.test(l)).length, 1, 'the server\'s open read once');
});

// -------------------------------------------------------------------------------------------------
// Detach and end: the receiver comes back on the same connection

/** The server detaches after 3 deliveries, which the client holds: they can no longer be settled. */
async function detachAndReattach(error) {
  const r = await runSlip({
    slip: { kind: 'detach', at: 3, ...(error ? { error } : {}) },
    client: { hold: 'first-link', connect: { initial_reconnect_delay: 300, max_reconnect_delay: 1000 } },
  });
  const names = r.client.events.map((e) => e.ev).filter((n) => !['message', 'accept', 'accepted-held', 'closed', 'connection_close'].includes(n));
  assert.deepEqual(names, ['connection_open', 'receiver_open', ...(error ? ['receiver_error'] : []), 'receiver_close', 'receiver_open']);
  if (error) {
    const e = r.client.named('receiver_error')[0];
    assert.equal(e.condition, error.condition);
    assert.match(e.message, new RegExp(error.description));
  }
  const [held] = r.client.named('accepted-held');
  assert.deepEqual(held.results, [['slip-0', false], ['slip-1', false], ['slip-2', false]], 'deliveries of the detached link cannot be settled');
  for (const id of ['slip-0', 'slip-1', 'slip-2']) assert.equal(r.client.named('message').filter((m) => m.id === id).length, 2, `${id} delivered again`);
  assert.deepEqual(r.server.detaches.map((d) => d.by), ['server', 'client'], 'the detach answered');
  assert.equal(r.server.attaches.length, 2, 'attached again');
  // The re-attach waits the backoff: initial_reconnect_delay (300 ms), jittered ×0.5–1.
  const closeAt = r.client.named('receiver_close')[0].at;
  const reopenAt = r.client.named('receiver_open')[1].at;
  assert.ok(reopenAt - closeAt >= 140, `re-attached ${reopenAt - closeAt} ms after the detach (at least half of 300 ms)`);
  assert.ok(reopenAt - closeAt < 1500, `re-attached ${reopenAt - closeAt} ms after the detach`);
  assertNothingLost(r);
}

test('the server detaches our receiver without an error: re-attached on the same connection after the backoff', () => detachAndReattach(null));

test('the server detaches our receiver with an error: receiver_error, receiver_close, re-attached on the same connection', () =>
  detachAndReattach({ condition: 'amqp:link:detach-forced', description: 'consumer group rebalanced' }));

test('five re-attaches in a row detached before any message: the connection is closed and made again', async () => {
  const r = await runSlip({ slip: { kind: 'detach-at-once', times: 6 }, publish: 5 });
  const onFirst = r.server.attaches.filter((a) => a.index === 0).length;
  assert.equal(onFirst, 6, 'the first attach and five re-attaches on the first connection');
  const dis = r.client.named('disconnected');
  assert.equal(dis.length, 1, JSON.stringify(r.client.events.filter((e) => e.ev !== 'message' && e.ev !== 'accept')));
  assert.equal(dis[0].reconnecting, true);
  assertNothingLost(r, { connections: 2 });
});

test('with reconnect: false a detached receiver is not attached again; the connection stays open', async () => {
  const server = await startSlipServer({ slip: { kind: 'detach', at: 3 } });
  const ids = server.publish(20);
  const c = startClient({ port: server.port, connect: { reconnect: false } });
  try {
    await waitFor(() => c.named('receiver_close').length === 1, 'the detach', c);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(server.attaches.length, 1, 'not attached again');
    assert.equal(server.live.size, 1, 'the connection stays open');
    assert.deepEqual(c.named('disconnected'), []);
    assert.equal(server.connections, 1);
    // Nothing lost: what was not accepted is still the server's to deliver.
    const accepted = ids.filter((id) => server.accepted.get(id) === 1);
    const queued = server.queue.map((m) => m.id);
    assert.deepEqual([...accepted, ...queued].sort(), [...ids].sort());
  } finally {
    await c.close();
    await server.close();
  }
});

test('the server ends our session: answered, begun again and the receiver re-attached on the same connection', async () => {
  const r = await runSlip({ slip: { kind: 'end-session', at: 3 }, client: { hold: 'first-link' } });
  const names = r.client.events.map((e) => e.ev).filter((n) => n.startsWith('receiver') || n === 'disconnected');
  assert.deepEqual(names, ['receiver_open', 'receiver_close', 'receiver_open']);
  const [held] = r.client.named('accepted-held');
  assert.deepEqual(held.results.map(([, ok]) => ok), [false, false, false]);
  assert.equal(r.server.attaches.length, 2);
  assertNothingLost(r);
});
