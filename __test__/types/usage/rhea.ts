// Compiled (never run) by __test__/integration/types.test.js with `tsc --noEmit --strict`, with
// consumer.ts: uses every export, option, event name and listener argument that index.d.ts (and
// the types/ it names) declares, as a user's code would, and checks with @ts-expect-error that
// wrong uses are refused (so nothing is silently `any`). This file: the rhea-shaped API.

import amqp = require('../../../index.js');
import { assertType, type Equal } from './assert-type';

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
  read_delay: 8,
  // Other rhea options are accepted.
  keep_alive: true,
};
const signedEachAttempt: amqp.ConnectionOptions = { host: 'h', port: '5671', transport: 'ssl', credentials, idle_time_out: null, reconnect: 5000, ca: 'pem' };
const providerSync: amqp.ConnectionOptions = { transport: 'tcp', credentials: () => credentials, ca: Buffer.from('der') };
const providerAsync: amqp.ConnectionOptions = { credentials: async () => ({ ...credentials, authMode: 'ststoken', securityToken: 'fresh' }), reconnect: false };
// The TLS options of connect() and createConsumer() are one interface, shared.
const tlsOnly: amqp.TlsOptions = { servername: 'iot-cn-xxxx.amqp.iothub.aliyuncs.com', rejectUnauthorized: true, minVersion: 'TLSv1.2' };
const withTls: amqp.ConnectionOptions = { host: 'h', ...tlsOnly };
const consumerWithTls: amqp.ConsumerOptions = { consumerGroupId: 'G', ...tlsOnly };
void [signedEachAttempt, providerSync, providerAsync, withTls, consumerWithTls];

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

export function useError(err: amqp.ConnectionError | undefined): void {
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
  const props: Record<string, any> | undefined = b.properties(0);
  useMessage(b.message(0));
  const deliveryId: number = b.id(0);
  const settled: boolean = b.settled(0);
  const state: 'accepted' | 'released' | 'rejected' | 'modified' | undefined = b.state(0);
  const one: boolean = b.accept(0) || b.release(1);
  const all: number = b.accept() + b.release();
  for (const m of b) useMessage(m);
  void [r, n, topic, messageId, generateTime, content, props, deliveryId, settled, state, one, all];
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
