'use strict';
// The command line: `demo`, `emulator` + `consume` in separate processes, output formats, filters,
// --no-ack, errors (usage errors, --help and --version: unit/cli.test.js; connection failures:
// cli-connect.test.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');

const { BIN, cleanEnv, run, startEmulatorProcess } = require('../support/cli');

const publish = (child, ...messages) => {
  for (const m of messages) child.stdin.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`);
};

test('demo: messages flow from the emulator to the consumer and it exits after --count', async () => {
  const r = await run(['demo', '--count', '5', '--rate', '100']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 5, r.stdout);
  for (const line of r.lines) {
    assert.match(line, /^\d\d:\d\d:\d\d \/\S+ \[[a-z-]+(:\S+)?\] \S/, line);
  }
  assert.match(r.lines[0], /\/a1DemoProduct\/thermostat-1\/thing\/event\/property\/post \[property\] temperature=[\d.]+ humidity=\d+%$/);
  assert.match(r.stderr, /emulator: amqps:\/\/localhost:\d+/);
  assert.match(r.stderr, /consumer: received 5, accepted 5/);
  assert.match(r.stderr, /emulator: 5 message\(s\) accepted/);
});

test('demo: readable lines fit a terminal (a short payload), and the door sensor is a door sensor', async () => {
  // Not a terminal, no COLUMNS: 110 characters, the whole topic.
  const r = await run(['demo', '--count', '24', '--rate', '400']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 24, r.stdout);
  const long = r.lines.filter((l) => l.length > 110 || l.endsWith('…'));
  assert.deepEqual(long, [], 'lines longer than 110 characters, or cut');
  for (const line of [...r.lines, ...r.stderr.split('\n')]) assert.ok(line.length <= 110, line);
  const door = r.lines.filter((l) => /\/door-sensor\/thing\/event\/property\/post/.test(l));
  assert.ok(door.length >= 1, r.stdout);
  for (const l of door) {
    assert.match(l, /\[property\] doorState=(open|closed) battery=\d+%$/, l);
    assert.doesNotMatch(l, /Thermostat|temperature|humidity/, l);
  }
  assert.ok(r.lines.some((l) => /\[status\] (online|offline)$/.test(l)), r.stdout);
});

test('demo: lines fit an 80-column terminal (a pty), and COLUMNS where stdout is no terminal', async (t) => {
  // COLUMNS: the device instead of the topic, nothing cut at 80.
  let r = await run(['demo', '--count', '24', '--rate', '400'], { env: cleanEnv({ COLUMNS: '80' }) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 24, r.stdout);
  for (const line of [...r.lines, ...r.stderr.split('\n')]) assert.ok(line.length < 80, `${line.length}: ${line}`);
  for (const line of r.lines) assert.match(line, /^\d\d:\d\d:\d\d (thermostat-\d|door-sensor) \[[a-z-]+(:\w+)?\] [^…]+$/, line);

  // A real terminal of 80 columns: `script` gives the demo a pty (stdout and stderr both on it).
  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (script.error || script.status !== 0) {
    t.diagnostic('no util-linux script(1): the pty case is skipped');
    return;
  }
  const shellQuote = (a) => `'${a.replace(/'/g, "'\\''")}'`;
  const command = `stty cols 80 rows 24; ${[process.execPath, BIN, 'demo', '--count', '30', '--rate', '400'].map(shellQuote).join(' ')}`;
  r = spawnSync('script', ['-qec', command, '/dev/null'], { env: cleanEnv(), encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const lines = r.stdout.replace(/\r/g, '').split('\n').filter(Boolean);
  assert.equal(lines.filter((l) => /^\d\d:\d\d:\d\d /.test(l)).length, 30, r.stdout);
  const wide = lines.filter((l) => l.length >= 80);
  assert.deepEqual(wide, [], 'lines as wide as the terminal or wider (they wrap)');
  assert.match(r.stdout, /consumer: received 30, accepted 30\r?\n/);
});

test('demo --json: one parseable JSON object per line, several topic families', async () => {
  const r = await run(['demo', '--count', '8', '--rate', '200', '--json', '--connections', '2']);
  assert.equal(r.code, 0, r.stderr);
  const messages = r.lines.map((line) => JSON.parse(line));
  assert.equal(messages.length, 8);
  for (const m of messages) {
    assert.equal(typeof m.topic, 'string');
    assert.match(m.messageId, /^\d+$/);
    assert.equal(typeof m.generateTime, 'number');
    assert.ok(['demo-0', 'demo-1'].includes(m.clientId));
    assert.ok('payload' in m || 'text' in m, JSON.stringify(m));
  }
  const kinds = new Set(messages.map((m) => m.topicInfo.kind));
  for (const kind of ['property', 'event', 'status', 'service-reply']) assert.ok(kinds.has(kind), `${kind} in ${[...kinds]}`);
  for (const m of messages.filter((x) => x.topicInfo.kind === 'property')) {
    assert.equal(m.payload.deviceType, m.topicInfo.deviceName === 'door-sensor' ? 'DoorSensor' : 'Thermostat', JSON.stringify(m));
  }
  const event = messages.find((m) => m.topicInfo.kind === 'event');
  assert.deepEqual(event.topicInfo, { kind: 'event', productKey: 'a1DemoProduct', deviceName: event.topicInfo.deviceName, identifier: 'alarm' });
});

test('emulator and consume in two processes: settings, JSON lines, readable lines, --topic, --no-ack', async (t) => {
  const emu = await startEmulatorProcess(t);
  const { settings } = emu;
  assert.equal(settings.host, 'localhost');
  assert.ok(settings.port > 0);
  assert.match(settings.accessKeyId, /^LTAI\w+$/);
  assert.ok(settings.accessKeySecret.length >= 20);
  assert.deepEqual(Object.keys(settings.env).sort(), ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    'ALIYUN_IOT_AMQP_CONSUMER_GROUP', 'ALIYUN_IOT_AMQP_HOST', 'ALIYUN_IOT_AMQP_PORT', 'NODE_EXTRA_CA_CERTS']);
  // The consumer gets everything from the environment the emulator printed.
  const env = cleanEnv(settings.env);

  publish(emu.child,
    { topic: '/pk/dev/thing/event/property/post', messageId: 'p-1', generateTime: 1700000000000, payload: { items: { t: { value: 1 } } } },
    { topic: '/pk/dev/user/raw', messageId: 'b-1', base64: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') },
    { topic: '/pk/dev/user/text', messageId: 't-1', payload: 'hello' });
  let r = await run(['consume', '--json', '--count', '3', '--client-id', 'cli-json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const got = r.lines.map((line) => JSON.parse(line));
  assert.deepEqual(got.map((m) => m.messageId), ['p-1', 'b-1', 't-1']);
  assert.deepEqual(got[0], {
    topic: '/pk/dev/thing/event/property/post', messageId: 'p-1', generateTime: 1700000000000,
    topicInfo: { kind: 'property', productKey: 'pk', deviceName: 'dev' }, clientId: 'cli-json', payload: { items: { t: { value: 1 } } },
  });
  assert.equal(got[1].base64, Buffer.from([0xff, 0x00, 0xfe]).toString('base64'));
  assert.equal(got[2].text, 'hello');
  assert.match(r.stderr, /connected: cli-json/);
  assert.match(r.stderr, /received 3, accepted 3/);

  // --topic: only matching messages are printed; the others are settled all the same.
  publish(emu.child,
    { topic: '/as/mqtt/status/pk/dev', messageId: 's-1', payload: { status: 'online' } },
    { topic: '/pk/dev/thing/event/property/post', messageId: 'p-2', payload: {} },
    { topic: '/as/mqtt/status/pk/dev', messageId: 's-2', payload: { status: 'offline' } });
  r = await run(['consume', '--json', '--count', '2', '--topic', '/as/mqtt/status/#'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.lines.map((line) => JSON.parse(line).messageId), ['s-1', 's-2']);
  assert.match(r.stderr, /accepted 3/);

  // --no-ack: released, so the same message comes again.
  publish(emu.child, { topic: '/pk/dev/user/update', messageId: 'n-1', payload: 'again and again' });
  r = await run(['consume', '--json', '--count', '3', '--no-ack'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.lines.map((line) => JSON.parse(line).messageId), ['n-1', 'n-1', 'n-1']);
  assert.match(r.stderr, /accepted 0, released 3/);

  // Readable lines (and the message is still there to accept).
  r = await run(['consume', '--count', '1'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 1);
  assert.match(r.lines[0], /^\S+Z \/pk\/dev\/user\/update \[custom\] n-1 "again and again"$/);

  emu.child.kill('SIGINT');
  const end = await emu.exited;
  assert.equal(end.code, 0, end.stderr);
  assert.match(end.stderr, /login: cli-json \(aksign, hmacsha256, group DEFAULT_GROUP\)/);
  assert.match(end.stderr, /released: n-1/);
  assert.match(end.stderr, /emulator closed: .* 7 message\(s\) accepted, 0 pending/);
});

test('emulator --rate generates messages; --host as an amqps:// URL; a wrong secret makes consume fail with exit code 1', async (t) => {
  const emu = await startEmulatorProcess(t, ['--rate', '50', '--count', '5']);
  const env = cleanEnv(emu.settings.env);
  let r = await run(['consume', '--json', '--count', '4'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 4);

  // --host as an amqps:// URL with its port (createConsumer's endpoint).
  const { ALIYUN_IOT_AMQP_HOST: host, ALIYUN_IOT_AMQP_PORT: port, ...noAddress } = emu.settings.env;
  r = await run(['consume', '--json', '--count', '1', '--host', `amqps://${host}:${port}`], { env: cleanEnv(noAddress) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 1);
  assert.match(r.stderr, new RegExp(`connected: \\S+ → ${host}:${port} `));

  r = await run(['consume', '--count', '1'], { env: { ...env, ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-secret' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /authentication failed/);
  assert.ok(!r.stderr.includes('wrong-secret'));
  assert.equal(r.stdout, '');
});

test('consume --json | head -1: a closed stdout stops the consumer at once, what was not printed is released', async (t) => {
  const emu = await startEmulatorProcess(t);
  const env = cleanEnv(emu.settings.env);
  // One message first, the others once the pipe is closed: a consumer that had written every line
  // before the reader went away would rightly get no EPIPE until its next line (and accept them).
  const message = (i) => ({ topic: '/pk/dev/user/pipe', messageId: `e-${i}`, payload: { i } });
  publish(emu.child, message(0));
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, 'consume', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const first = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        child.stdout.destroy(); // as head does after its line
        resolve(buf.slice(0, buf.indexOf('\n')));
      }
    });
    child.on('error', reject);
  });
  assert.equal(JSON.parse(first).messageId, 'e-0');
  for (let i = 1; i < 20; i += 1) publish(emu.child, message(i));
  const { code, signal } = await new Promise((resolve) => child.on('close', (c, s) => resolve({ code: c, signal: s })));
  const took = Date.now() - started;
  assert.equal(code, 0, `exit ${code} ${signal}: ${stderr}`);
  assert.ok(took < 8000, `took ${took} ms to stop after stdout closed:\n${stderr}`);
  assert.match(stderr, /stdout closed \(EPIPE\)/);
  const m = /received (\d+), accepted (\d+), released (\d+)/.exec(stderr);
  assert.ok(m, stderr);
  assert.ok(Number(m[2]) <= 1 + 1, `at most what was printed before the pipe closed is accepted: ${m[0]}`);
  assert.ok(Number(m[3]) >= 1, m[0]);
  assertAccounted(stderr);
});

/** The summary line accounts for every message received (accepted, released, ..., or left unsettled). */
function assertAccounted(stderr) {
  const m = /^received (\d+), accepted (\d+), released (\d+), rejected (\d+), duplicates (\d+), reconnects \d+(?:; (\d+) left unsettled at close \(the server delivers them again\))?$/m.exec(stderr);
  assert.ok(m, stderr);
  const [received, ...settled] = m.slice(1).map((n) => Number(n || 0));
  assert.equal(settled.reduce((a, b) => a + b, 0), received, `messages unaccounted for: ${m[0]}`);
}

test('consume --json | head -1 while messages stream in: the summary accounts for every message received', async (t) => {
  // Messages arriving while consume closes cannot be released any more: they are counted as left
  // unsettled (the server delivers them again), not lost from the summary.
  const emu = await startEmulatorProcess(t, ['--rate', '3000']);
  const env = cleanEnv(emu.settings.env);
  for (let round = 0; round < 4; round += 1) {
    const child = spawn(process.execPath, [BIN, 'consume', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /stdout closed \(EPIPE\)/);
    assertAccounted(stderr);
  }
});

test('emulator: its temporary key directory is removed when it is stopped by SIGINT, SIGTERM or SIGHUP (once or twice)', async (t) => {
  const fs = require('node:fs');
  const path = require('node:path');
  for (const [signal, twice, code] of [['SIGINT', false, 0], ['SIGTERM', false, 0], ['SIGHUP', false, 0], ['SIGTERM', true, 143], ['SIGHUP', true, 129]]) {
    const emu = await startEmulatorProcess(t);
    const dir = path.dirname(emu.settings.caFile);
    assert.ok(fs.existsSync(path.join(dir, 'server.key')), dir);
    emu.child.kill(signal);
    if (twice) {
      // The second once the first was heard (signals of a kind sent together arrive as one). The
      // close may have ended by then: exit 0, or killed by the second as the process tears down.
      while (!/closing/.test(emu.stderr()) && emu.child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 5));
      if (emu.child.exitCode === null) emu.child.kill(signal);
    }
    const end = await emu.exited;
    const ok = twice ? [code, 0].includes(end.code) || end.signal === signal : end.code === code && end.signal === null;
    assert.ok(ok, `${signal}${twice ? ' twice' : ''}: exit ${end.code} ${end.signal}\n${end.stderr}`);
    if (twice && end.signal) assert.match(end.stderr, /emulator closed/, 'killed only once closed');
    assert.equal(fs.existsSync(dir), false, `${signal}${twice ? ' twice' : ''} left ${dir}`);
  }
});

test('emulator --cert-dir: never overwrites files it did not make; keeps and reuses its own', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-certdir-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // The user's own files: refused, named, left as they were.
  const mine = path.join(dir, 'mine');
  fs.mkdirSync(mine);
  const theirs = { 'ca.pem': 'my own CA\n', 'server.key': 'my own key\n' };
  for (const [f, text] of Object.entries(theirs)) fs.writeFileSync(path.join(mine, f), text);
  const r = await run(['emulator', '--port', '0', '--cert-dir', mine]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--cert-dir: .*ca\.pem.*server\.key.* not the emulator's own \(left untouched\)/);
  for (const [f, text] of Object.entries(theirs)) assert.equal(fs.readFileSync(path.join(mine, f), 'utf8'), text, f);
  assert.equal(fs.existsSync(path.join(mine, 'server.pem')), false);

  // An empty directory: written; a second run reuses the same CA.
  const kept = path.join(dir, 'kept');
  const first = await startEmulatorProcess(t, ['--cert-dir', kept]);
  assert.equal(first.settings.caFile, path.join(kept, 'ca.pem'));
  const ca = fs.readFileSync(path.join(kept, 'ca.pem'), 'utf8');
  assert.deepEqual(fs.readdirSync(kept).sort(), ['ca.pem', 'server.key', 'server.pem']);
  first.child.kill('SIGINT');
  await first.exited;
  const second = await startEmulatorProcess(t, ['--cert-dir', kept]);
  assert.equal(fs.readFileSync(second.settings.caFile, 'utf8'), ca, 'the CA is kept between runs');
  second.child.kill('SIGINT');
  await second.exited;
});

test('emulator --file: a line that is not JSON, or has no topic string, is skipped with a warning naming its number', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-file-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'messages.jsonl');
  fs.writeFileSync(file, [
    JSON.stringify({ topic: '/pk/dev/user/a', messageId: 'f-1', payload: { n: 1 } }),
    '{"topic": "/pk/dev/user/b", "payload": ',
    '',
    'plain words',
    JSON.stringify({ topic: '/pk/dev/user/c', messageId: 'f-2', text: 'as text, on purpose' }),
    '{"payload":1}',
    '{"topic":5}',
    '42',
  ].join('\n') + '\n');
  const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', '--json', '--file', file], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const deadline = Date.now() + 10000;
  while (!/published \d+ message/.test(stderr) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.match(stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not JSON \\(.*\\): skipped`));
  assert.match(stderr, /:4: not JSON \(.*\): skipped/);
  assert.doesNotMatch(stderr, /:3:/, 'a blank line is no message and no warning');
  assert.match(stderr, /:6: no "topic": skipped/);
  assert.match(stderr, /:7: "topic" must be a non-empty string, got 5: skipped/);
  assert.match(stderr, /:8: not a JSON object like \{"topic": .*got 42: skipped/);
  assert.match(stderr, /published 2 message\(s\) from .*messages\.jsonl, 5 line\(s\) skipped/);

  const settings = JSON.parse(stdout.split('\n')[0]);
  const r = await run(['consume', '--json', '--count', '2'], { env: cleanEnv(settings.env) });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.lines.map((l) => JSON.parse(l).messageId), ['f-1', 'f-2']);
  child.kill('SIGINT');
  assert.equal(await exited, 0);
});
