'use strict';
// `aliyun-iot-amqp emulator`: a local emulator of the platform's endpoint, its settings printed,
// publishing from a file, stdin or a generator until a signal (see its --help).

const fs = require('node:fs');
const { UsageError, parse, int, positive, fsReason, openFlagFile } = require('./args.js');
const { usage } = require('./help.js');
const { log, writeLine } = require('./output.js');
const { stopOnSignals } = require('./signals.js');
const { randomKeys, publishLines, generate } = require('./feed.js');

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
  // A file that cannot be read is a usage error now, not a failure after the emulator started.
  const fileFd = o.file !== undefined && o.file !== '-' ? openFlagFile('file', o.file) : undefined;

  const { startEmulator } = require('../emulator/index.js');
  // Signals are heard from before the emulator starts: one that comes at any time after closes it
  // as usual (its temporary key directory removed), instead of killing the process.
  const signalled = new Promise((resolve) => stopOnSignals(resolve));
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
    // A file system error while making or reading the certificate directory (a file there, no permission, ...).
    if (o['cert-dir'] !== undefined && err.syscall && typeof err.path === 'string') {
      throw new UsageError(`--cert-dir: cannot use ${o['cert-dir']} (${fsReason(err)}${err.path === o['cert-dir'] ? '' : `: ${err.path}`})`);
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
      `aliyun-iot-amqp emulator listening on ${emu.url()}`,
      "  (TLS, the platform's signature check, redelivery of what is not accepted)",
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
    const stream = o.file === '-' ? process.stdin : fs.createReadStream(o.file, { fd: fileFd });
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

  await signalled;
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

module.exports = { emulator };
