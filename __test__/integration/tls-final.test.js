'use strict';
// Issue 9, points 2-5: checkServerIdentity as Node has it (pinning), Node's codes and a hint in
// every TLS failure (no Debug names, no URLs), a `ca` that holds no certificate refused at once,
// a refused certificate final for createConsumer() and the CLI (retried by connect(), as rhea,
// each attempt reported), and NODE_TLS_REJECT_UNAUTHORIZED=0 with Node's warning.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { startEmulator } = require('../support/emulator');
const { amqp, optionsFor, closed, PACKAGE_ROOT } = require('../support/client');
const { run, cleanEnv } = require('../support/cli');

const UNTRUSTED_CODE = 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'; // the emulator sends its leaf alone
const NO_JARGON = /Other\(|OtherError|BadSignature|UnknownIssuer|InvalidContentType|docs\.rs|https?:\/\//;

function outcome(c) {
  return new Promise((resolve) => {
    c.once('receiver_open', () => resolve({ ok: true }));
    c.once('disconnected', (ctx) => resolve({ ok: false, ctx }));
  });
}

function consumerOptions(emu, extra = {}) {
  const { accessKeyId, accessKeySecret } = emu.credentials();
  return {
    host: emu.hostname, port: emu.port, consumerGroupId: 'DEFAULT_GROUP', accessKeyId, accessKeySecret,
    initial_reconnect_delay: 20, max_reconnect_delay: 40, ...extra,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('createConsumer: an untrusted server fails the for-await loop at the first attempt, with Node\'s code and a hint', async () => {
  const emu = await startEmulator({});
  try {
    const consumer = amqp.createConsumer(consumerOptions(emu));
    const started = Date.now();
    await assert.rejects(async () => {
      for await (const msg of consumer) msg.accept();
    }, (err) => {
      assert.equal(err.code, UNTRUSTED_CODE);
      assert.equal(err.condition, 'aliyun-iot-amqp:tls');
      assert.match(err.message, /^unable to verify the first certificate \(server [^)]+\); hint: .*`ca`.*NODE_EXTRA_CA_CERTS/);
      assert.doesNotMatch(err.message, NO_JARGON);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    await sleep(300); // a retry would have come by now (20 ms backoff)
    assert.equal(emu.tlsErrors.length, 1, 'one connection attempt reached the server');
    assert.equal(emu.authAttempts.length, 0);
    assert.match(consumer.stats().lastError, /unable to verify the first certificate/);
  } finally {
    await emu.close();
  }
});

test('createConsumer: handlers get \'error\' once; reconnect_on_certificate_failure keeps retrying and reports each attempt', async () => {
  const emu = await startEmulator({});
  try {
    const failing = amqp.createConsumer(consumerOptions(emu));
    const err = await new Promise((resolve) => {
      failing.on('error', resolve);
      failing.on('message', (m) => m.accept());
    });
    assert.equal(err.code, UNTRUSTED_CODE);
    await failing.close();

    const retrying = amqp.createConsumer(consumerOptions(emu, { reconnect_on_certificate_failure: true }));
    const seen = [];
    retrying.on('disconnected', ({ error, reconnecting }) => seen.push({ code: error && error.code, reconnecting }));
    retrying.on('error', (e) => assert.fail(`no 'error' while retrying: ${e.message}`));
    retrying.on('message', (m) => m.accept());
    while (seen.length < 3) await sleep(20);
    assert.ok(seen.every((s) => s.code === UNTRUSTED_CODE && s.reconnecting), JSON.stringify(seen));
    await retrying.close();
  } finally {
    await emu.close();
  }
});

test('connect(): rhea reconnects after TLS errors, and so do we, every attempt reporting the readable error', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { ca: undefined, initial_reconnect_delay: 20, max_reconnect_delay: 40 }));
  c.open_receiver();
  const seen = [];
  c.on('disconnected', (ctx) => seen.push(ctx));
  try {
    while (seen.length < 2) await sleep(20);
    for (const ctx of seen) {
      assert.equal(ctx.reconnecting, true);
      assert.equal(ctx.error.code, UNTRUSTED_CODE);
      assert.doesNotMatch(ctx.error.message, NO_JARGON);
    }
  } finally {
    await closed(c);
    await emu.close();
  }
});

test('a ca that holds no certificate is a TypeError naming ca, from connect() and createConsumer()', async () => {
  const emu = await startEmulator({});
  try {
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const bad = {
      'not PEM': 'hello, I am not a certificate',
      'bad base64': '-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n',
      'a key': key,
      'an empty string': '',
      'an empty file': Buffer.alloc(0),
      'junk bytes': Buffer.from([1, 2, 3, 4]),
      'one bad of two': [emu.ca, 'junk'],
    };
    for (const [what, ca] of Object.entries(bad)) {
      const check = (err) => {
        assert.ok(err instanceof TypeError, what);
        assert.equal(err.option, 'ca', what);
        assert.match(err.message, /option 'ca'/, what);
        if (typeof ca === 'string' && ca.length > 8) assert.ok(!err.message.includes(ca.slice(0, 20)), `${what}: content quoted`);
        return true;
      };
      assert.throws(() => amqp.create_container().connect(optionsFor(emu, { ca })), check);
      assert.throws(() => amqp.createConsumer(consumerOptions(emu, { ca })), check);
    }
    // DER, a Buffer of PEM, an array: all usable.
    const der = new crypto.X509Certificate(emu.ca).raw;
    for (const ca of [der, Buffer.from(emu.ca), [emu.ca, der]]) {
      const c = amqp.create_container().connect(optionsFor(emu, { ca }));
      c.open_receiver();
      assert.equal((await outcome(c)).ok, true);
      await closed(c);
    }
  } finally {
    await emu.close();
  }
});

test('checkServerIdentity pins a certificate: the right fingerprint256 connects, a wrong one refuses before any credential', async () => {
  const emu = await startEmulator({});
  const leaf = new crypto.X509Certificate(fs.readFileSync(emu._certs.certFile));
  const pin = (expected) => (host, cert) => {
    if (cert.fingerprint256 !== expected) {
      const err = new Error(`certificate of ${host} is not the pinned one`);
      err.code = 'ERR_CERT_PIN';
      return err;
    }
    return undefined;
  };
  try {
    // Accepting: it replaces the name check too (a servername the certificate does not list).
    const calls = [];
    const good = amqp.create_container().connect(optionsFor(emu, {
      servername: 'not-in-the-certificate.example',
      checkServerIdentity: (host, cert) => { calls.push(host); return pin(leaf.fingerprint256)(host, cert); },
    }));
    good.open_receiver();
    assert.equal((await outcome(good)).ok, true);
    assert.deepEqual(calls, ['not-in-the-certificate.example']);
    const peer = good.getPeerCertificate();
    assert.equal(peer.fingerprint256, leaf.fingerprint256);
    assert.deepEqual(peer.raw, leaf.raw);
    assert.equal(peer.subject.CN, 'localhost');
    assert.equal(peer.issuerCertificate.fingerprint256, new crypto.X509Certificate(emu.ca).fingerprint256, 'the CA from the trust store');
    await closed(good);
    assert.equal(emu.authAttempts.length, 1);

    // Refusing: the user's error, with its code, and no credential sent.
    const bad = amqp.create_container().connect(optionsFor(emu, { reconnect: false, checkServerIdentity: pin('AA:BB') }));
    bad.open_receiver();
    const r = await outcome(bad);
    assert.equal(r.ok, false);
    assert.equal(r.ctx.error.code, 'ERR_CERT_PIN');
    assert.equal(r.ctx.error.condition, 'aliyun-iot-amqp:tls');
    assert.match(r.ctx.error.message, /^certificate of localhost is not the pinned one \(server /);
    assert.equal(r.ctx.error.cause.code, 'ERR_CERT_PIN');
    bad.close();
    // A throw refuses as well; a non-function is a TypeError.
    const throwing = amqp.create_container().connect(optionsFor(emu, { reconnect: false, checkServerIdentity: () => { throw new Error('nope'); } }));
    throwing.open_receiver();
    assert.match((await outcome(throwing)).ctx.error.message, /^nope/);
    throwing.close();
    assert.throws(() => amqp.create_container().connect(optionsFor(emu, { checkServerIdentity: 'yes' })), { option: 'checkServerIdentity' });
    assert.equal(emu.authAttempts.length, 1, 'no credentials went to a refused server');
  } finally {
    await emu.close();
  }
});

test('a wrong name is ERR_TLS_CERT_ALTNAME_INVALID with Node\'s words and the option that fixes it', async () => {
  const emu = await startEmulator({});
  const c = amqp.create_container().connect(optionsFor(emu, { servername: 'iot-cn-other.amqp.iothub.aliyuncs.com', reconnect: false }));
  c.open_receiver();
  try {
    const r = await outcome(c);
    assert.equal(r.ctx.error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(r.ctx.error.message, /^Hostname\/IP does not match certificate's altnames: Host: iot-cn-other\.amqp\.iothub\.aliyuncs\.com\. is not in the cert's altnames: DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(r.ctx.error.message, /hint: .*`servername`/);
  } finally {
    c.close();
    await emu.close();
  }
});

test('TLS against a plain port and plain TCP against a TLS port say which transport fixes it', async () => {
  const plain = await startEmulator({ tls: false });
  const secure = await startEmulator({});
  try {
    const a = amqp.create_container().connect({ ...optionsFor(plain), transport: 'tls', reconnect: false });
    a.open_receiver();
    const ra = await outcome(a);
    assert.equal(ra.ctx.error.condition, 'aliyun-iot-amqp:tls');
    // The server closes (or answers in AMQP): either way the message names the fix, and the code
    // is Node's for the same server (ECONNRESET, or ERR_SSL_WRONG_VERSION_NUMBER).
    assert.match(ra.ctx.error.message, /(closed the connection before the TLS handshake completed|did not answer in TLS).*transport: 'tcp'/);
    const nodeCode = await new Promise((resolve) => {
      const s = require('node:tls').connect({ host: plain.hostname, port: plain.port, rejectUnauthorized: false }, () => resolve('connected'));
      s.on('error', (err) => resolve(err.code));
    });
    assert.equal(ra.ctx.error.code, nodeCode);
    assert.doesNotMatch(ra.ctx.error.message, NO_JARGON);
    a.close();
    const b = amqp.create_container().connect({ ...optionsFor(secure), transport: 'tcp', reconnect: false });
    b.open_receiver();
    const rb = await outcome(b);
    assert.match(rb.ctx.error.message, /transport: 'tls'/);
    assert.doesNotMatch(rb.ctx.error.message, NO_JARGON);
    b.close();
  } finally {
    await plain.close();
    await secure.close();
  }
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0: verification off by default, with Node\'s warning printed once', async () => {
  const emu = await startEmulator({});
  try {
    const script = `
      const amqp = require(${JSON.stringify(PACKAGE_ROOT)});
      const opts = ${JSON.stringify({ host: emu.hostname, port: emu.port, transport: 'tls', reconnect: false })};
      let left = 2;
      for (let i = 0; i < 2; i++) {
        const c = amqp.create_container().connect(opts);
        c.on('disconnected', ({ error }) => {
          console.log(error && error.condition === 'aliyun-iot-amqp:tls' ? 'refused' : 'accepted');
          c.close();
          if (--left === 0) {
            const strict = amqp.create_container().connect({ ...opts, rejectUnauthorized: true });
            strict.on('disconnected', ({ error }) => { console.log('explicit:', error.code); strict.close(); });
          }
        });
      }`;
    const child = spawn(process.execPath, ['-e', script], { env: cleanEnv({ NODE_TLS_REJECT_UNAUTHORIZED: '0' }) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    await new Promise((resolve) => child.on('close', resolve));
    assert.deepEqual(out.trim().split('\n'), ['accepted', 'accepted', `explicit: ${UNTRUSTED_CODE}`]);
    const warning = "Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to '0' makes TLS connections and HTTPS requests insecure by disabling certificate verification.";
    assert.equal(err.split(warning).length - 1, 1, err);
  } finally {
    await emu.close();
  }
});

test('consume: --ca with no certificate exits 2 naming --ca; an untrusted server exits 1 with the code and hint', async (t) => {
  const emu = await startEmulator({});
  t.after(() => emu.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-cli-ca-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { accessKeyId, accessKeySecret } = emu.credentials();
  const env = cleanEnv({
    ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret,
    ALIYUN_IOT_AMQP_HOST: emu.hostname, ALIYUN_IOT_AMQP_PORT: String(emu.port), ALIYUN_IOT_AMQP_CONSUMER_GROUP: 'DEFAULT_GROUP',
  });
  const notPem = path.join(dir, 'notpem.txt');
  fs.writeFileSync(notPem, 'this is not a certificate\n');
  const empty = path.join(dir, 'empty.pem');
  fs.writeFileSync(empty, '');
  for (const file of [notPem, empty]) {
    const r = await run(['consume', '--ca', file], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--ca ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a usable certificate file`));
  }

  const r = await run(['consume'], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`aliyun-iot-amqp: ${UNTRUSTED_CODE}: unable to verify the first certificate \\(server [^)]+\\); hint: `));
  assert.doesNotMatch(r.stderr, NO_JARGON);
  assert.equal(emu.authAttempts.length, 0);

  // Trusted through --ca, it works.
  emu.publish({ body: { ok: true } });
  const ok = await run(['consume', '--ca', emu.caFile, '--count', '1'], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.lines.length, 1);
});
