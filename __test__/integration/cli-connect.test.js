'use strict';
// `consume` when connecting fails: a hint naming the flag, repeats summed up; a mistake that
// retrying does not fix (a host name that does not exist, the wrong transport) ends it with exit 1
// while no connection ever opened; --reconnect-limit (ALIYUN_IOT_AMQP_RECONNECT_LIMIT) as rhea's
// reconnect_limit; and once a connection opened, reconnecting without end.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const net = require('node:net');

const { BIN, cleanEnv, startEmulatorProcess } = require('../support/cli');
const { closedPort } = require('../support/ports');

const KEYS = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret' };
const AMQP_HEADER = Buffer.from('AMQP\x00\x01\x00\x00', 'latin1');

/**
 * Runs `consume --consumer-group g ...args` until it exits, or until `until(stderr)` holds (or
 * `ms` passed), then sends SIGINT: {code, stderr, interrupted}. Fails after 20 s.
 */
function consume(t, args, { env = {}, ms, until } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'consume', '--consumer-group', 'g', ...args], { env: cleanEnv({ ...KEYS, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let interrupted = false;
    const interrupt = () => {
      if (interrupted || child.exitCode !== null) return;
      interrupted = true;
      child.kill('SIGINT');
    };
    child.stderr.on('data', (d) => {
      stderr += d;
      if (until && until(stderr)) interrupt();
    });
    const timer = ms === undefined ? null : setTimeout(interrupt, ms);
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`consume ${args.join(' ')} did not end within 20 s:\n${stderr}`));
    }, 20000);
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(limit);
      resolve({ code, stderr, interrupted });
    });
  });
}

/** A plain AMQP server's first answer on a port (so TLS against it fails): resolves with the server. */
async function plainServer(t) {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write(AMQP_HEADER));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return server;
}

/** The lines consume printed when it ended: from its `aliyun-iot-amqp: ` line on. */
function finalReport(stderr) {
  const at = stderr.lastIndexOf('aliyun-iot-amqp: ');
  assert.ok(at >= 0, stderr);
  return stderr.slice(at).trimEnd().split('\n');
}

test('consume: a refused port is retried (the server may be starting), its hint shown once; --reconnect-limit N ends it after N + 1 attempts', async (t) => {
  const port = String(await closedPort());
  let r = await consume(t, ['--host', '127.0.0.1', '--port', port], { ms: 2500 });
  assert.ok(r.interrupted, `consume ended by itself:\n${r.stderr}`);
  assert.equal(r.code, 0, 'Ctrl-C ends it cleanly');
  assert.match(r.stderr, /Connection refused[^\n]*\n {2}hint: nothing accepts connections on 127\.0\.0\.1:\d+: check --host and --port\n/);
  assert.match(r.stderr, /the same error \d+ times in a row, still reconnecting/);
  assert.equal(r.stderr.match(/hint:/g).length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /gave up/);

  r = await consume(t, ['--host', '127.0.0.1', '--port', port, '--reconnect-limit', '2']);
  assert.equal(r.interrupted, false, r.stderr);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the same error 3 times in a row\n/, 'three attempts: the first and two reconnects');
  assert.deepEqual(finalReport(r.stderr), [
    `aliyun-iot-amqp: cannot connect to 127.0.0.1:${port}: Connection refused (os error 111)`,
    `  hint: nothing accepts connections on 127.0.0.1:${port}: check --host and --port`,
    '  gave up after 3 attempts in a row (--reconnect-limit 2)',
  ].map((l) => (process.platform === 'linux' ? l : l.replace(/ \(os error 111\)/, ''))));

  // The variable, in the CLI's naming scheme.
  r = await consume(t, ['--host', '127.0.0.1', '--port', port], { env: { ALIYUN_IOT_AMQP_RECONNECT_LIMIT: '1' } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the same error 2 times in a row\n/);
  assert.match(r.stderr, /\n {2}gave up after 2 attempts in a row \(ALIYUN_IOT_AMQP_RECONNECT_LIMIT 1\)\n$/);
});

test('consume: a host name that does not exist ends it (exit 1) after 3 attempts, with the error and its hint', async (t) => {
  const host = 'no-such-host.invalid';
  const lookup = await require('node:dns').promises.lookup(host).then(() => null, (err) => err.code);
  if (lookup !== 'ENOTFOUND') {
    t.skip(`the resolver answers ${lookup || 'an address'} for ${host}, not "not found"`);
    return;
  }
  const r = await consume(t, ['--host', host]);
  assert.equal(r.interrupted, false, r.stderr);
  assert.equal(r.code, 1, r.stderr);
  const report = finalReport(r.stderr);
  assert.match(report[0], new RegExp(`^aliyun-iot-amqp: cannot connect to ${host}:5671: `));
  assert.deepEqual(report.slice(1), [
    `  hint: the host name ${host} does not resolve: check --host (the instance's AMQP endpoint)`,
    '  gave up after 3 attempts: retrying does not fix this (--reconnect-limit N retries N times all the same, 0 without end)',
  ]);
  assert.match(r.stderr, /^received 0, accepted 0/m);
});

test('consume: TLS against a plain port, plain TCP against a TLS port end it (exit 1) after 3 attempts; --reconnect-limit 0 retries anyway', async (t) => {
  const plain = await plainServer(t);
  let r = await consume(t, ['--host', '127.0.0.1', '--port', String(plain.address().port)]);
  assert.equal(r.interrupted, false, r.stderr);
  assert.equal(r.code, 1, r.stderr);
  let report = finalReport(r.stderr);
  assert.match(report[0], /^aliyun-iot-amqp: 127\.0\.0\.1:\d+ did not answer in TLS .*--transport tcp/);
  assert.doesNotMatch(report.join('\n'), /transport: '/, 'the flag, not the option');
  assert.equal(report.at(-1), '  gave up after 3 attempts: retrying does not fix this (--reconnect-limit N retries N times all the same, 0 without end)');
  assert.equal(report.length, 2, 'the core\'s message names the transport: no second hint');

  // The user's limit instead: 0 is none, as in rhea.
  r = await consume(t, ['--host', '127.0.0.1', '--port', String(plain.address().port), '--reconnect-limit', '0'], { until: (e) => /the same error 4 times in a row, still reconnecting/.test(e) });
  assert.ok(r.interrupted, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /gave up/);

  // Plain TCP against the (TLS) emulator.
  const emu = await startEmulatorProcess(t);
  r = await consume(t, ['--host', '127.0.0.1', '--port', String(emu.settings.port), '--transport', 'tcp']);
  assert.equal(r.interrupted, false, r.stderr);
  assert.equal(r.code, 1, r.stderr);
  report = finalReport(r.stderr);
  assert.match(report[0], /^aliyun-iot-amqp: .*TLS.*--transport tls/i);
  assert.equal(report.at(-1), '  gave up after 3 attempts: retrying does not fix this (--reconnect-limit N retries N times all the same, 0 without end)');
});

test('consume: once a connection opened, the same mistakes are retried without end (the platform drops connections)', async (t) => {
  const emu = await startEmulatorProcess(t);
  // A proxy to the emulator that later answers as a plain AMQP server: TLS against a plain port.
  let plain = false;
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    if (plain) {
      client.once('data', () => client.write(AMQP_HEADER));
      return;
    }
    const upstream = net.connect(emu.settings.port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => proxy.close());

  let switched = false;
  const r = await consume(t, [], {
    env: { ...emu.settings.env, ALIYUN_IOT_AMQP_PORT: String(proxy.address().port) },
    until: (stderr) => {
      if (!switched && /\nconnected: |^connected: /.test(stderr)) {
        switched = true;
        plain = true;
        for (const s of sockets) s.destroy();
      }
      return /did not answer in TLS[^\n]*\n(.*\n)*.*the same error 4 times in a row, still reconnecting/.test(stderr);
    },
  });
  assert.ok(switched, r.stderr);
  assert.ok(r.interrupted, `consume ended by itself:\n${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /gave up/);
});
