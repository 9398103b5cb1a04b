'use strict';
// TLS against the emulator: an untrusted or mismatched certificate is an error event, never a crash;
// `ca` as a Buffer or in an array; heartbeats. (Node's verdict over a matrix of certificates:
// tls-matrix.test.js; codes, finality and checkServerIdentity: tls-final.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed } = require('../support/client');

async function firstOutcome(c) {
  return new Promise((resolve) => {
    c.on('receiver_open', () => resolve({ ok: true }));
    c.on('disconnected', (ctx) => resolve({ ok: false, ctx }));
  });
}

test('an unknown CA is refused with an error naming the certificate problem', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ca: undefined, reconnect: false }));
  c.open_receiver();
  try {
    const r = await firstOutcome(c);
    assert.equal(r.ok, false);
    assert.equal(r.ctx.error.condition, 'aliyun-iot-amqp:tls');
    assert.match(r.ctx.error.message, /certificate/i);
    assert.equal(emu.authAttempts.length, 0, 'no credentials were sent to an untrusted server');
  } finally {
    c.close();
    await emu.close();
  }
});

test('rejectUnauthorized: false accepts the certificate', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ca: undefined, rejectUnauthorized: false }));
  c.open_receiver();
  try {
    assert.equal((await firstOutcome(c)).ok, true);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('servername selects the name verified; a wrong one is refused', async () => {
  const emu = await startEmulator({});
  const good = amqp.create_container().connect(optionsFor(emu, { host: '127.0.0.1', servername: 'localhost' }));
  good.open_receiver();
  const bad = amqp.create_container().connect(optionsFor(emu, { servername: 'iot-cn-other.amqp.iothub.aliyuncs.com', reconnect: false }));
  bad.open_receiver();
  const outcomes = [firstOutcome(good), firstOutcome(bad)];
  try {
    assert.equal((await outcomes[0]).ok, true);
    const r = await outcomes[1];
    assert.equal(r.ok, false);
    assert.match(r.ctx.error.message, /certificate|name/i);
  } finally {
    await closed(good);
    bad.close();
    await emu.close();
  }
});

test('a ca given as a Buffer and in an array works', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ca: [Buffer.from(emu.ca)] }));
  c.open_receiver();
  try {
    assert.equal((await firstOutcome(c)).ok, true);
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('heartbeats keep an idle link alive below the server\'s idle time-out', async () => {
  // The server advertises 400 ms and drops a peer silent for twice that; we must send at most
  // every 200 ms. Our own idle_time_out of 300 ms has the server heartbeat us at 150 ms.
  const emu = await startEmulator({ idleTimeOut: 400 });
  const c = amqp.create_container().connect(optionsFor(emu, { idle_time_out: 300 }));
  c.open_receiver();
  let disconnects = 0;
  c.on('disconnected', () => { disconnects += 1; });
  try {
    await firstOutcome(c);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(disconnects, 0);
    assert.equal(emu.connectionCount, 1);
    const id = emu.publish({ body: { still: 'alive' } });
    await emu.waitFor(() => emu.acceptedOnce.has(id));
  } finally {
    await closed(c);
    await emu.close();
  }
});

test("a servername that is no DNS name (bad..name) gets Node's verdict: the name check refuses it, a checkServerIdentity that accepts connects (not a configuration error retried for ever)", async () => {
  const tls = require('node:tls');
  const emu = await startEmulator({});
  // Node's own verdict with the same options: it sends the name and checks the certificate against it.
  const node = await new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: emu.port, ca: emu.ca, servername: 'bad..name' });
    s.once('secureConnect', () => { s.destroy(); resolve({ ok: true }); });
    s.once('error', (err) => { s.destroy(); resolve({ ok: false, code: err.code }); });
  });
  assert.deepEqual(node, { ok: false, code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  const refused = amqp.create_container().connect(optionsFor(emu, { host: '127.0.0.1', servername: 'bad..name', reconnect: false }));
  refused.open_receiver();
  const calls = [];
  const accepted = amqp.create_container().connect(optionsFor(emu, {
    host: '127.0.0.1', servername: 'bad..name', checkServerIdentity: (host) => { calls.push(host); return undefined; },
  }));
  accepted.open_receiver();
  try {
    const r = await firstOutcome(refused);
    assert.equal(r.ok, false);
    assert.equal(r.ctx.error.condition, 'aliyun-iot-amqp:tls');
    assert.equal(r.ctx.error.code, node.code);
    assert.equal((await firstOutcome(accepted)).ok, true);
    assert.deepEqual(calls, ['bad..name'], 'checkServerIdentity gets the name as given');
  } finally {
    refused.close();
    await closed(accepted);
    await emu.close();
  }
});
