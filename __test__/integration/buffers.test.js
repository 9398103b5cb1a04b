'use strict';
// Where a message's Buffers live. Bodies and tags are views of their batch's bytes, which small
// batches share (one 64 KiB ArrayBuffer after another, as Node's Buffer pool and rhea's socket
// chunks are shared): a message kept by the app must keep its bytes as they arrived however many
// batches come after it, a kept small message holds at most 64 KiB, and an app that detaches the
// ArrayBuffer under a body (transfers it) must neither receive garbage afterwards nor see the
// transferred bytes written over.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { amqp, optionsFor, closed } = require('../support/client');
const { startEmulator } = require('../support/emulator');

/** A connection of the rhea-shaped API to a fresh emulator, both closed after the test. */
async function attached(t) {
  const emu = await startEmulator({ tls: false });
  const container = amqp.create_container({ id: 'buffers-test' });
  const connection = container.connect(optionsFor(emu));
  container.on('disconnected', () => {});
  connection.open_receiver({});
  t.after(async () => {
    await closed(connection);
    await emu.close();
  });
  return { emu, container };
}

/** Bodies of the given sizes, each of random bytes. */
const bodies = (sizes) => sizes.map((n) => crypto.randomBytes(n));

/** Every message's body and tag as received (the Buffers themselves, not copies), by topic. */
function keep(container) {
  const kept = new Map();
  container.on('message', (ctx) => {
    kept.set(ctx.message.application_properties.topic, { body: ctx.message.body.content, tag: ctx.delivery.tag });
  });
  return kept;
}

/** Publishes `sent` (topic `/t/<i>`) and waits for all of them to be accepted. */
async function publish(emu, sent, from = 0) {
  sent.forEach((body, i) => emu.publish({ topic: `/t/${from + i}`, body }));
  await emu.waitForAccepted(from + sent.length, 20000);
}

test('bodies kept by the app stay as they arrived while hundreds of later small batches share their memory', async (t) => {
  const { emu, container } = await attached(t);
  const kept = keep(container);
  const sent = bodies(Array.from({ length: 600 }, (_, i) => 1 + ((i * 397) % 2000)));
  // Three at a time: 200 small batches, one after the other.
  for (let i = 0; i < sent.length; i += 3) await publish(emu, sent.slice(i, i + 3), i);
  assert.equal(kept.size, sent.length);
  const tags = new Set();
  const memories = new Set();
  sent.forEach((body, i) => {
    const got = kept.get(`/t/${i}`);
    assert.ok(Buffer.isBuffer(got.body), `body ${i} is a Buffer`);
    assert.ok(got.body.equals(body), `body ${i} (${body.length} bytes) is as sent`);
    // A kept message of a small batch holds at most the 64 KiB its batch shared.
    assert.ok(got.body.buffer.byteLength <= 64 * 1024, `body ${i} holds ${got.body.buffer.byteLength} bytes`);
    memories.add(got.body.buffer);
    tags.add(got.tag.toString('hex'));
  });
  assert.equal(tags.size, sent.length, 'every tag kept its own bytes');
  assert.ok(memories.size < 100, `200 batches shared ${memories.size} ArrayBuffers`);
});

test('small and big bodies interleaved (100 B to 300 KiB) arrive whole', async (t) => {
  const { emu, container } = await attached(t);
  const kept = keep(container);
  const sizes = [];
  for (let i = 0; i < 40; i++) sizes.push(100, 20 * 1024, 3, i % 10 === 0 ? 300 * 1024 : 16 * 1024);
  const sent = bodies(sizes);
  await publish(emu, sent);
  sent.forEach((body, i) => assert.ok(kept.get(`/t/${i}`).body.equals(body), `body ${i} (${body.length} bytes) is as sent`));
});

test('an app that transfers the memory under a body: later messages arrive whole, and the transferred bytes are left alone', async (t) => {
  const { emu, container } = await attached(t);
  const kept = keep(container);
  const first = bodies([200]);
  await publish(emu, first);
  const body = kept.get('/t/0').body;
  assert.ok(body.equals(first[0]));
  const { byteOffset, length } = body;
  // Detaches the ArrayBuffer the next small batches would have shared.
  const moved = structuredClone(body.buffer, { transfer: [body.buffer] });
  assert.equal(body.length, 0, 'the body is detached');
  const snapshot = Buffer.from(moved).toString('base64');
  const later = bodies(Array.from({ length: 300 }, (_, i) => 1 + ((i * 131) % 900)));
  await publish(emu, later, 1);
  later.forEach((b, i) => assert.ok(kept.get(`/t/${i + 1}`).body.equals(b), `body ${i + 1} is as sent`));
  assert.equal(Buffer.from(moved).toString('base64'), snapshot, 'nothing was written into the transferred memory');
  assert.ok(Buffer.from(moved, byteOffset, length).equals(first[0]), 'the transferred memory still holds the first body');
});
