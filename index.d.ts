// Type definitions for aliyun-iot-amqp. Hand-written to match index.js and lib/ exactly, in parts:
// types/*.d.ts declare the types, and the namespace below names each of them. The generated
// native.d.ts describes the internal binding only.

/// <reference types="node" />

import type * as connect from './types/connect';
import type * as rhea from './types/rhea';
import type * as consumer from './types/consumer';
import type * as diagnostics from './types/diagnostics';
import type * as emulator from './types/emulator';

/** The module is a ready container, as rhea's is, with its classes and `sign` attached. */
declare const aliyunIotAmqp: aliyunIotAmqp.Container & {
  Container: new (options?: aliyunIotAmqp.ConnectionOptions & { id?: string }) => aliyunIotAmqp.Container;
  Connection: Function & { prototype: aliyunIotAmqp.Connection };
  Receiver: Function & { prototype: aliyunIotAmqp.Receiver };
  Delivery: Function & { prototype: aliyunIotAmqp.Delivery };
  /** What 'batch' events carry (a receiver opened with `{batch: true}`). */
  Batch: Function & { prototype: aliyunIotAmqp.Batch };
  Message: new () => aliyunIotAmqp.Message;
  Section: new (typecode: 0x75 | 0x76, content: any, multiple?: boolean) => aliyunIotAmqp.Section;
  ConnectionError: new (description: string, condition: string, connection?: aliyunIotAmqp.Connection, code?: string) => aliyunIotAmqp.ConnectionError;
  /** Signs the platform's SASL PLAIN credentials (in Rust). Throws a TypeError naming a bad option. */
  sign(options: aliyunIotAmqp.SignOptions): aliyunIotAmqp.SignedCredentials;
  /**
   * Creates a consumer of a consumer group's server-side subscription and starts connecting at
   * once. Throws a TypeError naming a bad option (`err.option`).
   */
  createConsumer(options: aliyunIotAmqp.ConsumerOptions): aliyunIotAmqp.Consumer;
  Consumer: new (options: aliyunIotAmqp.ConsumerOptions) => aliyunIotAmqp.Consumer;
  ConsumerMessage: Function & { prototype: aliyunIotAmqp.ConsumerMessage };
  /**
   * Serves a consumer's `/metrics` (Prometheus text format, `consumer.metrics()`) and `/healthz`
   * (200 while every connection is up, 503 otherwise; the body is `consumer.health()` as JSON).
   */
  serveMetrics(consumer: aliyunIotAmqp.Consumer, options?: aliyunIotAmqp.MetricsServerOptions): Promise<aliyunIotAmqp.MetricsServer>;
  /** The `node:diagnostics_channel` names this package publishes on. */
  channels: aliyunIotAmqp.Channels;
  /** What a topic says about its message: product, device, topic family and identifier. */
  parseTopic(topic: string | undefined): aliyunIotAmqp.TopicInfo;
  /** A topic filter: `+`/`*` one level, `#`/`**` any number of levels, `*`/`?` inside a level. */
  topicMatcher(pattern: string): (topic: string | undefined) => boolean;
  /** Starts a local emulator of the platform's AMQP endpoint (loads rhea, on demand). */
  startEmulator(options?: aliyunIotAmqp.EmulatorOptions): Promise<aliyunIotAmqp.Emulator>;
};

declare namespace aliyunIotAmqp {
  // what connect() takes (its options, the signing of credentials, a receiver's options) and the
  // server's certificate as TLS shows it.
  type TlsOptions = connect.TlsOptions;
  type ConnectionOptions = connect.ConnectionOptions;
  type CredentialOptions = connect.CredentialOptions;
  type SignOptions = connect.SignOptions;
  type SignedCredentials = connect.SignedCredentials;
  type ReceiverOptions = connect.ReceiverOptions;
  type PeerCertificate = connect.PeerCertificate;

  // the rhea-shaped API: messages, deliveries, batches, its error, the endpoints (container,
  // connection, session, receiver), their events and the contexts the events carry.
  type Section = rhea.Section;
  type Message = rhea.Message;
  type ModifiedParams = rhea.ModifiedParams;
  type AmqpErrorLike = rhea.AmqpErrorLike;
  type Delivery = rhea.Delivery;
  type Batch = rhea.Batch;
  type ConnectionError = rhea.ConnectionError;
  type EventContext = rhea.EventContext;
  type ReceiverContext = rhea.ReceiverContext;
  type MessageContext = rhea.MessageContext;
  type BatchContext = rhea.BatchContext;
  type ErrorContext = rhea.ErrorContext;
  type ReceiverErrorContext = rhea.ReceiverErrorContext;
  type SessionContext = rhea.SessionContext;
  type DisconnectedContext = rhea.DisconnectedContext;
  type EventMap = rhea.EventMap;
  type EventName = rhea.EventName;
  type Endpoint = rhea.Endpoint;
  type Session = rhea.Session;
  type Receiver = rhea.Receiver;
  type Connection = rhea.Connection;
  type Container = rhea.Container;

  // createConsumer(): its options, messages, batches, stats, health, metrics and events.
  type ConsumerCredentials = consumer.ConsumerCredentials;
  type ConsumerOptions = consumer.ConsumerOptions;
  type TopicKind = consumer.TopicKind;
  type TopicInfo = consumer.TopicInfo;
  type ConsumerMessage = consumer.ConsumerMessage;
  type ConsumerStats = consumer.ConsumerStats;
  type ConsumerBatch = consumer.ConsumerBatch;
  type BatchOptions = consumer.BatchOptions;
  type ConnectionHealth = consumer.ConnectionHealth;
  type ConsumerHealth = consumer.ConsumerHealth;
  type MetricsServerOptions = consumer.MetricsServerOptions;
  type MetricsServer = consumer.MetricsServer;
  type ConsumerEventMap = consumer.ConsumerEventMap;
  type Consumer = consumer.Consumer;

  // the node:diagnostics_channel names this package publishes on and their payloads.
  type Channels = diagnostics.Channels;
  type ConnectionEventBase = diagnostics.ConnectionEventBase;
  type ConnectEvent = diagnostics.ConnectEvent;
  type DisconnectEvent = diagnostics.DisconnectEvent;
  type MessageEvent = diagnostics.MessageEvent;
  type SettleEvent = diagnostics.SettleEvent;
  type ErrorEvent = diagnostics.ErrorEvent;
  type HandlerTraceContext = diagnostics.HandlerTraceContext;

  // startEmulator(): the local emulator of the platform's AMQP endpoint.
  type EmulatorOptions = emulator.EmulatorOptions;
  type EmulatorPublish = emulator.EmulatorPublish;
  type EmulatorAuthAttempt = emulator.EmulatorAuthAttempt;
  type Emulator = emulator.Emulator;
}

export = aliyunIotAmqp;
