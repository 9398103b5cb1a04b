'use strict';
// A hostile server: malformed, truncated, oversized and out-of-order frames, absurd sizes and
// counts, deep nesting, over-large messages and random bytes, at every stage of the handshake.
// Each case must end in a `disconnected` event with an error and a clean reconnect: no crash, no
// panic, no hang, bounded memory. Afterwards the same client still consumes a valid message.
//
// The fuzz loop runs in a child process (this file, with HOSTILE_CHILD set), so that its stderr can
// be checked for panics and its memory measured on its own.

const path = require('node:path');

if (process.env.HOSTILE_CHILD) {
  runChild().catch((err) => {
    process.stdout.write(`${JSON.stringify({ fatal: String(err && err.stack) })}\n`);
    process.exitCode = 1;
  });
} else {
  defineTests();
}

// -------------------------------------------------------------------------------------------------
// Child: the fuzz loop

async function runChild() {
  const amqp = require(path.resolve(__dirname, '..', '..'));
  const { startHostileServer } = require('../support/hostile-server');
  const { generateCase, prng } = require('../support/hostile-cases');

  const total = Number(process.env.HOSTILE_CASES || 10000);
  const seed = Number(process.env.HOSTILE_SEED || 1);
  const saslShare = Number(process.env.HOSTILE_SASL_SHARE || 0.25);
  const caseBoundMs = Number(process.env.HOSTILE_CASE_BOUND_MS || 3000);
  const limits = { maxFrameSize: 65536, maxMessageSize: 65536, creditWindow: 5 };
  const rng = prng(seed);
  const report = {
    cases: 0, phases: [], byStage: {}, conditions: {}, rejectedByEof: {}, lenient: {}, refusedLogins: 0, protocolErrors: {},
    maxCaseMs: 0, slowest: null, panics: [], errors: [], messages: 0, rss: [],
  };
  const started = Date.now();

  // Every case is generated before the first connection, so that the memory samples see the
  // client and not the corpus being built.
  // HOSTILE_SKIP (a regular expression over case names) is for exploring past a known failure only.
  const skip = process.env.HOSTILE_SKIP ? new RegExp(process.env.HOSTILE_SKIP) : null;
  const corpus = (count, sasl, offset) => {
    const cases = [];
    while (cases.length < count) {
      const kase = generateCase(rng, offset + cases.length, { ...limits, sasl });
      if (!skip || !skip.test(kase.name)) cases.push(kase);
    }
    return cases;
  };

  async function phase(name, cases, sasl) {
    const count = cases.length;
    const server = await startHostileServer({ nextCase: (i) => cases[i] || null });
    server.send(`valid-${name}`, JSON.stringify({ phase: name }));
    const container = amqp.create_container();
    const options = {
      host: '127.0.0.1', port: server.port, transport: 'tcp',
      idle_time_out: 2000, initial_reconnect_delay: 0, max_reconnect_delay: 1,
      max_frame_size: limits.maxFrameSize, max_message_size: limits.maxMessageSize,
      connect_timeout: 2000, close_timeout: 500, reconnect_on_auth_failure: true,
    };
    if (sasl) Object.assign(options, { username: 'hostile|authMode=aksign|', password: 'not-a-secret' });
    const connection = container.connect(options);
    connection.open_receiver({ credit_window: limits.creditWindow });

    let seen = 0;
    let lastAt = Date.now();
    let caseStart = Date.now();
    server.on('connection', ({ index }) => { if (index < count) caseStart = Date.now(); });
    let received = null;
    let problem = null;
    container.on('message', (ctx) => {
      report.messages += 1;
      const id = ctx.message.application_properties && ctx.message.application_properties.messageId;
      if (id === `valid-${name}`) received = Buffer.from(ctx.message.body.content).toString();
      ctx.delivery.accept();
    });
    container.on('error', (err) => report.errors.push(`error event: ${err && err.message}`));
    // A message that cannot be read costs only itself: reported, the connection goes on.
    container.on('protocol_error', (err) => { report.protocolErrors[err.condition] = (report.protocolErrors[err.condition] || 0) + 1; });
    // A refused login is reported as connection_error (and, unheard, as 'error').
    container.on('connection_error', (ctx) => {
      if (ctx.error && ctx.error.condition === 'amqp:unauthorized-access') report.refusedLogins += 1;
    });
    container.on('disconnected', (ctx) => {
      const i = seen++;
      const now = Date.now();
      const ms = now - caseStart;
      lastAt = now;
      const kase = cases[i];
      const err = ctx.error;
      if (!kase) {
        problem = problem || `disconnected after the fuzz cases: ${err && err.message}`;
        return;
      }
      if (ms > report.maxCaseMs) { report.maxCaseMs = ms; report.slowest = kase.name; }
      report.byStage[kase.stage] = (report.byStage[kase.stage] || 0) + 1;
      if (!err) { problem = problem || `case ${i} (${kase.name}) ended without an error`; return; }
      if (!ctx.reconnecting) { problem = problem || `case ${i} (${kase.name}) stopped the reconnects: ${err.message}`; return; }
      if (/panic/i.test(err.message)) report.panics.push(`${kase.name}: ${err.message}`);
      const cond = err.condition || 'none';
      report.conditions[cond] = (report.conditions[cond] || 0) + 1;
      const eof = /closed by the server/.test(err.message);
      if (kase.reject && eof) report.rejectedByEof[kase.name] = (report.rejectedByEof[kase.name] || 0) + 1;
      if (!kase.reject) {
        const o = report.lenient[kase.name] || (report.lenient[kase.name] = {});
        const key = eof ? 'eof' : cond;
        o[key] = (o[key] || 0) + 1;
      }
    });

    let samples = 0;
    while (seen < count && !problem) {
      await new Promise((r) => setTimeout(r, 5));
      if (Date.now() - lastAt > caseBoundMs) {
        problem = `hang: case ${seen} (${cases[seen] && cases[seen].name}) had no outcome within ${caseBoundMs} ms`;
      }
      const progress = Math.floor((report.cases + seen) / 1000);
      if (progress > samples) {
        samples = progress;
        // After a full collection, so that the samples show what is held, not what V8 has not
        // collected yet.
        if (global.gc) global.gc();
        const m = process.memoryUsage();
        report.rss.push({ cases: report.cases + seen, rss: m.rss, heap: m.heapUsed, external: m.external });
      }
    }
    if (!problem) {
      // The same client, after all that: a valid message.
      const deadline = Date.now() + 5000;
      while (received === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      if (received === null) problem = 'no valid message after the fuzz cases';
      else {
        const until = Date.now() + 5000;
        while (!server.dispositions.some((d) => d.outcome === 'accepted') && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        if (!server.dispositions.some((d) => d.outcome === 'accepted')) problem = 'the valid message was not accepted';
      }
    }
    const closeStart = Date.now();
    connection.close();
    const closeDeadline = Date.now() + 5000;
    while (!connection.is_closed() && Date.now() < closeDeadline) await new Promise((r) => setTimeout(r, 5));
    const closeMs = Date.now() - closeStart;
    if (!connection.is_closed()) problem = problem || 'close() did not complete';
    await server.close();
    report.cases += seen;
    report.phases.push({ name, sasl, cases: seen, connections: server.connections, received, closeMs, problem, serverLog: server.log.slice(0, 5) });
    if (problem) throw new Error(problem);
  }

  try {
    const saslCount = Math.floor(total * saslShare);
    const plainCases = corpus(total - saslCount, false, 0);
    const saslCases = corpus(saslCount, true, total - saslCount);
    await phase('no-sasl', plainCases, false);
    await phase('sasl', saslCases, true);
  } catch (err) {
    report.failure = err.message;
  }
  report.seconds = (Date.now() - started) / 1000;
  report.rss.push({ cases: report.cases, rss: process.memoryUsage().rss });
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// -------------------------------------------------------------------------------------------------
// Parent: the tests

function defineTests() {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const { spawn } = require('node:child_process');
  const { amqp } = require('../support/client');
  const { startHostileServer } = require('../support/hostile-server');
  const { enc, perf, frame, platformMessage, AMQP_HEADER } = require('../support/amqp-wire');

  function runFuzz(env, timeoutMs) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', __filename], {
        env: { ...process.env, HOSTILE_CHILD: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        let report = null;
        try { report = JSON.parse(stdout.trim().split('\n').pop()); } catch { /* reported below */ }
        resolve({ code, signal, stdout, stderr, report });
      });
    });
  }

  test('fuzz: 10 000 hostile cases, each ending in an error and a reconnect; then a valid message', async (t) => {
    const { code, signal, stderr, stdout, report } = await runFuzz({ HOSTILE_CASES: '10000', HOSTILE_SEED: '20240601' }, 240000);
    assert.equal(signal, null, `the fuzz child was killed (hang or crash): ${stderr.slice(-2000)} ${stdout.slice(-2000)}`);
    assert.ok(report, `no report from the fuzz child (exit ${code}): ${stderr.slice(-3000)}`);
    t.diagnostic(`cases=${report.cases} seconds=${report.seconds} max-case-ms=${report.maxCaseMs} (${report.slowest}) messages=${report.messages}`);
    t.diagnostic(`by stage: ${JSON.stringify(report.byStage)}`);
    t.diagnostic(`conditions: ${JSON.stringify(report.conditions)}`);
    t.diagnostic(`protocol_error (messages that could not be read): ${JSON.stringify(report.protocolErrors)}`);
    t.diagnostic(`rss MB: ${report.rss.map((s) => Math.round(s.rss / 1048576)).join(' ')}`);
    assert.equal(report.fatal, undefined, report.fatal);
    assert.equal(report.failure, undefined, `${report.failure}\nphases: ${JSON.stringify(report.phases)}`);
    assert.doesNotMatch(stderr, /panicked/, stderr.slice(-3000));
    assert.deepEqual(report.panics, []);
    assert.deepEqual(report.errors, []);
    assert.equal(code, 0, stderr.slice(-3000));
    assert.ok(report.cases >= 10000, `only ${report.cases} cases ran`);
    for (const p of report.phases) {
      assert.equal(p.received !== null, true, `${p.name}: no valid message after the fuzz`);
      assert.ok(p.closeMs < 2000, `${p.name}: close took ${p.closeMs} ms`);
    }
    // Cases the client must refuse by itself were not merely noticed as the end of the stream.
    assert.deepEqual(report.rejectedByEof, {}, 'hostile input accepted silently (only the end of the stream ended it)');
    // Memory: no leak. A leak grows with every case, so it shows in every stretch of the run; a
    // one-off step does not (seen here: about 20 MB of anonymous memory, with V8's heap unchanged,
    // at a different point in each run, or in none), nor does the warm-up (up to about 5 MB in the
    // first two thousand cases). Samples at 2 000, 4 000, 6 000, 8 000 and 10 000 cases: no
    // stretch between two grows by 25 MB or more, and at most one grows by 5 MB or more (2.5 KB a
    // case). A stretch's growth is above the highest sample before it: memory given back and
    // taken again (a drop of 13 MB, then 12 MB back, seen once in CI) is no new growth, while a
    // leak reaches a new high in every stretch.
    const samples = report.rss.filter((s) => s.cases >= 2000);
    const at = (cases) => samples.reduce((best, s) => (Math.abs(s.cases - cases) < Math.abs(best.cases - cases) ? s : best));
    const marks = [2000, 4000, 6000, 8000, 10000].map(at);
    const stretches = marks.slice(1).map((m, i) => (m.rss - Math.max(...marks.slice(0, i + 1).map((k) => k.rss))) / 1048576);
    const growth = (marks[4].rss - marks[0].rss) / 1048576;
    t.diagnostic(`RSS growth from case ${marks[0].cases} to ${marks[4].cases}: ${growth.toFixed(1)} MB; by stretch: ${stretches.map((q) => q.toFixed(1)).join(' ')} MB`);
    assert.ok(stretches.every((q) => q < 25), `RSS grew by 25 MB or more within a stretch of the run: ${stretches.map((q) => q.toFixed(1)).join(' ')} MB`);
    assert.ok(stretches.filter((q) => q >= 5).length <= 1, `RSS grew in more than one stretch of the run (a leak): ${stretches.map((q) => q.toFixed(1)).join(' ')} MB`);
  });

  // Single hostile cases, each checked for its specific error, in-process.

  /** A client connected to a hostile server with one case; resolves with the first disconnect. */
  async function oneCase(t, kase, clientOptions = {}, receiverOptions = {}, onMessage = null) {
    const server = await startHostileServer({ nextCase: (i) => (i === 0 ? kase : null) });
    const container = amqp.create_container();
    const c = container.connect({
      host: '127.0.0.1', port: server.port, transport: 'tcp', idle_time_out: 1000,
      initial_reconnect_delay: 1, max_reconnect_delay: 1, max_frame_size: 65536, max_message_size: 65536,
      ...clientOptions,
    });
    c.open_receiver({ credit_window: 5, ...receiverOptions });
    const events = [];
    container.on('message', (ctx) => {
      events.push(['message', ctx.message.message_id]);
      if (onMessage) onMessage(ctx);
      else ctx.delivery.accept();
    });
    container.on('disconnected', () => {});
    container.on('error', (err) => events.push(['error', err.message]));
    container.on('protocol_error', (err) => events.push(['protocol_error', err.condition, err.message]));
    const first = new Promise((resolve) => container.once('disconnected', (ctx) => resolve({ at: Date.now(), error: ctx.error, reconnecting: ctx.reconnecting })));
    const started = Date.now();
    t.after(async () => {
      c.close();
      const deadline = Date.now() + 3000;
      while (!c.is_closed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await server.close();
    });
    const d = await first;
    return { ...d, ms: d.at - started, events, server, connection: c };
  }

  test('a message of more than max_message_size in many frames costs only itself: protocol_error with message-size-exceeded, the connection goes on', async (t) => {
    const tr = (ctx, more) => perf.transfer({ handle: ctx.handle, deliveryId: 0, deliveryTag: Buffer.from('t'), messageFormat: 0, more });
    const d = await oneCase(t, {
      stage: 'flow',
      bytes: (ctx) => {
        const out = [];
        for (let i = 0; i < 8; i++) out.push(frame(Buffer.concat([tr(ctx, true), Buffer.alloc(16000, 0x41)])));
        return out;
      },
    });
    assert.deepEqual(d.events.filter((e) => e[0] === 'protocol_error').map((e) => e[1]), ['amqp:link:message-size-exceeded']);
    // Only the server ending its stream ended the connection: the message cost only itself.
    assert.match(d.error.message, /closed by the server/);
    assert.equal(d.reconnecting, true);
  });

  test('a frame header over max_frame_size is refused before its body arrives (no buffering, no wait)', async (t) => {
    const d = await oneCase(t, { stage: 'flow', hold: true, bytes: frame(Buffer.alloc(0), { size: 0x7fffffff }) });
    assert.equal(d.error.condition, 'amqp:connection:framing-error');
    assert.ok(d.ms < 500, `took ${d.ms} ms`);
  });

  test('a transfer before the attach reply is ignored (it is for no link of ours): not delivered, not a crash', async (t) => {
    const d = await oneCase(t, {
      stage: 'attach',
      bytes: (ctx) => frame(Buffer.concat([perf.transfer({ handle: 0, deliveryId: 0, deliveryTag: Buffer.from('x'), messageFormat: 0 }), enc.described(0x75, enc.bin(Buffer.from('x')))])),
    });
    assert.deepEqual(d.events.filter((e) => e[0] === 'message'), [], 'a transfer for no link of ours was delivered');
    // Only the server ending the stream ended the connection: the slip itself cost nothing.
    assert.match(d.error.message, /closed by the server/);
    assert.equal(d.reconnecting, true);
  });

  test('a truncated frame followed by silence is ended by the dead-peer timer (bounded)', async (t) => {
    const d = await oneCase(t, { stage: 'flow', hold: true, bytes: frame(perf.close({})).subarray(0, 5) }, { idle_time_out: 300 });
    assert.match(d.error.message, /presumed dead|no frame/);
    assert.ok(d.ms < 2 * 300 + 500, `took ${d.ms} ms`);
  });

  test('a server that never answers the protocol header is bounded by connect_timeout', async (t) => {
    const d = await oneCase(t, { stage: 'header', hold: true, bytes: Buffer.alloc(0) }, { connect_timeout: 300 });
    assert.match(d.error.message, /did not complete within 300 ms/);
    assert.ok(d.ms < 800, `took ${d.ms} ms`);
  });

  test('zero-width array elements nested in arrays cannot blow up memory (amplification)', async (t) => {
    // array32 of N elements, each itself an array32 of 65 536 nulls (9 bytes apiece): a few kB on
    // the wire that decode to N x 65 536 values if the per-array cap is the only bound.
    const n = 600;
    const inner = Buffer.from([0, 0, 0, 5, 0, 1, 0, 0, 0x40]); // array32 data: size 5, count 65536, constructor null
    const body = Buffer.concat([Buffer.from([0xf0]), ...Array(n).fill(inner)]);
    const outer = Buffer.alloc(9);
    outer[0] = 0xf0;
    outer.writeUInt32BE(body.length + 4, 1);
    outer.writeUInt32BE(n, 5);
    const payload = Buffer.concat([enc.described(0x77, Buffer.concat([outer, body]))]);
    const rssBefore = process.memoryUsage().rss;
    const d = await oneCase(t, {
      stage: 'flow',
      bytes: (ctx) => frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: 0, deliveryTag: Buffer.from('z'), messageFormat: 0 }), payload])),
    });
    const growth = (process.memoryUsage().rss - rssBefore) / 1048576;
    t.diagnostic(`${payload.length} bytes of payload; RSS grew by ${growth.toFixed(0)} MB; outcome: ${d.error && d.error.message}; events: ${d.events.length}`);
    assert.ok(growth < 100, `a ${payload.length}-byte message grew RSS by ${growth.toFixed(0)} MB`);
    assert.deepEqual(d.events.filter((e) => e[0] === 'protocol_error').map((e) => e[1]), ['amqp:decode-error'], 'refused as a message that cannot be read');
  });

  test('after SASL: a refused login stops reconnecting (no storm) and is reported as an auth error', async (t) => {
    const d = await oneCase(t, { stage: 'sasl-outcome', bytes: frame(perf.saslOutcome(1), { type: 1 }) },
      { username: 'u|authMode=aksign|', password: 'p' });
    assert.equal(d.error.condition, 'amqp:unauthorized-access');
    assert.equal(d.reconnecting, false);
  });

  test('without username and password the client skips SASL and speaks AMQP at once', async (t) => {
    const server = await startHostileServer({});
    server.send('plain-1', 'hello');
    const container = amqp.create_container();
    const c = container.connect({ host: '127.0.0.1', port: server.port, transport: 'tcp' });
    c.open_receiver();
    const got = new Promise((resolve) => container.once('message', (ctx) => { ctx.delivery.accept(); resolve(ctx.message); }));
    t.after(async () => { c.close(); await new Promise((r) => setTimeout(r, 50)); await server.close(); });
    const m = await got;
    assert.equal(Buffer.from(m.body.content).toString(), 'hello');
    const deadline = Date.now() + 2000;
    while (!server.dispositions.some((x) => x.outcome === 'accepted') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(server.dispositions.some((x) => x.outcome === 'accepted'));
    assert.deepEqual(server.headers, [AMQP_HEADER.toString('latin1')]);
  });

  test('a list announcing 4 294 967 295 elements is a decode error and a reconnect, not a panic', async (t) => {
    // A flow performative whose field list says count 0xffffffff in a size of 4 bytes.
    const bytes = frame(Buffer.concat([Buffer.from([0x00, 0x53, 0x13, 0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff])]));
    const d = await oneCase(t, { stage: 'flow', bytes });
    assert.doesNotMatch(d.error.message, /panic/);
    assert.equal(d.reconnecting, true, `the consumer gave up for good: ${d.error.message}`);
  });

  test('a frame on a channel the server never began is ignored, not delivered as if on ours', async (t) => {
    const d = await oneCase(t, {
      stage: 'flow',
      hold: true,
      bytes: (ctx) => frame(Buffer.concat([
        perf.transfer({ handle: ctx.handle, deliveryId: 0, deliveryTag: Buffer.from('c'), messageFormat: 0 }),
        platformMessage('on-channel-7'),
      ]), { channel: 7 }),
    }, { idle_time_out: 500 });
    assert.deepEqual(d.events.filter((e) => e[0] === 'message'), [], 'a transfer on channel 7 was delivered');
    // The slip cost nothing: the connection stayed up until the (silent) server was presumed dead.
    assert.match(d.error.message, /presumed dead/);
  });

  test('a sender cannot raise the credit: beyond it, at most four times credit_window deliveries are held, then transfer-limit-exceeded', async (t) => {
    const held = [];
    const d = oneCase(t, {
      stage: 'flow',
      hold: true,
      bytes: (ctx) => {
        // The sender claims 1 000 credit on the client's behalf, then sends 30 messages.
        const out = [frame(perf.flow({ handle: ctx.handle, deliveryCount: 0, linkCredit: 1000 }))];
        for (let k = 0; k < 30; k++) {
          out.push(frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: k, deliveryTag: Buffer.from(`d${k}`), messageFormat: 0 }), platformMessage(`credit-${k}`)])));
        }
        return out;
      },
    }, { idle_time_out: 500 }, { autoaccept: false }, (ctx) => held.push(ctx.delivery));
    const r = await d;
    t.diagnostic(`${held.length} deliveries reached the handler with credit_window 5; ended by: ${r.error.message}`);
    // Transfers beyond the credit are a slip taken liberally, but only so far: memory stays bounded.
    assert.ok(held.length <= 20, `${held.length} unsettled deliveries with credit_window 5`);
    assert.equal(r.error.condition, 'amqp:link:transfer-limit-exceeded');
  });
}
