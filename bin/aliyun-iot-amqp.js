#!/usr/bin/env node
'use strict';
// aliyun-iot-amqp on the command line: consume a consumer group, run a local emulator of the
// platform's endpoint, or both at once (demo). Messages go to stdout, everything else to stderr.

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');

const CONSUME_HELP = `Usage: aliyun-iot-amqp consume [options]

Print the messages of a consumer group's server-side subscription, one line each on stdout
(connection events and a summary on stderr). Credentials from ALIBABA_CLOUD_ACCESS_KEY_ID,
ALIBABA_CLOUD_ACCESS_KEY_SECRET and, for an STS token, ALIBABA_CLOUD_SECURITY_TOKEN.

Options:
  --host <host>             AMQP endpoint, e.g. iot-cn-xxxx.amqp.iothub.aliyuncs.com
                            (env ALIYUN_IOT_AMQP_HOST)
  --port <n>                default 5671, 5672 with --transport tcp (env ALIYUN_IOT_AMQP_PORT)
  --transport <tls|tcp>     default tls (the platform's); tcp for a plain AMQP server
  --consumer-group <id>     consumer group id (env ALIYUN_IOT_AMQP_CONSUMER_GROUP)
  --iot-instance-id <id>    instance id, if the instance has one (env ALIYUN_IOT_AMQP_IOT_INSTANCE_ID)
  --client-id <id>          default: host name and process id
  --connections <n>         connections (client ids <id>-0..n-1 when more than one); default 1
  --credit <n>              unsettled messages per connection; default 300
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
  --help                    this help

Exit codes: 0 done, 1 failed (e.g. credentials refused), 2 usage error.
`;

const EMULATOR_HELP = `Usage: aliyun-iot-amqp emulator [options]

Run a local emulator of the platform's AMQP endpoint (TLS, signature check, redelivery of what is
not accepted) and print the settings to connect with, and the export lines for consume.

Options:
  --port <n>                port to listen on; default 5671 (0: any free port)
  --listen <addr>           address to listen on; default 127.0.0.1
  --access-key-id <id>      default: generated
  --access-key-secret <s>   default: generated
  --iot-instance-id <id>    require this iotInstanceId in the username
  --cert-dir <dir>          keep the CA there (ca.pem, server.pem, server.key) and reuse it on
                            later runs; refuses a directory holding such files it did not make
                            (default: a temporary directory removed at exit)
  --file <path|->           publish the messages of a JSON lines file ('-': stdin), one per line:
                            {"topic": ..., "payload": <JSON or text>, "messageId"?: ..., "generateTime"?: ...}
                            (stdin is read when it is a pipe and neither --file nor --rate is given);
                            a line that is not JSON is skipped with a warning naming its number
                            (publish text as {"text": "..."})
  --rate <n>                publish n generated device messages per second
  --count <n>               stop generating after n messages
  --json                    print the settings as one JSON line
  --help                    this help
`;

const DEMO_HELP = `Usage: aliyun-iot-amqp demo [options]

An emulator and a consumer in one process: device messages flowing, printed as
"time topic [kind] payload" (a short payload, one line of at most 110 characters), or
as JSON with --json.

Options:
  --count <n>               exit after n messages (default: run until Ctrl-C)
  --rate <n>                messages per second; default 10
  --connections <n>         consumer connections; default 1
  --json                    one JSON object per line (the whole message)
  --help                    this help
`;

const HELP = { consume: CONSUME_HELP, emulator: EMULATOR_HELP, demo: DEMO_HELP };

/** The global help: the commands, then each command's options. */
const USAGE = `Usage: aliyun-iot-amqp <command> [options]

Commands:
  consume    Print the messages of a consumer group's server-side subscription.
  emulator   Run a local emulator of the platform's AMQP endpoint (TLS, signature check,
             redelivery of what is not accepted) and print the settings to connect with.
  demo       An emulator and a consumer in one process: device messages flowing, printed.

Run 'aliyun-iot-amqp <command> --help' for one command's options.

${Object.entries(HELP).map(([name, text]) => `${name} options:\n${text.slice(text.indexOf('Options:\n') + 'Options:\n'.length).replace(/\n+Exit codes:[\s\S]*$/, '\n')}`).join('\n')}
  --help, --version
`;

class UsageError extends Error {}

/**
 * parseArgs with usage errors, and a negative number after a flag taken as its value
 * (`--count -1`), so that the flag's own check names it rather than parseArgs calling it ambiguous.
 */
function parse(args, options) {
  const joined = [];
  for (let i = 0; i < args.length; i += 1) {
    const name = /^--([^=]+)$/.exec(args[i]);
    if (name && options[name[1]] && options[name[1]].type === 'string' && /^-\d/.test(args[i + 1] || '')) {
      joined.push(`${args[i]}=${args[i + 1]}`);
      i += 1;
    } else {
      joined.push(args[i]);
    }
  }
  try {
    return parseArgs({ args: joined, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
}

/** An integer setting; `label` names where it came from (`--port`, `ALIYUN_IOT_AMQP_PORT`). */
function int(label, value, { min = 0, max, def } = {}) {
  if (value === undefined || value === '') return def;
  const n = /^-?\d+$/.test(String(value).trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new UsageError(`${label} must be an integer ${max !== undefined ? `from ${min} to ${max}` : `of at least ${min}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function positive(label, value, def) {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${label} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

/** A flag's value, else the environment variable's: {value, label} (label names the source). */
function setting(o, flag, envName) {
  if (o[flag] !== undefined) return { value: o[flag], label: `--${flag}` };
  const v = process.env[envName];
  return { value: v === '' ? undefined : v, label: envName };
}

/** A topic filter, checked: its error names --topic. */
function topicFilter(glob) {
  try {
    return require(ROOT).topicMatcher(glob);
  } catch (err) {
    throw new UsageError(`--topic: ${String(err.message).replace(/^aliyun-iot-amqp: /, '')}`);
  }
}

/** A file's contents for --ca: a usage error naming the flag and the file when it cannot be read. */
function readFlagFile(flag, file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'a directory, not a file' }[err.code] || err.message;
    throw new UsageError(`--${flag}: cannot read ${file} (${why})`);
  }
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

/** The width demo lines are kept to (a terminal's, less a margin). */
const DEMO_WIDTH = 110;

/** A payload summed up for the demo: the values a person looks for, by topic family. */
function shortPayload(msg) {
  const fields = payloadFields(msg.content);
  if (!('payload' in fields)) return 'text' in fields ? fields.text : `<${msg.content.length} bytes>`;
  const p = fields.payload;
  if (p === null || typeof p !== 'object') return JSON.stringify(p);
  const show = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  switch (msg.topicInfo.kind) {
    case 'property':
      if (p.items && typeof p.items === 'object') {
        return Object.entries(p.items).map(([k, v]) => {
          const value = v && typeof v === 'object' && 'value' in v ? v.value : v;
          if (k === 'doorState') return `${k}=${value ? 'open' : 'closed'}`;
          if (k === 'battery' || k === 'humidity') return `${k}=${value}%`;
          return `${k}=${show(value)}`;
        }).join(' ');
      }
      break;
    case 'event':
      if (p.value !== undefined) return show(p.value);
      break;
    case 'status':
      if (p.status !== undefined) return String(p.status);
      break;
    case 'service-reply':
      if (p.code !== undefined) return `${p.code} ${p.message || ''}`.trim();
      break;
    case 'lifecycle':
      if (p.action !== undefined) return String(p.action);
      break;
    default:
      break;
  }
  return JSON.stringify(p);
}

/** A demo line: `HH:MM:SS topic [kind] short payload`, cut to DEMO_WIDTH characters. */
function formatDemoMessage(msg) {
  const at = typeof msg.generateTime === 'number' ? new Date(msg.generateTime) : new Date();
  const time = [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  const info = msg.topicInfo;
  const kind = info.identifier !== undefined ? `${info.kind}:${info.identifier}` : info.kind;
  const head = `${time} ${msg.topic} [${kind}] `;
  const payload = shortPayload(msg).replace(/\s+/g, ' ');
  const room = Math.max(16, DEMO_WIDTH - head.length);
  return head + (payload.length > room ? `${payload.slice(0, room - 1)}…` : payload);
}

/** Writes a line to stdout at once (settings, the version). */
function writeLine(line) {
  process.stdout.write(`${line}\n`);
}

// A closed stdout (`consume | head -1`: EPIPE) is an 'error' event; noted here, it ends the loop.
let stdoutError = null;
if (require.main === module) {
  process.stdout.on('error', (err) => {
    if (!stdoutError) stdoutError = err;
  });
}

/** Prints a message's line; resolves once it was written (null) or could not be (the error). */
function printLine(line) {
  if (stdoutError) return Promise.resolve(stdoutError);
  return new Promise((resolve) => {
    process.stdout.write(`${line}\n`, (err) => resolve(err || stdoutError || null));
  });
}

// ---------------------------------------------------------------------------------------------
// consume

/**
 * Prints the consumer's messages until `count` were printed (if given), it is closed, it fails,
 * or stdout is closed. A message is accepted once its line was written (or released with noAck);
 * one whose line could not be written is released. Returns {shown, stdoutError}.
 */
async function printMessages(consumer, { json, topics, noAck, count, format = formatMessage }) {
  const matchers = (topics || []).map((t) => topicFilter(t));
  let shown = 0;
  for await (const msg of consumer) {
    const show = matchers.length === 0 || matchers.some((m) => m(msg.topic));
    if (show) {
      const err = await printLine(format(msg, json));
      if (err) {
        msg.release();
        return { shown, stdoutError: err }; // leaving the loop closes the consumer
      }
      shown += 1;
    }
    if (noAck) msg.release();
    if (count !== undefined && shown >= count) {
      msg.accept(); // no-op after release()
      break; // leaving the loop closes the consumer
    }
    // Otherwise the message is accepted when the loop asks for the next one.
  }
  return { shown, stdoutError: null };
}

/**
 * A one-line hint for a connection error that a wrong host, port or transport explains, or null.
 * None when the error's message already gives one (it names the option or the transport).
 */
function connectionHint(error, { host, port, transport }, { connected = false } = {}) {
  const text = `${error && error.message}`;
  if (/\bhint\b|--host|--port|--transport|transport/i.test(text)) return null;
  if (/ENOTFOUND|EAI_AGAIN|failed to lookup|lookup address|name or service not known|nodename nor servname|no such host|dns/i.test(text)) {
    return `hint: the host name ${host} does not resolve: check --host (the instance's AMQP endpoint)`;
  }
  if (/ECONNREFUSED|connection refused|os error 111|actively refused/i.test(text)) {
    return `hint: nothing accepts connections on ${host}:${port}: check --host and --port`;
  }
  if (transport === 'tls' && /InvalidContentType|corrupt message|wrong version number|packet length too long|invalid TLS|not a TLS|tls handshake eof|unexpected eof/i.test(text)) {
    return `hint: ${host}:${port} did not answer TLS; a plain AMQP port (5672)? check --port (the platform's is 5671), or --transport tcp for a plain server`;
  }
  // A TLS server closes (or alerts) on a plain AMQP header before any AMQP is spoken.
  if (transport === 'tcp' && !connected && /protocol header|\b0x15\b|\b0x16\b|unexpected (bytes|header)|header mismatch|connection reset|closed by the server|closed before|eof/i.test(text)) {
    return `hint: ${host}:${port} did not answer plain AMQP; a TLS port? check --port, or --transport tls (the platform's port 5671 is TLS)`;
  }
  return null;
}

/** A core message's own hint in the command line's words: `transport: 'tcp'` is `--transport tcp` here. */
function flagWords(text) {
  return String(text).replace(/`transport: '(tls|tcp)'`/g, '`--transport $1`');
}

/**
 * Connection events on stderr. An error is printed when it first happens (with a hint where one
 * helps); the same error again in a row is counted and summed up at 2, 4, 8, ... repeats, so
 * that retrying for long stays readable.
 */
function watchConsumer(consumer, label, where) {
  const last = new Map(); // clientId -> {text, count}
  const connected = new Set(); // clientIds that were connected once
  consumer.on('connected', ({ clientId, reconnect }) => {
    connected.add(clientId);
    const prev = last.get(clientId);
    if (prev && prev.count > 1) log(`  (${prev.count} failed attempts in all before this)`);
    last.delete(clientId);
    log(`${reconnect ? 'reconnected' : 'connected'}: ${clientId} → ${label}`);
  });
  consumer.on('disconnected', ({ clientId, error, reconnecting }) => {
    const text = error ? error.message : '';
    const prev = last.get(clientId);
    if (error && prev && prev.text === text) {
      prev.count += 1;
      if ((prev.count & (prev.count - 1)) === 0 || !reconnecting) {
        log(`disconnected: ${clientId}: the same error ${prev.count} times in a row${reconnecting ? ', still reconnecting' : ''}`);
      }
      return;
    }
    last.set(clientId, { text, count: 1 });
    log(`disconnected: ${clientId}${error ? ` (${flagWords(text)})` : ''}${reconnecting ? ', reconnecting' : ''}`);
    const hint = error && where ? connectionHint(error, where, { connected: connected.has(clientId) }) : null;
    if (hint) log(`  ${hint}`);
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

/** createConsumer()'s option names, as the flags or variables of `consume` that set them. */
function optionLabel(option, labels) {
  return labels[option] || option;
}

async function consume(args) {
  const o = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    transport: { type: 'string' },
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
  if (o.help) return usage('consume');
  const env = process.env;
  const metricsAt = metricsAddress(o['metrics-port']);
  const host = setting(o, 'host', 'ALIYUN_IOT_AMQP_HOST');
  if (!host.value) throw new UsageError('--host is required (or set ALIYUN_IOT_AMQP_HOST)');
  const group = setting(o, 'consumer-group', 'ALIYUN_IOT_AMQP_CONSUMER_GROUP');
  if (!group.value) throw new UsageError('--consumer-group is required (or set ALIYUN_IOT_AMQP_CONSUMER_GROUP)');
  const instance = setting(o, 'iot-instance-id', 'ALIYUN_IOT_AMQP_IOT_INSTANCE_ID');
  const transport = o.transport === undefined ? 'tls' : o.transport;
  if (transport !== 'tls' && transport !== 'tcp') throw new UsageError(`--transport must be tls or tcp, got ${JSON.stringify(o.transport)}`);
  const portSetting = setting(o, 'port', 'ALIYUN_IOT_AMQP_PORT');
  const port = int(portSetting.label, portSetting.value, { min: 1, max: 65535, def: transport === 'tls' ? 5671 : 5672 });
  const count = int('--count', o.count, { min: 1 });
  const signMethods = ['hmacsha256', 'hmacsha1', 'hmacmd5'];
  if (o['sign-method'] !== undefined && !signMethods.includes(o['sign-method'])) {
    throw new UsageError(`--sign-method must be one of ${[...signMethods].sort().join(', ')}, got ${JSON.stringify(o['sign-method'])}`);
  }
  const missing = ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'].filter((k) => !env[k]);
  if (missing.length) {
    throw new UsageError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: export the AccessKey pair to sign with`);
  }
  const options = {
    host: host.value,
    port,
    transport,
    consumerGroupId: group.value,
    iotInstanceId: instance.value || undefined,
    clientId: o['client-id'],
    connections: int('--connections', o.connections, { min: 1 }),
    credit: int('--credit', o.credit, { min: 1 }),
    signMethod: o['sign-method'],
    dedupe: o.dedupe || undefined,
  };
  if (o.ca !== undefined) options.ca = readFlagFile('ca', o.ca);
  if (o['reconnect-on-certificate-failure']) options.reconnect_on_certificate_failure = true;
  if (o.topic) for (const t of o.topic) topicFilter(t); // a bad filter fails now

  const { createConsumer } = require(ROOT);
  let consumer;
  try {
    consumer = createConsumer(options);
  } catch (err) {
    if (err instanceof TypeError && err.option === 'ca') {
      // Name the flag, not the option: the file given is not usable as certificates.
      throw new UsageError(`--ca ${o.ca}: ${err.message.replace(/^aliyun-iot-amqp: option 'ca' must hold certificates: ca is /, 'not a usable certificate file: it is ')}`);
    }
    if (err instanceof TypeError && err.option) {
      const labels = { host: host.label, port: portSetting.label, transport: '--transport', consumerGroupId: group.label, iotInstanceId: instance.label,
        clientId: '--client-id', connections: '--connections', credit: '--credit', signMethod: '--sign-method', ca: '--ca' };
      const label = optionLabel(err.option, labels);
      throw new UsageError(String(err.message).replace(/^aliyun-iot-amqp: /, '').replace(/^option '[^']+'/, label));
    }
    throw err;
  }
  const where = { host: options.host, port: options.port, transport };
  watchConsumer(consumer, `${options.host}:${options.port} (group ${options.consumerGroupId})`, where);
  stopOnSignals(() => consumer.close());
  let result;
  let metrics = null;
  try {
    if (metricsAt) {
      metrics = await require(ROOT).serveMetrics(consumer, metricsAt);
      log(`metrics: ${metrics.url}/metrics, health: ${metrics.url}/healthz`);
    }
    result = await printMessages(consumer, { json: o.json, topics: o.topic, noAck: o['no-ack'], count });
  } catch (err) {
    const hint = connectionHint(err, where);
    if (hint) err.message += `\n  ${hint}`;
    throw err;
  } finally {
    await consumer.close();
    if (metrics) await metrics.close();
    log(summary(consumer.stats()));
  }
  if (result.stdoutError) log(`stdout closed (${result.stdoutError.code || result.stdoutError.message}): stopped, the message not printed was released`);
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

/**
 * A JSON line of --file / stdin as publish() fields; throws a SyntaxError when the line is not
 * JSON (text is published with {"text": ...}). A JSON value that is not an object is the payload.
 */
function lineToMessage(line) {
  const m = JSON.parse(line);
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

/**
 * Publishes each JSON line of `stream`; a line that is not JSON is skipped with a warning naming
 * `name:line`. Calls onDone(published, skipped) at the end.
 */
function publishLines(emu, stream, name, onDone) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  let lineNo = 0;
  let skipped = 0;
  rl.on('line', (line) => {
    lineNo += 1;
    if (line.trim() === '') return;
    let message;
    try {
      message = lineToMessage(line);
    } catch (err) {
      skipped += 1;
      log(`${name}:${lineNo}: not JSON (${err.message}): skipped`);
      return;
    }
    emu.publish(message);
    n += 1;
  });
  rl.on('close', () => onDone(n, skipped));
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
  if (o.help) return usage('emulator');
  const port = int('--port', o.port, { min: 0, max: 65535, def: 5671 });
  const rate = positive('--rate', o.rate);
  const count = int('--count', o.count, { min: 1 });
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
    if (err.code === 'EEXIST' && err.files) {
      throw new UsageError(`--cert-dir: ${err.files.join(', ')} ${err.files.length > 1 ? 'are' : 'is'} not the emulator's own (left untouched): give an empty directory, or one the emulator wrote before`);
    }
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
    writeLine(JSON.stringify({ host, port: emu.port, caFile: emu.caFile, accessKeyId, accessKeySecret, iotInstanceId: o['iot-instance-id'], env }));
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
    writeLine(lines.join('\n'));
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
    const name = o.file === '-' ? 'stdin' : o.file;
    publishLines(emu, stream, name, (n, skipped) => log(`published ${n} message(s) from ${name}${skipped ? `, ${skipped} line(s) skipped` : ''}`));
  }
  if (rate) {
    stops.push(generate(emu, rate, count));
    log(`publishing ${rate} message(s) per second${count ? `, ${count} in all` : ''}`);
  }
  if (!o.file && !rate) {
    if (!process.stdin.isTTY && process.stdin.readable) {
      publishLines(emu, process.stdin, 'stdin', (n, skipped) => {
        if (n || skipped) log(`published ${n} message(s) from stdin${skipped ? `, ${skipped} line(s) skipped` : ''}`);
      });
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
  if (o.help) return usage('demo');
  const count = int('--count', o.count, { min: 1 });
  const rate = positive('--rate', o.rate, 10);
  const connections = int('--connections', o.connections, { min: 1, def: 1 });

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
    await printMessages(consumer, { json: o.json, count, format: (msg, json) => (json ? formatMessage(msg, true) : formatDemoMessage(msg)) });
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

function usage(command) {
  process.stdout.write(command ? HELP[command] : USAGE);
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
      writeLine(require('../package.json').version);
      return 0;
    case 'help':
      if (args[0] !== undefined && !HELP[args[0]]) throw new UsageError(`unknown command ${JSON.stringify(args[0])}`);
      return usage(args[0]);
    case undefined:
    case '--help':
    case '-h':
      return usage();
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function runMain() {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof UsageError) {
        log(`aliyun-iot-amqp: ${err.message}\nRun 'aliyun-iot-amqp ${HELP[process.argv[2]] ? `${process.argv[2]} ` : ''}--help' for the options.`);
        process.exitCode = 2;
      } else {
        // A refused certificate carries Node's code (e.g. DEPTH_ZERO_SELF_SIGNED_CERT); its message ends with the hint.
        const code = err && typeof err.code === 'string' && /^[A-Z_]+$/.test(err.code) ? `${err.code}: ` : '';
        log(`aliyun-iot-amqp: ${code}${err && err.message ? err.message : err}`);
        process.exitCode = 1;
      }
    },
  );
}

if (require.main === module) runMain();
// For the unit tests: the pieces that need no process of their own.
else module.exports = { connectionHint, formatMessage, formatDemoMessage, lineToMessage, UsageError };
