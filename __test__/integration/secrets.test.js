'use strict';
// Secrets never leak: every error path is driven with a known AccessKey secret, STS token and
// password, in a child process with DEBUG=* (and Node's and Rust's own debug switches), and
// neither appears in its stdout, its stderr, any error message or stack, JSON.stringify of any
// error, or util.inspect (depth Infinity, showHidden; with and without custom inspection) of any
// object the package hands out: container, connection, its options, session, receiver, delivery,
// message, errors and event contexts.

const path = require('node:path');
const util = require('node:util');
const { closedPort: freePort } = require('../support/ports');

const SECRET = 'S3cr3tAccessKeySecretZq7Wv1Xy9';
const TOKEN = 'T0kenSecuritySTSQw8Er2Ty4';
const PASSWORD = 'P4ssw0rdPlainKj5Lm3Nb6';

if (process.env.SECRETS_CHILD) {
  runChild(process.env.SECRETS_CHILD).catch((err) => {
    // Printed as any unexpected failure would be: it is scanned like everything else.
    console.error('child failure', err);
    process.exit(3);
  });
} else {
  defineTests();
}

/** The strings that must never show up, with the derived forms a leak might take. */
function needles(extra = []) {
  const out = [];
  for (const s of [SECRET, TOKEN, PASSWORD, ...extra]) {
    out.push(s, Buffer.from(s).toString('base64'), Buffer.from(s).toString('hex'), JSON.stringify(s).slice(1, -1));
  }
  return out;
}

function leaksIn(text, list) {
  return list.filter((n) => n && text.includes(n));
}

// -------------------------------------------------------------------------------------------------
// Child

async function runChild(scenario) {
  const amqp = require(path.resolve(__dirname, '..', '..'));
  const env = process.env;
  const objects = [];
  const errors = [];
  const keep = (label, obj) => { if (obj !== undefined && obj !== null) objects.push([label, obj]); };
  const keepError = (label, err) => { if (err) { errors.push([label, err]); keep(label, err); } };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (p, ms = 8000) => { const end = Date.now() + ms; while (!p() && Date.now() < end) await sleep(5); return p(); };

  /** Listens to every event of a container and keeps what it is given. */
  function watch(container, { handler } = {}) {
    const state = { disconnected: 0, closed: false, messages: 0 };
    for (const ev of ['connection_open', 'connection_close', 'connection_error', 'receiver_open', 'receiver_close', 'receiver_error', 'disconnected', 'protocol_error', 'settled']) {
      container.on(ev, (ctx) => {
        keep(`ctx:${ev}`, ctx);
        if (ctx && ctx.error) keepError(`ctx:${ev}.error`, ctx.error);
        if (ctx && ctx.connection) keep(`ctx:${ev}.connection.error`, ctx.connection.error);
        if (ev === 'disconnected') state.disconnected += 1;
      });
    }
    container.on('error', (err) => keepError('error-event', err));
    container.on('message', (ctx) => {
      state.messages += 1;
      keep('ctx:message', ctx);
      keep('message', ctx.message);
      keep('delivery', ctx.delivery);
      keep('receiver', ctx.receiver);
      keep('session', ctx.session);
      if (handler) handler(ctx);
      else ctx.delivery.accept();
    });
    return state;
  }

  const tlsOptions = { host: '127.0.0.1', servername: 'localhost', port: Number(env.EMU_PORT), transport: 'tls', ca: env.EMU_CA };
  const creds = {
    accessKeyId: env.AK, accessKeySecret: env.SECRET_VALUE, consumerGroupId: 'DEFAULT_GROUP', clientId: 'secrets-test',
  };
  const fast = { initial_reconnect_delay: 5, max_reconnect_delay: 10, idle_time_out: 2000, connect_timeout: 2000, close_timeout: 300 };

  async function consume(options, { expectMessages = 0, handler, containerOptions, stopAfter } = {}) {
    const container = amqp.create_container(containerOptions);
    const state = watch(container, { handler });
    const c = container.connect(options);
    keep('container', container);
    keep('connection', c);
    keep('connection.options', c.options);
    keep('container.options', container.options);
    const r = c.open_receiver();
    keep('receiver', r);
    keep('session', r.session);
    console.log('READY');
    await until(() => (expectMessages ? state.messages >= expectMessages : false) || (stopAfter && stopAfter(state)) || c.is_closed(), 8000);
    keep('connection.error', c.error);
    keep('receiver.error', r.error);
    c.close();
    await until(() => c.is_closed(), 3000);
    return { container, c, r, state };
  }

  const expectError = (label, fn) => {
    try {
      const v = fn();
      keep(`${label}:returned`, v);
    } catch (err) {
      keepError(label, err);
    }
  };

  switch (scenario) {
    case 'wrong-password':
      await consume({ ...tlsOptions, ...fast, username: env.USERNAME, password: PASSWORD }, { stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'wrong-password-unheard': {
      // The doc script's shape: only a 'message' listener. The refused login surfaces as an
      // unhandled 'error' event: the process dies with a stack trace, which must not show secrets.
      const c = amqp.connect({ ...tlsOptions, username: env.USERNAME, password: PASSWORD });
      c.open_receiver();
      amqp.on('message', (ctx) => ctx.delivery.accept());
      await sleep(5000);
      break;
    }
    case 'wrong-secret':
      await consume({ ...tlsOptions, ...fast, credentials: { ...creds, accessKeySecret: SECRET } }, { stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'wrong-token':
      await consume({ ...tlsOptions, ...fast, credentials: { ...creds, accessKeySecret: SECRET, authMode: 'ststoken', securityToken: TOKEN } }, { stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'credentials-function':
      // The STS way: a function called before every attempt. A wrong secret, then a function that
      // hands back something unusable (the bare secret, a token of the wrong type).
      await consume({ ...tlsOptions, ...fast, reconnect_limit: 1, credentials: () => ({ ...creds, accessKeySecret: SECRET }) }, { stopAfter: (s) => s.disconnected >= 1 });
      await consume({ ...tlsOptions, ...fast, reconnect_limit: 1, credentials: async () => SECRET }, { stopAfter: (s) => s.disconnected >= 1 });
      await consume({ ...tlsOptions, ...fast, reconnect_limit: 1, credentials: () => ({ ...creds, accessKeySecret: SECRET, authMode: 'ststoken', securityToken: { token: TOKEN } }) }, { stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'container-level-credentials':
      await consume({ ...tlsOptions, ...fast }, { containerOptions: { username: env.USERNAME, password: PASSWORD }, stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'tls-failure':
      await consume({ ...tlsOptions, ...fast, ca: undefined, reconnect_limit: 1, credentials: { ...creds, accessKeySecret: SECRET } }, { stopAfter: (s) => s.disconnected >= 2 });
      break;
    case 'refused':
      await consume({ host: '127.0.0.1', port: Number(env.CLOSED_PORT), transport: 'tcp', ...fast, reconnect_limit: 1, username: env.USERNAME, password: PASSWORD }, { stopAfter: (s) => s.disconnected >= 2 });
      break;
    case 'hostile':
      await consume({ host: '127.0.0.1', port: Number(env.HOSTILE_PORT), transport: 'tcp', ...fast, username: env.USERNAME, password: PASSWORD }, { stopAfter: (s) => s.disconnected >= 3 });
      break;
    case 'handler-error':
      await consume({ ...tlsOptions, ...fast, credentials: { ...creds } }, {
        stopAfter: (s) => s.messages >= 2,
        handler: (ctx) => { throw new Error(`handler failed on ${ctx.message.message_id}`); },
      });
      break;
    case 'handler-error-unheard': {
      const c = amqp.connect({ ...tlsOptions, credentials: { ...creds }, ...fast });
      c.open_receiver();
      amqp.on('message', () => { throw new Error('handler failed'); });
      await sleep(5000);
      break;
    }
    case 'server-close-error':
      await consume({ ...tlsOptions, ...fast, credentials: { ...creds } }, { stopAfter: (s) => s.disconnected >= 1 });
      break;
    case 'success':
      // The doc script's way: a fixed username and the password signed from the secret.
      await consume({ ...tlsOptions, ...fast, username: env.DOC_USERNAME, password: env.DOC_PASSWORD }, { expectMessages: 1 });
      await consume({ ...tlsOptions, ...fast, credentials: { ...creds } }, { expectMessages: 1 });
      break;
    case 'bad-options': {
      const base = { ...tlsOptions };
      expectError('password-number', () => amqp.create_container().connect({ ...base, username: 'u', password: 12345678 }));
      expectError('password-object', () => amqp.create_container().connect({ ...base, username: 'u', password: { value: PASSWORD } }));
      expectError('password-without-username', () => amqp.create_container().connect({ ...base, password: PASSWORD }));
      expectError('credentials-and-password', () => amqp.create_container().connect({ ...base, username: 'u', password: PASSWORD, credentials: { ...creds, accessKeySecret: SECRET } }));
      expectError('credentials-bad-client', () => amqp.create_container().connect({ ...base, credentials: { ...creds, accessKeySecret: SECRET, clientId: 'x'.repeat(65) } }));
      expectError('credentials-bad-method', () => amqp.create_container().connect({ ...base, credentials: { ...creds, accessKeySecret: SECRET, signMethod: 'hmacsha512' } }));
      expectError('credentials-timestamp', () => amqp.create_container().connect({ ...base, credentials: { ...creds, accessKeySecret: SECRET, timestamp: 5 } }));
      expectError('credentials-token-type', () => amqp.create_container().connect({ ...base, credentials: { ...creds, accessKeySecret: SECRET, authMode: 'ststoken', securityToken: 7 } }));
      expectError('credentials-secret-type', () => amqp.create_container().connect({ ...base, credentials: { ...creds, accessKeySecret: [SECRET] } }));
      expectError('key-option', () => amqp.create_container().connect({ ...base, username: 'u', password: PASSWORD, key: SECRET }));
      expectError('passphrase-option', () => amqp.create_container().connect({ ...base, username: 'u', password: PASSWORD, passphrase: SECRET }));
      expectError('pfx-option', () => amqp.create_container().connect({ ...base, username: 'u', password: PASSWORD, pfx: Buffer.from(SECRET) }));
      expectError('bad-port-with-secret', () => amqp.create_container().connect({ ...base, port: 70000, password: PASSWORD, username: 'u' }));
      expectError('container-not-object', () => amqp.create_container(42));
      // A secret given where the signing parameters belong: the message must not echo it.
      expectError('credentials-string', () => amqp.create_container().connect({ ...base, credentials: SECRET }));
      expectError('receiver-bad', () => {
        const c = amqp.create_container().connect({ ...base, username: 'u', password: PASSWORD, reconnect: false });
        keep('connection', c);
        keep('connection.options', c.options);
        try { return c.open_receiver({ credit_window: 'ten' }); } finally { c.close(); }
      });
      // An unusable CA is refused at once (a TypeError naming ca), the secrets beside it unquoted.
      expectError('ca-not-a-certificate', () => amqp.create_container().connect({ ...base, ...fast, ca: 'not a certificate', credentials: { ...creds, accessKeySecret: SECRET } }));
      expectError('ca-secret-as-ca', () => amqp.create_container().connect({ ...base, ...fast, ca: SECRET, username: 'u', password: PASSWORD }));
      break;
    }
    case 'sign-errors': {
      const p = { ...creds, accessKeySecret: SECRET };
      expectError('sign-no-id', () => amqp.sign({ ...p, accessKeyId: '' }));
      expectError('sign-bad-method', () => amqp.sign({ ...p, signMethod: 'md5' }));
      expectError('sign-bad-mode', () => amqp.sign({ ...p, authMode: 'token' }));
      expectError('sign-sts-no-token', () => amqp.sign({ ...p, authMode: 'ststoken' }));
      expectError('sign-sts-bad-client', () => amqp.sign({ ...p, authMode: 'ststoken', securityToken: TOKEN, clientId: 'y'.repeat(100) }));
      expectError('sign-token-type', () => amqp.sign({ ...p, securityToken: { t: TOKEN } }));
      expectError('sign-bad-timestamp', () => amqp.sign({ ...p, timestamp: -1 }));
      expectError('sign-float-timestamp', () => amqp.sign({ ...p, timestamp: 1.5 }));
      expectError('sign-secret-type', () => amqp.sign({ ...p, accessKeySecret: 123 }));
      expectError('sign-empty-secret', () => amqp.sign({ ...p, accessKeySecret: '' }));
      expectError('sign-null', () => amqp.sign(null));
      expectError('sign-string', () => amqp.sign(SECRET));
      expectError('sign-aksign-with-token', () => amqp.sign({ ...p, securityToken: TOKEN }));
      expectError('sign-unicode-secret', () => amqp.sign({ ...p, accessKeySecret: `${SECRET}\u0000\ud800` }));
      // The native binding called directly, bypassing the JS checks.
      const native = require(path.resolve(__dirname, '..', '..', 'native.js'));
      expectError('native-sign-bad-mode', () => native.sign({ ...p, authMode: 'bogus' }));
      expectError('native-sign-bad-ts', () => native.sign({ ...p, timestamp: -5 }));
      expectError('native-connect-bad', () => native.NativeConnection.connect({ host: '', port: 0, transport: 'x', password: PASSWORD, username: 'u', containerId: 'c', reconnect: false, initialReconnectDelay: 0, maxReconnectDelay: 0, rejectUnauthorized: true, ca: [], maxFrameSize: 1, maxMessageSize: 1, connectTimeout: 1, closeTimeout: 1, reconnectOnAuthFailure: false }, undefined, () => {}));
      expectError('native-connect-password-only', () => native.NativeConnection.connect({ host: 'h', port: 1, transport: 'tcp', password: PASSWORD, containerId: 'c', reconnect: false, initialReconnectDelay: 0, maxReconnectDelay: 0, rejectUnauthorized: true, ca: [], maxFrameSize: 4096, maxMessageSize: 1, connectTimeout: 1, closeTimeout: 1, reconnectOnAuthFailure: false }, undefined, () => {}));
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }

  // Scan everything kept, and print it all (stdout is scanned again by the parent).
  const list = needles([env.DOC_PASSWORD, env.SECRET_VALUE].filter(Boolean));
  const leaks = [];
  const views = [];
  for (const [label, obj] of objects) {
    const texts = [
      ['inspect', util.inspect(obj, { depth: Infinity, showHidden: true })],
      ['inspect-raw', util.inspect(obj, { depth: Infinity, showHidden: true, customInspect: false, maxArrayLength: Infinity, maxStringLength: Infinity })],
      ['string', safe(() => String(obj))],
      ['json', safe(() => JSON.stringify(obj))],
    ];
    for (const [how, text] of texts) {
      const found = leaksIn(text || '', list);
      if (found.length) leaks.push({ label, how });
      views.push(`${label} [${how}]: ${text}`);
    }
  }
  for (const [label, err] of errors) {
    for (const [how, text] of [['message', err.message], ['stack', err.stack]]) {
      if (leaksIn(String(text), list).length) leaks.push({ label, how });
    }
  }
  const report = `REPORT ${JSON.stringify({ scenario, objects: objects.length, errors: errors.map(([l, e]) => `${l}: ${e && e.message}`), leaks })}`;
  // Written in one go, and the process left only once it is out (exit() could cut a pipe short).
  process.stdout.write(`${report}\n${views.join('\n')}\n`, () => process.exit(0));
}

function safe(fn) {
  try { return fn(); } catch (err) { return `<${err && err.message}>`; }
}

// -------------------------------------------------------------------------------------------------
// Parent

function defineTests() {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const crypto = require('node:crypto');
  const { spawn } = require('node:child_process');
  const { startEmulator } = require('../support/emulator');
  const { startHostileServer } = require('../support/hostile-server');
  const { frame, perf } = require('../support/amqp-wire');

  let emu;
  let hostile;
  let closedPort;
  const AK = 'LTAIsecretsTestKeyId';
  // The emulator's own secret: good credentials are signed from it (and are secrets as well).
  const EMU_SECRET = 'EmuS1deSecretVx3Qp8Lz';
  const DOC_TS = 1573489088171;
  const DOC_USERNAME = `secrets-doc|authMode=aksign,signMethod=hmacsha1,timestamp=${DOC_TS},authId=${AK},consumerGroupId=DEFAULT_GROUP|`;
  const DOC_PASSWORD = crypto.createHmac('sha1', EMU_SECRET).update(`authId=${AK}&timestamp=${DOC_TS}`).digest('base64');

  test.before(async () => {
    emu = await startEmulator({ tls: true, accessKeyId: AK, accessKeySecret: EMU_SECRET });
    // A hostile server: garbage after the SASL exchange, then an echo of nothing useful.
    let n = 0;
    hostile = await startHostileServer({
      nextCase: () => {
        n += 1;
        const cases = [
          { stage: 'flow', bytes: (ctx) => frame(Buffer.concat([perf.transfer({ handle: ctx.handle, deliveryId: 0, deliveryTag: Buffer.from('x'), messageFormat: 0 }), Buffer.from([0xee, 1, 2])])) },
          { stage: 'open', bytes: frame(perf.begin({})) },
          { stage: 'sasl-outcome', bytes: frame(perf.saslOutcome(9), { type: 1 }) },
          { stage: 'begin', bytes: frame(perf.close({ error: perf.error('amqp:internal-error', 'hostile goodbye') })) },
        ];
        return cases[n % cases.length];
      },
    });
    closedPort = await freePort();
  });
  test.after(async () => {
    await emu.close();
    await hostile.close();
  });

  function runScenario(scenario, { onReady, timeoutMs = 20000 } = {}) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [__filename], {
        env: {
          ...process.env,
          SECRETS_CHILD: scenario,
          DEBUG: '*',
          NODE_DEBUG: 'net,tls,http,stream,child_process',
          RUST_LOG: 'trace',
          RUST_BACKTRACE: 'full',
          EMU_PORT: String(emu.port),
          EMU_CA: emu.ca,
          AK,
          SECRET_VALUE: EMU_SECRET,
          USERNAME: `secrets-test|authMode=aksign,signMethod=hmacsha1,timestamp=${Date.now()},authId=${AK},consumerGroupId=DEFAULT_GROUP|`,
          DOC_USERNAME,
          DOC_PASSWORD,
          HOSTILE_PORT: String(hostile.port),
          CLOSED_PORT: String(closedPort),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let ready = false;
      child.stdout.on('data', (d) => {
        stdout += d;
        if (!ready && stdout.includes('READY')) {
          ready = true;
          if (onReady) onReady();
        }
      });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
        resolve({ code, signal, stdout, stderr, report: line ? JSON.parse(line.slice(7)) : null });
      });
    });
  }

  const ALL = needles([DOC_PASSWORD, EMU_SECRET]);

  function assertClean(t, r, { expectReport = true, expectErrors = true } = {}) {
    const outLeaks = leaksIn(r.stdout, ALL);
    const errLeaks = leaksIn(r.stderr, ALL);
    if (r.report) t.diagnostic(`${r.report.scenario}: ${r.report.objects} objects inspected; errors: ${r.report.errors.slice(0, 4).join(' | ')}`);
    const where = (text, found) => found.map((n) => {
      const at = text.indexOf(n);
      return `needle #${ALL.indexOf(n)} at ${at}: ...${text.slice(Math.max(0, at - 300), at).replace(n, '<SECRET>')}<SECRET>${text.slice(at + n.length, at + n.length + 100)}...`;
    }).join('\n');
    assert.deepEqual(errLeaks.map((n) => ALL.indexOf(n)), [], `secret in stderr:\n${where(r.stderr, errLeaks)}`);
    if (expectReport) {
      assert.ok(r.report, `no report (exit ${r.code} ${r.signal}): ${r.stderr.slice(-2000)}`);
      assert.deepEqual(r.report.leaks, [], 'secrets reachable from objects the package returned');
      if (expectErrors) assert.ok(r.report.errors.length > 0, 'the scenario produced no error to inspect');
    }
    assert.deepEqual(outLeaks.map((n) => ALL.indexOf(n)), [], `secret in stdout:\n${where(r.stdout, outLeaks)}`);
    assert.doesNotMatch(r.stderr, /panicked/);
  }

  for (const scenario of ['wrong-password', 'wrong-secret', 'wrong-token', 'credentials-function', 'container-level-credentials', 'tls-failure', 'refused', 'hostile', 'handler-error', 'bad-options', 'sign-errors']) {
    test(`no secret leaks: ${scenario}`, async (t) => {
      if (scenario === 'handler-error') emu.publishMany(3);
      const r = await runScenario(scenario);
      assertClean(t, r);
    });
  }

  test('no secret leaks: server close with an error', async (t) => {
    const r = await runScenario('server-close-error', {
      onReady: () => emu.waitFor(() => emu.connections > 0 && emu.attaches.length > 0, 5000)
        .then(() => emu.waitFor(() => emu.closeConnections({ condition: 'amqp:connection:forced', description: 'maintenance' }) > 0, 5000)),
    });
    assertClean(t, r);
  });

  test('no secret leaks: a successful session (message, delivery, receiver)', async (t) => {
    emu.publishMany(2);
    const r = await runScenario('success');
    assertClean(t, r, { expectErrors: false });
    assert.match(r.stdout, /message \[inspect\]/);
    assert.match(r.stdout, /delivery \[inspect\]/);
  });

  for (const scenario of ['wrong-password-unheard', 'handler-error-unheard']) {
    test(`no secret leaks when an unheard error ends the process: ${scenario}`, async (t) => {
      if (scenario === 'handler-error-unheard') emu.publishMany(1);
      const r = await runScenario(scenario);
      t.diagnostic(`exit ${r.code}; stderr starts: ${r.stderr.split('\n').slice(0, 3).join(' / ')}`);
      assert.notEqual(r.code, 0, 'an unheard error ends the process, as with rhea');
      assertClean(t, r, { expectReport: false });
    });
  }
}
