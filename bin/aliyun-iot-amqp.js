#!/usr/bin/env node
'use strict';
// aliyun-iot-amqp on the command line: consume a consumer group, run a local emulator of the
// platform's endpoint, or both at once (demo). Messages go to stdout, everything else to stderr.

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');

const USAGE = `Usage: aliyun-iot-amqp <command> [options]

Commands:
  consume    Print the messages of a consumer group's server-side subscription.
  emulator   Run a local emulator of the platform's AMQP endpoint (TLS, signature check,
             redelivery of what is not accepted) and print the settings to connect with.
  demo       An emulator and a consumer in one process: device messages flowing, printed.

consume options (credentials from ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET
and, for an STS token, ALIBABA_CLOUD_SECURITY_TOKEN):
  --host <host>             AMQP endpoint, e.g. iot-cn-xxxx.amqp.iothub.aliyuncs.com
                            (env ALIYUN_IOT_AMQP_HOST)
  --port <n>                default 5671 (env ALIYUN_IOT_AMQP_PORT)
  --consumer-group <id>     consumer group id (env ALIYUN_IOT_AMQP_CONSUMER_GROUP)
  --iot-instance-id <id>    instance id, if the instance has one (env ALIYUN_IOT_AMQP_IOT_INSTANCE_ID)
  --client-id <id>          default: host name and process id
  --connections <n>         connections (client ids <id>-0..n-1 when more than one); default 1
  --credit <n>              unsettled messages per connection; default 100
  --sign-method <m>         hmacsha256 (default), hmacsha1 or hmacmd5
  --ca <file>               trust these certificates (PEM) instead of the public roots and
                            NODE_EXTRA_CA_CERTS (as Node's \`ca\` option does)
  --reconnect-on-certificate-failure
                            keep retrying when the server's certificate fails verification
                            (e.g. while it is being renewed); by default that ends consume
  --topic <glob>            print only matching topics ('+' or '*' one level, '#' or '**' any);
                            repeatable. Other messages are settled all the same, not printed
  --json                    one JSON object per line instead of readable lines
  --no-ack                  release every message instead of accepting it (it comes again)
  --dedupe                  skip redeliveries of messages already accepted
  --count <n>               exit after printing n messages
  --metrics-port <[host:]n> serve /metrics (Prometheus text format) and /healthz (200 while
                            every connection is up, else 503) on port n (0: any free port;
                            every interface unless a host is given)

emulator options:
  --port <n>                port to listen on; default 5671 (0: any free port)
  --listen <addr>           address to listen on; default 127.0.0.1
  --access-key-id <id>      default: generated
  --access-key-secret <s>   default: generated
  --iot-instance-id <id>    require this iotInstanceId in the username
  --cert-dir <dir>          write ca.pem, server.pem, server.key there and reuse them
                            (default: a temporary directory removed at exit)
  --file <path|->           publish the messages of a JSON lines file ('-': stdin), one per line:
                            {"topic": ..., "payload": <JSON or text>, "messageId"?: ..., "generateTime"?: ...}
                            (stdin is read when it is a pipe and neither --file nor --rate is given)
  --rate <n>                publish n generated device messages per second
  --count <n>               stop generating after n messages
  --json                    print the settings as one JSON line

demo options:
  --count <n>               exit after n messages (default: run until Ctrl-C)
  --rate <n>                messages per second; default 10
  --connections <n>         consumer connections; default 1
  --json                    one JSON object per line

  --help, --version
`;

class UsageError extends Error {}

function parse(args, options) {
  try {
    return parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
}

function int(name, value, { min = 0, def } = {}) {
  if (value === undefined || value === '') return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function positive(name, value, def) {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function log(line) {
  process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Output

/** The payload for JSON output: parsed JSON, else UTF-8 text, else base64. */
function payloadFields(content) {
  const text = content.toString('utf8');
  try {
    return { payload: JSON.parse(text) };
  } catch {
    // not JSON
  }
  return Buffer.from(text, 'utf8').equals(content) ? { text } : { base64: content.toString('base64') };
}

function compactTopicInfo(info) {
  const out = { kind: info.kind };
  if (info.productKey !== undefined) out.productKey = info.productKey;
  if (info.deviceName !== undefined) out.deviceName = info.deviceName;
  if (info.identifier !== undefined) out.identifier = info.identifier;
  return out;
}

/** One line for a message: JSON, or `time topic [kind] messageId payload`. */
function formatMessage(msg, json) {
  if (json) {
    return JSON.stringify({
      topic: msg.topic,
      messageId: msg.messageId,
      generateTime: msg.generateTime,
      topicInfo: compactTopicInfo(msg.topicInfo),
      clientId: msg.clientId,
      ...payloadFields(msg.content),
    });
  }
  const when = typeof msg.generateTime === 'number' ? new Date(msg.generateTime).toISOString() : '-';
  const info = msg.topicInfo;
  const kind = info.identifier !== undefined ? `${info.kind}:${info.identifier}` : info.kind;
  const fields = payloadFields(msg.content);
  const payload = 'payload' in fields ? JSON.stringify(fields.payload) : 'text' in fields ? JSON.stringify(fields.text) : `<${msg.content.length} bytes, base64 ${fields.base64}>`;
  return `${when} ${msg.topic} [${kind}] ${msg.messageId} ${payload}`;
}

/** Writes a line to stdout; resolves at once unless stdout pushes back. */
function out(line) {
  if (!process.stdout.write(`${line}\n`)) return new Promise((resolve) => process.stdout.once('drain', resolve));
  return null;
}

// ---------------------------------------------------------------------------------------------
// consume

/**
 * Prints the consumer's messages until `count` were printed (if given), it is closed, or it
 * fails. A message is accepted once it was printed (or released with noAck).
 */
async function printMessages(consumer, { json, topics, noAck, count }) {
  const { topicMatcher } = require(ROOT);
  const matchers = (topics || []).map((t) => topicMatcher(t));
  let shown = 0;
  for await (const msg of consumer) {
    const show = matchers.length === 0 || matchers.some((m) => m(msg.topic));
    if (show) {
      shown += 1;
      const wait = out(formatMessage(msg, json));
      if (wait) await wait;
    }
    if (noAck) msg.release();
    if (count !== undefined && shown >= count) {
      msg.accept(); // no-op after release()
      break; // leaving the loop closes the consumer
    }
    // Otherwise the message is accepted when the loop asks for the next one.
  }
  return shown;
}

function watchConsumer(consumer, label) {
  consumer.on('connected', ({ clientId, reconnect }) => log(`${reconnect ? 'reconnected' : 'connected'}: ${clientId} → ${label}`));
  consumer.on('disconnected', ({ clientId, error, reconnecting }) => {
    log(`disconnected: ${clientId}${error ? ` (${error.message})` : ''}${reconnecting ? ', reconnecting' : ''}`);
  });
}

function stopOnSignals(stop) {
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    log(`${signal}: closing (again to exit at once)`);
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function summary(stats) {
  return `received ${stats.received}, accepted ${stats.accepted}, released ${stats.released}, rejected ${stats.rejected}, duplicates ${stats.duplicates}, reconnects ${stats.reconnects}`;
}

async function consume(args) {
  const o = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    'consumer-group': { type: 'string' },
    'iot-instance-id': { type: 'string' },
    'client-id': { type: 'string' },
    connections: { type: 'string' },
    credit: { type: 'string' },
    'sign-method': { type: 'string' },
    ca: { type: 'string' },
    'reconnect-on-certificate-failure': { type: 'boolean' },
    topic: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    'no-ack': { type: 'boolean' },
    dedupe: { type: 'boolean' },
    count: { type: 'string' },
    'metrics-port': { type: 'string' },
  });
  if (o.help) return usage();
  const env = process.env;
  const metricsAt = metricsAddress(o['metrics-port']);
  const host = o.host || env.ALIYUN_IOT_AMQP_HOST;
  if (!host) throw new UsageError('--host is required (or set ALIYUN_IOT_AMQP_HOST)');
  const consumerGroupId = o['consumer-group'] || env.ALIYUN_IOT_AMQP_CONSUMER_GROUP;
  if (!consumerGroupId) throw new UsageError('--consumer-group is required (or set ALIYUN_IOT_AMQP_CONSUMER_GROUP)');
  const count = int('count', o.count, { min: 1 });
  const options = {
    host,
    port: int('port', o.port || env.ALIYUN_IOT_AMQP_PORT, { min: 1, def: 5671 }),
    consumerGroupId,
    iotInstanceId: o['iot-instance-id'] || env.ALIYUN_IOT_AMQP_IOT_INSTANCE_ID || undefined,
    clientId: o['client-id'],
    connections: int('connections', o.connections, { min: 1 }),
    credit: int('credit', o.credit, { min: 1 }),
    signMethod: o['sign-method'],
    dedupe: o.dedupe || undefined,
  };
  if (o.ca) options.ca = fs.readFileSync(o.ca);
  if (o['reconnect-on-certificate-failure']) options.reconnect_on_certificate_failure = true;
  if (o.topic) for (const t of o.topic) require(ROOT).topicMatcher(t); // a bad filter fails now

  const { createConsumer } = require(ROOT);
  let consumer;
  try {
    consumer = createConsumer(options);
  } catch (err) {
    if (err instanceof TypeError && err.option === 'ca') {
      // Name the flag, not the option: the file given is not usable as certificates.
      throw new UsageError(`--ca ${o.ca}: ${err.message.replace(/^aliyun-iot-amqp: option 'ca' must hold certificates: ca is /, 'not a usable certificate file: it is ')}`);
    }
    if (err instanceof TypeError && err.option) throw new UsageError(err.message.replace(/^aliyun-iot-amqp: /, ''));
    throw err;
  }
  watchConsumer(consumer, `${options.host}:${options.port} (group ${consumerGroupId})`);
  stopOnSignals(() => consumer.close());
  process.stdout.on('error', () => consumer.close()); // e.g. a closed pipe
  let metrics = null;
  try {
    if (metricsAt) {
      metrics = await require(ROOT).serveMetrics(consumer, metricsAt);
      log(`metrics: ${metrics.url}/metrics, health: ${metrics.url}/healthz`);
    }
    await printMessages(consumer, { json: o.json, topics: o.topic, noAck: o['no-ack'], count });
  } finally {
    await consumer.close();
    if (metrics) await metrics.close();
    log(summary(consumer.stats()));
  }
  return 0;
}

/** --metrics-port: `n` or `host:n` (`[v6]:n`). */
function metricsAddress(value) {
  if (value === undefined) return null;
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(value);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--metrics-port must be a port (0: any free port) or host:port, got ${JSON.stringify(value)}`);
  return { port: Number(m[3]), host: m[1] || m[2] };
}

// ---------------------------------------------------------------------------------------------
// emulator

function randomKeys() {
  const crypto = require('node:crypto');
  const alnum = (n) => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    return Array.from(crypto.randomBytes(n), (b) => chars[b % chars.length]).join('');
  };
  return { accessKeyId: `LTAI${alnum(20)}`, accessKeySecret: alnum(30) };
}

/** A JSON line of --file / stdin as publish() fields. Plain text lines are payloads. */
function lineToMessage(line) {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    return { body: line };
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { body: m };
  const out = {};
  if (m.topic !== undefined) out.topic = String(m.topic);
  if (m.messageId !== undefined) out.messageId = String(m.messageId);
  if (m.generateTime !== undefined) out.generateTime = Number(m.generateTime);
  if (m.base64 !== undefined) out.body = Buffer.from(String(m.base64), 'base64');
  else if (m.payload !== undefined) out.body = m.payload;
  else if (m.body !== undefined) out.body = m.body;
  else if (m.text !== undefined) out.body = String(m.text);
  return out;
}

function publishLines(emu, stream, onDone) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    emu.publish(lineToMessage(line));
    n += 1;
  });
  rl.on('close', () => onDone(n));
}

/** Publishes `rate` generated messages per second, `count` at most; returns a stop function. */
function generate(emu, rate, count) {
  const { sampleMessage } = require('../lib/emulator/index.js');
  const tick = Math.max(10, Math.round(1000 / rate));
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) / 1000) * rate) + 1;
    while (sent < due && (count === undefined || sent < count)) emu.publish(sampleMessage(sent++));
    if (count !== undefined && sent >= count) clearInterval(timer);
  }, tick);
  emu.publish(sampleMessage(sent++));
  return () => clearInterval(timer);
}

async function emulator(args) {
  const o = parse(args, {
    port: { type: 'string' },
    listen: { type: 'string' },
    'access-key-id': { type: 'string' },
    'access-key-secret': { type: 'string' },
    'iot-instance-id': { type: 'string' },
    'cert-dir': { type: 'string' },
    file: { type: 'string' },
    rate: { type: 'string' },
    count: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return usage();
  const port = int('port', o.port, { min: 0, def: 5671 });
  const rate = positive('rate', o.rate);
  const count = int('count', o.count, { min: 1 });
  const generated = randomKeys();
  const accessKeyId = o['access-key-id'] || generated.accessKeyId;
  const accessKeySecret = o['access-key-secret'] || generated.accessKeySecret;

  const { startEmulator } = require('../lib/emulator/index.js');
  let emu;
  try {
    emu = await startEmulator({
      host: o.listen || '127.0.0.1',
      port,
      accessKeyId,
      accessKeySecret,
      iotInstanceId: o['iot-instance-id'],
      certDir: o['cert-dir'],
    });
  } catch (err) {
    if (err.code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use: choose another with --port (0: any free port)`);
    throw err;
  }

  const host = emu.hostname;
  const env = {
    ALIBABA_CLOUD_ACCESS_KEY_ID: accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: accessKeySecret,
    NODE_EXTRA_CA_CERTS: emu.caFile,
    ALIYUN_IOT_AMQP_HOST: host,
    ALIYUN_IOT_AMQP_PORT: String(emu.port),
    ALIYUN_IOT_AMQP_CONSUMER_GROUP: 'DEFAULT_GROUP',
  };
  if (o['iot-instance-id']) env.ALIYUN_IOT_AMQP_IOT_INSTANCE_ID = o['iot-instance-id'];
  if (o.json) {
    out(JSON.stringify({ host, port: emu.port, caFile: emu.caFile, accessKeyId, accessKeySecret, iotInstanceId: o['iot-instance-id'], env }));
  } else {
    const lines = [
      `aliyun-iot-amqp emulator listening on ${emu.url()} (TLS, the platform's signature check, redelivery of what is not accepted)`,
      `  host             ${host}`,
      `  port             ${emu.port}`,
      `  CA file          ${emu.caFile}`,
      `  accessKeyId      ${accessKeyId}`,
      `  accessKeySecret  ${accessKeySecret}`,
      `  consumer group   any (e.g. DEFAULT_GROUP)${o['iot-instance-id'] ? `\n  iotInstanceId    ${o['iot-instance-id']}` : ''}`,
      '',
      'Consume from another shell with:',
      ...Object.entries(env).map(([k, v]) => `  export ${k}=${shellQuote(v)}`),
      '  npx aliyun-iot-amqp consume',
      '',
    ];
    out(lines.join('\n'));
  }

  emu.on('auth', (a) => log(a.ok ? `login: ${a.clientId} (${a.authMode}, ${a.signMethod}, group ${a.consumerGroupId})` : `login refused: ${a.clientId || '?'}: ${a.reason}`));
  emu.on('disconnect', (d) => log(`disconnected: ${d.clientId || '?'}${d.requeued ? `, ${d.requeued} unsettled message(s) queued again` : ''}`));
  emu.on('disposition', (d) => {
    if (d.outcome !== 'accepted') log(`${d.outcome}: ${d.messageId} by ${d.clientId}${d.outcome === 'released' || (d.outcome === 'modified' && !(d.state && d.state.undeliverable_here)) ? ' (queued again)' : ''}`);
  });

  const stops = [];
  if (o.file) {
    const stream = o.file === '-' ? process.stdin : fs.createReadStream(o.file);
    stream.on('error', (err) => log(`--file: ${err.message}`));
    publishLines(emu, stream, (n) => log(`published ${n} message(s) from ${o.file === '-' ? 'stdin' : o.file}`));
  }
  if (rate) {
    stops.push(generate(emu, rate, count));
    log(`publishing ${rate} message(s) per second${count ? `, ${count} in all` : ''}`);
  }
  if (!o.file && !rate) {
    if (!process.stdin.isTTY && process.stdin.readable) {
      publishLines(emu, process.stdin, (n) => { if (n) log(`published ${n} message(s) from stdin`); });
    } else {
      log('no messages to publish: give --rate N, --file FILE, or pipe JSON lines to stdin');
    }
  }

  await new Promise((resolve) => stopOnSignals(resolve));
  for (const stop of stops) stop();
  const s = emu.stats();
  await emu.close();
  log(`emulator closed: ${emu.deliveries.length} deliveries, ${s.acceptedOnce} message(s) accepted, ${s.queued + s.inFlight} pending`);
  process.stdin.destroy();
  return 0;
}

function shellQuote(v) {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(v) ? v : `'${String(v).replace(/'/g, "'\\''")}'`;
}

// ---------------------------------------------------------------------------------------------
// demo

async function demo(args) {
  const o = parse(args, {
    count: { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return usage();
  const count = int('count', o.count, { min: 1 });
  const rate = positive('rate', o.rate, 10);
  const connections = int('connections', o.connections, { min: 1, def: 1 });

  const { startEmulator } = require('../lib/emulator/index.js');
  const { createConsumer } = require(ROOT);
  const emu = await startEmulator({ port: 0, ...randomKeys() });
  log(`emulator: ${emu.url()} (TLS with a CA made for this run, the platform's signature check, redelivery)`);

  const { accessKeyId, accessKeySecret } = emu.credentials();
  const consumer = createConsumer({
    host: emu.hostname,
    port: emu.port,
    ca: emu.ca,
    accessKeyId,
    accessKeySecret,
    consumerGroupId: 'DEFAULT_GROUP',
    clientId: 'demo',
    connections,
  });
  watchConsumer(consumer, `${emu.hostname}:${emu.port}`);
  const stop = generate(emu, rate, count);
  log(`publishing ${rate} device message(s) per second${count ? `, ${count} in all` : ' (Ctrl-C to stop)'}`);
  stopOnSignals(() => consumer.close());
  try {
    await printMessages(consumer, { json: o.json, count });
  } finally {
    stop();
    await consumer.close();
    log(`consumer: ${summary(consumer.stats())}`);
    await emu.close();
    log(`emulator: ${emu.acceptedOnce.size} message(s) accepted`);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

function usage() {
  process.stdout.write(USAGE);
  return 0;
}

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case 'consume':
      return consume(args);
    case 'emulator':
      return emulator(args);
    case 'demo':
      return demo(args);
    case '--version':
    case '-v':
      out(require('../package.json').version);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return usage();
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof UsageError) {
      log(`aliyun-iot-amqp: ${err.message}\nRun 'aliyun-iot-amqp --help' for the options.`);
      process.exitCode = 2;
    } else {
      // A refused certificate carries Node's code (e.g. DEPTH_ZERO_SELF_SIGNED_CERT); its message ends with the hint.
      const code = err && typeof err.code === 'string' && /^[A-Z_]+$/.test(err.code) ? `${err.code}: ` : '';
      log(`aliyun-iot-amqp: ${code}${err && err.message ? err.message : err}`);
      process.exitCode = 1;
    }
  },
);
