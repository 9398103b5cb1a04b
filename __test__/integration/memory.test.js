'use strict';
// Memory and flow control: the credit window bounds what the client holds unsettled (counted on the
// emulator's side), and a long backlog consumed by a handler doing async work leaves RSS flat.

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');
const { startProxy } = require('../support/fault-proxy');
const { AmqpTap } = require('../support/amqp-wire');
const { startRemoteEmulator } = require('../../scripts/soak');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A wiretap between client and emulator counting, per connection and in wire order, the deliveries
 * the client received and has not settled: transfers passed to the client minus the delivery ids
 * its dispositions settled on their way to the server. (The emulator's own inFlight() count lags:
 * rhea reports dispositions after it has acted on the flow frame that followed them.)
 */
async function unsettledTap(emu) {
  const counts = { max: 0, transfers: 0, dispositions: 0, perConnection: [] };
  const proxy = await startProxy({
    target: { host: emu.host, port: emu.port },
    tap: (direction, chunk, pair) => {
      if (!pair.tapState) {
        const st = { unsettled: new Set(), max: 0 };
        counts.perConnection.push(st);
        st.down = new AmqpTap((f) => {
          if (f.name !== 'transfer') return;
          const [, id, , , settled] = f.fields;
          if (id === null || id === undefined || settled === true) return;
          counts.transfers += 1;
          st.unsettled.add(id);
          st.max = Math.max(st.max, st.unsettled.size);
          counts.max = Math.max(counts.max, st.max);
        });
        st.up = new AmqpTap((f) => {
          if (f.name !== 'disposition' || f.fields[0] !== true) return;
          const [, first, last, settled] = f.fields;
          if (!settled) return;
          counts.dispositions += 1;
          for (let id = first; id <= (last === null || last === undefined ? first : last); id++) st.unsettled.delete(id);
        });
        pair.tapState = st;
      }
      (direction === 'toClient' ? pair.tapState.down : pair.tapState.up).push(chunk);
    },
  });
  return { proxy, counts };
}

test('credit_window 10 and a handler that holds deliveries: never more than 10 unsettled', async (t) => {
  const emu = await startEmulator({ tls: false });
  const { proxy, counts } = await unsettledTap(emu);
  const container = amqp.create_container();
  const c = container.connect(optionsFor(emu, { host: '127.0.0.1', port: proxy.port, initial_reconnect_delay: 5 }));
  c.on('disconnected', () => {});
  c.open_receiver({ credit_window: 10, autoaccept: false });
  const held = [];
  let acceptAll = false;
  container.on('message', (ctx) => {
    if (acceptAll) ctx.delivery.accept();
    else held.push(ctx.delivery);
  });
  t.after(async () => { await closed(c); await proxy.close(); await emu.close(); });

  const ids = emu.publishMany(200);
  await emu.waitFor(() => held.length === 10, 5000, '10 held deliveries');
  await sleep(500); // more would have come by now if the credit allowed
  assert.equal(held.length, 10, 'deliveries beyond the credit window');
  assert.equal(emu.inFlight(), 10);
  assert.equal(emu.deliveries.length, 10);

  // Settling some makes room for exactly that many more.
  for (const d of held.splice(0, 4)) d.accept();
  await emu.waitFor(() => held.length === 10, 5000, 'refilled to 10');
  await sleep(300);
  assert.equal(held.length, 10);
  assert.equal(emu.deliveries.length, 14);

  // Across a reconnect: the held deliveries die with the connection; the new one gets 10 again.
  emu.dropConnections();
  await emu.waitFor(() => held.length === 20, 5000, '10 more on the new connection');
  await sleep(300);
  assert.equal(held.length, 20);
  assert.deepEqual(held.map((d) => d.accept()), [...Array(10).fill(false), ...Array(10).fill(true)], 'stale deliveries answer false');
  acceptAll = true;
  await emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 10000, 'all 200 accepted');
  t.diagnostic(`wiretap: ${counts.transfers} transfers, ${counts.dispositions} dispositions on ${counts.perConnection.length} connections; most unsettled at once: ${counts.max}`);
  assert.ok(counts.transfers >= 200);
  assert.equal(counts.max, 10, `${counts.max} deliveries unsettled at once with credit_window 10`);
});

test('a 20 000-message backlog with 1 ms of async work per message: RSS stays flat', async (t) => {
  const emu = await startRemoteEmulator({ tls: false });
  const { accessKeyId, accessKeySecret } = emu.credentials;
  const creds = amqp.sign({ accessKeyId, accessKeySecret, consumerGroupId: 'DEFAULT_GROUP', clientId: 'memory', signMethod: 'hmacsha1' });
  const container = amqp.create_container();
  const c = container.connect({ host: '127.0.0.1', port: emu.port, transport: 'tcp', ...creds });
  c.on('disconnected', () => {});
  c.open_receiver({ autoaccept: false });
  let handled = 0;
  container.on('message', async (ctx) => {
    const content = Buffer.from(ctx.message.body.content).toString();
    await sleep(1); // stands for a write to a database
    if (content) ctx.delivery.accept();
    handled += 1;
  });
  t.after(async () => { c.close(); await emu.close(); });

  const total = 20000;
  await emu.publish(total);
  const started = Date.now();
  let rss25 = null;
  let peak = 0;
  let s;
  for (;;) {
    await sleep(20);
    s = await emu.stats();
    const rss = process.memoryUsage().rss;
    peak = Math.max(peak, rss);
    if (rss25 === null && s.acceptedOnce >= total / 4) rss25 = rss;
    if (s.acceptedOnce >= total && s.pending === 0) break;
    assert.ok(Date.now() - started < 50000, `only ${s.acceptedOnce} accepted after 50 s`);
  }
  const rss100 = process.memoryUsage().rss;
  const growth = (rss100 - rss25) / 1048576;
  t.diagnostic(`${total} messages in ${Date.now() - started} ms; RSS at 25 %: ${(rss25 / 1048576).toFixed(1)} MB, at 100 %: ${(rss100 / 1048576).toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB), peak ${(peak / 1048576).toFixed(1)} MB`);
  assert.equal(s.acceptedOnce, total);
  assert.ok(handled >= total, `the handler finished ${handled} messages`);
  assert.equal(s.notAccepted, 0);
  assert.ok(growth < 30, `RSS grew by ${growth.toFixed(1)} MB between 25 % and 100 % of the backlog`);
});
