'use strict';
// The command line's usage errors, --help and --version (child processes that connect nowhere; the
// commands that consume are in integration/cli.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { run, cleanEnv } = require('../support/cli');

test('usage errors exit with code 2; --help and --version', async () => {
  let r = await run(['consume', '--consumer-group', 'g']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--host is required/);
  r = await run(['consume', '--host', 'localhost', '--consumer-group', 'g']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ALIBABA_CLOUD_ACCESS_KEY_ID/);
  r = await run(['consume', '--bogus']);
  assert.equal(r.code, 2);
  r = await run(['nonsense']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "nonsense"/);
  r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: aliyun-iot-amqp <command>/);
  r = await run(['--version']);
  assert.equal(r.stdout.trim(), require('../../package.json').version);
});

test('usage errors exit 2 with one message naming the flag or variable', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-usage-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const aFile = path.join(dir, 'a-file');
  fs.writeFileSync(aFile, 'not a directory\n');
  const keys = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret' };
  const env = cleanEnv(keys);
  const base = ['consume', '--host', '127.0.0.1', '--consumer-group', 'g'];
  const cases = [
    [[...base, '--ca', '/nonexistent.pem'], env, /--ca: cannot read \/nonexistent\.pem \(no such file\)/],
    [[...base, '--topic', ''], env, /^aliyun-iot-amqp: --topic: a topic filter must be a non-empty string$/m],
    [[...base, '--count', '-1'], env, /--count must be an integer of at least 1, got "-1"/],
    [[...base, '--connections', '-2'], env, /--connections must be an integer of at least 1, got "-2"/],
    [[...base, '--port', '99999'], env, /--port must be an integer from 1 to 65535, got "99999"/],
    [base, cleanEnv({ ...keys, ALIYUN_IOT_AMQP_PORT: 'abc' }), /ALIYUN_IOT_AMQP_PORT must be an integer from 1 to 65535, got "abc"/],
    [base, cleanEnv(), /ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set/],
    [base, cleanEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' }), /ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set/],
    [[...base, '--sign-method', 'sha1'], env, /--sign-method must be one of hmacmd5, hmacsha1, hmacsha256, got "sha1"/],
    [['consume', '--host', 'h', '--consumer-group', 'g', '--client-id', 'a|b'], env, /--client-id/],
    // --host and ALIYUN_IOT_AMQP_HOST checked as createConsumer's endpoint: a pasted URL's port.
    [['consume', '--host', 'amqps://h:99999', '--consumer-group', 'g'], env, /^aliyun-iot-amqp: --host "amqps:\/\/h:99999": the port must be a number from 1 to 65535, not "99999"$/m],
    [['consume', '--consumer-group', 'g'], cleanEnv({ ...keys, ALIYUN_IOT_AMQP_HOST: 'amqps://h:abc' }), /^aliyun-iot-amqp: ALIYUN_IOT_AMQP_HOST "amqps:\/\/h:abc": the port must be a number from 1 to 65535, not "abc"$/m],
    [['consume', '--host', 'https://h', '--consumer-group', 'g'], env, /^aliyun-iot-amqp: --host "https:\/\/h": not an amqps:\/\/ URL/m],
    [['consume', '--host', 'amqps://h:5671', '--port', '5672', '--consumer-group', 'g'], env, /^aliyun-iot-amqp: --port 5672 contradicts the port of --host "amqps:\/\/h:5671"/m],
    [['consume', '--host', 'amqp://h', '--transport', 'tls', '--consumer-group', 'g'], env, /^aliyun-iot-amqp: --transport tls contradicts --host "amqp:\/\/h"/m],
    [['emulator', '--port', '-5'], env, /--port must be an integer from 0 to 65535, got "-5"/],
    // --file and --cert-dir mistakes, found before the emulator starts.
    [['emulator', '--port', '0', '--file', '/nonexistent.jsonl'], env, /^aliyun-iot-amqp: --file: cannot read \/nonexistent\.jsonl \(no such file\)$/m],
    [['emulator', '--port', '0', '--file', os.tmpdir()], env, /^aliyun-iot-amqp: --file: cannot read \S+ \(a directory, not a file\)$/m],
    [['emulator', '--port', '0', '--cert-dir', aFile], env, /^aliyun-iot-amqp: --cert-dir: cannot use \S+ \(not a directory\)$/m],
    [['emulator', '--port', '0', '--cert-dir', path.join(aFile, 'sub')], env, /^aliyun-iot-amqp: --cert-dir: cannot use \S+ \(not a directory\)$/m],
    [['demo', '--rate', '-1'], env, /--rate must be a positive number, got "-1"/],
  ];
  for (const [args, e, expected] of cases) {
    const r = await run(args, { env: e });
    const label = `${args.join(' ')}: ${r.stderr}`;
    assert.equal(r.code, 2, label);
    assert.match(r.stderr, expected, label);
    assert.doesNotMatch(r.stderr, /aliyun-iot-amqp: aliyun-iot-amqp:|undefined|ambiguous|ENOENT|EISDIR|EEXIST|ENOTDIR|Unhandled|\n\s+at /, label);
    if (e !== env && /ALIYUN_IOT_AMQP_PORT/.test(String(expected))) assert.doesNotMatch(r.stderr, /--port must/, label);
    assert.equal(r.stdout, '', label);
  }
});

test('every subcommand has its own --help', async () => {
  for (const command of ['consume', 'emulator', 'demo']) {
    for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
      const r = await run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: aliyun-iot-amqp ${command} \\[options\\]`), args.join(' '));
      for (const other of ['consume', 'emulator', 'demo'].filter((c) => c !== command)) {
        assert.doesNotMatch(r.stdout, new RegExp(`^${other} options`, 'm'), `${args.join(' ')} shows ${other}'s options`);
      }
    }
  }
  const r = await run(['--help']);
  assert.match(r.stdout, /aliyun-iot-amqp <command> --help/);
});

test('connection errors that a wrong host, port or transport explains get a one-line hint naming the flag', () => {
  const { connectionHint } = require('../../bin/aliyun-iot-amqp.js');
  const tls = { host: 'iot-cn-x.example', port: 5671, transport: 'tls' };
  const tcp = { host: '127.0.0.1', port: 5671, transport: 'tcp' };
  const hint = (message, where, state) => connectionHint(new Error(message), where, state);
  // The core's own messages, as they come.
  assert.match(hint('cannot connect to iot-cn-x.example:5671: failed to lookup address information: Name or service not known', tls), /^hint: .*check --host/);
  assert.match(hint('cannot connect to 127.0.0.1:1: Connection refused (os error 111)', tls), /^hint: .*check --host and --port/);
  assert.match(hint('TLS handshake with 127.0.0.1 failed: received corrupt message of type InvalidContentType', tls), /^hint: .*did not answer TLS.*--port.*--transport tcp/);
  assert.match(hint('connection closed by the server', tcp), /^hint: .*did not answer plain AMQP.*--port.*--transport tls/);
  // Not after the connection had opened once: then a close is the server's business.
  assert.equal(hint('connection closed by the server', tcp, { connected: true }), null);
  // Errors no flag explains, and messages that carry a hint already, get none.
  assert.equal(hint('authentication failed (amqp:unauthorized-access)', tls), null);
  assert.equal(hint('TLS handshake with h failed: received corrupt message of type InvalidContentType (hint: a plain port? check the port and transport)', tls), null);
  for (const one of [hint('cannot connect to h:1: Connection refused (os error 111)', tls)]) assert.equal(one.split('\n').length, 1);
});

test('emulator --file: a read error while reading the lines is logged, not thrown', async () => {
  const { Readable } = require('node:stream');
  const { publishLines } = require('../../lib/cli/feed.js');
  const published = [];
  const emu = { publish: (m) => published.push(m) };
  const input = new Readable({ read() {} });
  const logged = [];
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => (String(chunk).startsWith('in.jsonl') ? logged.push(String(chunk)) : write.call(process.stderr, chunk, ...rest));
  try {
    const done = new Promise((resolve) => publishLines(emu, input, 'in.jsonl', (n, skipped) => resolve({ n, skipped })));
    input.push('{"topic": "/pk/dev/user/a", "payload": 1}\n');
    await new Promise((resolve) => setImmediate(resolve));
    input.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    assert.deepEqual(await done, { n: 1, skipped: 0 });
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(published, [{ topic: '/pk/dev/user/a', body: 1 }]);
  assert.deepEqual(logged, ['in.jsonl: cannot read further (EIO) after line 1\n']);
});

test('demo lines: fitted to the width given (a terminal\'s), the topic giving way to the device', () => {
  const { formatDemoMessage, demoWidth } = require('../../lib/cli/output.js');
  const { parseTopic } = require('../../index.js');
  const message = (topic, payload) => ({ topic, topicInfo: parseTopic(topic), generateTime: Date.UTC(2024, 0, 1, 12), content: Buffer.from(JSON.stringify(payload)) });
  const property = message('/a1DemoProduct/thermostat-1/thing/event/property/post', { items: { temperature: { value: 21.5 }, humidity: { value: 44 } } });
  const time = '\\d\\d:\\d\\d:\\d\\d';
  assert.match(formatDemoMessage(property, 110), new RegExp(`^${time} /a1DemoProduct/thermostat-1/thing/event/property/post \\[property\\] temperature=21.5 humidity=44%$`));
  assert.match(formatDemoMessage(property, 99), new RegExp(`^${time} a1DemoProduct/thermostat-1 \\[property\\] temperature=21.5 humidity=44%$`));
  assert.match(formatDemoMessage(property, 79), new RegExp(`^${time} thermostat-1 \\[property\\] temperature=21.5 humidity=44%$`));
  const cut = formatDemoMessage(property, 50);
  assert.equal(cut.length, 50);
  assert.match(cut, /…$/);
  // A long payload is cut to the width, whatever it is.
  const long = message('/pk/dev/user/update', 'x'.repeat(300));
  for (const width of [40, 79, 110, 150]) assert.equal(formatDemoMessage(long, width).length, width, String(width));
  // The width: a terminal's less one column, else COLUMNS's, else 110; 40 at the least.
  assert.equal(demoWidth({ isTTY: true, columns: 80 }, {}), 79);
  assert.equal(demoWidth({ isTTY: true, columns: 80 }, { COLUMNS: '200' }), 79);
  assert.equal(demoWidth({ isTTY: false }, { COLUMNS: '100' }), 99);
  assert.equal(demoWidth({ isTTY: false }, { COLUMNS: 'wide' }), 110);
  assert.equal(demoWidth({ isTTY: false }, {}), 110);
  assert.equal(demoWidth({ isTTY: true, columns: 20 }, {}), 40);
});

test('consume gives up early only on mistakes that retrying does not fix', () => {
  const { lastingError } = require('../../lib/cli/watch.js');
  const tls = { transport: 'tls' };
  const tcp = { transport: 'tcp' };
  const lasting = (message, where) => lastingError(new Error(message), where);
  // A host name that does not exist, the wrong transport: the core's messages, as they come.
  assert.equal(lasting('cannot connect to h.invalid:5671: failed to lookup address information: Name or service not known', tls), true);
  assert.equal(lasting("127.0.0.1:5672 did not answer in TLS (is it a plain AMQP port? use `transport: 'tcp'` there, or the TLS port, 5671 on the platform)", tls), true);
  assert.equal(lasting("connection closed by the server (127.0.0.1:5671) without an answer to the AMQP protocol header (a TLS port? use `transport: 'tls'` there)", tcp), true);
  // Not: a resolver that failed for now, a refused port (a server starting), a close, a refusal.
  assert.equal(lasting('cannot connect to h:5671: failed to lookup address information: Temporary failure in name resolution', tls), false);
  assert.equal(lasting('cannot connect to 127.0.0.1:1: Connection refused (os error 111)', tls), false);
  assert.equal(lasting('connection closed by the server', tcp), false);
  assert.equal(lasting('authentication failed (amqp:unauthorized-access)', tls), false);
});

test('the summary accounts for every message received: those left unsettled at close too', () => {
  const { summary } = require('../../lib/cli/watch.js');
  const stats = (s) => ({ received: 0, accepted: 0, released: 0, rejected: 0, duplicates: 0, reconnects: 0, ...s });
  // Messages that arrived while the consumer closed (stdout gone): their release could not be sent.
  assert.equal(summary(stats({ received: 300, accepted: 1, released: 263 })),
    'received 300, accepted 1, released 263, rejected 0, duplicates 0, reconnects 0; 36 left unsettled at close (the server delivers them again)');
  assert.equal(summary(stats({ received: 10, accepted: 7, released: 1, rejected: 1, duplicates: 1, reconnects: 2 })),
    'received 10, accepted 7, released 1, rejected 1, duplicates 1, reconnects 2');
  assert.equal(summary(stats({ received: 30, accepted: 30 }), { short: true }), 'received 30, accepted 30');
  assert.equal(summary(stats({ received: 30, accepted: 20, released: 4 }), { short: true }),
    'received 30, accepted 20, released 4; 6 left unsettled at close (the server delivers them again)');
});
