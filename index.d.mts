// Type definitions for `import ... from 'aliyun-iot-amqp'` (index.mjs), written by
// scripts/index-d-mts.js from index.d.ts (the CommonJS module): the default export is the ready
// container, and every function, class and type is exported by name as well.
import amqp from './index.js';

export default amqp;

// Values: the default container's entry points, the classes, and the functions.
export declare const connect: typeof amqp.connect;
export declare const create_container: typeof amqp.create_container;
export declare const generate_uuid: typeof amqp.generate_uuid;
export declare const Container: typeof amqp.Container;
export declare const Connection: typeof amqp.Connection;
export declare const Receiver: typeof amqp.Receiver;
export declare const Delivery: typeof amqp.Delivery;
export declare const Batch: typeof amqp.Batch;
export declare const Message: typeof amqp.Message;
export declare const Section: typeof amqp.Section;
export declare const ConnectionError: typeof amqp.ConnectionError;
export declare const sign: typeof amqp.sign;
export declare const createConsumer: typeof amqp.createConsumer;
export declare const Consumer: typeof amqp.Consumer;
export declare const ConsumerMessage: typeof amqp.ConsumerMessage;
export declare const serveMetrics: typeof amqp.serveMetrics;
export declare const channels: typeof amqp.channels;
export declare const parseTopic: typeof amqp.parseTopic;
export declare const topicMatcher: typeof amqp.topicMatcher;
export declare const startEmulator: typeof amqp.startEmulator;

// Types.
export type TlsOptions = amqp.TlsOptions;
export type ConnectionOptions = amqp.ConnectionOptions;
export type CredentialOptions = amqp.CredentialOptions;
export type SignOptions = amqp.SignOptions;
export type SignedCredentials = amqp.SignedCredentials;
export type ReceiverOptions = amqp.ReceiverOptions;
export type PeerCertificate = amqp.PeerCertificate;
export type Section = amqp.Section;
export type Message = amqp.Message;
export type ModifiedParams = amqp.ModifiedParams;
export type AmqpErrorLike = amqp.AmqpErrorLike;
export type Delivery = amqp.Delivery;
export type Batch = amqp.Batch;
export type ConnectionError = amqp.ConnectionError;
export type EventContext = amqp.EventContext;
export type ReceiverContext = amqp.ReceiverContext;
export type MessageContext = amqp.MessageContext;
export type BatchContext = amqp.BatchContext;
export type ErrorContext = amqp.ErrorContext;
export type ReceiverErrorContext = amqp.ReceiverErrorContext;
export type SessionContext = amqp.SessionContext;
export type DisconnectedContext = amqp.DisconnectedContext;
export type EventMap = amqp.EventMap;
export type EventName = amqp.EventName;
export type Endpoint = amqp.Endpoint;
export type Session = amqp.Session;
export type Receiver = amqp.Receiver;
export type Connection = amqp.Connection;
export type Container = amqp.Container;
export type ConsumerCredentials = amqp.ConsumerCredentials;
export type ConsumerOptions = amqp.ConsumerOptions;
export type TopicKind = amqp.TopicKind;
export type TopicInfo = amqp.TopicInfo;
export type ConsumerMessage = amqp.ConsumerMessage;
export type ConsumerStats = amqp.ConsumerStats;
export type ConsumerBatch = amqp.ConsumerBatch;
export type BatchOptions = amqp.BatchOptions;
export type ConnectionHealth = amqp.ConnectionHealth;
export type ConsumerHealth = amqp.ConsumerHealth;
export type MetricsServerOptions = amqp.MetricsServerOptions;
export type MetricsServer = amqp.MetricsServer;
export type ConsumerEventMap = amqp.ConsumerEventMap;
export type Consumer = amqp.Consumer;
export type Channels = amqp.Channels;
export type ConnectionEventBase = amqp.ConnectionEventBase;
export type ConnectEvent = amqp.ConnectEvent;
export type DisconnectEvent = amqp.DisconnectEvent;
export type MessageEvent = amqp.MessageEvent;
export type SettleEvent = amqp.SettleEvent;
export type ErrorEvent = amqp.ErrorEvent;
export type HandlerTraceContext = amqp.HandlerTraceContext;
export type EmulatorOptions = amqp.EmulatorOptions;
export type EmulatorPublish = amqp.EmulatorPublish;
export type EmulatorAuthAttempt = amqp.EmulatorAuthAttempt;
export type Emulator = amqp.Emulator;
