// Compiled (never run) by __test__/integration/types.test.js with `tsc --noEmit --strict`, with
// rhea.ts (see there): the platform-native API (createConsumer(), topics), instrumentation, the
// emulator, and the peer certificate.

import amqp = require('../../../index.js');
import diagnostics_channel = require('node:diagnostics_channel');
import tls = require('node:tls');
import { useError } from './rhea';

// ---------------------------------------------------------------------------------------------
// The platform-native API: createConsumer(), topics

const consumerCredentials: amqp.ConsumerCredentials = { accessKeyId: 'a', accessKeySecret: 's', securityToken: 'sts' };
const consumerOptions: amqp.ConsumerOptions = {
  host: 'iot-cn-xxxx.amqp.iothub.aliyuncs.com',
  endpoint: 'amqps://iot-cn-xxxx.amqp.iothub.aliyuncs.com:5671',
  port: 5671,
  accessKeyId: 'a',
  accessKeySecret: 's',
  securityToken: 'sts',
  consumerGroupId: 'DEFAULT_GROUP',
  iotInstanceId: 'iot-cn-xxxx',
  clientId: 'worker',
  signMethod: 'hmacsha256',
  authMode: 'ststoken',
  connections: 4,
  credit: 100,
  concurrency: 10,
  dedupe: { size: 5000 },
  transport: 'tls',
  ca: ['pem', Buffer.from('der')],
  rejectUnauthorized: true,
  servername: 'iot-cn-xxxx.amqp.iothub.aliyuncs.com',
  hostname: 'vhost',
  sasl_init_hostname: 'sasl-host',
  idle_time_out: 60000,
  reconnect: true,
  initial_reconnect_delay: 100,
  max_reconnect_delay: 60000,
  reconnect_limit: 100,
  reconnect_on_auth_failure: false,
  reconnect_on_certificate_failure: false,
  checkServerIdentity: () => undefined,
  secureProtocol: 'TLS_method',
  ciphers: 'DEFAULT',
  minDHSize: 1024,
  connect_timeout: 30000,
  close_timeout: 5000,
  ack_delay: 20,
  read_delay: 8,
  max_frame_size: 1 << 20,
  max_message_size: 16 << 20,
};
const consumerWithProvider: amqp.ConsumerOptions = { endpoint: 'h:5671', consumerGroupId: 'g', credentials: async () => consumerCredentials, dedupe: true, idle_time_out: null, reconnect: 1000 };
const consumerSyncProvider: amqp.ConsumerOptions = { host: 'h', consumerGroupId: 'g', credentials: () => ({ accessKeyId: 'a', accessKeySecret: 's' }), transport: 'ssl', port: '5671' };
void [consumerWithProvider, consumerSyncProvider];
// @ts-expect-error consumerGroupId is required
const noGroup: amqp.ConsumerOptions = { host: 'h' };
// @ts-expect-error unknown options are refused
const unknownConsumerOption: amqp.ConsumerOptions = { host: 'h', consumerGroupId: 'g', prefetch: 10 };
void [noGroup, unknownConsumerOption];

const consumer: amqp.Consumer = amqp.createConsumer(consumerOptions);
const constructedConsumer: amqp.Consumer = new amqp.Consumer({ host: 'h', consumerGroupId: 'g', transport: 'tcp' });
const consumerMessageProto: amqp.ConsumerMessage = amqp.ConsumerMessage.prototype;
void [constructedConsumer, consumerMessageProto];
const consumerHost: string = consumer.host;
const consumerPort: number = consumer.port;
const consumerGroup: string = consumer.consumerGroupId;
const clientIds: string[] = consumer.clientIds;
void [consumerHost, consumerPort, consumerGroup, clientIds];

function useTopicInfo(info: amqp.TopicInfo): void {
  const productKey: string | undefined = info.productKey;
  const deviceName: string | undefined = info.deviceName;
  const kind: amqp.TopicKind = info.kind;
  const identifier: string | undefined = info.identifier;
  void [productKey, deviceName, kind, identifier];
}
useTopicInfo(amqp.parseTopic('/a1ProductKey/device1/thing/event/property/post'));
useTopicInfo(amqp.parseTopic(undefined));
const kinds: amqp.TopicKind[] = ['property', 'event', 'service-reply', 'status', 'lifecycle', 'topology', 'ota', 'custom'];
void kinds;
const matches: (topic: string | undefined) => boolean = amqp.topicMatcher('/+/+/thing/event/#');
void matches('/a/b/thing/event/property/post');

async function useConsumerMessage(m: amqp.ConsumerMessage): Promise<void> {
  const topic: string | undefined = m.topic;
  const messageId: string | undefined = m.messageId;
  const generateTime: number | undefined = m.generateTime;
  const content: Buffer = m.content;
  const clientId: string = m.clientId;
  const raw: amqp.Message = m.raw;
  const props: Record<string, any> | undefined = m.applicationProperties;
  const sendNs: unknown = m.applicationProperties?.sendNs;
  useTopicInfo(m.topicInfo);
  const settled: boolean = m.settled;
  const state: 'accepted' | 'released' | 'rejected' | 'abandoned' | undefined = m.state;
  const text: string = m.text();
  const parsed = m.json<{ items: Record<string, { value: number }> }>();
  const value: number | undefined = parsed.items.temperature?.value;
  const anyJson: any = m.json();
  const json = m.toJSON();
  const jsonTopic: string | undefined = json.topic;
  const jsonContent: string = json.content;
  const jsonId: string | undefined = json.messageId;
  const jsonTime: number | undefined = json.generateTime;
  useTopicInfo(json.topicInfo);
  void [topic, messageId, generateTime, content, clientId, raw, props, sendNs, settled, state, text, value, anyJson, jsonTopic, jsonContent, jsonId, jsonTime];
  const outcomes: boolean[] = [m.accept(), m.release(), m.reject(), m.reject('bad'), m.reject(new Error('bad')), m.reject({ condition: 'amqp:internal-error', description: 'bad' })];
  void outcomes;
  // @ts-expect-error a ConsumerMessage's topic is read-only
  m.topic = 'x';
}

function useStats(s: amqp.ConsumerStats): number {
  const lastError: string | null = s.lastError;
  void lastError;
  return s.received + s.accepted + s.released + s.rejected + s.duplicates + s.reconnects + s.unreadable + s.overCredit + s.inFlight + s.buffered + s.connections;
}

consumer.on('message', async (m) => {
  await useConsumerMessage(m);
});
consumer.on('message', (m) => void m.accept());
consumer.once('error', (error, message) => {
  const e: Error = error;
  const m: amqp.ConsumerMessage | undefined = message;
  void [e, m];
});
consumer.addListener('connected', (event) => {
  const id: string = event.clientId;
  const reconnect: boolean = event.reconnect;
  void [id, reconnect];
});
consumer.on('disconnected', (event) => {
  const id: string = event.clientId;
  const reconnecting: boolean = event.reconnecting;
  useError(event.error);
  void [id, reconnecting];
});
consumer.on('protocol_error', (error) => {
  const id: string = error.clientId;
  const condition: string = error.condition;
  void [id, condition];
});
const onDuplicate = (m: amqp.ConsumerMessage): void => void m.messageId;
consumer.on('duplicate', onDuplicate);
consumer.off('duplicate', onDuplicate);
const onClose = (): void => {};
consumer.on('close', onClose);
consumer.removeListener('close', onClose);
const consumerEmitted: boolean = consumer.emit('connected', { clientId: 'c', reconnect: false });
void consumerEmitted;
const consumerEvents: Array<keyof amqp.ConsumerEventMap> = ['message', 'error', 'connected', 'disconnected', 'duplicate', 'protocol_error', 'close'];
void consumerEvents;
// @ts-expect-error a consumer has no 'receiver_open' event
consumer.on('receiver_open', () => {});

consumer.pause();
const consumerPaused: boolean = consumer.isPaused();
consumer.resume();
void [consumerPaused, useStats(consumer.stats())];

async function iterateBatches(c: amqp.Consumer): Promise<void> {
  const options: amqp.BatchOptions = { max: 500, maxWaitMs: 50 };
  for await (const batch of c.batches(options)) {
    const b: amqp.ConsumerBatch = batch;
    const first: amqp.ConsumerMessage | undefined = b[0];
    const ids: Array<string | undefined> = b.map((m) => m.messageId);
    if (first && first.topicInfo.kind === 'status') first.reject('ignored');
    const counts: number[] = [b.accept(), b.release()];
    void [ids, counts];
  }
  for await (const batch of c.batches()) void batch.length;
  // @ts-expect-error batches() takes max and maxWaitMs
  c.batches({ size: 10 });
  const health: amqp.ConsumerHealth = c.health();
  const status: 'up' | 'degraded' | 'down' = health.status;
  const lastError: string | null = health.lastError;
  for (const conn of health.connections) {
    const h: amqp.ConnectionHealth = conn;
    const state: 'connecting' | 'open' | 'reconnecting' | 'closed' = h.state;
    const at: number | null = h.lastMessageAt;
    void [h.clientId, state, h.since, at, h.reconnects];
  }
  const text: string = c.metrics();
  const serverOptions: amqp.MetricsServerOptions = { port: 9464, host: '0.0.0.0' };
  const server: amqp.MetricsServer = await amqp.serveMetrics(c, serverOptions);
  await amqp.serveMetrics(c);
  const http: import('node:http').Server = server.server;
  void [status, lastError, text, server.port, server.host, server.url, http];
  await server.close();
}
void iterateBatches;

// Instrumentation: the channel names, and the payloads a subscriber gets.
const channels: amqp.Channels = amqp.channels;
diagnostics_channel.subscribe(channels.connect, (m) => {
  const e = m as amqp.ConnectEvent;
  void [e.connectionId, e.clientId, e.host, e.port, e.epoch, e.transport, e.reconnect];
});
diagnostics_channel.subscribe(channels.disconnect, (m) => {
  const e = m as amqp.DisconnectEvent;
  useError(e.error);
  void [e.connectionId, e.reconnecting, e.delay];
});
diagnostics_channel.subscribe(channels.message, (m) => {
  const e = m as amqp.MessageEvent;
  void [e.connectionId, e.clientId, e.epoch, e.attach, e.deliveryId, e.topic, e.messageId];
});
diagnostics_channel.subscribe(channels.settle, (m) => {
  const e = m as amqp.SettleEvent;
  const outcome: 'accepted' | 'released' | 'rejected' | 'modified' | 'abandoned' = e.outcome;
  void [e.attach, e.deliveryId, e.sent, outcome];
});
diagnostics_channel.subscribe(channels.error, (m) => {
  const e = m as amqp.ErrorEvent;
  const base: amqp.ConnectionEventBase = e;
  const source: 'connection' | 'session' | 'receiver' | 'protocol' | 'transport' | 'handler' = e.source;
  void [base, source, e.error.message, e.attach, e.deliveryId, e.messageId];
});
const handlerTrace = diagnostics_channel.tracingChannel<unknown, amqp.HandlerTraceContext & object>(channels.handler);
handlerTrace.subscribe({
  start: (ctx) => void [ctx.message.messageId, ctx.clientId, ctx.topic, ctx.messageId],
  end: () => {},
  asyncStart: (ctx) => void ctx.result,
  asyncEnd: () => {},
  error: (ctx) => void ctx.error,
});
// @ts-expect-error the channel names are fixed
const wrongChannel: amqp.Channels['message'] = 'aliyun-iot-amqp:messages';
void wrongChannel;

async function iterate(c: amqp.Consumer): Promise<void> {
  for await (const m of c) {
    if (m.topicInfo.kind === 'status') m.reject('ignored');
    else await useConsumerMessage(m);
  }
  const iterator: AsyncIterator<amqp.ConsumerMessage> = c[Symbol.asyncIterator]();
  const step = await iterator.next();
  if (!step.done) step.value.accept();
  await c.close();
  await c.close({ timeout: 1000 });
}
void iterate;

// ---------------------------------------------------------------------------------------------
// The emulator

const emulatorOptions: amqp.EmulatorOptions = {
  tls: true,
  host: '127.0.0.1',
  port: 0,
  accessKeyId: 'LTAI',
  accessKeySecret: 'secret',
  securityToken: 'sts',
  iotInstanceId: 'iot-test',
  sourceReply: 'echo',
  credentialsCheck: true,
  requireFreshTimestamp: false,
  timestampToleranceMs: 900000,
  maxReceiversPerConnection: 1,
  idleTimeOut: 30000,
  checkIdleTimeout: false,
  containerId: 'emulator',
  certDir: '/tmp/certs',
};

async function useEmulator(): Promise<void> {
  const emu: amqp.Emulator = await amqp.startEmulator(emulatorOptions);
  await amqp.startEmulator();
  const started: amqp.Emulator = await emu.start();
  void started;
  const fields: unknown[] = [emu.host, emu.hostname, emu.port, emu.tls, emu.ca, emu.caFile, emu.connections, emu.connectionCount];
  const attempt: amqp.EmulatorAuthAttempt | undefined = emu.authAttempts[0];
  if (attempt) {
    const parts: Array<string | null | boolean> = [attempt.ok, attempt.username, attempt.clientId, attempt.authMode, attempt.signMethod,
      attempt.timestamp, attempt.authId, attempt.iotInstanceId, attempt.consumerGroupId, attempt.reason];
    void parts;
  }
  const records: unknown[] = [emu.attaches, emu.deliveries, emu.dispositions, emu.accepted, emu.acceptedOnce, emu.rejected,
    emu.undeliverable, emu.refusals, emu.tlsErrors, emu.errors];
  const firstDelivery = emu.deliveries[0];
  if (firstDelivery) void [firstDelivery.key, firstDelivery.messageId, firstDelivery.connectionId, firstDelivery.clientId, firstDelivery.attempt, firstDelivery.deliveryId, firstDelivery.message];
  const firstDisposition = emu.dispositions[0];
  if (firstDisposition) {
    const outcome: 'accepted' | 'released' | 'rejected' | 'modified' = firstDisposition.outcome;
    void [outcome, firstDisposition.state, firstDisposition.settled];
  }
  const timesAccepted: number | undefined = emu.accepted.get('id');
  const url: string = emu.url();
  const creds: { accessKeyId: string; accessKeySecret: string; securityToken: string } = emu.credentials();
  const publish: amqp.EmulatorPublish = { topic: '/a/b/thing/event/property/post', messageId: 1, generateTime: Date.now(), body: { items: {} } };
  const id: string = emu.publish(publish);
  emu.publish();
  const ids: string[] = emu.publishMany(3, (i) => ({ body: `message ${i}` }));
  emu.publishMany(2);
  const rawId: string = emu.publishRaw({ body: 'raw' }, { key: 'raw-1' });
  const counts: number[] = [emu.pending(), emu.inFlight(), emu.queued(), emu.dropConnections(), emu.closeConnections(), emu.closeConnections({ condition: 'amqp:connection:forced', description: 'bye' }), emu.detachReceivers(), emu.detachReceivers({ condition: 'amqp:resource-deleted' })];
  const stats: Record<string, any> = emu.stats();
  const three: number = await emu.waitFor(() => 3, 1000, 'three');
  const acceptedAll: boolean = await emu.waitForAccepted(3, 1000);
  void [fields, records, timesAccepted, url, creds, id, ids, rawId, counts, stats, three, acceptedAll];
  emu.on('delivery', () => {});
  await emu.close();
}
void useEmulator;

// A peer certificate, as Node's getPeerCertificate(true) gives it.
function usePeerCertificate(c: amqp.PeerCertificate): string {
  const subject: Record<string, string | string[]> = c.subject;
  const issuer: Record<string, string | string[]> = c.issuer;
  const parts: Array<string | number | boolean | undefined> = [c.subjectaltname, c.ca, c.modulus, c.bits, c.exponent,
    c.asn1Curve, c.nistCurve, c.valid_from, c.valid_to, c.fingerprint, c.fingerprint256, c.fingerprint512, c.serialNumber];
  const buffers: Array<Buffer | undefined> = [c.pubkey, c.raw];
  const access: Record<string, string[]> | undefined = c.infoAccess;
  const eku: string[] | undefined = c.ext_key_usage;
  const up: amqp.PeerCertificate | undefined = c.issuerCertificate;
  return JSON.stringify([subject, issuer, parts, buffers.length, access, eku, up && up.fingerprint256]);
}
void usePeerCertificate;

// Our certificate is accepted where Node's is: Node's name check, kept in a checkServerIdentity.
function keepNodeNameCheck(host: string, c: amqp.PeerCertificate): Error | undefined {
  const asNodes: tls.PeerCertificate = c;
  return tls.checkServerIdentity(host, c) || tls.checkServerIdentity(host, asNodes);
}
void keepNodeNameCheck;
