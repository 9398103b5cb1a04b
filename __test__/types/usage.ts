// Compiled (never run) by __test__/integration/types.test.js with `tsc --noEmit --strict`: uses
// every export, option, event name and listener argument that index.d.ts declares, as a user's code
// would, and checks with @ts-expect-error that wrong uses are refused (so nothing is silently `any`).

import amqp = require('../../index.js');
import diagnostics_channel = require('node:diagnostics_channel');
import tls = require('node:tls');

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(_ok?: T): void {}

// ---------------------------------------------------------------------------------------------
// The module: a ready container with its classes and sign() attached

const container: amqp.Container = amqp;
const id: string = amqp.id;
const uuid: string = amqp.generate_uuid();
const other: amqp.Container = amqp.create_container({ id: 'worker-1', reconnect: false });
const constructed: amqp.Container = new amqp.Container({ id: 'c', host: 'localhost' });
const constructedBare: amqp.Container = new amqp.Container();
const msg: amqp.Message = new amqp.Message();
const section: amqp.Section = new amqp.Section(0x75, Buffer.from('x'));
const sequence: amqp.Section = new amqp.Section(0x76, [[1, 2]], true);
const connectionError: amqp.ConnectionError = new amqp.ConnectionError('gone', 'amqp:connection:forced');
const isDelivery: boolean = (amqp.Delivery.prototype as amqp.Delivery).accept.length === 0;
const receiverProto: amqp.Receiver = amqp.Receiver.prototype;
const connectionProto: amqp.Connection = amqp.Connection.prototype;
const batchProto: amqp.Batch = amqp.Batch.prototype;
void [container, id, uuid, other, constructed, constructedBare, msg, section, sequence, connectionError, isDelivery, receiverProto, connectionProto, batchProto];

// @ts-expect-error Section typecodes are 0x75 (data) and 0x76 (amqp-sequence) only
new amqp.Section(0x77, Buffer.alloc(0));

// ---------------------------------------------------------------------------------------------
// sign(): every signing option

const signOptions: amqp.SignOptions = {
  accessKeyId: 'LTAI...',
  accessKeySecret: 'secret',
  consumerGroupId: 'DEFAULT_GROUP',
  clientId: 'client-1',
  iotInstanceId: 'iot-cn-xxxx',
  authMode: 'ststoken',
  signMethod: 'hmacsha256',
  securityToken: 'sts-token',
  timestamp: Date.now(),
};
const signed: amqp.SignedCredentials = amqp.sign(signOptions);
const username: string = signed.username;
const password: string = signed.password;
void [username, password];
amqp.sign({ accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c', authMode: 'aksign', signMethod: 'hmacmd5' });
amqp.sign({ accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c', signMethod: 'hmacsha1' });
// @ts-expect-error consumerGroupId is required
amqp.sign({ accessKeyId: 'a', accessKeySecret: 's', clientId: 'c' });
// @ts-expect-error signMethod is one of the three the platform knows
amqp.sign({ accessKeyId: 'a', accessKeySecret: 's', consumerGroupId: 'g', clientId: 'c', signMethod: 'sha1' });

// ---------------------------------------------------------------------------------------------
// connect(): every connection option

const credentials: amqp.CredentialOptions = {
  accessKeyId: 'a',
  accessKeySecret: 's',
  consumerGroupId: 'g',
  clientId: 'c',
  iotInstanceId: '',
  authMode: 'aksign',
  signMethod: 'hmacsha1',
  securityToken: undefined,
};

const allOptions: amqp.ConnectionOptions = {
  host: 'iot-cn-xxxx.amqp.iothub.aliyuncs.com',
  port: 5671,
  transport: 'tls',
  username: 'client|authMode=aksign,signMethod=hmacsha1,timestamp=1,authId=a,iotInstanceId=,consumerGroupId=g|',
  password: 'base64',
  idle_time_out: 60000,
  reconnect: true,
  initial_reconnect_delay: 100,
  max_reconnect_delay: 60000,
  reconnect_limit: 10,
  reconnect_on_auth_failure: false,
  reconnect_on_certificate_failure: true,
  container_id: 'my-container',
  hostname: 'vhost',
  sasl_init_hostname: 'sasl-host',
  servername: 'iot-cn-xxxx.amqp.iothub.aliyuncs.com',
  ca: [Buffer.from('pem'), 'pem', new Uint8Array(1)],
  rejectUnauthorized: true,
  checkServerIdentity: (host: string, cert: amqp.PeerCertificate): Error | undefined =>
    cert.fingerprint256 === 'AB:CD' && cert.issuerCertificate?.subject.CN !== host ? undefined : new Error(`${host}: not pinned`),
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: 'DEFAULT:@SECLEVEL=1',
  ecdhCurve: 'X25519:P-256',
  ALPNProtocols: ['amqp'],
  minDHSize: 2048,
  credit_window: 100,
  autoaccept: false,
  max_frame_size: 65536,
  max_message_size: 1 << 20,
  connect_timeout: 30000,
  close_timeout: 5000,
  ack_delay: 20,
  read_delay: 5,
  // Other rhea options are accepted.
  keep_alive: true,
};
const signedEachAttempt: amqp.ConnectionOptions = { host: 'h', port: '5671', transport: 'ssl', credentials, idle_time_out: null, reconnect: 5000, ca: 'pem' };
const providerSync: amqp.ConnectionOptions = { transport: 'tcp', credentials: () => credentials, ca: Buffer.from('der') };
const providerAsync: amqp.ConnectionOptions = { credentials: async () => ({ ...credentials, authMode: 'ststoken', securityToken: 'fresh' }), reconnect: false };
void [signedEachAttempt, providerSync, providerAsync];

// @ts-expect-error transport is 'tcp', 'tls' or 'ssl'
const badTransport: amqp.ConnectionOptions = { transport: 'amqps' };
// @ts-expect-error credentials need the key pair, group and client id
const badCredentials: amqp.ConnectionOptions = { credentials: { accessKeyId: 'a' } };
void [badTransport, badCredentials];

const connection: amqp.Connection = amqp.connect(allOptions);
const connectionNoOptions: amqp.Connection = other.connect();
void connectionNoOptions;

// ---------------------------------------------------------------------------------------------
// open_receiver(): every form and option

const receiverOptions: amqp.ReceiverOptions = { source: { address: 'queue' }, name: 'link-1', credit_window: 20, autoaccept: false };
const receiver: amqp.Receiver = connection.open_receiver(receiverOptions);
other.connect().open_receiver();
other.connect().open_receiver('default');
other.connect().open_receiver({ source: 'default' });
other.connect().open_receiver({ source: null });
other.connect().open_receiver({ source: {} });
other.connect().open_receiver({ batch: true });
other.connect().open_receiver({ batch: { max: 500 }, autoaccept: false });
// @ts-expect-error batch is a boolean or {max}
other.connect().open_receiver({ batch: 100 });
// @ts-expect-error credit_window is a number
other.connect().open_receiver({ credit_window: '10' });

// ---------------------------------------------------------------------------------------------
// Objects and their fields

const connOpen: boolean = connection.is_open();
const connClosed: boolean = connection.is_closed();
const connContainer: amqp.Container = connection.container;
const connOptions: Record<string, unknown> = connection.options;
const connError: amqp.ConnectionError | undefined = connection.error;
const remoteOpen = connection.remote.open;
if (remoteOpen) {
  const remoteId: string = remoteOpen.container_id;
  const remoteHost: string | null = remoteOpen.hostname;
  const remoteIdle: number | null = remoteOpen.idle_time_out;
  const remoteFrame: number = remoteOpen.max_frame_size;
  void [remoteId, remoteHost, remoteIdle, remoteFrame];
}
void [connOpen, connClosed, connContainer, connOptions, connError];

const recvConnection: amqp.Connection = receiver.connection;
const recvSession: amqp.Session = receiver.session;
const sessionConnection: amqp.Connection = recvSession.connection;
const sessionError: amqp.ConnectionError | undefined = recvSession.error;
const overCredit: number = receiver.over_credit;
const recvName: string = receiver.name;
const recvSource: { address: string } | undefined = receiver.source;
const recvCredit: number = receiver.credit_window;
const recvAutoaccept: boolean = receiver.autoaccept;
const recvError: amqp.ConnectionError | undefined = receiver.error;
const attach = receiver.remote.attach;
if (attach && attach.source) {
  const remoteAddress: string | null = attach.source.address;
  void remoteAddress;
}
const recvOpen: boolean = receiver.is_open();
const recvClosed: boolean = receiver.is_closed();
receiver.pause();
const paused: boolean = receiver.is_paused();
receiver.resume();
void [recvConnection, recvSession, sessionConnection, sessionError, overCredit, recvName, recvSource, recvCredit, recvAutoaccept, recvError, recvOpen, recvClosed, paused];
// @ts-expect-error over_credit is read-only
receiver.over_credit = 0;
// @ts-expect-error the receiver's name is read-only
receiver.name = 'renamed';

// ---------------------------------------------------------------------------------------------
// Every event, on every level, with every listener argument

function useMessage(message: amqp.Message): string {
  const parts: unknown[] = [
    message.durable, message.priority, message.ttl, message.first_acquirer, message.delivery_count,
    message.delivery_annotations, message.message_annotations, message.message_id, message.user_id,
    message.to, message.subject, message.reply_to, message.correlation_id, message.content_type,
    message.content_encoding, message.absolute_expiry_time, message.creation_time, message.group_id,
    message.group_sequence, message.reply_to_group_id, message.application_properties, message.body,
    message.footer, message.toJSON(),
  ];
  const durable: boolean | undefined = message.durable;
  const priority: number | undefined = message.priority;
  const ttl: number | undefined = message.ttl;
  const firstAcquirer: boolean | undefined = message.first_acquirer;
  const deliveryCount: number | undefined = message.delivery_count;
  const messageId: string | number | Buffer | undefined = message.message_id;
  const userId: Buffer | undefined = message.user_id;
  const correlationId: string | number | Buffer | undefined = message.correlation_id;
  const expiry: Date | undefined = message.absolute_expiry_time;
  const created: Date | undefined = message.creation_time;
  const groupSequence: number | undefined = message.group_sequence;
  const strings: Array<string | undefined> = [message.to, message.subject, message.reply_to, message.content_type,
    message.content_encoding, message.group_id, message.reply_to_group_id];
  const maps: Array<Record<string, any> | undefined> = [message.delivery_annotations, message.message_annotations,
    message.application_properties, message.footer];
  void [parts, durable, priority, ttl, firstAcquirer, deliveryCount, messageId, userId, correlationId, expiry, created, groupSequence, strings, maps];
  // The doc script's reads.
  const topic: string = message.application_properties!.topic;
  const body = message.body as amqp.Section;
  const typecode: 0x75 | 0x76 = body.typecode;
  const multiple: boolean | undefined = body.multiple;
  const content: string = Buffer.from(body.content).toString();
  void [topic, typecode, multiple];
  return content + String(message) + message.toString();
}

const modifiedParams: amqp.ModifiedParams = { delivery_failed: true, undeliverable_here: false, message_annotations: { reason: 'busy' } };
const errorLike: amqp.AmqpErrorLike = { condition: 'amqp:internal-error', description: 'bad payload' };

function useDelivery(delivery: amqp.Delivery): void {
  const deliveryId: number = delivery.id;
  const tag: Buffer = delivery.tag;
  const format: number = delivery.format;
  const remoteSettled: boolean = delivery.remote_settled;
  const settled: boolean = delivery.settled;
  const state: 'accepted' | 'released' | 'rejected' | 'modified' | undefined = delivery.state;
  const link: amqp.Receiver = delivery.link;
  void [deliveryId, tag, format, remoteSettled, settled, state, link];
  const outcomes: boolean[] = [
    delivery.accept(),
    delivery.release(),
    delivery.release({ delivery_failed: true, undeliverable_here: false, message_annotations: { 'x-opt-reason': 'busy', n: 1, ok: true, none: null } }),
    delivery.reject(),
    delivery.reject({ condition: 'amqp:internal-error', description: 'bad payload' }),
    delivery.reject(new Error('bad payload')),
    delivery.reject('bad payload'),
    delivery.modified(),
    delivery.modified({ delivery_failed: true, undeliverable_here: true }),
    delivery.modified(modifiedParams),
    delivery.release(modifiedParams),
    delivery.reject(errorLike),
  ];
  void outcomes;
  // @ts-expect-error the delivery id is read-only
  delivery.id = 1;
}

function useContext(ctx: amqp.EventContext): void {
  const c: amqp.Container = ctx.container;
  const conn: amqp.Connection = ctx.connection;
  void [c, conn];
}

function useError(err: amqp.ConnectionError | undefined): void {
  if (!err) return;
  const e: Error = err;
  const name: 'ConnectionError' = err.name;
  const condition: string = err.condition;
  const description: string = err.description;
  const conn: amqp.Connection = err.connection;
  const json: { type: string; code: string; message: string } = err.toJSON();
  const code: string | undefined = err.code;
  const peer = conn.getPeerCertificate();
  const pinned: boolean = 'fingerprint256' in peer && peer.fingerprint256 === 'AB:CD' && peer.raw.length > 0
    && typeof peer.valid_from === 'string' && typeof peer.valid_to === 'string' && typeof peer.subjectaltname !== 'number';
  void [e, name, condition, description, conn, json, code, pinned];
}

const onMessage = (ctx: amqp.MessageContext): void => {
  useContext(ctx);
  const session: amqp.Session = ctx.session;
  const r: amqp.Receiver = ctx.receiver;
  void [session, r];
  useMessage(ctx.message);
  useDelivery(ctx.delivery);
};
const onConnectionOpen = (ctx: amqp.EventContext): void => useContext(ctx);
const onConnectionClose = (ctx: amqp.ErrorContext): void => { useContext(ctx); useError(ctx.error); };
const onConnectionError = (ctx: amqp.ErrorContext): void => { useContext(ctx); useError(ctx.error); };
const onReceiverOpen = (ctx: amqp.ReceiverContext): void => {
  useContext(ctx);
  const r: amqp.Receiver = ctx.receiver;
  const s: amqp.Session = ctx.session;
  void [r, s];
};
const onReceiverClose = (ctx: amqp.ReceiverErrorContext): void => { onReceiverOpen(ctx); useError(ctx.error); };
const onReceiverError = (ctx: amqp.ReceiverErrorContext): void => { onReceiverOpen(ctx); useError(ctx.error); };
const onDisconnected = (ctx: amqp.DisconnectedContext): void => {
  useContext(ctx);
  useError(ctx.error);
  const reconnecting: boolean = ctx.reconnecting;
  void reconnecting;
};
const onSessionEvent = (ctx: amqp.SessionContext): void => {
  useContext(ctx);
  const s: amqp.Session = ctx.session;
  useError(ctx.error);
  void s;
};
const onProtocolError = (error: amqp.ConnectionError): void => useError(error);
const onError = (error: Error): void => void error.message;
function useBatch(b: amqp.Batch): void {
  const r: amqp.Receiver = b.receiver;
  const n: number = b.length;
  const topic: string | undefined = b.topic(0);
  const messageId: string | undefined = b.messageId(0);
  const generateTime: number | undefined = b.generateTime(0);
  const content: Buffer | undefined = b.content(0);
  useMessage(b.message(0));
  const deliveryId: number = b.id(0);
  const settled: boolean = b.settled(0);
  const state: 'accepted' | 'released' | 'rejected' | 'modified' | undefined = b.state(0);
  const one: boolean = b.accept(0) || b.release(1);
  const all: number = b.accept() + b.release();
  for (const m of b) useMessage(m);
  void [r, n, topic, messageId, generateTime, content, deliveryId, settled, state, one, all];
}
const onBatch = (ctx: amqp.BatchContext): void => {
  useContext(ctx);
  const r: amqp.Receiver = ctx.receiver;
  void r;
  useBatch(ctx.batch);
};

const listeners: { [E in amqp.EventName]: amqp.EventMap[E] } = {
  message: onMessage,
  batch: onBatch,
  connection_open: onConnectionOpen,
  connection_close: onConnectionClose,
  connection_error: onConnectionError,
  receiver_open: onReceiverOpen,
  receiver_close: onReceiverClose,
  receiver_error: onReceiverError,
  session_open: onSessionEvent,
  session_close: onSessionEvent,
  session_error: onSessionEvent,
  protocol_error: onProtocolError,
  disconnected: onDisconnected,
  error: onError,
};
assertType<Equal<amqp.EventName,
  'message' | 'batch' | 'connection_open' | 'connection_close' | 'connection_error' | 'receiver_open' | 'receiver_close' | 'receiver_error'
  | 'session_open' | 'session_close' | 'session_error' | 'protocol_error' | 'disconnected' | 'error'>>();
assertType<Equal<Parameters<amqp.EventMap['message']>[0], amqp.MessageContext>>();
assertType<Equal<Parameters<amqp.EventMap['disconnected']>[0], amqp.DisconnectedContext>>();

const endpoints: amqp.Endpoint[] = [amqp, connection, receiver.session, receiver];
for (const endpoint of endpoints) {
  endpoint.on('message', listeners.message);
  endpoint.on('batch', listeners.batch);
  endpoint.once('connection_open', listeners.connection_open);
  endpoint.addListener('connection_close', listeners.connection_close);
  endpoint.on('connection_error', listeners.connection_error);
  endpoint.on('receiver_open', listeners.receiver_open);
  endpoint.on('receiver_close', listeners.receiver_close);
  endpoint.on('receiver_error', listeners.receiver_error);
  endpoint.on('session_open', listeners.session_open);
  endpoint.on('session_close', listeners.session_close);
  endpoint.on('session_error', listeners.session_error);
  endpoint.on('protocol_error', listeners.protocol_error);
  endpoint.on('disconnected', listeners.disconnected);
  endpoint.on('error', listeners.error);
  endpoint.off('message', listeners.message);
  endpoint.removeListener('error', listeners.error);
}

// Listeners written inline get their argument types from the event name.
amqp.on('message', (context) => {
  const content: string = Buffer.from((context.message.body as amqp.Section).content).toString();
  const accepted: boolean = context.delivery.accept();
  void [content, accepted];
});
connection.on('disconnected', (context) => {
  const reconnecting: boolean = context.reconnecting;
  const condition: string | undefined = context.error && context.error.condition;
  void [reconnecting, condition];
});
receiver.on('receiver_error', (context) => void (context.error && context.error.description));
amqp.on('error', (err) => void err.message);
receiver.on('batch', ({ batch }) => {
  for (let i = 0; i < batch.length; i++) void [batch.topic(i), batch.content(i)];
  const sent: number = batch.accept();
  const one: boolean = batch.reject(0, { condition: 'amqp:decode-error', description: 'not JSON' });
  const modifiedOne: boolean = batch.modified(1, { undeliverable_here: true });
  const releasedOne: boolean = batch.release(2, { delivery_failed: true });
  const rest: number = batch.reject(undefined, 'bad');
  const restModified: number = batch.modified();
  const state: 'accepted' | 'released' | 'rejected' | 'modified' | undefined = batch.state(0);
  void [sent, one, modifiedOne, releasedOne, rest, restModified, state];
});
const emitted: boolean = receiver.emit('receiver_open', { container: amqp, connection, session: receiver.session, receiver });
void emitted;

// @ts-expect-error a message listener gets a MessageContext, not a number
amqp.on('message', (context: number) => void context);
// @ts-expect-error a disconnected context has no delivery
connection.on('disconnected', (context) => void context.delivery);

receiver.close();
connection.close();

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
  read_delay: 5,
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
  void [topic, messageId, generateTime, content, clientId, raw, settled, state, text, value, anyJson, jsonTopic, jsonContent, jsonId, jsonTime];
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
