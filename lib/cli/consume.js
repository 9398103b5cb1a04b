'use strict';
// `aliyun-iot-amqp consume`: a consumer group's messages on stdout, from flags and environment
// variables (see its --help).

const { UsageError, parse, int, setting, topicFilter, readFlagFile, optionLabel } = require('./args.js');
const { usage } = require('./help.js');
const { log } = require('./output.js');
const { stopOnSignals } = require('./signals.js');
const { printMessages, connectionHint, stopOnLastingErrors, flagWords, watchConsumer, summary } = require('./watch.js');

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
    'reconnect-limit': { type: 'string' },
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
  if (o.transport !== undefined && o.transport !== 'tls' && o.transport !== 'tcp') throw new UsageError(`--transport must be tls or tcp, got ${JSON.stringify(o.transport)}`);
  const portSetting = setting(o, 'port', 'ALIYUN_IOT_AMQP_PORT');
  const port = int(portSetting.label, portSetting.value, { min: 1, max: 65535 });
  const endpoint = endpointOf(host, portSetting, port, o.transport);
  const transport = o.transport || endpoint.transport || 'tls';
  const count = int('--count', o.count, { min: 1 });
  const limitSetting = setting(o, 'reconnect-limit', 'ALIYUN_IOT_AMQP_RECONNECT_LIMIT');
  const reconnectLimit = int(limitSetting.label, limitSetting.value, { min: 0 });
  const signMethods = ['hmacsha256', 'hmacsha1', 'hmacmd5'];
  if (o['sign-method'] !== undefined && !signMethods.includes(o['sign-method'])) {
    throw new UsageError(`--sign-method must be one of ${[...signMethods].sort().join(', ')}, got ${JSON.stringify(o['sign-method'])}`);
  }
  const missing = ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'].filter((k) => !env[k]);
  if (missing.length) {
    throw new UsageError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: export the AccessKey pair to sign with`);
  }
  const options = {
    endpoint: endpoint.value, // checked by createConsumer(), as its `endpoint` option
    port, // given: createConsumer()'s default otherwise (the endpoint's, else by transport)
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
  if (reconnectLimit !== undefined) options.reconnect_limit = reconnectLimit;
  if (o.topic) for (const t of o.topic) topicFilter(t); // a bad filter fails now

  const { createConsumer } = require('../../index.js');
  let consumer;
  try {
    consumer = createConsumer(options);
  } catch (err) {
    if (err instanceof TypeError && err.option === 'ca') {
      // Name the flag, not the option: the file given is not usable as certificates.
      throw new UsageError(`--ca ${o.ca}: ${err.message.replace(/^aliyun-iot-amqp: option 'ca' must hold certificates: ca is /, 'not a usable certificate file: it is ')}`);
    }
    if (err instanceof TypeError && err.option) {
      const labels = { host: host.label, endpoint: host.label, port: portSetting.label, transport: '--transport', consumerGroupId: group.label, iotInstanceId: instance.label,
        clientId: '--client-id', connections: '--connections', credit: '--credit', signMethod: '--sign-method', ca: '--ca',
        reconnect_limit: limitSetting.label };
      const label = optionLabel(err.option, labels);
      throw new UsageError(String(err.message).replace(/^aliyun-iot-amqp: /, '').replace(/^option '[^']+'/, label));
    }
    throw err;
  }
  const where = { host: consumer.host, port: consumer.port, transport };
  watchConsumer(consumer, `${where.host}:${where.port} (group ${options.consumerGroupId})`, where);
  // Without --reconnect-limit, a mistake that retrying does not fix ends consume while no
  // connection ever opened (with the limit, the user decides).
  const lasting = reconnectLimit === undefined ? stopOnLastingErrors(consumer, where) : null;
  stopOnSignals(() => consumer.close());
  let result;
  let metrics = null;
  try {
    if (metricsAt) {
      metrics = await require('../../index.js').serveMetrics(consumer, metricsAt);
      log(`metrics: ${metrics.url}/metrics, health: ${metrics.url}/healthz`);
    }
    result = await printMessages(consumer, { json: o.json, topics: o.topic, noAck: o['no-ack'], count });
    if (lasting && lasting.error) throw givenUp(lasting.error, where, lasting.attempts);
  } catch (err) {
    if (err instanceof GivenUp) throw err;
    const hint = connectionHint(err, where);
    err.message = flagWords(err.message);
    if (hint) err.message += `\n  ${hint}`;
    // The limit reached (not a refusal: credentials and certificates end consume at once).
    if (reconnectLimit > 0 && err.name === 'ConnectionError' && err.condition !== 'amqp:unauthorized-access' && !err.code) {
      err.message += `\n  gave up after ${reconnectLimit + 1} attempts in a row (${limitSetting.label} ${reconnectLimit})`;
    }
    throw err;
  } finally {
    await consumer.close();
    if (metrics) await metrics.close();
    log(summary(consumer.stats()));
  }
  if (result.stdoutError) log(`stdout closed (${result.stdoutError.code || result.stdoutError.message}): stopped, the message not printed was released`);
  return 0;
}

/**
 * --host (or ALIYUN_IOT_AMQP_HOST) as createConsumer()'s `endpoint`, which checks it: a host name,
 * host:port or an amqps:// URL (amqp:// for plain TCP); a bare IPv6 address is put in brackets.
 * A port or scheme in it that --port or --transport contradicts is a usage error. Returns
 * {value, transport} (transport: the scheme's, if any).
 */
function endpointOf(host, portSetting, port, transportFlag) {
  let value = String(host.value);
  if (/^[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$/.test(value)) value = `[${value}]`;
  const m = /^(?:([A-Za-z]+):\/\/)?(?:\[[^\]]*\]|[^:/]*)(?::(\d+))?\/?$/.exec(value);
  if (!m) return { value };
  const scheme = m[1] && m[1].toLowerCase();
  const transport = scheme === 'amqps' ? 'tls' : scheme === 'amqp' ? 'tcp' : undefined;
  if (m[2] !== undefined && port !== undefined && Number(m[2]) !== port) {
    throw new UsageError(`${portSetting.label} ${port} contradicts the port of ${host.label} ${JSON.stringify(host.value)}: give the port once`);
  }
  if (transport && transportFlag && transport !== transportFlag) {
    throw new UsageError(`--transport ${transportFlag} contradicts ${host.label} ${JSON.stringify(host.value)} (amqps:// is tls, amqp:// is tcp)`);
  }
  return { value, transport };
}

/** consume's end when a mistake that retrying does not fix was found (exit 1). */
class GivenUp extends Error {}

/** The error consume gave up on: its message, its hint, and why it gave up. */
function givenUp(error, where, attempts) {
  const hint = connectionHint(error, where);
  return new GivenUp(`${flagWords(error.message)}${hint ? `\n  ${hint}` : ''}\n  gave up after ${attempts} attempts: retrying does not fix this (--reconnect-limit N retries N times all the same, 0 without end)`);
}

/** --metrics-port: `n` or `host:n` (`[v6]:n`). */
function metricsAddress(value) {
  if (value === undefined) return null;
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(value);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--metrics-port must be a port (0: any free port) or host:port, got ${JSON.stringify(value)}`);
  return { port: Number(m[3]), host: m[1] || m[2] };
}

module.exports = { consume };
